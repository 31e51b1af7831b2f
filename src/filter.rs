//! The filter language of the handshake list: free text and `key:value` terms.
//!
//! ```text
//! query  = term *( SP term )
//! term   = [ "-" ] ( key ":" value / value )       ; "-" negates the term
//! key    = "user" / "host" / "scheme" / "code" / "client" / "server" / "outcome"
//! value  = word / DQUOTE *( any char but DQUOTE ) DQUOTE
//! ```
//!
//! Every term must match (AND); matching is a case-insensitive substring test. Free text
//! matches any of the fields the keys name, plus the resource, domain, workstation and SPN.
//! A `word:rest` whose `word` is not a key is free text (`http://x` searches for the URL) and
//! gives a note, so a typo (`usr:bob`) is visible rather than silently empty.
//!
//! The module reads only the model ([`Analysed`], or any [`Fields`]) and knows nothing of the
//! terminal: the UI's list (over its compact rows) and `authscope export --where` use it
//! alike (it comes before both in the pipeline order).

use std::net::SocketAddr;

use crate::handshake::{Outcome, SchemeUsed};
use crate::pipeline::Analysed;

/// The fields of a handshake the filter looks at. The full model has them, and so does the
/// UI's compact row of a handshake (whose details are spooled to disk), so both are filtered
/// by one implementation.
pub trait Fields {
    fn user(&self) -> Option<&str>;
    fn domain(&self) -> Option<&str>;
    fn host(&self) -> Option<&str>;
    fn resource(&self) -> &str;
    fn scheme(&self) -> &SchemeUsed;
    fn offered(&self) -> &[String];
    /// True when a finding's code satisfies `f`.
    fn any_code(&self, f: &mut dyn FnMut(&str) -> bool) -> bool;
    fn client_socket(&self) -> SocketAddr;
    fn server(&self) -> SocketAddr;
    fn outcome(&self) -> &Outcome;
    fn workstation(&self) -> Option<&str>;
    fn spn(&self) -> Option<&str>;
    fn realm(&self) -> Option<&str>;
}

impl Fields for Analysed {
    fn user(&self) -> Option<&str> {
        self.handshake.user.as_deref()
    }
    fn domain(&self) -> Option<&str> {
        self.handshake.domain.as_deref()
    }
    fn host(&self) -> Option<&str> {
        self.handshake.host.as_deref()
    }
    fn resource(&self) -> &str {
        &self.handshake.resource
    }
    fn scheme(&self) -> &SchemeUsed {
        &self.handshake.scheme
    }
    fn offered(&self) -> &[String] {
        &self.handshake.offered
    }
    fn any_code(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.findings.iter().any(|x| f(x.code))
    }
    fn client_socket(&self) -> SocketAddr {
        self.handshake.client_socket
    }
    fn server(&self) -> SocketAddr {
        self.handshake.server
    }
    fn outcome(&self) -> &Outcome {
        &self.handshake.outcome
    }
    fn workstation(&self) -> Option<&str> {
        self.handshake.workstation.as_deref()
    }
    fn spn(&self) -> Option<&str> {
        self.handshake.spn.as_deref()
    }
    fn realm(&self) -> Option<&str> {
        self.handshake.realm.as_deref()
    }
}

/// What a `key:` term looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `user:`: the user name, with its domain (`LAB\alice` matches `lab\a` and `alice`).
    User,
    /// `host:`: the Host header and the resource.
    Host,
    /// `scheme:`: the scheme used (`ntlm`, `negotiate-ntlm`, `kerberos`, `basic`, ...).
    Scheme,
    /// `code:`: the code of any finding.
    Code,
    /// `client:`: the client address and port.
    Client,
    /// `server:`: the server (or proxy) address and port.
    Server,
    /// `outcome:`: `success`, `failed (logon-failed)`, `abandoned`, `in progress`.
    Outcome,
}

