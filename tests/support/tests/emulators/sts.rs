//! The STS emulator answers the AWS SDK in shapes the SDK accepts: a reply the SDK cannot
//! parse, or an error code it reads differently, fails here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use release_testkit::{AssumedRole, LocalSts};

const BASE_KEY: &str = "AKIALOCALSTSTEST0001";
const BASE_ARN: &str = "arn:aws:iam::111122223333:user/ci-runner";
const BASE_ACCOUNT: &str = "111122223333";
const ROLE_ARN: &str = "arn:aws:iam::444455556666:role/team/release-writer";
const ROLE_ACCOUNT: &str = "444455556666";

/// An emulator that knows [`BASE_KEY`] as [`BASE_ARN`].
fn emulator() -> LocalSts {
    let sts = LocalSts::start();
    sts.add_identity(BASE_KEY, BASE_ARN, BASE_ACCOUNT);
    sts
}

/// SDK configuration that sends STS calls to `sts`, signed with access key `access_key_id`.
async fn sdk_config(sts: &LocalSts, access_key_id: &str) -> SdkConfig {
    let credentials = Credentials::new(access_key_id, "any-secret", None, None, "test");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(sts.region()))
        .endpoint_url(sts.endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}

/// An STS client for `sts` that signs with `access_key_id`.
async fn client(sts: &LocalSts, access_key_id: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(sts, access_key_id).await)
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).expect("a time after 1970").as_secs()
}

#[tokio::test]
async fn get_caller_identity_names_the_configured_principal() {
    let sts = emulator();

    let identity = client(&sts, BASE_KEY).await.get_caller_identity().send().await.unwrap();

    assert_eq!(identity.arn(), Some(BASE_ARN));
    assert_eq!(identity.account(), Some(BASE_ACCOUNT));
    let user_id = identity.user_id().unwrap();
    assert!(user_id.starts_with("AIDA"), "{user_id}");
    assert_eq!(sts.actions(), ["GetCallerIdentity"]);
    let requests = sts.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].header("authorization"), None, "credentials were recorded");
}

#[tokio::test]
async fn an_unknown_access_key_is_an_invalid_client_token() {
    let sts = emulator();

    let err = client(&sts, "AKIANOBODYKNOWSTHIS1").await.get_caller_identity().send().await;

    let err = err.expect_err("an unknown key was accepted");
    let service_error = err.as_service_error().expect("an STS error reply");
    assert_eq!(service_error.code(), Some("InvalidClientTokenId"), "{err:?}");
    assert_eq!(
        service_error.message(),
        Some("The security token included in the request is invalid.")
    );
}

#[tokio::test]
async fn assume_role_issues_credentials_for_the_role_session() {
    let sts = emulator();
    let before = unix_seconds(SystemTime::now());

    let assumed = client(&sts, BASE_KEY)
        .await
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("release-upload-42")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();

    let credentials = assumed.credentials().expect("credentials in the reply");
    assert!(credentials.access_key_id().starts_with("ASIA"), "{credentials:?}");
    assert!(!credentials.secret_access_key().is_empty());
    assert!(!credentials.session_token().is_empty());
    let expires = u64::try_from(credentials.expiration().secs()).unwrap();
    assert!((before + 900..=before + 905).contains(&expires), "expires at {expires}");
    let user = assumed.assumed_role_user().expect("the assumed role user in the reply");
    assert_eq!(
        user.arn(),
        "arn:aws:sts::444455556666:assumed-role/release-writer/release-upload-42"
    );
    assert!(user.assumed_role_id().starts_with("AROA"), "{user:?}");
    assert!(user.assumed_role_id().ends_with(":release-upload-42"), "{user:?}");
    assert_eq!(
        sts.assumed_roles(),
        [AssumedRole {
            role_arn: ROLE_ARN.to_owned(),
            session_name: "release-upload-42".to_owned(),
            external_id: None,
            duration_seconds: 900,
            granted: true,
        }]
    );
}

