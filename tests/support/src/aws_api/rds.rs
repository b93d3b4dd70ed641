//! The RDS half of [`LocalAwsApi`](super::LocalAwsApi): `DescribeDBInstances` and
//! `DescribeOptionGroups` over the AWS query protocol.
//!
//! A request is a form (`Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier=x`)
//! in a `POST` body or in the query string. A reply is XML in the `2014-10-31` namespace,
//! `<ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>...`, with lists written
//! as a wrapper element holding one element per member (`<DBInstances><DBInstance>`). A failure
//! is an `<ErrorResponse>` whose `Code` the SDK turns into an error variant:
//! `DBInstanceNotFound` into `DbInstanceNotFoundFault`, `OptionGroupNotFoundFault` into the
//! variant of the same name.
//!
//! Of an instance's many attributes, those `release` reads come from the
//! [`Instance`](super::Instance) a test added; a few more are reported with fixed, plausible
//! values so that a reply looks like AWS's; the rest are left out, as AWS leaves out what does
//! not apply.

use hyper::StatusCode;
use hyper::body::Bytes;

use super::{ACCOUNT, Instance, Reply, State};
use crate::server::REGION;

/// The XML namespace of every RDS reply.
const NAMESPACE: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// The engine version of every instance: SQL Server 2019, as RDS spells it.
const ENGINE_VERSION: &str = "15.00.4415.2.v1";

/// The engine and major version every option group is for.
const OPTION_GROUP_ENGINE: &str = "sqlserver-se";
const OPTION_GROUP_MAJOR_VERSION: &str = "15.00";

/// The Route 53 hosted zone of RDS endpoints in us-east-1.
const HOSTED_ZONE_ID: &str = "Z2R2ITUGPM61AM";

/// The KMS key of every managed master secret: Secrets Manager's default key.
const SECRET_KMS_KEY_ID: &str =
    "arn:aws:kms:us-east-1:111122223333:key/3c7d7a7e-0e2b-4a4e-9b1a-6f2d2c0f9e11";

/// An option group: its name as added and its options in the order added.
#[derive(Debug, Clone)]
pub(super) struct OptionGroup {
    name: String,
    options: Vec<OptionConfig>,
}

/// One option of a group, with its settings as name and value, in the order added.
#[derive(Debug, Clone)]
struct OptionConfig {
    name: String,
    settings: Vec<(String, String)>,
}

impl OptionGroup {
    pub(super) fn new(name: &str, options: Vec<(&str, Vec<(&str, &str)>)>) -> Self {
        let options = options
            .into_iter()
            .map(|(name, settings)| OptionConfig {
                name: name.to_owned(),
                settings: settings
                    .into_iter()
                    .map(|(setting, value)| (setting.to_owned(), value.to_owned()))
                    .collect(),
            })
            .collect();
        OptionGroup { name: name.to_ascii_lowercase(), options }
    }
}

impl State {
    pub(super) fn add_instance(&mut self, mut instance: Instance) {
        instance.id.make_ascii_lowercase();
        instance.option_group.make_ascii_lowercase();
        self.instances.insert(instance.id.clone(), instance);
    }

    pub(super) fn add_option_group(&mut self, group: OptionGroup) {
        self.option_groups.insert(group.name.clone(), group);
    }

    /// The instance `id` names, by identifier in any case or by ARN.
    fn instance(&self, id: &str) -> Option<&Instance> {
        let id = id.to_ascii_lowercase();
        let id = id.strip_prefix(&instance_arn("")).unwrap_or(&id);
        self.instances.get(id)
    }
}

/// Answers one query-protocol request: `query` is the URL's query string, `body` the request
/// body as read.
pub(super) fn answer(
    state: &mut State,
    query: Option<&str>,
    body: Result<Bytes, hyper::Error>,
    request_id: &str,
) -> Reply {
    let outcome = match body {
        Ok(body) => dispatch(state, &params(query, &body)),
        Err(err) => Err(RdsError::malformed(format!("cannot read the request body: {err}"))),
    };
    let (status, body) = match outcome {
        Ok((action, result)) => (StatusCode::OK, success_xml(action, &result, request_id)),
        Err(err) => (err.status, error_xml(&err, request_id)),
    };
    Reply { status, content_type: "text/xml", error_type: None, body }
}

/// The form parameters of the query string, then of the body, in the order sent.
fn params(query: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let query = form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned();
    query.chain(form_urlencoded::parse(body).into_owned()).collect()
}

