//! The join of the KDC and DNS messages (stage 5b) to the handshakes they served: the same
//! client address, within the handshake's time window, and for its site: a Kerberos request
//! for `HTTP/<name>` where the name is the request's host, its ticket's, or one DNS linked to
//! them by a CNAME; the client's own login to the KDC (krbtgt); the DNS questions for those
//! names and the SRV records that find the KDC.

use std::collections::VecDeque;
use std::net::IpAddr;

use super::{Handshake, SchemeUsed};
use crate::capture::Timestamp;
use crate::kdc::{WireBody, WireMsg};
use crate::map::Map as HashMap;

/// How long before a handshake's first line a message still joins it: a client gets its
/// tickets (and resolves the name) right before the request, or at logon for the TGT.
pub const BEFORE_NS: i64 = 120 * 1_000_000_000;
/// Messages are held this long after their time (at least the join window of handshakes).
const KEEP_NS: i64 = 300 * 1_000_000_000;
/// Messages held for one client.
pub const MAX_PER_CLIENT: usize = 256;
/// Clients held at once.
pub const MAX_CLIENTS: usize = 4096;
/// Messages joined to one handshake.
pub const MAX_JOINED: usize = 64;

/// The messages of each client, waiting for the handshakes they may join.
#[derive(Debug, Default)]
pub struct KdcJoin {
    by_client: HashMap<IpAddr, VecDeque<WireMsg>>,
    cap_hits: u64,
}

impl KdcJoin {
    /// Messages not held (a cap).
    pub fn cap_hits(&self) -> u64 {
        self.cap_hits
    }

    /// A capture ended: nothing of it joins the next.
    pub fn clear(&mut self) {
        self.by_client.clear();
    }

    pub fn push(&mut self, m: WireMsg) {
        let ip = m.client.ip();
        let now = m.ts;
        if !self.by_client.contains_key(&ip) && self.by_client.len() >= MAX_CLIENTS {
            self.by_client
                .retain(|_, q| q.back().is_some_and(|l| now.since(l.ts) < KEEP_NS));
            if self.by_client.len() >= MAX_CLIENTS {
                self.cap_hits = self.cap_hits.saturating_add(1);
                return;
            }
        }
        let q = self.by_client.entry(ip).or_default();
        while q.front().is_some_and(|f| now.since(f.ts) > KEEP_NS) {
            q.pop_front();
        }
        if q.len() >= MAX_PER_CLIENT {
            q.pop_front();
            self.cap_hits = self.cap_hits.saturating_add(1);
        }
        q.push_back(m);
    }

    /// Joins to `h` the messages that served it, and names its client from its tickets
    /// when the HTTP legs do not.
    pub fn join(&self, h: &mut Handshake) {
        if !negotiates(h) {
            return;
        }
        let Some(q) = self.by_client.get(&h.client) else {
            return;
        };
        let from = Timestamp(h.first.0.saturating_sub(BEFORE_NS));
        let to = h.last;
        let within = |m: &&WireMsg| m.ts >= from && m.ts <= to;
        let names = names_of(h, q.iter().filter(within));
        let joined: Vec<WireMsg> = q
            .iter()
            .filter(within)
            .filter(|m| serves(m, &names))
            .take(MAX_JOINED)
            .cloned()
            .collect();
        if joined.is_empty() {
            return;
        }
        // A login the HTTP legs do not name (a ticket, or an NTLM fallback that never got to
        // its Type 3) is named by the KDC exchanges.
        if h.user.is_none() {
            h.user = client_principal(&joined, &names);
        }
        h.kdc = joined;
        h.build_timeline();
    }
}

/// The handshake offered or used Negotiate or Kerberos: only then did a KDC take part.
fn negotiates(h: &Handshake) -> bool {
    matches!(h.scheme, SchemeUsed::Kerberos | SchemeUsed::NegotiateNtlm)
        || h.offered
            .iter()
            .any(|o| o.eq_ignore_ascii_case("negotiate") || o.eq_ignore_ascii_case("kerberos"))
}