#[tokio::test]
async fn assume_role_provider_credentials_identify_as_the_assumed_role() {
    let sts = emulator();
    let base = sdk_config(&sts, BASE_KEY).await;

    let provider = AssumeRoleProvider::builder(ROLE_ARN)
        .session_name("release-provider")
        .session_length(Duration::from_secs(1800))
        .configure(&base)
        .build()
        .await;
    let credentials = provider.provide_credentials().await.unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"), "{credentials:?}");
    assert!(credentials.session_token().is_some());
    assert!(credentials.expiry().is_some());

    let config = aws_sdk_sts::config::Builder::from(&base).credentials_provider(provider).build();
    let identity =
        aws_sdk_sts::Client::from_conf(config).get_caller_identity().send().await.unwrap();
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::444455556666:assumed-role/release-writer/release-provider")
    );
    assert_eq!(identity.account(), Some(ROLE_ACCOUNT));
    let roles = sts.assumed_roles();
    assert!(roles.iter().all(|role| role.duration_seconds == 1800), "{roles:#?}");
}

#[tokio::test]
async fn temporary_credentials_need_their_session_token() {
    let sts = emulator();
    let assumed = client(&sts, BASE_KEY)
        .await
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("no-token")
        .send()
        .await
        .unwrap();
    let access_key_id = assumed.credentials().unwrap().access_key_id();

    let err = client(&sts, access_key_id).await.get_caller_identity().send().await;

    let err = err.expect_err("temporary credentials worked without their token");
    assert_eq!(err.as_service_error().and_then(|err| err.code()), Some("InvalidClientTokenId"));
}

#[tokio::test]
async fn a_role_that_requires_an_external_id_refuses_requests_without_it() {
    let sts = emulator();
    sts.require_external_id(ROLE_ARN, "tre-7d3f");
    let client = client(&sts, BASE_KEY).await;
    let assume = |external_id: Option<&str>| {
        client
            .assume_role()
            .role_arn(ROLE_ARN)
            .role_session_name("release")
            .set_external_id(external_id.map(str::to_owned))
            .send()
    };

    for external_id in [None, Some("wrong")] {
        let err = assume(external_id).await.expect_err("assumed without the external id");
        let service_error = err.as_service_error().expect("an STS error reply");
        assert_eq!(service_error.code(), Some("AccessDenied"), "{err:?}");
        let message = service_error.message().unwrap_or_default();
        assert!(message.contains(BASE_ARN) && message.contains(ROLE_ARN), "{message}");
    }
    assume(Some("tre-7d3f")).await.expect("the right external id is accepted");

    let attempts: Vec<_> =
        sts.assumed_roles().into_iter().map(|role| (role.external_id, role.granted)).collect();
    assert_eq!(
        attempts,
        [(None, false), (Some("wrong".to_owned()), false), (Some("tre-7d3f".to_owned()), true)]
    );
}

#[tokio::test]
async fn malformed_assume_role_parameters_are_validation_errors() {
    let sts = emulator();
    let client = client(&sts, BASE_KEY).await;

    let bad_arn = client
        .assume_role()
        .role_arn("arn:aws:iam::444455556666:user/not-a-role")
        .role_session_name("release")
        .send()
        .await;
    let too_long = client
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("release")
        .duration_seconds(43_201)
        .send()
        .await;

    for result in [bad_arn, too_long] {
        let err = result.expect_err("a malformed request was granted");
        assert_eq!(err.as_service_error().and_then(|err| err.code()), Some("ValidationError"));
    }
    assert!(sts.assumed_roles().is_empty());
}

/// Sends a raw form POST to the emulator and returns the whole response as text.
fn post_form(endpoint: &str, form: &str) -> String {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect to the emulator");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    response
}

#[test]
fn an_unknown_action_is_an_invalid_action_error() {
    let sts = emulator();

    let response = post_form(&sts.endpoint(), "Action=DeleteAccount&Version=2011-06-15");

    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{response}"
    );
    assert!(response.contains("<Code>InvalidAction</Code>"), "{response}");
    assert_eq!(sts.actions(), ["DeleteAccount"]);
}

#[test]
fn an_unsigned_call_is_missing_its_authentication_token() {
    let sts = emulator();

    let response = post_form(&sts.endpoint(), "Action=GetCallerIdentity&Version=2011-06-15");

    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("<Code>MissingAuthenticationToken</Code>"), "{response}");
}

#[test]
fn drop_stops_the_emulator() {
    let sts = emulator();
    let address = sts.endpoint().trim_start_matches("http://").to_owned();

    drop(sts);

    assert!(TcpStream::connect(address).is_err(), "the port still accepts connections");
}
