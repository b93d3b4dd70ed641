//! One client connection, from its first byte to its last:
//!
//! 1. PRELOGIN, and the encryption the two sides agree on ([`negotiate`]); or, when the first
//!    byte is a TLS record, a TDS 8.0 "strict" connection that starts with TLS;
//! 2. the TLS handshake when one was agreed, wrapped in PRELOGIN packets for TDS 7.x;
//! 3. LOGIN7: the login and password are checked against the configured logins, the database
//!    named in the login must exist; a failure is answered with an error and the connection
//!    is closed, as SQL Server does;
//! 4. requests, one at a time, until the client goes away: SQL batches, RPCs (parameterised
//!    queries arrive as `sp_executesql`), transaction requests and attentions.
//!
//! Nothing here is kept once the connection ends, except what the statements did to the
//! shared [`Instance`](super::rds::Instance).

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::exec::{self, Change, Params, Session, StatementOutput};
use super::login::{self, Login7};
use super::messages::ServerMessage;
use super::packet::{Message, kind, read_message, write_message};
use super::prelogin::{self, encrypt};
use super::request::{
    self, Request, Rpc, RpcParam, RpcProcedure, SP_EXECUTESQL, TransactionRequest,
};
use super::server::{Encryption, Shared};
use super::sql;
use super::tls::PreloginFraming;
use super::tokens::{DoneKind, Tokens, done};

/// The server name sent in ERROR tokens, in the style of an RDS host name.
const SERVER_NAME: &str = "EC2AMAZ-TESTKIT";

/// The packet size before the login settles it.
const INITIAL_PACKET_SIZE: usize = 4096;

/// A byte stream the connection runs over: the socket, or TLS on it.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// What PRELOGIN settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// No TLS.
    Plain,
    /// TLS for the login only (the client asked for encryption Off and the server has TLS).
    LoginOnly,
    /// TLS for everything.
    Full,
    /// The server requires TLS and the client cannot do it: close after answering.
    Refuse,
}

/// Serves one connection until the client leaves. Errors only end the connection: a test sees
/// them as the client's errors.
pub(crate) async fn serve(tcp: TcpStream, shared: Arc<Shared>) {
    let _ = run(tcp, &shared).await;
}

async fn run(tcp: TcpStream, shared: &Shared) -> io::Result<()> {
    let spid = shared.next_spid();
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Ok(());
    }
    let started = if first[0] == kind::PRELOGIN {
        classic_start(tcp, shared, spid).await?
    } else {
        strict_start(tcp, shared, spid).await?
    };
    let Some((mut transport, record)) = started else { return Ok(()) };

    let Some((session, packet_size)) = log_in(&mut transport, shared, &record, spid).await? else {
        return Ok(());
    };
    requests(&mut transport, shared, session, packet_size, spid).await
}

/// PRELOGIN in the clear, then TLS if agreed. Returns the transport for the rest of the
/// connection and the LOGIN7 message, or `None` when the connection should end.
async fn classic_start(
    mut tcp: TcpStream,
    shared: &Shared,
    spid: u16,
) -> io::Result<Option<(Box<dyn Transport>, Message)>> {
    let Some(message) = read_message(&mut tcp).await? else { return Ok(None) };
    let client = prelogin::parse(&message.payload)?;
    let (answer, security) = negotiate(shared.encryption, client.encryption);
    write_message(&mut tcp, kind::REPLY, &prelogin::reply(answer), INITIAL_PACKET_SIZE, spid)
        .await?;

    match (security, shared.tls.clone()) {
        (Security::Refuse, _) => Ok(None),
        (Security::Plain, _) => {
            let Some(record) = read_message(&mut tcp).await? else { return Ok(None) };
            Ok(Some((Box::new(tcp), record)))
        }
        (Security::LoginOnly | Security::Full, Some(config)) => {
            let mut tls = TlsAcceptor::from(config).accept(PreloginFraming::new(tcp)).await?;
            let Some(record) = read_message(&mut tls).await? else { return Ok(None) };
            if security == Security::LoginOnly {
                // Back to the bare socket: everything after the login is in the clear.
                let tcp = tls.into_inner().0.into_inner();
                return Ok(Some((Box::new(tcp), record)));
            }
            Ok(Some((Box::new(tls), record)))
        }
        // TLS agreed without a certificate: `negotiate` never does this.
        (Security::LoginOnly | Security::Full, None) => Ok(None),
    }
}

