//! `--format zeek`: records shaped as Zeek's `ntlm.log` and `kerberos.log`, as its JSON
//! writer writes them (one object a line, nested records flattened to dotted names, times as
//! seconds since 1970), with `_path` naming the log as in one stream of several logs. Field
//! names and types are those of the `Info` records of Zeek's
//! `base/protocols/ntlm/main.zeek`, `base/protocols/krb/main.zeek` and
//! `base/protocols/krb/files.zeek`. Zeek does not read NTLM and Kerberos inside HTTP; these
//! records are what it would log if it did, joined to its other logs by `uid` and `id`.
//!
//! No field holds a secret: names, flags, etypes and error codes only.

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;

use serde::Serialize;
use sha1::{Digest as _, Sha1};

use crate::auth::kerberos::{EncType, KerberosMessage, KrbErrorCode};
use crate::auth::ntlm::{MsvAvId, NtlmMessage};
use crate::auth::{AuthHeader, Token};
use crate::capture::Timestamp;
use crate::handshake::{Answer, ConnEventKind, Credential, Handshake, SchemeUsed};
use crate::kdc::krb::{KdcKind, KdcMessage};
use crate::kdc::WireMsg;
use crate::pipeline::Analysed;
use crate::tcp::ConnId;

/// KDC requests held for their answer; past this the oldest is written without one.
const MAX_PENDING: usize = 1024;
/// A KDC request not answered within this is written without an answer.
const ANSWER_NS: i64 = 30 * 1_000_000_000;
/// KDC messages remembered as written (an export meets those joined to several handshakes).
const MAX_SEEN: usize = 4096;

/// Zeek's `time`: seconds since 1970, to the microsecond as its JSON writer gives them.
#[derive(Debug, Clone, Copy)]
struct Time(Timestamp);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let micros = self.0 .0.div_euclid(1000);
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000);
        // Two parts, so that no rounding of the whole goes through a float.
        s.serialize_f64(secs as f64 + frac as f64 / 1e6)
    }
}

/// Zeek's `conn_id`, flattened as its JSON writer does.
#[derive(Debug, Clone, Serialize)]
struct Id {
    #[serde(rename = "id.orig_h")]
    orig_h: String,
    #[serde(rename = "id.orig_p")]
    orig_p: u16,
    #[serde(rename = "id.resp_h")]
    resp_h: String,
    #[serde(rename = "id.resp_p")]
    resp_p: u16,
}

impl Id {
    fn of(client: SocketAddr, server: SocketAddr) -> Id {
        Id {
            orig_h: client.ip().to_string(),
            orig_p: client.port(),
            resp_h: server.ip().to_string(),
            resp_p: server.port(),
        }
    }
}

/// What every record starts with: its log, and the fields every `Info` record has first.
#[derive(Debug, Serialize)]
struct Head {
    #[serde(rename = "_path")]
    path: &'static str,
    ts: Time,
    uid: String,
    #[serde(flatten)]
    id: Id,
}

/// `NTLM::Info`.
#[derive(Debug, Serialize)]
struct NtlmInfo {
    #[serde(flatten)]
    head: Head,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_nb_computer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_dns_computer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_tree_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
}

/// `KRB::Info`, with the fields `files.zeek` adds.
#[derive(Debug, Serialize)]
struct KrbInfo {
    #[serde(flatten)]
    head: Head,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forwardable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renewable: Option<bool>,
}

impl KrbInfo {
    fn new(ts: Timestamp, uid: String, id: Id) -> KrbInfo {
        KrbInfo {
            head: Head {
                path: "kerberos",
                ts: Time(ts),
                uid,
                id,
            },
            request_type: None,
            client: None,
            service: None,
            success: None,
            error_msg: None,
            cipher: None,
            forwardable: None,
            renewable: None,
        }
    }
}

/// A connection's `uid`: `C` and 17 base-62 digits of a hash of its transport, ends and first
/// packet's time, so the same connection gets the same one in every run, whatever else was
/// read with it (Zeek's own are random).
fn uid(udp: bool, client: SocketAddr, server: SocketAddr, first: Timestamp) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h = Sha1::new();
    h.update([u8::from(udp)]);
    h.update(client.to_string().as_bytes());
    h.update([0]);
    h.update(server.to_string().as_bytes());
    h.update(first.0.to_be_bytes());
    let d = h.finalize();
    let mut n = d
        .iter()
        .take(13)
        .fold(0u128, |n, b| (n << 8) | u128::from(*b));
    let mut s = String::from("C");
    for _ in 0..17 {
        let i = usize::try_from(n % 62).unwrap_or(0);
        s.push(char::from(DIGITS.get(i).copied().unwrap_or(b'0')));
        n /= 62;
    }
    s
}

