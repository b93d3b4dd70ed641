//! Requests after login, decoded from a message's payload: SQL batches, RPCs (which is how
//! tiberius sends every parameterised query: `sp_executesql` with the statement, a declaration
//! of the parameters and their values) and transaction-manager requests.
//!
//! Batches, RPCs and transaction requests all start with ALL_HEADERS (MS-TDS 2.2.5.3), whose
//! first four bytes are its own total length; the emulator skips it.
//!
//! An RPC (MS-TDS 2.2.6.6) names its procedure, either as text or as a well-known number
//! (10 is `sp_executesql`), then lists its parameters: a name, a status byte, a TYPE_INFO and
//! the value. [`parse_rpc`] decodes the types a client is likely to send for the procedures the
//! emulator knows (integers, bits, floats, strings, binary) and skips the rest of the common
//! ones, keeping only their type name.

use super::value::Value;

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// A SQL batch: statements as text.
    Batch(String),
    /// A remote procedure call.
    Rpc(Rpc),
    /// A transaction-manager request.
    Transaction(TransactionRequest),
}

/// A remote procedure call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rpc {
    pub(crate) procedure: RpcProcedure,
    pub(crate) params: Vec<RpcParam>,
}

/// The procedure an RPC calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RpcProcedure {
    /// One of the special procedures known by number (MS-TDS 2.2.6.6): 10 is `sp_executesql`.
    Id(u16),
    Name(String),
}

/// The number of `sp_executesql` among the special procedures.
pub(crate) const SP_EXECUTESQL: u16 = 10;

/// One RPC parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcParam {
    /// The name, with its `@` if the client sent one, or empty for a positional parameter.
    pub(crate) name: String,
    pub(crate) value: Value,
}

/// A transaction-manager request (MS-TDS 2.2.6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransactionRequest {
    Begin,
    Commit,
    Rollback,
    /// Savepoints, distributed transactions and the rest.
    Other(u16),
}

/// Why a request could not be decoded: a description for the error sent back.
pub(crate) type DecodeError = String;

/// Decodes a SQL batch: ALL_HEADERS then UTF-16 text.
pub(crate) fn parse_batch(payload: &[u8]) -> Result<String, DecodeError> {
    let text = skip_all_headers(payload)?;
    let units: Vec<u16> =
        text.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
    String::from_utf16(&units).map_err(|_| "a SQL batch that is not UTF-16".to_owned())
}

/// Decodes a transaction-manager request: ALL_HEADERS then the request type.
pub(crate) fn parse_transaction(payload: &[u8]) -> Result<TransactionRequest, DecodeError> {
    let mut reader = Reader::new(skip_all_headers(payload)?);
    Ok(match reader.u16()? {
        5 => TransactionRequest::Begin,
        7 => TransactionRequest::Commit,
        8 => TransactionRequest::Rollback,
        other => TransactionRequest::Other(other),
    })
}

/// Decodes an RPC request: ALL_HEADERS, the procedure, option flags, then the parameters.
pub(crate) fn parse_rpc(payload: &[u8]) -> Result<Rpc, DecodeError> {
    let mut reader = Reader::new(skip_all_headers(payload)?);
    let name_length = reader.u16()?;
    let procedure = if name_length == 0xFFFF {
        RpcProcedure::Id(reader.u16()?)
    } else {
        RpcProcedure::Name(reader.utf16(usize::from(name_length))?)
    };
    reader.u16()?; // option flags: recompile, no metadata; nothing to do with them here

    let mut params = Vec::new();
    // A 0x80 or 0xFF byte would start another RPC in the same request; tiberius never sends
    // more than one, and the emulator answers only the first.
    while !reader.is_empty() && !matches!(reader.peek(), Some(0x80 | 0xFF)) {
        let name_length = reader.u8()?;
        let name = reader.utf16(usize::from(name_length))?;
        reader.u8()?; // status: by reference (output) or default value
        let value = read_value(&mut reader).map_err(|err| format!("parameter `{name}`: {err}"))?;
        params.push(RpcParam { name, value });
    }
    Ok(Rpc { procedure, params })
}

/// The bytes after ALL_HEADERS.
fn skip_all_headers(payload: &[u8]) -> Result<&[u8], DecodeError> {
    let mut reader = Reader::new(payload);
    let length = reader.u32()? as usize;
    payload.get(length..).ok_or_else(|| "ALL_HEADERS is longer than the request".to_owned())
}

