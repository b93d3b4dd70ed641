//! LOGIN7 (MS-TDS 2.2.6.4): the record where the client names the login, the password, the
//! database and the packet size it wants.
//!
//! After 36 bytes of fixed fields comes a table of `(offset, length)` pairs, lengths counted in
//! UTF-16 code units, pointing into the variable part of the record. The password is sent
//! lightly scrambled: each byte had its nibbles swapped and was then XORed with `0xA5`, which
//! this module undoes. Only SQL Server authentication is understood; a record asking for
//! integrated (Windows) security is read with an empty user name, and so fails to log in.

use std::io;

use super::packet::invalid;

/// The parts of a LOGIN7 record the emulator uses.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Login7 {
    /// The TDS version the client speaks, as sent (`0x74000004` for 7.4).
    pub(crate) tds_version: u32,
    /// The packet size the client asks for; 0 means "the server's default".
    pub(crate) packet_size: u32,
    /// The SQL login name.
    pub(crate) user: String,
    /// The password, unscrambled.
    pub(crate) password: String,
    /// The database to connect to, or empty for the login's default.
    pub(crate) database: String,
}

// A login record holds a password: keep it out of debug output.
impl std::fmt::Debug for Login7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login7")
            .field("tds_version", &format_args!("{:#010x}", self.tds_version))
            .field("packet_size", &self.packet_size)
            .field("user", &self.user)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// Where the `(offset, length)` pairs of each field sit in the record.
const USER: usize = 40;
const PASSWORD: usize = 44;
const DATABASE: usize = 68;
/// OptionFlags2, whose top bit asks for integrated security.
const OPTION_FLAGS_2: usize = 25;
const INTEGRATED_SECURITY: u8 = 0x80;

/// Reads a LOGIN7 record.
pub(crate) fn parse(record: &[u8]) -> io::Result<Login7> {
    if record.len() < 94 {
        return Err(invalid(format!("LOGIN7 record of {} bytes is too short", record.len())));
    }
    let integrated = record[OPTION_FLAGS_2] & INTEGRATED_SECURITY != 0;
    let user = if integrated { String::new() } else { field(record, USER, false)? };
    Ok(Login7 {
        tds_version: u32_le(record, 4),
        packet_size: u32_le(record, 8),
        user,
        password: field(record, PASSWORD, true)?,
        database: field(record, DATABASE, false)?,
    })
}

/// Decodes the UTF-16 field whose `(offset, length)` pair sits at `entry`.
fn field(record: &[u8], entry: usize, scrambled: bool) -> io::Result<String> {
    let offset = usize::from(u16::from_le_bytes([record[entry], record[entry + 1]]));
    let units = usize::from(u16::from_le_bytes([record[entry + 2], record[entry + 3]]));
    let bytes = record
        .get(offset..offset + units * 2)
        .ok_or_else(|| invalid("a LOGIN7 field points outside the record".into()))?;
    let code_units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| {
            let (low, high) = if scrambled {
                (unscramble(pair[0]), unscramble(pair[1]))
            } else {
                (pair[0], pair[1])
            };
            u16::from_le_bytes([low, high])
        })
        .collect();
    String::from_utf16(&code_units).map_err(|_| invalid("a LOGIN7 field is not UTF-16".into()))
}

/// Undoes the password scrambling: XOR with `0xA5`, then swap the nibbles back.
fn unscramble(byte: u8) -> u8 {
    (byte ^ 0xA5).rotate_left(4)
}

fn u32_le(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscrambling_undoes_the_clients_scrambling() {
        for byte in 0..=255u8 {
            let scrambled = byte.rotate_left(4) ^ 0xA5;
            assert_eq!(unscramble(scrambled), byte);
        }
    }
}
