//! The facts of the server's leaf certificate (x509-parser), and the tls-server-end-point
//! channel binding's hash of it (RFC 5929 4.1).

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{parse_x509_certificate, X509Certificate};
use x509_parser::signature_algorithm::SignatureAlgorithm;

use super::{hex, CertInfo};

/// SANs kept, each kind.
const MAX_SANS: usize = 100;

/// Hash functions a certificate signature may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigHash {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl SigHash {
    fn name(self) -> &'static str {
        match self {
            SigHash::Md5 => "MD5",
            SigHash::Sha1 => "SHA-1",
            SigHash::Sha224 => "SHA-224",
            SigHash::Sha256 => "SHA-256",
            SigHash::Sha384 => "SHA-384",
            SigHash::Sha512 => "SHA-512",
        }
    }

    /// The hash of a hash algorithm OID (NIST and PKCS #1's).
    fn of_hash_oid(oid: &str) -> Option<SigHash> {
        Some(match oid {
            "1.2.840.113549.2.5" => SigHash::Md5,
            "1.3.14.3.2.26" => SigHash::Sha1,
            "2.16.840.1.101.3.4.2.4" => SigHash::Sha224,
            "2.16.840.1.101.3.4.2.1" => SigHash::Sha256,
            "2.16.840.1.101.3.4.2.2" => SigHash::Sha384,
            "2.16.840.1.101.3.4.2.3" => SigHash::Sha512,
            _ => return None,
        })
    }

    /// The hash of a signature algorithm OID (RFC 4055, RFC 5758, RFC 3279).
    fn of_signature_oid(oid: &str) -> Option<SigHash> {
        Some(match oid {
            "1.2.840.113549.1.1.4" => SigHash::Md5,
            "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3" => SigHash::Sha1,
            "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" | "2.16.840.1.101.3.4.3.1" => {
                SigHash::Sha224
            }
            "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" | "2.16.840.1.101.3.4.3.2" => {
                SigHash::Sha256
            }
            "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => SigHash::Sha384,
            "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => SigHash::Sha512,
            _ => return None,
        })
    }
}

/// The signature's hash: named by the OID, or by RSASSA-PSS's parameters (RFC 4055 3.1).
fn signature_hash(cert: &X509Certificate<'_>) -> Option<SigHash> {
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    if let Some(h) = SigHash::of_signature_oid(&oid) {
        return Some(h);
    }
    match SignatureAlgorithm::try_from(&cert.signature_algorithm) {
        Ok(SignatureAlgorithm::RSASSA_PSS(params)) => {
            SigHash::of_hash_oid(&params.hash_algorithm_oid().to_id_string())
        }
        _ => None,
    }
}

fn name_of(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map_or_else(|_| oid.to_id_string(), str::to_owned)
}