/// The first value of parameter `name`, if sent.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// Runs the action the parameters name, giving its name and the contents of its result.
fn dispatch(
    state: &mut State,
    params: &[(String, String)],
) -> Result<(&'static str, String), RdsError> {
    let action = param(params, "Action");
    if let Some(action) = action {
        state.actions.push(action.to_owned());
    }
    match action {
        Some("DescribeDBInstances") => {
            let id = param(params, "DBInstanceIdentifier");
            Ok(("DescribeDBInstances", describe_db_instances(state, id)?))
        }
        Some("DescribeOptionGroups") => {
            let name = param(params, "OptionGroupName");
            Ok(("DescribeOptionGroups", describe_option_groups(state, name)?))
        }
        Some(other) => Err(RdsError::invalid_action(other)),
        None => Err(RdsError::missing_action()),
    }
}

/// The contents of `<DescribeDBInstancesResult>`: instance `id`, or every instance when none
/// is named.
fn describe_db_instances(state: &State, id: Option<&str>) -> Result<String, RdsError> {
    let instances: Vec<&Instance> = match id {
        Some(id) => vec![state.instance(id).ok_or_else(|| RdsError::instance_not_found(id))?],
        None => state.instances.values().collect(),
    };
    let mut xml = Xml::default();
    xml.open("DBInstances");
    for instance in instances {
        instance_xml(&mut xml, instance);
    }
    xml.close("DBInstances");
    Ok(xml.0)
}

/// The contents of `<DescribeOptionGroupsResult>`: group `name`, or every group when none is
/// named.
fn describe_option_groups(state: &State, name: Option<&str>) -> Result<String, RdsError> {
    let groups: Vec<&OptionGroup> = match name {
        Some(name) => {
            let group = state.option_groups.get(&name.to_ascii_lowercase());
            vec![group.ok_or_else(|| RdsError::option_group_not_found(name))?]
        }
        None => state.option_groups.values().collect(),
    };
    let mut xml = Xml::default();
    xml.open("OptionGroupsList");
    for group in groups {
        option_group_xml(&mut xml, group);
    }
    xml.close("OptionGroupsList");
    Ok(xml.0)
}

/// Writes `<DBInstance>` for `instance`.
fn instance_xml(xml: &mut Xml, instance: &Instance) {
    xml.open("DBInstance")
        .leaf("DBInstanceIdentifier", &instance.id)
        .leaf("DBInstanceClass", "db.m5.large")
        .leaf("Engine", &instance.engine)
        .leaf("DBInstanceStatus", &instance.status)
        .leaf("MasterUsername", &instance.master_username);
    xml.open("Endpoint")
        .leaf("Address", &instance.address)
        .leaf("Port", &instance.port.to_string())
        .leaf("HostedZoneId", HOSTED_ZONE_ID)
        .close("Endpoint");
    xml.leaf("AllocatedStorage", "100")
        .leaf("AvailabilityZone", &format!("{REGION}a"))
        .leaf("MultiAZ", "false")
        .leaf("EngineVersion", ENGINE_VERSION)
        .leaf("LicenseModel", "license-included");
    xml.open("OptionGroupMemberships")
        .open("OptionGroupMembership")
        .leaf("OptionGroupName", &instance.option_group)
        .leaf("Status", "in-sync")
        .close("OptionGroupMembership")
        .close("OptionGroupMemberships");
    xml.leaf("PubliclyAccessible", "false")
        .leaf("StorageType", "gp3")
        .leaf("StorageEncrypted", "true")
        .leaf("DBInstanceArn", &instance_arn(&instance.id))
        .leaf("IAMDatabaseAuthenticationEnabled", "false");
    if let Some(secret_arn) = &instance.master_secret_arn {
        xml.open("MasterUserSecret")
            .leaf("SecretArn", secret_arn)
            .leaf("SecretStatus", "active")
            .leaf("KmsKeyId", SECRET_KMS_KEY_ID)
            .close("MasterUserSecret");
    }
    xml.close("DBInstance");
}

/// Writes `<OptionGroup>` for `group`.
fn option_group_xml(xml: &mut Xml, group: &OptionGroup) {
    xml.open("OptionGroup")
        .leaf("OptionGroupName", &group.name)
        .leaf("OptionGroupDescription", &format!("{} options", group.name))
        .leaf("EngineName", OPTION_GROUP_ENGINE)
        .leaf("MajorEngineVersion", OPTION_GROUP_MAJOR_VERSION)
        .open("Options");
    for option in &group.options {
        xml.open("Option")
            .leaf("OptionName", &option.name)
            .leaf("Persistent", "false")
            .leaf("Permanent", "false")
            .open("OptionSettings");
        for (name, value) in &option.settings {
            xml.open("OptionSetting")
                .leaf("Name", name)
                .leaf("Value", value)
                .leaf("ApplyType", "DYNAMIC")
                .leaf("DataType", "STRING")
                .leaf("IsModifiable", "true")
                .leaf("IsCollection", "false")
                .close("OptionSetting");
        }
        xml.close("OptionSettings").close("Option");
    }
    xml.close("Options")
        .leaf("AllowsVpcAndNonVpcInstanceMemberships", "false")
        .leaf("OptionGroupArn", &format!("arn:aws:rds:{REGION}:{ACCOUNT}:og:{}", group.name))
        .close("OptionGroup");
}

