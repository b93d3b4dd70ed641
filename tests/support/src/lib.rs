//! Test support for `release`: a local S3-compatible server that the integration tests upload
//! to, and a local STS emulator that tells them who they are and lets them assume roles.
//! Nothing here is shipped in the `release` binary.
//!
//! The server is [s3s-fs], which keeps each bucket as a directory and each object as a file,
//! behind s3s's SigV4 check with fixed, fake credentials ([`ACCESS_KEY`], [`SECRET_KEY`]).
//! It only understands path-style addressing (`http://127.0.0.1:PORT/bucket/key`), so clients
//! must be built with path-style requests forced on.
//!
//! There are two ways to run it:
//!
//! - [`LocalS3::start`] runs it inside a test, on a thread of its own with its own tokio
//!   runtime, so that plain `#[test]`s and `#[tokio::test]`s can both use it. Every request is
//!   written to a log ([`LocalS3::requests`]): no local server enforces headers such as
//!   `x-amz-expected-bucket-owner`, so a test of what `release` sends has to read the requests.
//! - The `local-s3` binary runs it in the foreground for `scripts/local-aws` and for trying
//!   `release` by hand.
//!
//! What s3s-fs does not do (versioning, tagging, whole-object CRC64NVME on multipart uploads,
//! ListMultipartUploads) is listed in the "Local S3-compatible servers" section of the shared
//! reference; tests that need those run against moto instead.
//!
//! [`LocalSts`] answers `GetCallerIdentity` and `AssumeRole` for identities and roles a test
//! sets up, and records the roles assumed. It runs only inside tests; its module says what it
//! leaves out.
//!
//! [s3s-fs]: https://docs.rs/s3s-fs

mod aws_api;
mod background;
pub mod bak;
mod local;
mod recorder;
mod server;
mod sts;
pub mod tds;

pub use aws_api::{Instance, LocalAwsApi};
pub use local::LocalS3;
pub use recorder::{RecordedRequest, RequestLog};
pub use server::{ACCESS_KEY, REGION, SECRET_KEY, create_bucket_dir, s3_service, serve};
pub use sts::{AssumedRole, LocalSts};