/// TDS 8.0: TLS straight away, then PRELOGIN and LOGIN7 inside it.
async fn strict_start(
    tcp: TcpStream,
    shared: &Shared,
    spid: u16,
) -> io::Result<Option<(Box<dyn Transport>, Message)>> {
    let Some(config) = shared.tls.clone() else { return Ok(None) };
    let mut tls = TlsAcceptor::from(config).accept(tcp).await?;
    let Some(message) = read_message(&mut tls).await? else { return Ok(None) };
    if message.kind != kind::PRELOGIN {
        return Ok(None);
    }
    prelogin::parse(&message.payload)?;
    let reply = prelogin::reply(encrypt::REQUIRED);
    write_message(&mut tls, kind::REPLY, &reply, INITIAL_PACKET_SIZE, spid).await?;
    let Some(record) = read_message(&mut tls).await? else { return Ok(None) };
    Ok(Some((Box::new(tls), record)))
}

/// The server's ENCRYPTION answer to the client's, and what follows from it (MS-TDS 2.2.6.5).
/// A server without TLS answers NOT_SUPPORTED whatever the client asked; a client that needs
/// encryption then gives up on its own.
fn negotiate(server: Encryption, client: u8) -> (u8, Security) {
    match (server, client) {
        (Encryption::NotSupported, _) => (encrypt::NOT_SUPPORTED, Security::Plain),
        (Encryption::On, encrypt::NOT_SUPPORTED) => (encrypt::NOT_SUPPORTED, Security::Plain),
        (Encryption::On, encrypt::OFF) => (encrypt::OFF, Security::LoginOnly),
        (Encryption::On, _) => (encrypt::ON, Security::Full),
        (Encryption::Required, encrypt::NOT_SUPPORTED) => (encrypt::REQUIRED, Security::Refuse),
        (Encryption::Required, _) => (encrypt::REQUIRED, Security::Full),
    }
}

/// Checks the LOGIN7 record and answers it. Returns the new session and the packet size agreed
/// on, or `None` when the login failed and the connection must close.
async fn log_in(
    transport: &mut Box<dyn Transport>,
    shared: &Shared,
    record: &Message,
    spid: u16,
) -> io::Result<Option<(Session, usize)>> {
    if record.kind != kind::LOGIN7 {
        return Ok(None);
    }
    let login = login::parse(&record.payload)?;
    let mut tokens = Tokens::new();
    let failure = check_login(shared, &login);
    if let Some(messages) = failure {
        for message in &messages {
            tokens.error(message, SERVER_NAME);
        }
        tokens.done(DoneKind::Done, done::ERROR, 0);
        write_message(transport, kind::REPLY, &tokens.into_bytes(), INITIAL_PACKET_SIZE, spid)
            .await?;
        return Ok(None);
    }

    let database = shared.database_name(&login.database).unwrap_or_else(|| "master".to_owned());
    let packet_size = match login.packet_size {
        0 => INITIAL_PACKET_SIZE,
        asked => (asked as usize).clamp(512, 32_767),
    };
    tokens.database_changed(&database, "master");
    tokens.login_ack();
    tokens.packet_size_changed(packet_size, INITIAL_PACKET_SIZE);
    tokens.done(DoneKind::Done, 0, 0);
    write_message(transport, kind::REPLY, &tokens.into_bytes(), INITIAL_PACKET_SIZE, spid).await?;
    Ok(Some((Session::new(database), packet_size)))
}

/// The errors a failed login is answered with, or `None` when it may go on.
fn check_login(shared: &Shared, login: &Login7) -> Option<Vec<ServerMessage>> {
    if !shared.password_matches(&login.user, &login.password) {
        return Some(vec![ServerMessage::login_failed(&login.user)]);
    }
    if !login.database.is_empty() && shared.database_name(&login.database).is_none() {
        return Some(vec![
            ServerMessage::cannot_open_database(&login.database),
            ServerMessage::login_failed(&login.user),
        ]);
    }
    None
}

