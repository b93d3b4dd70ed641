//! The RDS and Secrets Manager emulator answers the AWS SDK in shapes the SDK accepts: a reply
//! the SDK cannot parse, or an error code it reads differently, fails here.

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::describe_option_groups::DescribeOptionGroupsError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use release_testkit::{Instance, LocalAwsApi};

const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-0f1e2d3c-4b5a-6978-AbCdEf";
const SECRET_NAME: &str = "rds!db-0f1e2d3c-4b5a-6978";
const SECRET_STRING: &str = r#"{"username":"admin","password":"not-a-real-password-3x!"}"#;
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/rds-native-restore";

/// An available SQL Server instance `id` in option group `restore-og`, with a managed master
/// secret when `managed_secret`.
fn instance(id: &str, managed_secret: bool) -> Instance {
    Instance {
        id: id.to_owned(),
        status: "available".to_owned(),
        engine: "sqlserver-se".to_owned(),
        address: format!("{id}.c0ffee123456.us-east-1.rds.amazonaws.com"),
        port: 1433,
        option_group: "restore-og".to_owned(),
        master_username: "admin".to_owned(),
        master_secret_arn: managed_secret.then(|| SECRET_ARN.to_owned()),
    }
}

/// An emulator with instance `restore-target`, its option group allowing native restore, and
/// its master secret.
fn emulator() -> LocalAwsApi {
    let api = LocalAwsApi::start();
    api.add_instance(instance("restore-target", true));
    api.add_option_group(
        "restore-og",
        vec![("SQLSERVER_BACKUP_RESTORE", vec![("IAM_ROLE_ARN", ROLE_ARN)])],
    );
    api.add_secret(SECRET_ARN, SECRET_NAME, SECRET_STRING);
    api
}

/// SDK configuration that sends every call to `api`, signed with static test credentials.
async fn sdk_config(api: &LocalAwsApi) -> SdkConfig {
    let credentials = Credentials::new("AKIALOCALAWSAPITEST1", "any-secret", None, None, "test");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(api.region()))
        .endpoint_url(api.endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}

async fn rds(api: &LocalAwsApi) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&sdk_config(api).await)
}

async fn secrets(api: &LocalAwsApi) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(api).await)
}

/// The identifiers of the instances in `output`, in the order given.
fn ids(output: &DescribeDbInstancesOutput) -> Vec<&str> {
    let instances = output.db_instances().iter();
    instances.map(|instance| instance.db_instance_identifier().unwrap_or_default()).collect()
}

#[tokio::test]
async fn describe_db_instances_reports_every_field_release_reads() {
    let api = emulator();

    let output = rds(&api)
        .await
        .describe_db_instances()
        .db_instance_identifier("restore-target")
        .send()
        .await
        .unwrap();

    let [instance] = output.db_instances() else {
        panic!("expected one instance: {output:#?}");
    };
    assert_eq!(instance.db_instance_identifier(), Some("restore-target"));
    assert_eq!(instance.db_instance_status(), Some("available"));
    assert_eq!(instance.engine(), Some("sqlserver-se"));
    assert_eq!(instance.engine_version(), Some("15.00.4415.2.v1"));
    assert_eq!(instance.master_username(), Some("admin"));
    assert_eq!(instance.availability_zone(), Some("us-east-1a"));
    assert_eq!(
        instance.db_instance_arn(),
        Some("arn:aws:rds:us-east-1:111122223333:db:restore-target")
    );
    assert_eq!(instance.publicly_accessible(), Some(false));
    assert_eq!(instance.storage_encrypted(), Some(true));
    assert_eq!(instance.iam_database_authentication_enabled(), Some(false));

    let endpoint = instance.endpoint().expect("an endpoint");
    assert_eq!(endpoint.address(), Some("restore-target.c0ffee123456.us-east-1.rds.amazonaws.com"));
    assert_eq!(endpoint.port(), Some(1433));
    assert_eq!(endpoint.hosted_zone_id(), Some("Z2R2ITUGPM61AM"));

    let [membership] = instance.option_group_memberships() else {
        panic!("expected one option group: {instance:#?}");
    };
    assert_eq!(membership.option_group_name(), Some("restore-og"));
    assert_eq!(membership.status(), Some("in-sync"));

    let secret = instance.master_user_secret().expect("a managed master secret");
    assert_eq!(secret.secret_arn(), Some(SECRET_ARN));
    assert_eq!(secret.secret_status(), Some("active"));
    let kms_key_id = secret.kms_key_id().expect("a KMS key");
    assert!(kms_key_id.starts_with("arn:aws:kms:us-east-1:111122223333:key/"), "{kms_key_id}");
}

