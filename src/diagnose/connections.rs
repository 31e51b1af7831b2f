//! Findings about connections that no handshake holds: what a server's TLS says when no
//! HTTP can be read inside it (`tls-undecrypted`), and the alerts that ended TLS handshakes
//! (`tls-alert`), and a client falling back from HTTP/2 to HTTP/1.1 as only the TLS handshakes
//! show it (`http2-downgrade`, inferred). They are decided once the input ended, one per
//! server and kind, so that a thousand refused connections make one finding with a count.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{severity_of, Evidence, Finding, Severity};
use crate::capture::Timestamp;
use crate::tcp::ConnId;
use crate::tls::{cipher_suite_name, AlertInfo, ClientHelloInfo, Decryption, Sender, TlsInfo};

/// Servers told apart; the others are counted together.
const MAX_SERVERS: usize = 64;
/// Distinct alerts told apart per server.
const MAX_ALERTS: usize = 16;
/// Frames given as evidence per finding.
const MAX_EVIDENCE: usize = 3;
/// TLS connections kept of each kind for the HTTP/2 fallback inference.
const MAX_FALLBACK: usize = 512;
/// Records (both ways) of an HTTP/2 connection refused at once: its handshake, SETTINGS,
/// one request, a reset, the close. A connection that served pages has many more.
const FEW_RECORDS: u64 = 32;
/// How soon after the HTTP/2 connection the HTTP/1.1-only one must start.
const FALLBACK_WINDOW_NS: i64 = 1_000_000_000;

/// What the connections of the input said of each server's TLS.
#[derive(Debug, Default)]
pub struct Connections {
    servers: BTreeMap<String, Server>,
    /// TLS connections not decrypted whose ALPN chose (or, in TLS 1.3, offered) `h2` and
    /// that carried little.
    h2_short: Vec<Seen>,
    /// TLS connections whose ClientHello offered only `http/1.1`.
    h1_only: Vec<Seen>,
}

/// One TLS connection, for the HTTP/2 fallback inference.
#[derive(Debug, Clone)]
struct Seen {
    conn: ConnId,
    client: IpAddr,
    server: SocketAddr,
    first: Timestamp,
    last: Timestamp,
    hello_frame: u64,
    /// That frame's time, else the connection's first packet's.
    hello_ts: Timestamp,
    name: String,
    /// The server's choice of `h2` was read (else only offered: TLS 1.3 without keys).
    chosen: bool,
}

/// A TCP connection's ends and times, as [`Connections::fallback`] needs them.
#[derive(Debug, Clone, Copy)]
pub struct ConnFacts {
    pub conn: ConnId,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first: Timestamp,
    pub last: Timestamp,
    /// The frame of the client's first FIN, and of the server's.
    pub fins: [Option<u64>; 2],
}

impl ConnFacts {
    /// Whether the side that did not send `a` had closed its half before it: the alert then
    /// answers a close without close_notify (RFC 8446 6.1; OpenSSL sends `decode_error` for
    /// that "unexpected EOF"), and says nothing of what the peer sent before.
    fn after_peer_closed(&self, a: &AlertInfo) -> bool {
        let peer = match a.by {
            Sender::Client => self.fins[1],
            Sender::Server => self.fins[0],
        };
        peer.is_some_and(|fin| fin < a.frame)
    }
}

#[derive(Debug, Default)]
struct Server {
    /// TLS connections with encrypted records.
    encrypted: u64,
    decrypted: u64,
    undecrypted: u64,
    /// Why, for the first connection not decrypted.
    why: Option<Why>,
    https: bool,
    evidence: Vec<Evidence>,
    /// The time of the earliest frame in `evidence`.
    evidence_at: Option<Timestamp>,
    alerts: BTreeMap<(Sender, u8), Alerted>,
    alerts_more: u64,
}

#[derive(Debug)]
struct Alerted {
    alert: AlertInfo,
    connections: u64,
    evidence: Vec<Evidence>,
    /// The time of the earliest frame in `evidence`.
    evidence_at: Option<Timestamp>,
    /// Facts of the server's certificate, for the alerts about it.
    certificate: Option<String>,
    /// What the client offered, for the alerts about the offer.
    offer: Option<String>,
    sni: Option<String>,
}

