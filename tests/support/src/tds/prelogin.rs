//! PRELOGIN (MS-TDS 2.2.6.5): the first message of a connection, where client and server
//! agree on encryption before anything else is said.
//!
//! The message is a table of options, each `token (1 byte), offset (2, big-endian), length (2,
//! big-endian)` and ended by `0xFF`, followed by the option data at those offsets (counted from
//! the start of the message). The emulator reads the client's ENCRYPTION option and answers
//! with a server version, its own ENCRYPTION choice, an empty instance name (meaning "yes, this
//! is the instance you asked for"), no thread id and MARS off.

use std::io;

use super::packet::invalid;

/// ENCRYPTION values (MS-TDS 2.2.6.5).
pub(crate) mod encrypt {
    /// Encrypt the login only (the client's side), or "encryption available but off".
    pub(crate) const OFF: u8 = 0x00;
    /// Encrypt everything.
    pub(crate) const ON: u8 = 0x01;
    /// No encryption at all.
    pub(crate) const NOT_SUPPORTED: u8 = 0x02;
    /// Encryption is required.
    pub(crate) const REQUIRED: u8 = 0x03;
}

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTANCE: u8 = 0x02;
const THREAD_ID: u8 = 0x03;
const MARS: u8 = 0x04;
const TERMINATOR: u8 = 0xFF;

/// The version the emulator claims: SQL Server 2022 (16.0), build 4135.
pub(crate) const SERVER_MAJOR: u8 = 16;
pub(crate) const SERVER_MINOR: u8 = 0;
pub(crate) const SERVER_BUILD: u16 = 4135;

/// What the emulator needs from a client's PRELOGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientPrelogin {
    /// The client's ENCRYPTION option; NOT_SUPPORTED when it sent none.
    pub(crate) encryption: u8,
}

/// Reads the client's options, ignoring those the emulator has no use for.
pub(crate) fn parse(payload: &[u8]) -> io::Result<ClientPrelogin> {
    let mut encryption = encrypt::NOT_SUPPORTED;
    let mut at = 0;
    loop {
        let token = *payload.get(at).ok_or_else(|| invalid("PRELOGIN has no terminator".into()))?;
        if token == TERMINATOR {
            return Ok(ClientPrelogin { encryption });
        }
        let entry = payload
            .get(at + 1..at + 5)
            .ok_or_else(|| invalid("PRELOGIN option table is cut short".into()))?;
        let offset = usize::from(u16::from_be_bytes([entry[0], entry[1]]));
        let length = usize::from(u16::from_be_bytes([entry[2], entry[3]]));
        if token == ENCRYPTION && length >= 1 {
            encryption = *payload
                .get(offset)
                .ok_or_else(|| invalid("PRELOGIN ENCRYPTION option is out of bounds".into()))?;
        }
        at += 5;
    }
}

/// The server's PRELOGIN answer, with `encryption` as its ENCRYPTION option.
pub(crate) fn reply(encryption: u8) -> Vec<u8> {
    let build = SERVER_BUILD.to_be_bytes();
    let options: [(u8, Vec<u8>); 5] = [
        (VERSION, vec![SERVER_MAJOR, SERVER_MINOR, build[0], build[1], 0, 0]),
        (ENCRYPTION, vec![encryption]),
        (INSTANCE, vec![0]),
        (THREAD_ID, Vec::new()),
        (MARS, vec![0]),
    ];
    let table_len = options.len() * 5 + 1;
    let mut table = Vec::with_capacity(table_len);
    let mut data = Vec::new();
    for (token, value) in &options {
        // Offsets and lengths are tiny here: a handful of bytes each.
        let offset = (table_len + data.len()) as u16;
        table.push(*token);
        table.extend_from_slice(&offset.to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    table.push(TERMINATOR);
    table.extend_from_slice(&data);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_reads_back_as_a_prelogin() {
        let parsed = parse(&reply(encrypt::ON)).unwrap();
        assert_eq!(parsed.encryption, encrypt::ON);
    }
}
