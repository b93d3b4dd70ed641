//! TLS for the emulator: a test certificate authority made afresh for each server, and the
//! framing that TDS 7.x puts around the TLS handshake.
//!
//! In TDS 7.x the client and server agree on encryption in PRELOGIN, then run the TLS
//! handshake *inside* PRELOGIN packets (type `0x12`): every handshake flight is wrapped in a
//! packet header. Once the handshake is over the TLS records travel bare on the socket, and TDS
//! packets travel inside them. [`PreloginFraming`] does the wrapping for rustls and notices the
//! switch by itself: at a packet boundary, a byte that is not `0x12` starts bare TLS (a TLS
//! record starts with its content type, `0x14` to `0x17`). Knowing this from the bytes matters,
//! because the client sends its login right behind its last handshake message.
//!
//! TDS 8.0 ("strict") puts TLS first, before PRELOGIN, with no wrapping at all; the server
//! tells the two apart by the connection's first byte.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::packet::{HEADER_LEN, kind, push_packet};

/// Which certificate authority signs the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerCertificate {
    /// The test CA whose certificate [`TdsServer::ca_pem`](super::TdsServer::ca_pem) gives out:
    /// a client that trusts it connects.
    #[default]
    TestCa,
    /// Another CA, made for the purpose and never given out: a client that trusts only the
    /// test CA must refuse the server.
    OtherCa,
}

/// The ALPN protocol a TDS 8.0 client offers.
const TDS_8_ALPN: &[u8] = b"tds/8.0";

/// The largest PRELOGIN packet the server wraps handshake bytes in.
const HANDSHAKE_PACKET: usize = 4096;

/// The test CA and a rustls configuration presenting a certificate for `localhost` and
/// `127.0.0.1`.
#[derive(Debug, Clone)]
pub(crate) struct TestPki {
    /// The test CA's certificate, PEM.
    pub(crate) ca_pem: String,
    pub(crate) config: Arc<ServerConfig>,
}

impl TestPki {
    /// Makes a CA and a server certificate signed by it, or by a second CA when `signer` says
    /// so. Panics, saying why, when a certificate cannot be made.
    pub(crate) fn generate(signer: ServerCertificate) -> TestPki {
        let (ca_params, ca_key) = authority("release-testkit TDS test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap_or_else(|err| panic!("test CA: {err}"));
        let (issuer, issuer_der) = match signer {
            ServerCertificate::TestCa => (Issuer::new(ca_params, ca_key), ca_cert.der().clone()),
            ServerCertificate::OtherCa => {
                let (params, key) = authority("release-testkit TDS other CA");
                let cert = params.self_signed(&key).unwrap_or_else(|err| panic!("other CA: {err}"));
                (Issuer::new(params, key), cert.der().clone())
            }
        };

        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap_or_else(|err| panic!("server certificate names: {err}"));
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
        let key = KeyPair::generate().unwrap_or_else(|err| panic!("server key: {err}"));
        let cert = params
            .signed_by(&key, &issuer)
            .unwrap_or_else(|err| panic!("server certificate: {err}"));

        let chain = vec![cert.der().clone(), issuer_der];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        TestPki { ca_pem: ca_cert.pem(), config: Arc::new(server_config(chain, key)) }
    }
}

fn authority(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap_or_else(|err| panic!("{name} key: {err}"));
    (params, key)
}

fn server_config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> ServerConfig {
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|err| panic!("TLS versions: {err}"))
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap_or_else(|err| panic!("TLS server certificate: {err}"));
    // TLS 1.3 session tickets would be sent after the handshake, at a moment when client and
    // server may disagree about the PRELOGIN wrapping; SQL Server sends none either.
    config.send_tls13_tickets = 0;
    config.alpn_protocols = vec![TDS_8_ALPN.to_vec()];
    config
}

/// A stream that wraps what rustls writes in PRELOGIN packets and unwraps what it reads, until
/// the client starts sending bare TLS records.
#[derive(Debug)]
pub(crate) struct PreloginFraming<S> {
    inner: S,
    /// Still in the handshake: read and write PRELOGIN packets.
    framing: bool,
    /// Header bytes of the packet being read.
    header: [u8; HEADER_LEN],
    header_read: usize,
    /// Body bytes of the current packet not yet handed to rustls.
    body_left: usize,
    /// Bytes read as a header that turned out to be bare TLS, to hand over first.
    carry: Vec<u8>,
    /// Handshake bytes written by rustls, wrapped and sent on flush.
    pending: Vec<u8>,
    /// Wrapped bytes being written to the socket.
    outgoing: Vec<u8>,
    written: usize,
}

impl<S> PreloginFraming<S> {
    pub(crate) fn new(inner: S) -> PreloginFraming<S> {
        PreloginFraming {
            inner,
            framing: true,
            header: [0; HEADER_LEN],
            header_read: 0,
            body_left: 0,
            carry: Vec::new(),
            pending: Vec::new(),
            outgoing: Vec::new(),
            written: 0,
        }
    }

    /// The socket, for a connection that encrypts its login only.
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PreloginFraming<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.carry.is_empty() {
            let count = this.carry.len().min(buf.remaining());
            buf.put_slice(&this.carry[..count]);
            this.carry.drain(..count);
            return Poll::Ready(Ok(()));
        }
        if !this.framing {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        while this.body_left == 0 {
            let mut header = ReadBuf::new(&mut this.header[this.header_read..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut header))?;
            let count = header.filled().len();
            if count == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
            this.header_read += count;
            if this.header[0] != kind::PRELOGIN {
                // Bare TLS: the handshake is over and these bytes are a record's start.
                this.framing = false;
                this.carry = this.header[..this.header_read].to_vec();
                this.header_read = 0;
                return Pin::new(this).poll_read(cx, buf);
            }
            if this.header_read == HEADER_LEN {
                this.header_read = 0;
                let length = usize::from(u16::from_be_bytes([this.header[2], this.header[3]]));
                this.body_left = length.saturating_sub(HEADER_LEN);
            }
        }
        let room = this.body_left.min(buf.remaining());
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let count = limited.filled().len();
        if count == 0 {
            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        buf.advance(count);
        this.body_left -= count;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PreloginFraming<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.framing {
            this.pending.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_outgoing(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            let pending = std::mem::take(&mut this.pending);
            let room = HANDSHAKE_PACKET - HEADER_LEN;
            let count = pending.len().div_ceil(room);
            for (index, chunk) in pending.chunks(room).enumerate() {
                let status = u8::from(index + 1 == count);
                push_packet(&mut this.outgoing, kind::PRELOGIN, status, chunk, 0, index as u8 + 1);
            }
        }
        ready!(this.poll_outgoing(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_outgoing(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncWrite + Unpin> PreloginFraming<S> {
    /// Writes the wrapped handshake bytes still waiting.
    fn poll_outgoing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.outgoing.len() {
            let count =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.outgoing[self.written..]))?;
            if count == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += count;
        }
        self.outgoing.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}