/// The ARN of instance `id`; with an empty `id`, the prefix every instance ARN shares.
fn instance_arn(id: &str) -> String {
    format!("arn:aws:rds:{REGION}:{ACCOUNT}:db:{id}")
}

/// `<ActionResponse>`, wrapping the action's result and the request id.
fn success_xml(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NAMESPACE}\">\
         <{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </{action}Response>"
    )
}

/// `<ErrorResponse>`, as RDS sends for every failure.
fn error_xml(err: &RdsError, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\
         <Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>\
         <RequestId>{request_id}</RequestId>\
         </ErrorResponse>",
        err.code,
        escape(&err.message)
    )
}

/// XML being written, element by element. Text is escaped; names are trusted.
#[derive(Debug, Default)]
struct Xml(String);

impl Xml {
    fn open(&mut self, name: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    fn close(&mut self, name: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    /// An element holding only `text`.
    fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        self.0.push_str(&escape(text));
        self.close(name)
    }
}

/// `text` with the characters that XML gives meaning to replaced by entities.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// An RDS error reply. Every error here is the caller's fault, so its `Type` is `Sender`.
#[derive(Debug)]
struct RdsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl RdsError {
    fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        RdsError { status, code, message }
    }

    fn instance_not_found(id: &str) -> Self {
        let message = format!("DBInstance {id} not found.");
        Self::new(StatusCode::NOT_FOUND, "DBInstanceNotFound", message)
    }

    fn option_group_not_found(name: &str) -> Self {
        let message = format!("Specified OptionGroupName: {name} not found.");
        Self::new(StatusCode::NOT_FOUND, "OptionGroupNotFoundFault", message)
    }

    fn invalid_action(action: &str) -> Self {
        let message = format!("The action {action} is not valid for this web service.");
        Self::new(StatusCode::BAD_REQUEST, "InvalidAction", message)
    }

    fn missing_action() -> Self {
        let message = "The request must contain the parameter Action.".to_owned();
        Self::new(StatusCode::BAD_REQUEST, "MissingAction", message)
    }

    fn malformed(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedQueryString", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str) -> Instance {
        Instance {
            id: id.to_owned(),
            status: "available".to_owned(),
            engine: "sqlserver-se".to_owned(),
            address: "db.example.internal".to_owned(),
            port: 1433,
            option_group: "restore".to_owned(),
            master_username: "admin".to_owned(),
            master_secret_arn: None,
        }
    }

    #[test]
    fn finds_instances_in_any_case_and_by_arn() {
        let mut state = State::default();
        state.add_instance(instance("Restore-Target"));

        for id in ["restore-target", "RESTORE-TARGET", &instance_arn("restore-target")] {
            let found = state.instance(id).unwrap_or_else(|| panic!("{id} was not found"));
            assert_eq!(found.id, "restore-target");
        }
        assert!(state.instance("restore").is_none());
    }

    #[test]
    fn reads_parameters_from_the_query_string_then_the_body() {
        let params = params(Some("Action=DescribeDBInstances"), b"DBInstanceIdentifier=a%2Bb");
        assert_eq!(param(&params, "Action"), Some("DescribeDBInstances"));
        assert_eq!(param(&params, "DBInstanceIdentifier"), Some("a+b"));
        assert_eq!(param(&params, "Marker"), None);
    }

    #[test]
    fn records_actions_even_when_they_fail() {
        let mut state = State::default();
        let asked = [("Action".to_owned(), "DescribeDBInstances".to_owned())];
        let _ = dispatch(&mut state, &asked);
        let unknown = [("Action".to_owned(), "DeleteDBInstance".to_owned())];
        let err = dispatch(&mut state, &unknown).expect_err("an unknown action was run");
        assert_eq!(err.code, "InvalidAction");
        assert_eq!(state.actions, ["DescribeDBInstances", "DeleteDBInstance"]);
    }

    #[test]
    fn escapes_text_in_elements_and_error_messages() {
        let mut xml = Xml::default();
        xml.leaf("Value", "a<b>&\"c'");
        assert_eq!(xml.0, "<Value>a&lt;b&gt;&amp;&quot;c&apos;</Value>");
        let err = RdsError::instance_not_found("<x>");
        assert!(error_xml(&err, "id").contains("DBInstance &lt;x&gt; not found."));
    }
}