/// A host name as SPNs and DNS compare it: lower case, no port, no final dot.
pub fn host_key(host: &str) -> String {
    let h = host.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if h.matches(':').count() == 1 {
        h.split(':').next().unwrap_or(h)
    } else {
        h
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The host of an `HTTP/<host>[:port][@REALM]` service name, when it is one.
pub fn http_spn_host(sname: &crate::auth::kerberos::PrincipalName) -> Option<String> {
    match sname.components.as_slice() {
        [service, host, ..] if service.eq_ignore_ascii_case("http") => Some(host_key(host)),
        _ => None,
    }
}

/// The names the handshake's site goes by: the request's host, its ticket's SPN host, and
/// every name DNS linked to one of them by a CNAME, either way, within the window.
pub fn names_of<'a>(h: &Handshake, window: impl Iterator<Item = &'a WireMsg>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(host) = &h.host {
        names.push(host_key(host));
    }
    if let Some(spn) = &h.spn {
        if let Some((_, host)) = spn.split_once('/') {
            let host = host_key(host.split('@').next().unwrap_or(host));
            if !names.contains(&host) {
                names.push(host);
            }
        }
    }
    let links: Vec<(String, String)> = window
        .filter_map(WireMsg::dns)
        .flat_map(|d| d.cnames().map(|(a, c)| (host_key(a), host_key(c))))
        .take(256)
        .collect();
    loop {
        let before = names.len();
        for (alias, canon) in &links {
            let (a, c) = (names.contains(alias), names.contains(canon));
            if a && !c {
                names.push(canon.clone());
            } else if c && !a {
                names.push(alias.clone());
            }
        }
        if names.len() == before || names.len() > 64 {
            return names;
        }
    }
}

/// Whether the message served a login to a site of these names.
fn serves(m: &WireMsg, names: &[String]) -> bool {
    match &m.body {
        WireBody::Kerberos(k) => serves_kerberos(k, names),
        WireBody::Dns(d) => d.questions.iter().any(|q| {
            let n = host_key(&q.name);
            names.contains(&n) || n.starts_with("_kerberos.") || n.starts_with("_kerberos._")
        }),
        WireBody::Unreachable {
            quoted: Some(k), ..
        } => serves_kerberos(k, names),
        WireBody::Malformed { .. } | WireBody::NoAnswer { .. } | WireBody::Unreachable { .. } => {
            true
        }
    }
}

/// A request for the client's TGT or for the site's SPN, or the KDC's answer to one.
fn serves_kerberos(k: &crate::kdc::krb::KdcMessage, names: &[String]) -> bool {
    match &k.sname {
        Some(s) => {
            let first = s.components.first().map(String::as_str).unwrap_or_default();
            first.eq_ignore_ascii_case("krbtgt")
                || http_spn_host(s).is_some_and(|h| names.contains(&h))
        }
        None => false,
    }
}

/// `alice@LAB.TEST` from the reply that gave the client its ticket for the site (or its TGT).
fn client_principal(joined: &[WireMsg], names: &[String]) -> Option<String> {
    let replies = joined.iter().filter_map(WireMsg::kerberos).filter(|k| {
        matches!(
            k.kind,
            crate::kdc::krb::KdcKind::TgsRep | crate::kdc::krb::KdcKind::AsRep
        )
    });
    let mut best = None;
    for k in replies {
        let for_site = k
            .sname
            .as_ref()
            .and_then(http_spn_host)
            .is_some_and(|h| names.contains(&h));
        if let (Some(c), Some(r)) = (&k.cname, &k.crealm) {
            let p = format!("{c}@{r}");
            if for_site {
                return Some(p);
            }
            best.get_or_insert(p);
        }
    }
    // Without a reply (a wrong password, a KDC that refused), the name the client asked
    // for its ticket-granting ticket under (RFC 4120 5.4.1 AS-REQ cname, echoed by the
    // KRB-ERROR).
    best.or_else(|| {
        joined.iter().filter_map(WireMsg::kerberos).find_map(|k| {
            match (&k.kind, &k.cname, &k.crealm) {
                (
                    crate::kdc::krb::KdcKind::AsReq | crate::kdc::krb::KdcKind::KrbError,
                    Some(c),
                    Some(r),
                ) => Some(format!("{c}@{r}")),
                _ => None,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_drop_the_port_case_and_final_dot() {
        assert_eq!(host_key("WWW.Lab.Test:8080"), "www.lab.test");
        assert_eq!(host_key("www.lab.test."), "www.lab.test");
        assert_eq!(host_key("[::1]:80"), "::1");
        assert_eq!(host_key("::1"), "::1");
    }
}