#[tokio::test]
async fn an_instance_without_a_managed_secret_reports_none() {
    let api = LocalAwsApi::start();
    api.add_instance(instance("plain", false));

    let output =
        rds(&api).await.describe_db_instances().db_instance_identifier("plain").send().await;

    let output = output.unwrap();
    assert_eq!(output.db_instances().len(), 1);
    assert_eq!(output.db_instances()[0].master_user_secret(), None);
}

#[tokio::test]
async fn instances_are_found_in_any_case_by_arn_or_all_at_once() {
    let api = emulator();
    api.add_instance(instance("Second-Target", false));
    let client = rds(&api).await;

    let by_case = client.describe_db_instances().db_instance_identifier("RESTORE-TARGET");
    let by_case = by_case.send().await.unwrap();
    let arn = "arn:aws:rds:us-east-1:111122223333:db:second-target";
    let by_arn = client.describe_db_instances().db_instance_identifier(arn).send().await.unwrap();
    let all = client.describe_db_instances().send().await.unwrap();

    assert_eq!(ids(&by_case), ["restore-target"]);
    assert_eq!(ids(&by_arn), ["second-target"]);
    assert_eq!(ids(&all), ["restore-target", "second-target"]);
}

#[tokio::test]
async fn an_unknown_instance_is_db_instance_not_found() {
    let api = emulator();

    let err =
        rds(&api).await.describe_db_instances().db_instance_identifier("nowhere").send().await;

    let err = err.expect_err("an unknown instance was found");
    assert_eq!(err.raw_response().map(|raw| raw.status().as_u16()), Some(404));
    let service_error = err.into_service_error();
    assert_eq!(service_error.code(), Some("DBInstanceNotFound"));
    assert_eq!(service_error.message(), Some("DBInstance nowhere not found."));
    assert!(
        matches!(service_error, DescribeDBInstancesError::DbInstanceNotFoundFault(_)),
        "{service_error:?}"
    );
}

#[tokio::test]
async fn describe_option_groups_reports_the_restore_option_and_its_role() {
    let api = emulator();

    let output = rds(&api)
        .await
        .describe_option_groups()
        .option_group_name("restore-og")
        .send()
        .await
        .unwrap();

    let [group] = output.option_groups_list() else {
        panic!("expected one option group: {output:#?}");
    };
    assert_eq!(group.option_group_name(), Some("restore-og"));
    assert_eq!(group.engine_name(), Some("sqlserver-se"));
    assert_eq!(group.major_engine_version(), Some("15.00"));
    assert_eq!(group.option_group_arn(), Some("arn:aws:rds:us-east-1:111122223333:og:restore-og"));
    let [option] = group.options() else {
        panic!("expected one option: {group:#?}");
    };
    assert_eq!(option.option_name(), Some("SQLSERVER_BACKUP_RESTORE"));
    assert_eq!(option.persistent(), Some(false));
    let [setting] = option.option_settings() else {
        panic!("expected one setting: {option:#?}");
    };
    assert_eq!(setting.name(), Some("IAM_ROLE_ARN"));
    assert_eq!(setting.value(), Some(ROLE_ARN));
    assert_eq!(setting.is_modifiable(), Some(true));
}

#[tokio::test]
async fn an_option_group_without_options_has_an_empty_list() {
    let api = LocalAwsApi::start();
    api.add_option_group("default:sqlserver-se-15-00", Vec::new());

    let output = rds(&api)
        .await
        .describe_option_groups()
        .option_group_name("default:sqlserver-se-15-00")
        .send()
        .await
        .unwrap();

    assert_eq!(output.option_groups_list().len(), 1);
    assert!(output.option_groups_list()[0].options().is_empty());
}

#[tokio::test]
async fn an_unknown_option_group_is_option_group_not_found() {
    let api = emulator();

    let err = rds(&api).await.describe_option_groups().option_group_name("missing").send().await;

    let service_error = err.expect_err("an unknown option group was found").into_service_error();
    assert_eq!(service_error.message(), Some("Specified OptionGroupName: missing not found."));
    assert!(
        matches!(service_error, DescribeOptionGroupsError::OptionGroupNotFoundFault(_)),
        "{service_error:?}"
    );
}

#[tokio::test]
async fn an_rds_action_it_does_not_know_is_an_invalid_action() {
    let api = emulator();

    let err = rds(&api).await.describe_db_clusters().send().await;

    let service_error = err.expect_err("an unknown action succeeded").into_service_error();
    assert_eq!(service_error.code(), Some("InvalidAction"), "{service_error:?}");
    assert_eq!(api.actions(), ["DescribeDBClusters"]);
}

