//! The handshake messages whose facts are kept: ClientHello, ServerHello (and
//! HelloRetryRequest), EncryptedExtensions, Certificate. Read with tls-parser; by hand where
//! it cannot: TLS 1.3's Certificate (RFC 8446 4.4.2: a request context, and extensions after
//! each certificate, which tls-parser 0.12 reads as TLS 1.2's list) and the key_share entries
//! (tls-parser keeps them as raw bytes). tls-parser 0.12's ServerHello extension table takes
//! type 21 for encrypt_then_mac, which is 22 (RFC 7366 2): the ServerHello's is read from
//! the type number.

use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_handshake_client_hello,
    parse_tls_handshake_msg_certificate, parse_tls_handshake_server_hello,
    parse_tls_server_hello_extensions, TlsExtension, TlsMessageHandshake,
};

use super::{group_name, version_name, ClientHelloInfo, MAX_LIST};

/// The random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 4.1.3).
pub(super) const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Handshake message types (RFC 8446 4, RFC 5246 7.4).
pub(super) mod msg {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const CERTIFICATE: u8 = 11;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
}

/// What a tls-parser error says, without the bytes it holds.
fn parse_error(what: &str, e: &nom7::Err<nom7::error::Error<&[u8]>>) -> String {
    match e {
        nom7::Err::Incomplete(_) => format!("{what}: truncated"),
        nom7::Err::Error(e) | nom7::Err::Failure(e) => format!(
            "{what}: malformed ({:?}, {} bytes before its end)",
            e.code,
            e.input.len()
        ),
    }
}

/// A value longer than this (a name, an ALPN protocol) is cut.
const MAX_TEXT: usize = 255;

fn text(b: &[u8]) -> String {
    let b = b.get(..MAX_TEXT).unwrap_or(b);
    String::from_utf8_lossy(b).into_owned()
}

/// GREASE values (RFC 8701): 0x?a?a with both bytes equal.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// What a ClientHello says (RFC 8446 4.1.2, RFC 5246 7.4.1.2).
#[derive(Debug, Default)]
pub(super) struct ClientHello {
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub info: ClientHelloInfo,
}

