//! The tokens of a server reply (MS-TDS 2.2.7): what the emulator writes after a login or a
//! request, one token after another, before [`packet`](super::packet) cuts it into packets.
//!
//! Every token starts with its type byte. Strings are UTF-16LE, preceded by their length in
//! code units: one byte for a `B_VARCHAR`, two for a `US_VARCHAR`. Only TDS 7.2-and-later
//! layouts are written (8-byte row counts in DONE, 4-byte line numbers in ERROR), since the
//! emulator always answers as TDS 7.4.

use std::time::{SystemTime, UNIX_EPOCH};

use super::messages::ServerMessage;
use super::prelogin::{SERVER_BUILD, SERVER_MAJOR, SERVER_MINOR};
use super::value::{Column, ColumnType, ResultSet, Value};

const RETURN_STATUS: u8 = 0x79;
const COL_METADATA: u8 = 0x81;
const ERROR: u8 = 0xAA;
const LOGIN_ACK: u8 = 0xAD;
const ROW: u8 = 0xD1;
const ENV_CHANGE: u8 = 0xE3;
const DONE: u8 = 0xFD;
const DONE_PROC: u8 = 0xFE;
const DONE_IN_PROC: u8 = 0xFF;

/// The TDS version the emulator answers with: 7.4.
pub(crate) const TDS_74: u32 = 0x7400_0004;

/// DONE status bits.
pub(crate) mod done {
    /// More results follow in this reply.
    pub(crate) const MORE: u16 = 0x0001;
    /// The statement failed.
    pub(crate) const ERROR: u16 = 0x0002;
    /// The row count is valid.
    pub(crate) const COUNT: u16 = 0x0010;
    /// This DONE acknowledges an attention (cancel) from the client.
    pub(crate) const ATTENTION: u16 = 0x0020;
}

/// Which DONE token: a batch's statement, an RPC's end, or a statement inside a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DoneKind {
    Done,
    Proc,
    InProc,
}

/// The collation sent with every string column: SQL_Latin1_General_CP1_CI_AS, which is what
/// RDS for SQL Server uses unless told otherwise. The client decodes `nvarchar` as UTF-16 and
/// needs it only for non-Unicode text.
const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Days from 1900-01-01, where `datetime` counts from, to 1970-01-01.
const DAYS_1900_TO_1970: i64 = 25_567;

/// A reply being written, token by token.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    bytes: Vec<u8>,
}

impl Tokens {
    pub(crate) fn new() -> Tokens {
        Tokens::default()
    }

    /// The reply so far.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// LOGINACK: the login worked, the server speaks TDS 7.4 and T-SQL.
    pub(crate) fn login_ack(&mut self) {
        let mut body = vec![1u8]; // the interface: T-SQL
        body.extend_from_slice(&TDS_74.to_be_bytes());
        put_b_varchar(&mut body, "Microsoft SQL Server");
        let build = SERVER_BUILD.to_be_bytes();
        body.extend_from_slice(&[SERVER_MAJOR, SERVER_MINOR, build[0], build[1]]);
        self.with_length(LOGIN_ACK, &body);
    }

    /// ENVCHANGE 1: the current database changed.
    pub(crate) fn database_changed(&mut self, new: &str, old: &str) {
        let mut body = vec![1u8];
        put_b_varchar(&mut body, new);
        put_b_varchar(&mut body, old);
        self.with_length(ENV_CHANGE, &body);
    }

    /// ENVCHANGE 4: the packet size both sides now use.
    pub(crate) fn packet_size_changed(&mut self, new: usize, old: usize) {
        let mut body = vec![4u8];
        put_b_varchar(&mut body, &new.to_string());
        put_b_varchar(&mut body, &old.to_string());
        self.with_length(ENV_CHANGE, &body);
    }

    /// ENVCHANGE 8: a transaction began; the client quotes `descriptor` in later requests.
    pub(crate) fn transaction_began(&mut self, descriptor: u64) {
        let mut body = vec![8u8, 8];
        body.extend_from_slice(&descriptor.to_le_bytes());
        body.push(0);
        self.with_length(ENV_CHANGE, &body);
    }

    /// ENVCHANGE 9 (commit) or 10 (rollback): the transaction `descriptor` ended.
    pub(crate) fn transaction_ended(&mut self, descriptor: u64, committed: bool) {
        let mut body = vec![if committed { 9 } else { 10 }, 0, 8];
        body.extend_from_slice(&descriptor.to_le_bytes());
        self.with_length(ENV_CHANGE, &body);
    }

    /// ERROR: `message`, attributed to server `server`.
    pub(crate) fn error(&mut self, message: &ServerMessage, server: &str) {
        let mut body = Vec::new();
        body.extend_from_slice(&message.number.to_le_bytes());
        body.push(message.state);
        body.push(message.class);
        put_us_varchar(&mut body, &message.text);
        put_b_varchar(&mut body, server);
        put_b_varchar(&mut body, &message.procedure);
        body.extend_from_slice(&1u32.to_le_bytes()); // the line number
        self.with_length(ERROR, &body);
    }