impl Key {
    /// Every key, with its name, for help texts.
    pub const ALL: [(Key, &'static str); 7] = [
        (Key::User, "user"),
        (Key::Host, "host"),
        (Key::Scheme, "scheme"),
        (Key::Code, "code"),
        (Key::Client, "client"),
        (Key::Server, "server"),
        (Key::Outcome, "outcome"),
    ];

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(k, _)| *k)
    }
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// `None` for free text.
    pub key: Option<Key>,
    /// Lower-cased.
    pub value: String,
    pub negated: bool,
}

/// A parsed query. The empty query matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub terms: Vec<Term>,
    /// Things worth telling the user about the query (an unknown key, an open quote).
    pub notes: Vec<String>,
}

impl Filter {
    /// Parses a query. Never fails: what cannot be read as a term is read as text, with a note.
    pub fn parse(query: &str) -> Filter {
        let mut f = Filter::default();
        for raw in split_terms(query, &mut f.notes) {
            let (negated, body) = match raw.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                _ => (false, raw),
            };
            let (key, value) = match body.split_once(':') {
                Some((k, v)) if !k.is_empty() && !k.contains('"') => match Key::from_name(k) {
                    Some(key) => (Some(key), unquote(v)),
                    None => {
                        if k.chars().all(|c| c.is_ascii_alphabetic()) && !v.starts_with("//") {
                            f.notes.push(format!("{k}: is not a key; searched as text"));
                        }
                        (None, unquote(&body))
                    }
                },
                _ => (None, unquote(&body)),
            };
            // `user:` alone (still being typed) restricts nothing.
            if value.is_empty() {
                continue;
            }
            f.terms.push(Term {
                key,
                value: value.to_lowercase(),
                negated,
            });
        }
        f
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// True when every term matches the handshake.
    pub fn matches(&self, a: &impl Fields) -> bool {
        self.terms.iter().all(|t| term_matches(t, a) != t.negated)
    }
}