/// Answers requests until the client leaves.
async fn requests(
    transport: &mut Box<dyn Transport>,
    shared: &Shared,
    mut session: Session,
    packet_size: usize,
    spid: u16,
) -> io::Result<()> {
    while let Some(message) = read_message(transport).await? {
        let reply = match message.kind {
            kind::ATTENTION => {
                let mut tokens = Tokens::new();
                tokens.done(DoneKind::Done, done::ATTENTION, 0);
                tokens.into_bytes()
            }
            kind::SQL_BATCH => match request::parse_batch(&message.payload) {
                Ok(sql) => answer(shared, &mut session, Request::Batch(sql)),
                Err(reason) => refusal(&reason),
            },
            kind::RPC => match request::parse_rpc(&message.payload) {
                Ok(rpc) => answer(shared, &mut session, Request::Rpc(rpc)),
                Err(reason) => refusal(&reason),
            },
            kind::TRANSACTION_MANAGER => match request::parse_transaction(&message.payload) {
                Ok(what) => answer(shared, &mut session, Request::Transaction(what)),
                Err(reason) => refusal(&reason),
            },
            other => refusal(&format!("a request of packet type {other:#04x}")),
        };
        write_message(transport, kind::REPLY, &reply, packet_size, spid).await?;
    }
    Ok(())
}

/// The reply to a request the emulator cannot even decode.
fn refusal(what: &str) -> Vec<u8> {
    let mut tokens = Tokens::new();
    tokens.error(&ServerMessage::unsupported(what), SERVER_NAME);
    tokens.done(DoneKind::Done, done::ERROR, 0);
    tokens.into_bytes()
}

/// Runs a request and encodes the reply.
fn answer(shared: &Shared, session: &mut Session, request: Request) -> Vec<u8> {
    let rpc = matches!(request, Request::Rpc(_));
    let mut outputs = Vec::new();
    let failure = match request {
        Request::Batch(sql) => run_sql(shared, session, &sql, &Params::new(), &mut outputs),
        Request::Rpc(call) => run_rpc(shared, session, call, &mut outputs),
        Request::Transaction(what) => run_transaction(session, what, &mut outputs),
    }
    .err();
    encode(&outputs, failure.as_ref(), rpc)
}

/// Parses and runs statements one after another, stopping at the first error.
fn run_sql(
    shared: &Shared,
    session: &mut Session,
    sql: &str,
    params: &Params,
    outputs: &mut Vec<StatementOutput>,
) -> Result<(), ServerMessage> {
    for statement in sql::parse(sql)? {
        outputs.push(exec::run(statement, params, session, &shared.instance)?);
    }
    Ok(())
}

fn run_rpc(
    shared: &Shared,
    session: &mut Session,
    call: Rpc,
    outputs: &mut Vec<StatementOutput>,
) -> Result<(), ServerMessage> {
    let parts = match &call.procedure {
        RpcProcedure::Id(SP_EXECUTESQL) => vec!["sp_executesql".to_owned()],
        RpcProcedure::Id(other) => {
            return Err(ServerMessage::unsupported(&format!(
                "special procedure {other} (prepared statements and cursors)"
            )));
        }
        RpcProcedure::Name(name) => {
            name.split('.').map(|part| part.trim_matches(['[', ']']).to_owned()).collect()
        }
    };
    let is_executesql = parts.last().is_some_and(|name| name.eq_ignore_ascii_case("sp_executesql"));
    if is_executesql {
        let (sql, params) = executesql_arguments(call.params)?;
        return run_sql(shared, session, &sql, &params, outputs);
    }

    // A procedure called by name: its parameters are its arguments.
    let args = call
        .params
        .into_iter()
        .map(|param| {
            let name = (!param.name.is_empty()).then_some(param.name);
            sql::Arg { name, value: sql::Expr::Literal(param.value) }
        })
        .collect();
    let statement = sql::Statement::Exec { procedure: parts, args };
    outputs.push(exec::run(statement, &Params::new(), session, &shared.instance)?);
    Ok(())
}

/// `sp_executesql`'s arguments: the statement, the declaration of its parameters, and their
/// values, bound by name (or, for unnamed values, in the order of the declaration).
fn executesql_arguments(params: Vec<RpcParam>) -> Result<(String, Params), ServerMessage> {
    let mut params = params.into_iter();
    let sql = params
        .next()
        .and_then(|param| param.value.to_text())
        .ok_or_else(|| ServerMessage::missing_parameter("sp_executesql", "@statement"))?;
    let declared = params.next().and_then(|param| param.value.to_text()).unwrap_or_default();
    let mut declared_names = declared_names(&declared).into_iter();
    let mut bound = Params::new();
    for param in params {
        let name = match param.name.is_empty() {
            true => declared_names.next().unwrap_or_default(),
            false => {
                declared_names.next();
                param.name
            }
        };
        bound.insert(name.to_lowercase(), param.value);
    }
    Ok((sql, bound))
}