#[derive(Debug, Clone)]
enum Why {
    NoKeys,
    NoHello,
    NoKey,
    Missing(String),
    Unsupported(String),
    Failed(String),
}

impl Connections {
    /// Takes one TLS connection as it ends.
    pub fn tls(&mut self, c: ConnFacts, t: &TlsInfo) {
        let (conn, server) = (c.conn, c.server);
        let mut name = t.sni.clone().unwrap_or_else(|| server.to_string());
        if self.servers.len() >= MAX_SERVERS && !self.servers.contains_key(&name) {
            name = "(other servers)".to_owned();
        }
        let s = self.servers.entry(name).or_default();
        s.https |= server.port() == 443
            || t.alpn_offered
                .iter()
                .any(|p| p == "http/1.1" || p == "h2" || p == "http/1.0");
        let why = match &t.decryption {
            Decryption::NothingEncrypted => None,
            Decryption::Decrypted => {
                s.encrypted = s.encrypted.saturating_add(1);
                s.decrypted = s.decrypted.saturating_add(1);
                None
            }
            Decryption::NoKeys => Some(Why::NoKeys),
            Decryption::NoHello => Some(Why::NoHello),
            Decryption::NoKeyForClientRandom => Some(Why::NoKey),
            Decryption::MissingSecret { label } => Some(Why::Missing(label.clone())),
            Decryption::Unsupported { reason } => Some(Why::Unsupported(reason.clone())),
            Decryption::Failed { reason, .. } => Some(Why::Failed(reason.clone())),
        };
        if let Some(why) = why {
            s.encrypted = s.encrypted.saturating_add(1);
            s.undecrypted = s.undecrypted.saturating_add(1);
            s.why.get_or_insert(why);
            if s.evidence.len() < MAX_EVIDENCE {
                s.evidence.push(Evidence {
                    leg: None,
                    conn,
                    frame: t.hello_frame.unwrap_or(0),
                    note: "ClientHello of a connection not decrypted".to_owned(),
                });
                earliest(&mut s.evidence_at, t.hello_ts.unwrap_or(c.first));
            }
        }
        for a in t
            .alerts
            .iter()
            .filter(|a| !benign(a) && !c.after_peer_closed(a))
        {
            let key = (a.by, a.description_code);
            if !s.alerts.contains_key(&key) && s.alerts.len() >= MAX_ALERTS {
                s.alerts_more = s.alerts_more.saturating_add(1);
                continue;
            }
            let e = s.alerts.entry(key).or_insert_with(|| Alerted {
                alert: a.clone(),
                connections: 0,
                evidence: Vec::new(),
                evidence_at: None,
                certificate: t.certificate.as_ref().map(|c| {
                    format!(
                        "subject {}, issued by {}, names {}, valid {} to {}",
                        c.subject,
                        c.issuer,
                        if c.san_dns.is_empty() && c.san_ip.is_empty() {
                            "(none)".to_owned()
                        } else {
                            c.san_dns
                                .iter()
                                .chain(&c.san_ip)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(" ")
                        },
                        c.not_before,
                        c.not_after
                    )
                }),
                sni: t.sni.clone(),
                offer: t
                    .client_hello
                    .as_ref()
                    .map(|ch| offer(ch, a.description_code != 70)),
            });
            e.connections = e.connections.saturating_add(1);
            if e.evidence.len() < MAX_EVIDENCE {
                e.evidence.push(Evidence {
                    leg: None,
                    conn,
                    frame: a.frame,
                    note: format!("{} alert {} from the {}", a.level, a.description, by(a.by)),
                });
                earliest(&mut e.evidence_at, a.ts);
            }
        }
    }

