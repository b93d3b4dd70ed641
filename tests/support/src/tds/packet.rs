//! TDS packet framing: every message either way is cut into packets of at most the negotiated
//! size, each behind an 8-byte header (MS-TDS 2.2.3).
//!
//! The header is: type (1 byte), status (1 byte, bit 0 marks the last packet of a message),
//! length including the header (2 bytes, big-endian), server process id (2 bytes, big-endian),
//! packet number (1 byte, wrapping) and an unused window byte. This module reads whole messages
//! and writes whole messages; it does not look inside them.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The length of a packet header.
pub(crate) const HEADER_LEN: usize = 8;

/// Packet types the emulator reads or writes (MS-TDS 2.2.3.1.1).
pub(crate) mod kind {
    /// A SQL batch: the statement text in UTF-16.
    pub(crate) const SQL_BATCH: u8 = 0x01;
    /// A remote procedure call, such as `sp_executesql`.
    pub(crate) const RPC: u8 = 0x03;
    /// Anything the server sends back after PRELOGIN.
    pub(crate) const REPLY: u8 = 0x04;
    /// The client asks to cancel the request in flight.
    pub(crate) const ATTENTION: u8 = 0x06;
    /// Begin, commit or roll back a transaction.
    pub(crate) const TRANSACTION_MANAGER: u8 = 0x0E;
    /// The LOGIN7 record.
    pub(crate) const LOGIN7: u8 = 0x10;
    /// PRELOGIN, and the TLS handshake records it carries in TDS 7.x.
    pub(crate) const PRELOGIN: u8 = 0x12;
}

/// The status bit that marks the last packet of a message.
const END_OF_MESSAGE: u8 = 0x01;

/// The largest message the emulator accepts: far more than any request the product sends, and
/// small enough that a broken client cannot make the test process allocate without bound.
const MAX_MESSAGE: usize = 16 << 20;

/// One whole message: the type of its packets and their payloads joined.
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) kind: u8,
    pub(crate) payload: Vec<u8>,
}

/// Reads packets until one marked end-of-message. `Ok(None)` means the client closed the
/// connection cleanly between messages.
pub(crate) async fn read_message<R>(reader: &mut R) -> io::Result<Option<Message>>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut payload = Vec::new();
    let mut kind = None;
    loop {
        let mut header = [0u8; HEADER_LEN];
        match reader.read_exact(&mut header).await {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof && kind.is_none() => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        }
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let body = length
            .checked_sub(HEADER_LEN)
            .ok_or_else(|| invalid(format!("packet length {length} is shorter than its header")))?;
        if *kind.get_or_insert(header[0]) != header[0] {
            return Err(invalid("packet type changed in the middle of a message".into()));
        }
        if payload.len() + body > MAX_MESSAGE {
            return Err(invalid(format!("message longer than {MAX_MESSAGE} bytes")));
        }
        let start = payload.len();
        payload.resize(start + body, 0);
        reader.read_exact(&mut payload[start..]).await?;
        if header[1] & END_OF_MESSAGE != 0 {
            return Ok(Some(Message { kind: header[0], payload }));
        }
    }
}

/// Writes `payload` as a message of type `kind`, in packets of at most `packet_size` bytes
/// (header included), then flushes.
pub(crate) async fn write_message<W>(
    writer: &mut W,
    kind: u8,
    payload: &[u8],
    packet_size: usize,
    spid: u16,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let room = packet_size.saturating_sub(HEADER_LEN).max(1);
    let mut chunks = payload.chunks(room).peekable();
    let mut number: u8 = 1;
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN * (payload.len() / room + 1));
    // An empty message is still one packet.
    if chunks.peek().is_none() {
        push_packet(&mut out, kind, END_OF_MESSAGE, &[], spid, number);
    }
    while let Some(chunk) = chunks.next() {
        let status = if chunks.peek().is_none() { END_OF_MESSAGE } else { 0 };
        push_packet(&mut out, kind, status, chunk, spid, number);
        number = number.wrapping_add(1);
    }
    writer.write_all(&out).await?;
    writer.flush().await
}

/// Appends one packet, header and body, to `out`.
pub(crate) fn push_packet(out: &mut Vec<u8>, kind: u8, status: u8, body: &[u8], spid: u16, id: u8) {
    // `body` is at most one packet's room, which `write_message` keeps under 64 KiB.
    let length = u16::try_from(body.len() + HEADER_LEN).unwrap_or(u16::MAX);
    out.push(kind);
    out.push(status);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&spid.to_be_bytes());
    out.push(id);
    out.push(0);
    out.extend_from_slice(body);
}

/// The error for bytes that are not the TDS the emulator expects.
pub(crate) fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_survives_being_cut_into_packets() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut wire = Vec::new();
        write_message(&mut wire, kind::REPLY, &payload, 512, 51).await.unwrap();
        assert_eq!(wire.len(), 1000 + 2 * HEADER_LEN, "two packets: 504 + 496 bytes of body");

        let message = read_message(&mut wire.as_slice()).await.unwrap().unwrap();
        assert_eq!(message.kind, kind::REPLY);
        assert_eq!(message.payload, payload);
    }

    #[tokio::test]
    async fn end_of_stream_between_messages_is_not_an_error() {
        let mut empty: &[u8] = &[];
        assert!(read_message(&mut empty).await.unwrap().is_none());
    }
}
