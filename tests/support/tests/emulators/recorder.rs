//! The local server records what clients send, and cleans up after itself.

use std::io::{Read, Write};
use std::net::TcpStream;

use release_testkit::LocalS3;

/// Sends one raw HTTP/1.1 request and returns the whole response as text.
fn send(endpoint: &str, request_head: &str) -> String {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect to the local server");
    stream.write_all(request_head.as_bytes()).expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    response
}

#[test]
fn records_method_path_query_and_headers_but_not_credentials() {
    let server = LocalS3::start();
    server.create_bucket("recorder-test");
    let head = "GET /recorder-test?list-type=2 HTTP/1.1\r\n\
                Host: localhost\r\n\
                x-amz-expected-bucket-owner: 111122223333\r\n\
                Authorization: not-a-signature\r\n\
                Connection: close\r\n\r\n";

    let response = send(&server.endpoint(), head);

    // The request is not signed, so s3s refuses it; it is recorded all the same.
    assert!(response.starts_with("HTTP/1.1 4"), "unexpected response: {response}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/recorder-test");
    assert_eq!(request.query.as_deref(), Some("list-type=2"));
    assert_eq!(request.header("X-Amz-Expected-Bucket-Owner"), Some("111122223333"));
    assert_eq!(request.header("authorization"), None);

    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[test]
fn drop_stops_the_server_and_removes_its_data() {
    let server = LocalS3::start();
    server.create_bucket("dropped");
    let data_dir = server.data_dir().to_owned();
    let address = server.endpoint().trim_start_matches("http://").to_owned();
    assert!(data_dir.join("dropped").is_dir());

    drop(server);

    assert!(!data_dir.exists(), "{} was left behind", data_dir.display());
    assert!(TcpStream::connect(address).is_err(), "the port still accepts connections");
}

#[tokio::test]
async fn serves_from_inside_a_current_thread_runtime() {
    let server = LocalS3::start();
    let endpoint = server.endpoint();
    let head = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

    let response = tokio::task::spawn_blocking(move || send(&endpoint, head))
        .await
        .expect("the request thread finished");

    assert!(response.starts_with("HTTP/1.1 "), "unexpected response: {response}");
    assert_eq!(server.requests().len(), 1);
    drop(server);
}