/// The names in a parameter declaration such as `@P1 nvarchar(4000),@P2 int`.
fn declared_names(declaration: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut expecting_name = true;
    let mut current = String::new();
    for c in declaration.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => expecting_name = true,
            _ => {}
        }
        if expecting_name {
            if c == '@' || (!current.is_empty() && (c.is_alphanumeric() || c == '_')) {
                current.push(c);
            } else if !current.is_empty() {
                names.push(std::mem::take(&mut current));
                expecting_name = false;
            }
        }
    }
    if !current.is_empty() {
        names.push(current);
    }
    names
}

fn run_transaction(
    session: &mut Session,
    what: TransactionRequest,
    outputs: &mut Vec<StatementOutput>,
) -> Result<(), ServerMessage> {
    let change = match what {
        TransactionRequest::Begin => session.begin(),
        TransactionRequest::Commit => session.end(true)?,
        TransactionRequest::Rollback => session.end(false)?,
        TransactionRequest::Other(number) => {
            return Err(ServerMessage::unsupported(&format!(
                "transaction manager request {number} (savepoints, distributed transactions)"
            )));
        }
    };
    outputs.push(StatementOutput { changes: vec![change], result: None });
    Ok(())
}

/// The tokens of a reply: each statement's changes, rows and DONE, then the error if one
/// stopped the request. A batch ends with a DONE per statement, the last without MORE; an RPC
/// has a DONEINPROC per statement and ends with RETURNSTATUS and DONEPROC.
fn encode(outputs: &[StatementOutput], failure: Option<&ServerMessage>, rpc: bool) -> Vec<u8> {
    let mut tokens = Tokens::new();
    let kind = if rpc { DoneKind::InProc } else { DoneKind::Done };
    for (index, output) in outputs.iter().enumerate() {
        for change in &output.changes {
            match change {
                Change::Database { new, old } => tokens.database_changed(new, old),
                Change::Began(descriptor) => tokens.transaction_began(*descriptor),
                Change::Ended { descriptor, committed } => {
                    tokens.transaction_ended(*descriptor, *committed);
                }
            }
        }
        let last = !rpc && failure.is_none() && index + 1 == outputs.len();
        let more = if last { 0 } else { done::MORE };
        match &output.result {
            Some(set) => {
                tokens.result_set(set);
                tokens.done(kind, more | done::COUNT, set.rows.len() as u64);
            }
            None => tokens.done(kind, more, 0),
        }
    }
    if let Some(message) = failure {
        tokens.error(message, SERVER_NAME);
        if !rpc {
            tokens.done(DoneKind::Done, done::ERROR, 0);
        }
    }
    if rpc {
        if failure.is_none() {
            tokens.return_status(0);
        }
        tokens.done(DoneKind::Proc, if failure.is_some() { done::ERROR } else { 0 }, 0);
    } else if outputs.is_empty() && failure.is_none() {
        tokens.done(DoneKind::Done, 0, 0);
    }
    tokens.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::value::Value;
    use super::*;

    #[test]
    fn declared_names_skip_types_and_their_sizes() {
        assert_eq!(
            declared_names("@P1 nvarchar(4000),@P2 int, @P3 decimal(10,2)"),
            vec!["@P1", "@P2", "@P3"]
        );
    }

    #[test]
    fn a_server_with_tls_follows_the_clients_wish() {
        assert_eq!(negotiate(Encryption::On, encrypt::OFF), (encrypt::OFF, Security::LoginOnly));
        assert_eq!(negotiate(Encryption::On, encrypt::REQUIRED), (encrypt::ON, Security::Full));
        assert_eq!(
            negotiate(Encryption::Required, encrypt::NOT_SUPPORTED),
            (encrypt::REQUIRED, Security::Refuse)
        );
    }

    #[test]
    fn positional_values_follow_the_declaration() {
        let params = vec![
            RpcParam { name: String::new(), value: Value::Str("SELECT @a".into()) },
            RpcParam { name: String::new(), value: Value::Str("@a int".into()) },
            RpcParam { name: String::new(), value: Value::Int(5) },
        ];
        let (sql, bound) = executesql_arguments(params).unwrap();
        assert_eq!(sql, "SELECT @a");
        assert_eq!(bound.get("@a"), Some(&Value::Int(5)));
    }
}