    /// DONE, DONEPROC or DONEINPROC with `status` bits and a row count.
    pub(crate) fn done(&mut self, kind: DoneKind, status: u16, rows: u64) {
        self.bytes.push(match kind {
            DoneKind::Done => DONE,
            DoneKind::Proc => DONE_PROC,
            DoneKind::InProc => DONE_IN_PROC,
        });
        self.bytes.extend_from_slice(&status.to_le_bytes());
        self.bytes.extend_from_slice(&0u16.to_le_bytes()); // the current command: unknown
        self.bytes.extend_from_slice(&rows.to_le_bytes());
    }

    /// RETURNSTATUS: the value a procedure returned.
    pub(crate) fn return_status(&mut self, status: i32) {
        self.bytes.push(RETURN_STATUS);
        self.bytes.extend_from_slice(&status.to_le_bytes());
    }

    /// COLMETADATA and one ROW per row. Rows must have one value per column.
    pub(crate) fn result_set(&mut self, set: &ResultSet) {
        self.bytes.push(COL_METADATA);
        self.bytes.extend_from_slice(&(set.columns.len() as u16).to_le_bytes());
        for column in &set.columns {
            self.column(column);
        }
        for row in &set.rows {
            self.bytes.push(ROW);
            for (column, value) in set.columns.iter().zip(row) {
                self.cell(column.ty, value);
            }
        }
    }

    fn column(&mut self, column: &Column) {
        self.bytes.extend_from_slice(&0u32.to_le_bytes()); // the user type
        self.bytes.extend_from_slice(&0x0001u16.to_le_bytes()); // flags: nullable
        match column.ty {
            ColumnType::Int => self.bytes.extend_from_slice(&[0x26, 4]),
            ColumnType::NVarChar(chars) => {
                self.bytes.push(0xE7);
                self.bytes.extend_from_slice(&(chars.min(4000) * 2).to_le_bytes());
                self.bytes.extend_from_slice(&COLLATION);
            }
            ColumnType::DateTime => self.bytes.extend_from_slice(&[0x6F, 8]),
        }
        put_b_varchar(&mut self.bytes, &column.name);
    }

    fn cell(&mut self, ty: ColumnType, value: &Value) {
        let out = &mut self.bytes;
        match (ty, value) {
            (ColumnType::Int, Value::Int(number)) => {
                out.push(4);
                // Result columns hold task ids, percentages and minutes: well inside `int`.
                out.extend_from_slice(&(*number as i32).to_le_bytes());
            }
            (ColumnType::NVarChar(chars), Value::Str(text)) => {
                let units: Vec<u16> = text.encode_utf16().take(usize::from(chars)).collect();
                out.extend_from_slice(&((units.len() * 2) as u16).to_le_bytes());
                for unit in units {
                    out.extend_from_slice(&unit.to_le_bytes());
                }
            }
            (ColumnType::DateTime, Value::Time(time)) => {
                let (days, ticks) = datetime(*time);
                out.push(8);
                out.extend_from_slice(&days.to_le_bytes());
                out.extend_from_slice(&ticks.to_le_bytes());
            }
            // NULL, and (a bug in the emulator) a value that does not fit its column.
            (ColumnType::Int | ColumnType::DateTime, _) => out.push(0),
            (ColumnType::NVarChar(_), _) => out.extend_from_slice(&0xFFFFu16.to_le_bytes()),
        }
    }

    /// A token whose body is preceded by its length in two bytes.
    fn with_length(&mut self, token: u8, body: &[u8]) {
        self.bytes.push(token);
        self.bytes.extend_from_slice(&(body.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(body);
    }
}

/// `time` as `datetime` counts it: days since 1900-01-01 and 1/300 s since midnight (UTC).
fn datetime(time: SystemTime) -> (i32, u32) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let days = (seconds / 86_400) as i64 + DAYS_1900_TO_1970;
    let second_of_day = seconds % 86_400;
    let ticks = second_of_day * 300 + u64::from(since_epoch.subsec_millis()) * 3 / 10;
    (days as i32, ticks as u32)
}

fn put_b_varchar(out: &mut Vec<u8>, text: &str) {
    let units: Vec<u16> = text.encode_utf16().take(255).collect();
    out.push(units.len() as u8);
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

fn put_us_varchar(out: &mut Vec<u8>, text: &str) {
    let units: Vec<u16> = text.encode_utf16().take(usize::from(u16::MAX)).collect();
    out.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn datetime_counts_from_1900() {
        // 1970-01-02 00:00:01.5
        let time = UNIX_EPOCH + Duration::from_millis(86_401_500);
        assert_eq!(datetime(time), (25_568, 450));
    }
}