/// Reads one TYPE_INFO and the value that follows it.
fn read_value(reader: &mut Reader<'_>) -> Result<Value, DecodeError> {
    let ty = reader.u8()?;
    match ty {
        0x1F => Ok(Value::Null),
        // Fixed-length types: no length on the wire.
        0x30 => Ok(Value::Int(i64::from(reader.u8()?))),
        0x32 => Ok(Value::Bool(reader.u8()? != 0)),
        0x34 => Ok(Value::Int(i64::from(i16::from_le_bytes(array(reader.take(2)?)?)))),
        0x38 => Ok(Value::Int(i64::from(reader.u32()? as i32))),
        0x7F => Ok(Value::Int(reader.u64()? as i64)),
        0x3B => Ok(Value::Float(f64::from(f32::from_bits(reader.u32()?)))),
        0x3E => Ok(Value::Float(f64::from_bits(reader.u64()?))),
        0x3A | 0x7A => reader.take(4).map(|_| Value::Other("a fixed-length date or money")),
        0x3C | 0x3D => reader.take(8).map(|_| Value::Other("a fixed-length date or money")),
        // Nullable numbers: a maximum length, then the actual length and the bytes.
        0x26 => {
            reader.u8()?;
            let bytes = reader.bytes_u8()?;
            Ok(match bytes.len() {
                0 => Value::Null,
                1 => Value::Int(i64::from(bytes[0])),
                2 => Value::Int(i64::from(i16::from_le_bytes([bytes[0], bytes[1]]))),
                4 => Value::Int(i64::from(i32::from_le_bytes(array(bytes)?))),
                8 => Value::Int(i64::from_le_bytes(array(bytes)?)),
                other => return Err(format!("an integer of {other} bytes")),
            })
        }
        0x68 => {
            reader.u8()?;
            let bytes = reader.bytes_u8()?;
            Ok(bytes.first().map_or(Value::Null, |bit| Value::Bool(*bit != 0)))
        }
        0x6D => {
            reader.u8()?;
            let bytes = reader.bytes_u8()?;
            Ok(match bytes.len() {
                0 => Value::Null,
                4 => Value::Float(f64::from(f32::from_le_bytes(array(bytes)?))),
                8 => Value::Float(f64::from_le_bytes(array(bytes)?)),
                other => return Err(format!("a float of {other} bytes")),
            })
        }
        0x24 | 0x6E | 0x6F => {
            reader.u8()?;
            null_or_other(reader.bytes_u8()?, "a GUID, money or datetime")
        }
        0x6A | 0x6C => {
            reader.take(3)?; // length, precision, scale
            null_or_other(reader.bytes_u8()?, "a decimal")
        }
        0x28 => null_or_other(reader.bytes_u8()?, "a date"),
        0x29..=0x2B => {
            reader.u8()?; // scale
            null_or_other(reader.bytes_u8()?, "a time or datetime2")
        }
        // Strings and binary: a maximum length (0xFFFF for the `max` types, sent as PLP).
        0xE7 | 0xEF | 0xA7 | 0xAF | 0xA5 | 0xAD => {
            let max = reader.u16()?;
            let textual = !matches!(ty, 0xA5 | 0xAD);
            if textual {
                reader.take(5)?; // the collation
            }
            let bytes = if max == 0xFFFF { reader.plp()? } else { reader.bytes_u16()? };
            let Some(bytes) = bytes else { return Ok(Value::Null) };
            Ok(match ty {
                0xE7 | 0xEF => Value::Str(utf16(&bytes)?),
                0xA7 | 0xAF => Value::Str(String::from_utf8_lossy(&bytes).into_owned()),
                _ => Value::Bytes(bytes),
            })
        }
        other => Err(format!("parameter type {other:#04x}")),
    }
}

fn null_or_other(bytes: &[u8], what: &'static str) -> Result<Value, DecodeError> {
    Ok(if bytes.is_empty() { Value::Null } else { Value::Other(what) })
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    bytes.try_into().map_err(|_| format!("a value of {} bytes, expected {N}", bytes.len()))
}

fn utf16(bytes: &[u8]) -> Result<String, DecodeError> {
    let units: Vec<u16> =
        bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
    String::from_utf16(&units).map_err(|_| "a string that is not UTF-16".to_owned())
}

/// A cursor over a request's bytes, failing with a description instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.first().copied()
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < count {
            return Err("the request ends in the middle of a value".to_owned());
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(array(self.take(2)?)?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(array(self.take(4)?)?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(array(self.take(8)?)?))
    }

    fn utf16(&mut self, units: usize) -> Result<String, DecodeError> {
        utf16(self.take(units * 2)?)
    }

    /// Bytes behind a one-byte length.
    fn bytes_u8(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.u8()?;
        self.take(usize::from(length))
    }

    /// Bytes behind a two-byte length, where `0xFFFF` means NULL.
    fn bytes_u16(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.u16()? {
            0xFFFF => Ok(None),
            length => Ok(Some(self.take(usize::from(length))?.to_vec())),
        }
    }

    /// A partially length-prefixed value (MS-TDS 2.2.5.2.3): a total length (all ones for
    /// NULL), then chunks each behind a four-byte length, ended by an empty chunk.
    fn plp(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        if self.u64()? == u64::MAX {
            return Ok(None);
        }
        let mut value = Vec::new();
        loop {
            let length = self.u32()? as usize;
            if length == 0 {
                return Ok(Some(value));
            }
            value.extend_from_slice(self.take(length)?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_headers() -> Vec<u8> {
        let mut bytes = 22u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&18u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes
    }

    fn utf16_bytes(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn a_batch_is_its_text() {
        let mut payload = all_headers();
        payload.extend(utf16_bytes("SELECT 1"));
        assert_eq!(parse_batch(&payload).unwrap(), "SELECT 1");
    }

    #[test]
    fn an_rpc_by_number_with_a_string_and_an_int() {
        let mut payload = all_headers();
        payload.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
        // @P1 nvarchar(4000) = N'db'
        payload.push(3);
        payload.extend(utf16_bytes("@P1"));
        payload.push(0);
        payload.extend_from_slice(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0, 4, 0]);
        payload.extend(utf16_bytes("db"));
        // @P2 int = 7
        payload.push(3);
        payload.extend(utf16_bytes("@P2"));
        payload.extend_from_slice(&[0, 0x26, 4, 4, 7, 0, 0, 0]);

        let rpc = parse_rpc(&payload).unwrap();
        assert_eq!(rpc.procedure, RpcProcedure::Id(SP_EXECUTESQL));
        assert_eq!(
            rpc.params,
            vec![
                RpcParam { name: "@P1".into(), value: Value::Str("db".into()) },
                RpcParam { name: "@P2".into(), value: Value::Int(7) },
            ]
        );
    }
}