/// Zeek's names of etypes (`KRB::cipher_name`), `unknown-N` past them.
fn cipher(e: EncType) -> String {
    match e.name() {
        Some(n) => n.to_owned(),
        None => format!("unknown-{}", e.value()),
    }
}

/// Zeek's `KRB::error_msg` names, `unknown-N` past them.
fn error_name(e: KrbErrorCode) -> String {
    match e.name() {
        Some(n) => n.to_owned(),
        None => format!("unknown-{}", e.value()),
    }
}

/// The NTLM message of a decoded header's first item that carries one.
fn ntlm_of(h: &AuthHeader) -> Option<&NtlmMessage> {
    h.items.iter().find_map(|d| match &d.token {
        Token::Ntlm(m) => Some(&**m),
        Token::Negotiate(n) => n.ntlm(),
        _ => None,
    })
}

/// The Kerberos message of a decoded header's first item that carries one.
fn kerberos_of(h: &AuthHeader) -> Option<&KerberosMessage> {
    h.items.iter().find_map(|d| match &d.token {
        Token::Negotiate(n) => n.kerberos().map(|k| &k.message),
        _ => None,
    })
}

/// The client's socket on connection `conn` of `h`.
fn client_on(h: &Handshake, conn: ConnId) -> SocketAddr {
    let port = h
        .client_ports
        .iter()
        .find(|(c, _)| *c == conn)
        .map_or(h.client_socket.port(), |(_, p)| *p);
    SocketAddr::new(h.client, port)
}

/// The first packet of connection `conn` that `h` knows: its opening, else its first leg.
fn first_of(h: &Handshake, conn: ConnId) -> Timestamp {
    let open = h
        .tcp
        .iter()
        .filter(|e| e.conn == conn && matches!(e.kind, ConnEventKind::Open { .. }))
        .map(|e| e.ts)
        .min();
    let leg = h
        .legs
        .iter()
        .filter(|l| l.conn == conn)
        .filter_map(|l| l.request.as_ref().map(|r| r.ts))
        .min();
    open.or(leg).unwrap_or(h.first)
}

/// `uid` and `id` of connection `conn` of `h`.
fn conn_of(h: &Handshake, conn: ConnId) -> (String, Id) {
    let client = client_on(h, conn);
    (
        uid(false, client, h.server, first_of(h, conn)),
        Id::of(client, h.server),
    )
}