    /// Takes one TLS connection as it ends, for the HTTP/2 fallback seen without keys: an
    /// `h2` connection that carried little, then from the same client to the same server, within
    /// a second, a ClientHello offering only `http/1.1` (what curl, browsers and .NET do after
    /// `HTTP_1_1_REQUIRED`).
    pub fn fallback(&mut self, c: ConnFacts, t: &TlsInfo) {
        let seen = |chosen| Seen {
            conn: c.conn,
            client: c.client.ip(),
            server: c.server,
            first: c.first,
            last: c.last,
            hello_frame: t.hello_frame.unwrap_or(0),
            hello_ts: t.hello_ts.unwrap_or(c.first),
            name: t.sni.clone().unwrap_or_else(|| c.server.to_string()),
            chosen,
        };
        let offers_h2 = t.alpn_offered.iter().any(|p| p == "h2");
        let chosen = t.alpn.as_deref() == Some("h2");
        let hidden = t.alpn.is_none() && t.version.as_deref() == Some("TLS 1.3") && offers_h2;
        let records = t.records.to_server.saturating_add(t.records.to_client);
        if !matches!(t.decryption, Decryption::Decrypted)
            && (chosen || hidden)
            && records <= FEW_RECORDS
            && self.h2_short.len() < MAX_FALLBACK
        {
            self.h2_short.push(seen(chosen));
        } else if t.alpn_offered.as_slice() == ["http/1.1"] && self.h1_only.len() < MAX_FALLBACK {
            self.h1_only.push(seen(false));
        }
    }

    /// The inferred fallbacks, one finding per server.
    fn fallbacks(&self) -> Vec<Finding> {
        let mut by: BTreeMap<&str, Vec<(&Seen, &Seen)>> = BTreeMap::new();
        for h2 in &self.h2_short {
            let then = self.h1_only.iter().find(|h1| {
                h1.client == h2.client
                    && h1.server == h2.server
                    && h1.first >= h2.first
                    && h1.first.0 <= h2.last.0.saturating_add(FALLBACK_WINDOW_NS)
            });
            if let Some(h1) = then {
                by.entry(&h2.name).or_default().push((h2, h1));
            }
        }
        by.into_iter()
            .map(|(name, pairs)| fallback_finding(name, &pairs))
            .collect()
    }

    /// The findings, most severe first, then by server.
    pub fn finish(self) -> Vec<Finding> {
        let fallbacks = self.fallbacks();
        let mut alerts = Vec::new();
        let mut undecrypted = Vec::new();
        for (name, s) in self.servers {
            if s.undecrypted > 0 {
                undecrypted.push(undecrypted_finding(&name, &s));
            }
            for a in s.alerts.into_values() {
                alerts.push(alert_finding(&name, a));
            }
        }
        alerts.extend(undecrypted);
        alerts.extend(fallbacks);
        alerts
    }
}

fn fallback_finding(server: &str, pairs: &[(&Seen, &Seen)]) -> Finding {
    let n = pairs.len();
    let chosen = pairs.iter().all(|(h2, _)| h2.chosen);
    let how = if chosen {
        "whose ALPN chose h2"
    } else {
        "offering h2 in ALPN (TLS 1.3 hides the server's choice without keys)"
    };
    let times = if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    };
    let summary = format!(
        "Inferred from TLS handshakes alone (not decrypted): a client opened a TLS connection to {server} {how} that ended after a few records, then within a second opened another offering only http/1.1 ({times}). That is a client falling back to HTTP/1.1, most often because the server refused Windows authentication over HTTP/2 with HTTP_1_1_REQUIRED; with a key log authscope reads the refusal itself."
    );
    let mut evidence = Vec::new();
    let mut at = None;
    for (h2, h1) in pairs.iter().take(MAX_EVIDENCE) {
        earliest(&mut at, h2.hello_ts.min(h1.hello_ts));
        evidence.push(Evidence {
            leg: None,
            conn: h2.conn,
            frame: h2.hello_frame,
            note: "ClientHello offering h2, on a connection that carried little".to_owned(),
        });
        evidence.push(Evidence {
            leg: None,
            conn: h1.conn,
            frame: h1.hello_frame,
            note: "ClientHello of the same client offering only http/1.1".to_owned(),
        });
    }
    Finding {
        code: "http2-downgrade",
        severity: Severity::Info,
        handshake: None,
        subject: Some(server.to_owned()),
        proxy: false,
        summary,
        evidence,
        next_step: format!(
            "Capture with the client's key log (SSLKEYLOGFILE) to see the refusal and the \
             login. {}",
            super::rules::H2_FIX
        ),
        at,
    }
}

