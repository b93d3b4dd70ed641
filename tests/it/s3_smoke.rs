//! Smoke test of the S3 path users run: `release`'s own client setup against the local
//! S3-compatible server over HTTP. An object uploaded with its CRC64NVME reads back with the
//! same bytes and checksum, and a deliberately wrong checksum is refused by the server.
//! Server: s3s-fs in process (it validates every checksum it is sent).

use crate::common::{ACCOUNT, BUCKET, World, block_on};
use release::inventory::digest::Digests;
use release::providers::s3::S3ErrorKind;

#[test]
fn object_round_trips_with_a_verified_checksum() {
    let world = World::new();
    let bucket = world.bucket();
    let body = b"person_id,year_of_birth\nP0001,1961\n".to_vec();
    let digests = Digests::of(&body);

    let stored = block_on(bucket.put("smoke/people.csv", body.clone(), digests.crc64nvme, true))
        .expect("upload with a correct checksum");
    assert!(stored.etag.is_some());

    let read = block_on(bucket.get("smoke/people.csv")).expect("read back");
    assert_eq!(read, body);
    let head = block_on(bucket.head("smoke/people.csv")).unwrap().expect("object exists");
    assert_eq!(head.size, body.len() as i64);
    assert_eq!(head.crc64nvme.as_deref(), Some(digests.crc64nvme_base64().as_str()));
}

/// (s3s-fs answers BadDigest but has already written the object; real S3 stores nothing.
/// `release` treats the refusal as the failure it is either way.)
#[test]
fn a_wrong_checksum_is_refused() {
    let world = World::new();
    let bucket = world.bucket();
    let body = b"some bytes".to_vec();
    let wrong = Digests::of(b"other bytes").crc64nvme;

    let error = block_on(bucket.put("smoke/bad.csv", body, wrong, true)).unwrap_err();
    assert!(matches!(error.kind, S3ErrorKind::BadDigest), "{error}");
    assert_eq!(error.bucket, BUCKET);
    assert_eq!(error.key, "smoke/bad.csv");
}

#[test]
fn every_request_names_the_expected_bucket_owner() {
    let world = World::new();
    let bucket = world.bucket();
    block_on(bucket.put("smoke/a", b"a".to_vec(), Digests::of(b"a").crc64nvme, true)).unwrap();
    block_on(bucket.head("smoke/a")).unwrap();
    block_on(bucket.list("smoke/")).unwrap();
    let requests = world.s3.requests();
    assert!(requests.len() >= 3);
    for request in requests {
        let owner = request.header("x-amz-expected-bucket-owner");
        assert_eq!(owner, Some(ACCOUNT), "{} {}", request.method, request.path);
    }
}

#[test]
fn an_existing_key_is_not_overwritten_by_a_create() {
    let world = World::new();
    let bucket = world.bucket();
    let crc = Digests::of(b"a").crc64nvme;
    block_on(bucket.put("smoke/a", b"a".to_vec(), crc, true)).unwrap();
    let error = block_on(bucket.put("smoke/a", b"a".to_vec(), crc, true)).unwrap_err();
    assert!(matches!(error.kind, S3ErrorKind::PreconditionFailed), "{error}");
}