fn success(h: &Handshake) -> Option<bool> {
    match h.outcome {
        crate::handshake::Outcome::Success => Some(true),
        crate::handshake::Outcome::Failed(_) => Some(false),
        _ => None,
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The `ntlm.log` record of an NTLM handshake (under `NTLM` or `Negotiate`): the last Type 3's
/// names on the connection that carried it, the server's names from the last Type 2.
fn ntlm_record(h: &Handshake) -> Option<NtlmInfo> {
    let credential = h.legs.iter().rev().find_map(|l| match &l.credential {
        Credential::NtlmAuthenticate {
            user,
            domain,
            workstation,
            ..
        } => Some((l.conn, user, domain, workstation)),
        _ => None,
    });
    let ntlm_leg = |l: &&crate::handshake::Leg| {
        matches!(
            l.credential,
            Credential::NtlmNegotiate { .. } | Credential::NtlmAuthenticate { .. }
        )
    };
    let conn = match credential {
        Some((c, ..)) => c,
        None => h.legs.iter().find(ntlm_leg)?.conn,
    };
    let (uid, id) = conn_of(h, conn);
    let ts = h
        .legs
        .iter()
        .filter(|l| l.conn == conn)
        .find(ntlm_leg)
        .and_then(|l| l.request.as_ref().map(|r| r.ts))
        .unwrap_or(h.first);
    let challenge = h.legs.iter().rev().find_map(|l| {
        let c = l.response.as_ref()?.challenges.as_deref()?;
        match ntlm_of(c)? {
            NtlmMessage::Challenge(c) => c.target_info.as_ref(),
            _ => None,
        }
    });
    let av = |id: MsvAvId| challenge.and_then(|i| i.text(id)).and_then(some);
    Some(NtlmInfo {
        head: Head {
            path: "ntlm",
            ts: Time(ts),
            uid,
            id,
        },
        username: credential.and_then(|(_, u, ..)| some(u)),
        hostname: credential.and_then(|(.., w)| some(w)),
        domainname: credential.and_then(|(_, _, d, _)| some(d)),
        server_nb_computer_name: av(MsvAvId::NbComputerName),
        server_dns_computer_name: av(MsvAvId::DnsComputerName),
        server_tree_name: av(MsvAvId::DnsTreeName),
        success: success(h),
    })
}

/// The `kerberos.log` record of a Kerberos login over HTTP: an AP exchange (`request_type`
/// `AP`, which Zeek's own analyser never writes: it logs AS and TGS exchanges), with the
/// ticket's service and etype from the last AP-REQ, and the KRB-ERROR the server answered.
fn ap_record(h: &Handshake) -> Option<KrbInfo> {
    let (leg, ap) = h.legs.iter().rev().find_map(|l| {
        let c = l.request.as_ref()?.credential.as_deref()?;
        match kerberos_of(c)? {
            KerberosMessage::ApReq(r) => Some((l, r)),
            _ => None,
        }
    })?;
    let (uid, id) = conn_of(h, leg.conn);
    let first = h
        .legs
        .iter()
        .filter(|l| l.conn == leg.conn && matches!(l.credential, Credential::KerberosApReq { .. }))
        .find_map(|l| l.request.as_ref().map(|r| r.ts))
        .unwrap_or(h.first);
    let error = h.legs.iter().rev().find_map(|l| {
        let c = l.response.as_ref()?.challenges.as_deref()?;
        match kerberos_of(c)? {
            KerberosMessage::KrbError(e) => Some(
                e.etext
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| error_name(e.error_code)),
            ),
            _ => None,
        }
    });
    let error = error.or_else(|| match &leg.answer {
        Answer::KerberosError { code } => Some(code.clone()),
        _ => None,
    });
    // Zeek's `name/realm`; the user may be a whole principal already (`alice@LAB.TEST`).
    let client = match (h.user.as_deref(), h.realm.as_deref()) {
        (Some(u), _) if u.contains('@') => u.rsplit_once('@').map(|(n, r)| format!("{n}/{r}")),
        (Some(u), Some(r)) if !u.is_empty() => Some(format!("{u}/{r}")),
        (Some(u), None) if !u.is_empty() => Some(u.to_owned()),
        _ => None,
    };
    Some(KrbInfo {
        request_type: Some("AP"),
        client,
        service: some(&ap.spn),
        success: success(h),
        error_msg: error,
        cipher: Some(cipher(ap.ticket_etype)),
        ..KrbInfo::new(first, uid, id)
    })
}

/// The `kerberos.log` record of a KDC exchange: a request and its answer (either may be
/// missing), filled as Zeek's `krb_*` event handlers fill `KRB::Info`.
fn kdc_record(req: Option<&WireMsg>, answer: Option<&WireMsg>) -> Option<KrbInfo> {
    let first = req.or(answer)?;
    let udp = first.conn.is_none();
    let mut r = KrbInfo::new(
        first.ts,
        uid(udp, first.client, first.server, first.ts),
        Id::of(first.client, first.server),
    );
    let name = |m: &KdcMessage| m.cname.as_ref().map(|c| c.to_string());
    if let Some(q) = req.and_then(WireMsg::kerberos) {
        r.request_type = match q.kind {
            KdcKind::AsReq => Some("AS"),
            KdcKind::TgsReq => Some("TGS"),
            _ => None,
        };
        if q.kind == KdcKind::AsReq {
            // `fmt("%s/%s", client_name, service_realm)`, as Zeek writes it.
            r.client = Some(format!(
                "{}/{}",
                name(q).unwrap_or_default(),
                q.realm.as_deref().unwrap_or_default()
            ));
        }
        r.service = q.sname.as_ref().map(|s| s.to_string());
        if q.kdc_options.is_some() {
            r.forwardable = Some(q.kdc_option_names.contains(&"forwardable"));
            r.renewable = Some(q.kdc_option_names.contains(&"renewable"));
        }
    }
    if let Some(a) = answer.and_then(WireMsg::kerberos) {
        if r.client.is_none() && (a.cname.is_some() || a.crealm.is_some()) {
            let sep = if a.kind == KdcKind::KrbError && a.cname.is_none() {
                ""
            } else {
                "/"
            };
            r.client = Some(format!(
                "{}{sep}{}",
                name(a).unwrap_or_default(),
                a.crealm.as_deref().unwrap_or_default()
            ));
        }
        match a.kind {
            KdcKind::AsRep | KdcKind::TgsRep => {
                r.service = a.sname.as_ref().map(|s| s.to_string()).or(r.service);
                r.cipher = a.ticket_etype.map(cipher);
                r.success = Some(true);
            }
            KdcKind::KrbError => {
                if let Some(s) = &a.sname {
                    r.service = Some(s.to_string());
                }
                r.success = Some(false);
                r.error_msg = a
                    .etext
                    .clone()
                    .filter(|t| !t.is_empty())
                    .or_else(|| a.error_code.map(error_name));
            }
            _ => {}
        }
    }
    Some(r)
}

/// Errors Zeek's `KRB::ignored_errors` leaves out of its log by their e-text: the KDC asking
/// for pre-authentication, which every AS exchange of a password starts with.
fn ignored(answer: Option<&WireMsg>) -> bool {
    answer
        .and_then(WireMsg::kerberos)
        .and_then(|a| a.etext.as_deref())
        .is_some_and(|t| t == "NEEDED_PREAUTH" || t == "Need to use PA-ENC-TIMESTAMP/PA-PK-AS-REQ")
}

/// The Zeek writer, for the report and the export.
#[derive(Debug, Default)]
pub struct Zeek {
    /// KDC requests waiting for their answer, oldest first.
    pending: VecDeque<WireMsg>,
    /// KDC messages written (by time and frame), for those met again.
    seen: VecDeque<(Timestamp, u64)>,
}

impl Zeek {
    /// The records of a handshake: `ntlm.log`'s for NTLM, `kerberos.log`'s for Kerberos.
    pub fn write_handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> std::io::Result<()> {
        let h = &a.handshake;
        match h.scheme {
            SchemeUsed::Ntlm | SchemeUsed::NegotiateNtlm => {
                if let Some(r) = ntlm_record(h) {
                    super::write_line(out, &r)?;
                }
            }
            SchemeUsed::Kerberos => {
                if let Some(r) = ap_record(h) {
                    super::write_line(out, &r)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The KDC exchanges joined to a handshake (an export's, which sees no other), each once.
    pub fn write_joined(&mut self, a: &Analysed, out: &mut dyn Write) -> std::io::Result<()> {
        for m in &a.handshake.kdc {
            let key = (m.ts, m.frame);
            if self.seen.contains(&key) {
                continue;
            }
            if self.seen.len() >= MAX_SEEN {
                self.seen.pop_front();
            }
            self.seen.push_back(key);
            self.wire(m, out)?;
        }
        Ok(())
    }

    /// A message of the KDC stage: a request waits for its answer; an answer is written with
    /// its request.
    pub fn wire(&mut self, m: &WireMsg, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(k) = m.kerberos() else {
            return Ok(());
        };
        // Requests too long unanswered.
        while self
            .pending
            .front()
            .is_some_and(|p| m.ts.since(p.ts) > ANSWER_NS)
        {
            if let Some(p) = self.pending.pop_front() {
                self.write_exchange(Some(&p), None, out)?;
            }
        }
        if k.kind.is_request() {
            if self.pending.len() >= MAX_PENDING {
                if let Some(p) = self.pending.pop_front() {
                    self.write_exchange(Some(&p), None, out)?;
                }
            }
            self.pending.push_back(m.clone());
            return Ok(());
        }
        let asked = self
            .pending
            .iter()
            .position(|p| p.client == m.client && p.server == m.server && p.conn == m.conn);
        let req = asked.and_then(|i| self.pending.remove(i));
        self.write_exchange(req.as_ref(), Some(m), out)
    }

    fn write_exchange(
        &self,
        req: Option<&WireMsg>,
        answer: Option<&WireMsg>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        if ignored(answer) {
            return Ok(());
        }
        match kdc_record(req, answer) {
            Some(r) => super::write_line(out, &r),
            None => Ok(()),
        }
    }

    /// The input ended: the requests still unanswered.
    pub fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        while let Some(p) = self.pending.pop_front() {
            self.write_exchange(Some(&p), None, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stable_and_shaped_as_zeeks() {
        let c: SocketAddr = "10.0.0.1:50000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let a = uid(false, c, s, Timestamp(1));
        assert_eq!(a, uid(false, c, s, Timestamp(1)));
        assert_ne!(a, uid(false, c, s, Timestamp(2)));
        assert_ne!(a, uid(true, c, s, Timestamp(1)));
        assert_eq!(a.len(), 18);
        assert!(a.starts_with('C') && a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn times_are_seconds_to_the_microsecond() {
        let t = crate::json::to_vec(&Time(Timestamp(1_796_540_334_894_037_123))).unwrap();
        assert_eq!(String::from_utf8(t).unwrap(), "1796540334.894037");
        let t = crate::json::to_vec(&Time(Timestamp(5_000_000))).unwrap();
        assert_eq!(String::from_utf8(t).unwrap(), "0.005");
    }
}