/// Keeps in `at` the earlier of it and `ts`.
fn earliest(at: &mut Option<Timestamp>, ts: Timestamp) {
    *at = Some(at.map_or(ts, |a| a.min(ts)));
}

/// Alerts that end a connection in order, or refuse a renegotiation the peer can live
/// without (RFC 5246 7.2.1, RFC 8446 6.1).
fn benign(a: &AlertInfo) -> bool {
    match a.description_code {
        0 | 90 => true,
        100 => a.level_code == 1,
        _ => false,
    }
}

/// Versions and cipher suites a ClientHello offered, in a few words.
fn offer(ch: &ClientHelloInfo, suites: bool) -> String {
    const SHOWN: usize = 4;
    let versions = if ch.supported_versions.is_empty() {
        ch.version.clone()
    } else {
        ch.supported_versions.join(", ")
    };
    if !suites {
        return versions;
    }
    // Signalling values, not suites (RFC 5746 3.3, RFC 7507 6).
    let suites: Vec<u16> = ch
        .cipher_suites
        .iter()
        .copied()
        .filter(|&id| id != 0x00ff && id != 0x5600)
        .collect();
    let mut names: Vec<String> = suites
        .iter()
        .take(SHOWN)
        .map(|&id| cipher_suite_name(id))
        .collect();
    if suites.len() > SHOWN {
        names.push(format!("{} more", suites.len() - SHOWN));
    }
    format!("{versions}; cipher suites {}", names.join(", "))
}

fn by(s: Sender) -> &'static str {
    match s {
        Sender::Client => "client",
        Sender::Server => "server",
    }
}

fn other(s: Sender) -> &'static str {
    match s {
        Sender::Client => "server",
        Sender::Server => "client",
    }
}

fn connections(n: u64) -> String {
    if n == 1 {
        "1 TLS connection".to_owned()
    } else {
        format!("{n} TLS connections")
    }
}

fn alert_finding(server: &str, a: Alerted) -> Finding {
    let al = &a.alert;
    let sender = by(al.by);
    let mut summary = format!(
        "{} to {server} ended with the {sender}'s {} alert {} ({})",
        connections(a.connections),
        al.level,
        al.description,
        al.description_code
    );
    let (meaning, next) = alert_advice(al, a.sni.as_deref());
    summary.push_str(": ");
    summary.push_str(&meaning);
    let about_cert = matches!(al.description_code, 42..=46 | 48) && al.by == Sender::Client;
    let about_offer = matches!(al.description_code, 40 | 70 | 71);
    if let (true, Some(c)) = (about_cert, &a.certificate) {
        summary.push_str(&format!(" (the server's certificate: {c})"));
    } else if let (true, Some(o)) = (about_offer, &a.offer) {
        summary.push_str(&format!(" (the client offered {o})"));
    }
    Finding {
        code: "tls-alert",
        severity: severity_of("tls-alert"),
        handshake: None,
        subject: Some(server.to_owned()),
        proxy: false,
        summary,
        evidence: a.evidence,
        next_step: next,
        at: a.evidence_at,
    }
}