/// RFC 3339 in UTC: `2026-07-30T01:23:59Z`.
fn rfc3339(t: &x509_parser::time::ASN1Time) -> String {
    let dt = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Certificates read lately, with what was read: a server presents the same one on every
/// connection, and reading it (the DER, the names, two hashes) costs more than opening the
/// records that follow. Per thread, so that flow shards share nothing.
const RECENT: usize = 16;

/// Each certificate's DER, and what was read of it.
type Recent = std::collections::VecDeque<(Box<[u8]>, Result<CertInfo, String>)>;

thread_local! {
    static RECENT_CERTS: std::cell::RefCell<Recent> =
        const { std::cell::RefCell::new(Recent::new()) };
}

/// The facts of a DER certificate, the leaf of a chain of `chain_length`.
pub(super) fn cert_info(der: &[u8], chain_length: usize) -> Result<CertInfo, String> {
    let chain_length = u32::try_from(chain_length).unwrap_or(u32::MAX);
    let with_chain = |read: &Result<CertInfo, String>| {
        read.clone().map(|info| CertInfo {
            chain_length,
            ..info
        })
    };
    RECENT_CERTS
        .with_borrow_mut(|recent| {
            if let Some(at) = recent.iter().position(|(d, _)| **d == *der) {
                let hit = recent.remove(at)?;
                let out = with_chain(&hit.1);
                recent.push_front(hit);
                return Some(out);
            }
            None
        })
        .unwrap_or_else(|| {
            let read = read_cert(der);
            let out = with_chain(&read);
            RECENT_CERTS.with_borrow_mut(|recent| {
                recent.truncate(RECENT.saturating_sub(1));
                recent.push_front((der.into(), read));
            });
            out
        })
}

/// The facts of a DER certificate, its chain's length left to the caller.
fn read_cert(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = parse_x509_certificate(der).map_err(|e| format!("Certificate: {e}"))?;
    let mut info = CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: rfc3339(&cert.validity().not_before),
        not_after: rfc3339(&cert.validity().not_after),
        sha256: hex(&Sha256::digest(der)),
        signature_algorithm: name_of(&cert.signature_algorithm.algorithm),
        ..CertInfo::default()
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) if info.san_dns.len() < MAX_SANS => {
                    info.san_dns.push((*d).to_owned());
                }
                GeneralName::IPAddress(raw) if info.san_ip.len() < MAX_SANS => {
                    // RFC 5280 4.2.1.6: four octets for IPv4, sixteen for IPv6.
                    let ip = match raw.len() {
                        4 => <[u8; 4]>::try_from(*raw).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*raw).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    info.san_ip
                        .push(ip.map_or_else(|| hex(raw), |ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let hash = signature_hash(&cert);
    info.signature_hash = hash.map(|h| h.name().to_owned());
    // RFC 5929 4.1: SHA-256 for MD5 and SHA-1; otherwise the signature's own hash. With no
    // hash in the signature (Ed25519), RFC 5929 says nothing: SHA-256, as for MD5.
    let end_point = match hash {
        Some(h @ (SigHash::Sha224 | SigHash::Sha384 | SigHash::Sha512)) => h,
        _ => SigHash::Sha256,
    };
    info.end_point_hash_algorithm = end_point.name().to_owned();
    info.end_point_hash = match end_point {
        SigHash::Sha224 => Sha224::digest(der).to_vec(),
        SigHash::Sha384 => Sha384::digest(der).to_vec(),
        SigHash::Sha512 => Sha512::digest(der).to_vec(),
        _ => Sha256::digest(der).to_vec(),
    };
    Ok(info)
}

/// The MsvAvChannelBindings a client bound to the server certificate `der` sends
/// ([`channel_binding`] of its tls-server-end-point hash), or why the certificate cannot be
/// read.
pub fn certificate_binding(der: &[u8]) -> Result<[u8; 16], String> {
    read_cert(der).map(|c| channel_binding(&c.end_point_hash))
}

/// What an NTLM Type 3 sent inside this TLS connection carries as MsvAvChannelBindings when
/// the client binds to `end_point_hash` (MS-NLMP 2.2.2.1, 3.1.5.1.2): the MD5 of a flat
/// gss_channel_bindings_struct (RFC 2744 3.11: the two address types and lengths zero, all
/// little-endian) whose application data is `tls-server-end-point:` and the hash (RFC 5929
/// 4.1).
pub fn channel_binding(end_point_hash: &[u8]) -> [u8; 16] {
    use md5::Md5;
    const PREFIX: &[u8] = b"tls-server-end-point:";
    let app_len = PREFIX.len().saturating_add(end_point_hash.len());
    let mut h = Md5::new();
    // initiator_addrtype, initiator_address.length, acceptor_addrtype, acceptor_address.length
    h.update([0u8; 16]);
    h.update(u32::try_from(app_len).unwrap_or(u32::MAX).to_le_bytes());
    h.update(PREFIX);
    h.update(end_point_hash);
    h.finalize().into()
}