#[tokio::test]
async fn get_secret_value_returns_the_master_secret_of_the_instance() {
    let api = emulator();
    let before = SystemTime::now() - Duration::from_secs(5);

    // What release does: find the secret through the instance, then read it.
    let instances = rds(&api)
        .await
        .describe_db_instances()
        .db_instance_identifier("restore-target")
        .send()
        .await
        .unwrap();
    let secret_arn = instances.db_instances()[0].master_user_secret().unwrap().secret_arn();
    let output =
        secrets(&api).await.get_secret_value().secret_id(secret_arn.unwrap()).send().await.unwrap();

    assert_eq!(output.arn(), Some(SECRET_ARN));
    assert_eq!(output.name(), Some(SECRET_NAME));
    assert_eq!(output.version_stages(), ["AWSCURRENT"]);
    assert_eq!(output.version_id().map(str::len), Some(36), "a UUID: {output:?}");
    let created = SystemTime::try_from(*output.created_date().expect("a creation date")).unwrap();
    assert!(created > before && created < SystemTime::now(), "{created:?}");
    let login: serde_json::Value =
        serde_json::from_str(output.secret_string().expect("a secret string")).unwrap();
    assert_eq!(login["username"], "admin");
    assert_eq!(login["password"], "not-a-real-password-3x!");
    assert_eq!(api.actions(), ["DescribeDBInstances", "GetSecretValue"]);

    // Neither the secret nor the credentials that asked for it are in the request log.
    let requests = api.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[1].header("x-amz-target"), Some("secretsmanager.GetSecretValue"));
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("authorization"), None, "credentials were recorded");
        assert!(!format!("{request:?}").contains("not-a-real-password"), "{request:?}");
    }
}

#[tokio::test]
async fn a_secret_is_found_by_name_and_by_the_id_it_was_added_under() {
    let api = emulator();
    api.add_secret("release/sql-login", "release/sql-login", r#"{"username":"loader"}"#);
    let client = secrets(&api).await;

    let by_name = client.get_secret_value().secret_id(SECRET_NAME).send().await.unwrap();
    let by_id = client.get_secret_value().secret_id("release/sql-login").send().await.unwrap();

    assert_eq!(by_name.arn(), Some(SECRET_ARN));
    assert_eq!(by_id.secret_string(), Some(r#"{"username":"loader"}"#));
    let arn = by_id.arn().unwrap();
    let prefix = "arn:aws:secretsmanager:us-east-1:111122223333:secret:release/sql-login-";
    assert!(arn.starts_with(prefix) && arn.len() == prefix.len() + 6, "{arn}");
}

#[tokio::test]
async fn an_unknown_secret_is_resource_not_found() {
    let api = emulator();

    let err = secrets(&api).await.get_secret_value().secret_id("missing").send().await;

    let err = err.expect_err("an unknown secret was found");
    assert_eq!(err.raw_response().map(|raw| raw.status().as_u16()), Some(400));
    let service_error = err.into_service_error();
    assert_eq!(service_error.message(), Some("Secrets Manager can't find the specified secret."));
    assert!(
        matches!(service_error, GetSecretValueError::ResourceNotFoundException(_)),
        "{service_error:?}"
    );
}

#[tokio::test]
async fn a_version_other_than_the_current_one_is_resource_not_found() {
    let api = emulator();
    let client = secrets(&api).await;

    let previous =
        client.get_secret_value().secret_id(SECRET_ARN).version_stage("AWSPREVIOUS").send().await;
    let other_version = client
        .get_secret_value()
        .secret_id(SECRET_ARN)
        .version_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await;
    let current =
        client.get_secret_value().secret_id(SECRET_ARN).version_stage("AWSCURRENT").send().await;

    for err in [previous.unwrap_err(), other_version.unwrap_err()] {
        let service_error = err.into_service_error();
        assert!(service_error.is_resource_not_found_exception(), "{service_error:?}");
    }
    assert_eq!(current.unwrap().secret_string(), Some(SECRET_STRING));
}

#[tokio::test]
async fn a_denied_secret_is_access_denied() {
    let api = emulator();
    api.deny_secret(SECRET_ARN);

    let err = secrets(&api).await.get_secret_value().secret_id(SECRET_NAME).send().await;

    let service_error = err.expect_err("a denied secret was read").into_service_error();
    assert_eq!(service_error.code(), Some("AccessDeniedException"), "{service_error:?}");
    let message = service_error.message().unwrap();
    assert!(message.contains("not authorized to perform: secretsmanager:GetSecretValue"));
    assert!(message.contains(SECRET_NAME), "{message}");
}

#[tokio::test]
async fn a_secrets_manager_operation_it_does_not_know_is_an_unknown_operation() {
    let api = emulator();

    let err = secrets(&api).await.list_secrets().send().await;

    let service_error = err.expect_err("an unknown operation succeeded").into_service_error();
    assert_eq!(service_error.code(), Some("UnknownOperationException"), "{service_error:?}");
    assert_eq!(api.actions(), ["ListSecrets"]);
}