/// What an alert means for the login, and what to do, by its sender (RFC 8446 6.2, RFC 5246
/// 7.2.2); Schannel writes its side's reason to the System event log.
fn alert_advice(a: &AlertInfo, sni: Option<&str>) -> (String, String) {
    let sender = by(a.by);
    let peer = other(a.by);
    let schannel = "on Windows, the System event log's Schannel events (36874, 36887, 36888) \
                    name the reason";
    let name = sni.map_or_else(
        || "the name the client used".to_owned(),
        |n| format!("{n:?}"),
    );
    let (meaning, next): (String, String) = match (a.description_code, a.by) {
        (40, _) => (
            "the two sides share no TLS version, cipher suite or signature algorithm the \
             other accepts, so no HTTP request, and no login, was sent over it"
                .to_owned(),
            format!(
                "compare the ClientHello's offer (export --format json: the connection's \
                 tls.client_hello) with what the server enables (Schannel: Get-TlsCipherSuite \
                 and the SCHANNEL registry keys; Apache: SSLCipherSuite, SSLProtocol); {schannel}"
            ),
        ),
        (70, _) => (
            "the two sides have no TLS version in common".to_owned(),
            format!(
                "enable TLS 1.2 (or 1.3) on both sides (Schannel: the SCHANNEL\\Protocols \
                 registry keys; .NET clients: SchUseStrongCrypto); {schannel}"
            ),
        ),
        (71, _) => (
            format!("the {sender} requires stronger cipher suites than the {peer} offered"),
            format!("enable modern cipher suites (ECDHE with AES-GCM) on the {peer}; {schannel}"),
        ),
        (48, Sender::Client) => (
            "the client does not trust the issuer of the server's certificate".to_owned(),
            "install the issuing CA in the client's trusted roots (on Windows: the computer's \
             Trusted Root Certification Authorities, by Group Policy), or have the server \
             send its intermediate certificates"
                .to_owned(),
        ),
        (42 | 43 | 46, Sender::Client) => (
            "the client refused the server's certificate".to_owned(),
            format!(
                "check that {name} is among the certificate's names, that its chain is \
                 complete and trusted and that it is valid now; a browser that was told to \
                 stop at a certificate warning sends this too"
            ),
        ),
        (44, Sender::Client) => (
            "the client found the server's certificate revoked".to_owned(),
            "issue the server a new certificate and bind it to the site".to_owned(),
        ),
        (45, Sender::Client) => (
            "the client found the server's certificate expired".to_owned(),
            "renew the server's certificate and bind the new one to the site".to_owned(),
        ),
        (42..=46 | 48 | 49, Sender::Server) => (
            "the server refused the client's certificate".to_owned(),
            format!(
                "check the client certificate's issuer is trusted by the server and that it \
                 maps to an account (IIS: SSL Settings and client certificate mapping); \
                 {schannel}"
            ),
        ),
        (116, Sender::Server) => (
            "the server requires a client certificate and the client sent none".to_owned(),
            "give the client a certificate the server trusts, or set the site's client \
             certificates to Ignore or Accept (IIS: SSL Settings)"
                .to_owned(),
        ),
        (112, Sender::Server) => (
            format!("the server has no certificate for {name}"),
            "add an HTTPS binding for that host name (IIS: a binding with Require Server Name \
             Indication, or a default certificate), or connect with the name the certificate \
             has"
            .to_owned(),
        ),
        (120, _) => (
            "the two sides have no application protocol (ALPN) in common".to_owned(),
            "offer http/1.1 from the client, or enable the protocol on the server".to_owned(),
        ),
        (20 | 50 | 51, _) => (
            format!(
                "the {sender} could not read or verify what the {peer} sent: the bytes were \
                 changed on the way (a device rewriting TLS) or one side's TLS stack is at fault"
            ),
            format!(
                "capture on both sides of any proxy, load balancer or inspecting firewall \
                 between them and compare; {schannel}"
            ),
        ),
        (80, _) => (
            format!("the {sender}'s TLS stack failed inside"),
            format!("look in the {sender}'s logs; {schannel}"),
        ),
        (86, Sender::Server) => (
            "the server refused a client's retry with a lower TLS version".to_owned(),
            "find why the client's first attempt failed (an earlier connection's alert or reset)"
                .to_owned(),
        ),
        _ => (
            format!("the {sender} ended the TLS connection"),
            format!("look at the {sender}'s TLS configuration and logs; {schannel}"),
        ),
    };
    (meaning, next)
}