/// Splits on unquoted spaces; quotes are kept for [`unquote`].
fn split_terms(query: &str, notes: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        notes.push("a quote is not closed".to_owned());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(s: &str) -> String {
    s.chars().filter(|c| *c != '"').collect()
}

fn has(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(needle)
}

fn term_matches(t: &Term, a: &impl Fields) -> bool {
    let v = t.value.as_str();
    let opt = |o: Option<&str>| o.is_some_and(|s| has(s, v));
    let user = || {
        opt(a.user())
            || match (a.domain(), a.user()) {
                (Some(d), Some(u)) => has(&format!("{d}\\{u}"), v),
                _ => false,
            }
    };
    let host = || opt(a.host()) || has(a.resource(), v);
    let scheme = || has(&a.scheme().to_string(), v);
    let offered = || a.offered().iter().any(|o| has(o, v));
    let code = || a.any_code(&mut |c| c.contains(v));
    let client = || has(&a.client_socket().to_string(), v);
    let server = || has(&a.server().to_string(), v);
    // `ok` is how the list says success.
    let outcome =
        || has(&a.outcome().label(), v) || (*a.outcome() == Outcome::Success && "ok" == v);
    match t.key {
        Some(Key::User) => user(),
        Some(Key::Host) => host(),
        Some(Key::Scheme) => scheme(),
        Some(Key::Code) => code(),
        Some(Key::Client) => client(),
        Some(Key::Server) => server(),
        Some(Key::Outcome) => outcome(),
        None => {
            user()
                || host()
                || scheme()
                || offered()
                || code()
                || client()
                || server()
                || outcome()
                || opt(a.workstation())
                || opt(a.spn())
                || opt(a.realm())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::diagnose::{Finding, Severity};
    use crate::handshake::{Failure, Handshake, SchemeUsed};

    fn sample() -> Analysed {
        Analysed {
            handshake: Handshake {
                id: 7,
                input: 0,
                client: "10.0.0.5".parse().unwrap(),
                client_socket: "10.0.0.5:50123".parse().unwrap(),
                server: "10.0.0.80:80".parse().unwrap(),
                host: Some("intranet.corp.example".into()),
                method: "GET".into(),
                resource: "/app/login".into(),
                status: Some(401),
                proxy: false,
                scheme: SchemeUsed::Ntlm,
                offered: vec!["Negotiate".into(), "NTLM".into()],
                user: Some("alice".into()),
                domain: Some("CORP".into()),
                workstation: Some("WS01".into()),
                spn: None,
                realm: None,
                outcome: Outcome::Failed(Failure::ConnectionClosed),
                first: Timestamp(0),
                last: Timestamp(1),
                connections: vec![0, 1],
                legs: vec![],
                rounds: 1,
                reused_requests: 0,
                rechallenged: 0,
                dropped_legs: 0,
                earlier_on_connection: 0,
                shared_challenges: Vec::new(),
                kdc: Vec::new(),
                tcp: vec![],
                client_ports: vec![],
                timeline: vec![],
            },
            findings: vec![Finding {
                code: "ntlm-connection-closed",
                severity: Severity::Error,
                handshake: Some(7),
                subject: None,
                proxy: false,
                summary: String::new(),
                evidence: vec![],
                next_step: String::new(),
                at: None,
            }],
        }
    }

    fn m(q: &str) -> bool {
        Filter::parse(q).matches(&sample())
    }

    #[test]
    fn empty_query_matches_all() {
        assert!(Filter::parse("").is_empty());
        assert!(Filter::parse("   ").is_empty());
        assert!(m(""));
    }

    #[test]
    fn keys() {
        assert!(m("user:alice"));
        assert!(m("user:ALI"));
        assert!(m(r"user:corp\alice"));
        assert!(!m("user:bob"));
        assert!(m("host:intranet"));
        assert!(m("host:/app"));
        assert!(m("scheme:ntlm"));
        assert!(!m("scheme:negotiate"), "the scheme used, not those offered");
        assert!(m("negotiate"), "free text looks at the offers too");
        assert!(!m("scheme:kerberos"));
        assert!(m("code:connection-closed"));
        assert!(!m("code:auth-loop"));
        assert!(m("client:10.0.0.5"));
        assert!(m("client::50123"));
        assert!(!m("client:10.0.0.80"));
        assert!(m("server:10.0.0.80"));
        assert!(m("outcome:failed"));
        assert!(!m("outcome:success"));
        assert!(!m("outcome:ok"));
        assert!(m("-outcome:ok"));
    }

    #[test]
    fn free_text_and_and() {
        assert!(m("alice"));
        assert!(m("WS01"));
        assert!(m("alice intranet"));
        assert!(!m("alice extranet"));
        assert!(m("closed"));
    }

    #[test]
    fn negation_and_quotes() {
        assert!(m("-user:bob"));
        assert!(!m("-user:alice"));
        assert!(m("-bob"));
        assert!(m("host:\"/app/login\""));
        let f = Filter::parse("user:\"alice smith\" x");
        assert_eq!(f.terms.len(), 2);
        assert_eq!(f.terms[0].value, "alice smith");
        assert_eq!(f.terms[0].key, Some(Key::User));
        // A lone "-" is text, not a negation of nothing.
        assert_eq!(Filter::parse("-").terms[0].value, "-");
    }

    #[test]
    fn incomplete_and_unknown_keys() {
        assert!(Filter::parse("user:").is_empty(), "being typed");
        let f = Filter::parse("usr:bob");
        assert_eq!(f.terms[0].key, None);
        assert_eq!(f.terms[0].value, "usr:bob");
        assert_eq!(f.notes.len(), 1);
        let f = Filter::parse("http://intranet");
        assert!(f.notes.is_empty(), "a URL is not a typo");
        assert!(!Filter::parse("user:\"open").notes.is_empty());
    }

    #[test]
    fn keys_are_case_insensitive() {
        assert!(m("USER:alice"));
        assert_eq!(Filter::parse("Code:x").terms[0].key, Some(Key::Code));
    }
}