pub(super) fn client_hello(body: &[u8]) -> Result<ClientHello, String> {
    let (_, ch) =
        parse_tls_handshake_client_hello(body).map_err(|e| parse_error("ClientHello", &e))?;
    let mut out = ClientHello {
        random: <[u8; 32]>::try_from(ch.random).map_err(|_| "ClientHello: short random")?,
        session_id: ch.session_id.unwrap_or_default().to_vec(),
        ..ClientHello::default()
    };
    out.info.version = version_name(ch.version.0);
    out.info.session_id_len = u8::try_from(out.session_id.len()).unwrap_or(u8::MAX);
    out.info.cipher_suites = ch.ciphers.iter().take(MAX_LIST).map(|c| c.0).collect();
    let exts = match ch.ext {
        Some(ext) => parse_tls_client_hello_extensions(ext)
            .map(|(_, v)| v)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for ext in &exts {
        match ext {
            TlsExtension::SNI(names) => {
                // RFC 6066 3: host_name is type 0.
                if let Some((_, name)) = names.iter().find(|(t, _)| t.0 == 0) {
                    out.sni = Some(text(name));
                }
            }
            TlsExtension::ALPN(protocols) => {
                out.alpn = protocols.iter().take(MAX_LIST).map(|p| text(p)).collect();
            }
            TlsExtension::SupportedVersions(v) => {
                out.info.supported_versions = v
                    .iter()
                    .filter(|v| !is_grease(v.0))
                    .take(MAX_LIST)
                    .map(|v| version_name(v.0))
                    .collect();
            }
            TlsExtension::KeyShare(raw) => out.info.key_share_groups = key_share_groups(raw),
            TlsExtension::SessionTicket(t) => out.info.session_ticket = !t.is_empty(),
            TlsExtension::PreSharedKey(_) => out.info.pre_shared_key = true,
            TlsExtension::EarlyData(_) => out.info.early_data = true,
            TlsExtension::ExtendedMasterSecret => out.info.extended_master_secret = true,
            TlsExtension::EncryptThenMac => out.info.encrypt_then_mac = true,
            _ => {}
        }
    }
    Ok(out)
}

/// The groups of a ClientHello's key_share: `KeyShareEntry client_shares<0..2^16-1>`, each a
/// group and `opaque key_exchange<1..2^16-1>` (RFC 8446 4.2.8).
fn key_share_groups(raw: &[u8]) -> Vec<String> {
    let mut groups = Vec::new();
    let mut c = Cursor(raw);
    let Some(mut list) = c.vec16() else {
        return groups;
    };
    while let (Some(group), Some(_)) = (list.u16(), list.vec16()) {
        if !is_grease(group) && groups.len() < MAX_LIST {
            groups.push(group_name(group));
        }
    }
    groups
}

/// What a ServerHello says (RFC 8446 4.1.3, RFC 5246 7.4.1.3).
#[derive(Debug, Default)]
pub(super) struct ServerHello {
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    /// The version chosen: supported_versions if there, else legacy_version.
    pub version: u16,
    pub cipher_suite: u16,
    pub alpn: Option<String>,
    pub extended_master_secret: bool,
    pub encrypt_then_mac: bool,
    pub pre_shared_key: bool,
    pub hello_retry: bool,
}

pub(super) fn server_hello(body: &[u8]) -> Result<ServerHello, String> {
    let (_, sh) =
        parse_tls_handshake_server_hello(body).map_err(|e| parse_error("ServerHello", &e))?;
    let random = <[u8; 32]>::try_from(sh.random).map_err(|_| "ServerHello: short random")?;
    let mut out = ServerHello {
        random,
        session_id: sh.session_id.unwrap_or_default().to_vec(),
        version: sh.version.0,
        cipher_suite: sh.cipher.0,
        hello_retry: random == HELLO_RETRY_RANDOM,
        ..ServerHello::default()
    };
    let exts = match sh.ext {
        Some(ext) => parse_tls_server_hello_extensions(ext)
            .map(|(_, v)| v)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for ext in &exts {
        match ext {
            TlsExtension::SupportedVersions(v) => {
                if let Some(v) = v.first() {
                    out.version = v.0;
                }
            }
            TlsExtension::ALPN(p) => out.alpn = p.first().map(|p| text(p)),
            TlsExtension::ExtendedMasterSecret => out.extended_master_secret = true,
            TlsExtension::Unknown(t, _) if t.0 == 22 => out.encrypt_then_mac = true,
            TlsExtension::PreSharedKey(_) => out.pre_shared_key = true,
            _ => {}
        }
    }
    Ok(out)
}

/// The ALPN protocol of TLS 1.3's EncryptedExtensions: `Extension extensions<0..2^16-1>`
/// (RFC 8446 4.3.1).
pub(super) fn encrypted_extensions(body: &[u8]) -> Result<Option<String>, String> {
    let list = Cursor(body).vec16().ok_or("EncryptedExtensions: short")?;
    let (_, exts) = parse_tls_server_hello_extensions(list.0)
        .map_err(|e| parse_error("EncryptedExtensions", &e))?;
    Ok(exts.iter().find_map(|e| match e {
        TlsExtension::ALPN(p) => p.first().map(|p| text(p)),
        _ => None,
    }))
}

/// The certificates of a Certificate message, leaf first: TLS 1.2's `ASN.1Cert
/// certificate_list<0..2^24-1>` (RFC 5246 7.4.2, tls-parser), or TLS 1.3's
/// `certificate_request_context<0..2^8-1>` and `CertificateEntry certificate_list<0..2^24-1>`,
/// each `cert_data<1..2^24-1>` and `extensions<0..2^16-1>` (RFC 8446 4.4.2).
pub(super) fn certificates(body: &[u8], tls13: bool) -> Result<Vec<&[u8]>, String> {
    if !tls13 {
        return match parse_tls_handshake_msg_certificate(body) {
            Ok((_, TlsMessageHandshake::Certificate(c))) => {
                Ok(c.cert_chain.iter().map(|c| c.data).collect())
            }
            Ok(_) => Err("Certificate: not a certificate list".into()),
            Err(e) => Err(parse_error("Certificate", &e)),
        };
    }
    let mut c = Cursor(body);
    c.vec8().ok_or("Certificate: short request context")?;
    let mut list = c.vec24().ok_or("Certificate: short certificate_list")?;
    let mut chain = Vec::new();
    while !list.0.is_empty() {
        let cert = list.vec24().ok_or("Certificate: short cert_data")?;
        list.vec16().ok_or("Certificate: short extensions")?;
        chain.push(cert.0);
    }
    Ok(chain)
}

/// Reads big-endian integers and length-prefixed vectors (RFC 8446 3.4).
pub(super) struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }
    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes(b.try_into().ok()?))
    }
    fn u24(&mut self) -> Option<usize> {
        let [a, b, c] = *self.take(3)? else {
            return None;
        };
        Some(u32::from_be_bytes([0, a, b, c]) as usize)
    }
    fn vec8(&mut self) -> Option<Cursor<'a>> {
        let n = usize::from(self.u8()?);
        self.take(n).map(Cursor)
    }
    fn vec16(&mut self) -> Option<Cursor<'a>> {
        let n = usize::from(self.u16()?);
        self.take(n).map(Cursor)
    }
    fn vec24(&mut self) -> Option<Cursor<'a>> {
        let n = self.u24()?;
        self.take(n).map(Cursor)
    }
}