fn undecrypted_finding(server: &str, s: &Server) -> Finding {
    let what = if s.https { "HTTPS" } else { "TLS" };
    let one = s.undecrypted == 1;
    let (they, their) = if one {
        ("it", "its")
    } else {
        ("them", "their")
    };
    let n = |k: u64| {
        let plural = if k == 1 { "" } else { "s" };
        format!("{k} {what} connection{plural}")
    };
    let was = if one { "was" } else { "were" };
    let count = if s.decrypted > 0 {
        format!(
            "{} of {} to {server} {was} not decrypted",
            s.undecrypted,
            n(s.encrypted)
        )
    } else {
        format!("{} to {server} {was} not decrypted", n(s.undecrypted))
    };
    let why = match &s.why {
        None | Some(Why::NoKeys) => "no key log was given".to_owned(),
        Some(Why::NoHello) => format!("{their} TLS handshake is not in the capture"),
        Some(Why::NoKey) => format!("the key log has no key for {their} client random"),
        Some(Why::Missing(l)) => format!("the key log lacks {their} {l}"),
        Some(Why::Unsupported(r)) => r.clone(),
        Some(Why::Failed(r)) => format!("a record did not decrypt with the key log's key ({r})"),
    };
    let summary = format!("{count} ({why}): authentication inside {they} cannot be seen");
    let keylog = "capture again with SSLKEYLOGFILE=/path/keys.log set in the environment of \
                  the client while it runs (Chrome and Edge: start the browser with it set, every \
                  window closed first; Firefox: the same; curl and Python: the variable alone), \
                  then give authscope --keylog /path/keys.log; Windows' own clients (Schannel: \
                  PowerShell, .NET, WinHTTP) write no key log: use a browser, or capture \
                  behind the TLS endpoint";
    let next_step = match &s.why {
        None | Some(Why::NoKeys) => keylog.to_owned(),
        Some(Why::NoHello) => {
            "start the capture before the client connects (close the browser first: it keeps \
             connections open), so the ClientHello is captured"
                .to_owned()
        }
        Some(Why::NoKey | Why::Missing(_)) => format!(
            "give the key log written by this client during this capture (its lines are \
             named by the connection's client random); else {keylog}"
        ),
        Some(Why::Unsupported(_)) => {
            "decrypt it with Wireshark, which knows more cipher suites, or make the client \
             use TLS 1.2 or 1.3 with AES-GCM"
                .to_owned()
        }
        Some(Why::Failed(_)) => "the key log is not this capture's, or the capture damaged \
                                 the records: give the key log written during this capture"
            .to_owned(),
    };
    Finding {
        code: "tls-undecrypted",
        severity: severity_of("tls-undecrypted"),
        handshake: None,
        subject: Some(server.to_owned()),
        proxy: false,
        summary,
        evidence: s.evidence.clone(),
        next_step,
        at: s.evidence_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(by: Sender, frame: u64) -> AlertInfo {
        AlertInfo {
            by,
            level: "fatal".to_owned(),
            description: "decode_error".to_owned(),
            level_code: 2,
            description_code: 50,
            encrypted: true,
            frame,
            ts: Timestamp(frame as i64),
        }
    }

    fn codes(fins: [Option<u64>; 2], a: AlertInfo) -> usize {
        let mut c = Connections::default();
        let facts = ConnFacts {
            conn: 0,
            client: "10.0.0.1:50000".parse().unwrap(),
            server: "10.0.0.2:443".parse().unwrap(),
            first: Timestamp(0),
            last: Timestamp(100),
            fins,
        };
        let t = TlsInfo {
            alerts: vec![a],
            ..TlsInfo::default()
        };
        c.tls(facts, &t);
        c.finish().iter().filter(|f| f.code == "tls-alert").count()
    }

    /// Either side's alert after the other side's FIN answers that close; before it, or after
    /// its own FIN only, it is the side refusing something.
    #[test]
    fn alerts_after_the_peers_close_are_not_refusals() {
        assert_eq!(codes([Some(10), None], alert(Sender::Server, 11)), 0);
        assert_eq!(codes([None, Some(10)], alert(Sender::Client, 11)), 0);
        assert_eq!(codes([Some(12), None], alert(Sender::Server, 11)), 1);
        assert_eq!(codes([None, Some(10)], alert(Sender::Server, 11)), 1);
        assert_eq!(codes([None, None], alert(Sender::Client, 11)), 1);
    }
}
