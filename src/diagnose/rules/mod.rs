//! The rules, one function per finding code, in the order of DIAGNOSIS.md.

use super::{DiagnoseConfig, Evidence, Finding, Severity};
use crate::handshake::{
    Answer, Binding, ConnEventKind, Credential, Failure, Handshake, Leg, Outcome, SchemeUsed, Side,
};

mod answers;
mod http2;
mod kdc;
mod kerberos;
mod ntlm;
mod rounds;
mod server;
mod wire;

use answers::*;
pub(super) use http2::H2_FIX;
use http2::*;
use kdc::*;
use kerberos::*;
use ntlm::*;
use rounds::*;
use server::*;
use wire::*;

/// Every code a rule can give, with its severity (for `--help` and the docs).
pub const CODES: &[(&str, Severity)] = &[
    ("no-auth-method", Severity::Error),
    ("logon-failed", Severity::Error),
    ("access-denied-acl", Severity::Error),
    ("iis-substatus", Severity::Info),
    ("ntlm-connection-closed", Severity::Error),
    ("ntlm-split-connections", Severity::Error),
    ("ntlm-negotiate-refused", Severity::Error),
    ("auth-loop", Severity::Error),
    ("connection-reset", Severity::Warning),
    ("kerberos-fallback-ntlm", Severity::Warning),
    ("kerberos-error", Severity::Error),
    ("spn-host-mismatch", Severity::Warning),
    ("kdc-spn-unknown", Severity::Error),
    ("kdc-error", Severity::Error),
    ("clock-skew", Severity::Error),
    ("spn-from-cname", Severity::Warning),
    ("kdc-unreachable", Severity::Error),
    ("krb-ticket-for-other-account", Severity::Error),
    ("weak-etype", Severity::Info),
    ("challenge-unanswered", Severity::Warning),
    ("reauth-every-request", Severity::Info),
    ("basic-cleartext", Severity::Warning),
    ("ntlm-weak", Severity::Warning),
    ("slow-auth", Severity::Warning),
    ("digest-stale-loop", Severity::Warning),
    ("malformed-token", Severity::Warning),
    ("malformed-header", Severity::Warning),
    ("request-failed-after-auth", Severity::Info),
    ("token-too-large", Severity::Error),
    ("server-rejected-request", Severity::Error),
    ("ntlm-relay-suspected", Severity::Warning),
    ("cbt-missing", Severity::Warning),
    ("cbt-zero", Severity::Warning),
    ("cbt-mismatch", Severity::Error),
    ("http2-downgrade", Severity::Warning),
    ("tls-alert", Severity::Warning),
    ("tls-undecrypted", Severity::Info),
];

/// Codes that name a symptom of another finding (a loop is what a reset or a refusal looks
/// like from the browser): they are listed after the findings of the same severity.
pub fn is_symptom(code: &str) -> bool {
    code == "auth-loop"
}

type Rule = fn(&Handshake, &DiagnoseConfig, &mut Vec<Finding>);

const RULES: &[Rule] = &[
    no_auth_method,
    logon_failed,
    access_denied_acl,
    iis_substatus,
    ntlm_connection_closed,
    ntlm_split_connections,
    ntlm_negotiate_refused,
    connection_reset,
    kerberos_fallback_ntlm,
    kerberos_error,
    spn_host_mismatch,
    kdc_spn_unknown,
    kdc_error,
    clock_skew,
    spn_from_cname,
    kdc_unreachable,
    krb_ticket_for_other_account,
    weak_etype,
    challenge_unanswered,
    reauth_every_request,
    basic_cleartext,
    ntlm_weak,
    slow_auth,
    digest_stale_loop,
    malformed_token,
    malformed_header,
    request_failed_after_auth,
    token_too_large,
    server_rejected_request,
    ntlm_relay_suspected,
    channel_bindings,
    http2_downgrade,
    // Last: it names the root cause the rules above found.
    auth_loop,
];

pub(super) fn run(hs: &Handshake, cfg: &DiagnoseConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in RULES {
        rule(hs, cfg, &mut out);
    }
    out
}

pub(super) fn severity_of(code: &str) -> Severity {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(Severity::Warning, |(_, s)| *s)
}

fn finding(
    hs: &Handshake,
    code: &'static str,
    summary: String,
    evidence: Vec<Evidence>,
    next_step: &str,
) -> Finding {
    let summary = if hs.proxy {
        format!("Proxy authentication: {summary}")
    } else {
        summary
    };
    Finding {
        code,
        severity: severity_of(code),
        handshake: Some(hs.id),
        subject: None,
        proxy: hs.proxy,
        summary,
        evidence,
        next_step: next_step.to_owned(),
        at: None,
    }
}

fn leg_evidence(i: usize, leg: &Leg, note: impl Into<String>) -> Evidence {
    Evidence {
        leg: Some(i),
        conn: leg.conn,
        frame: leg
            .response
            .as_ref()
            .map(|r| r.frame)
            .or(leg.request.as_ref().map(|r| r.frame))
            .unwrap_or(0),
        note: note.into(),
    }
}

fn who(hs: &Handshake) -> String {
    match (&hs.user, &hs.domain, &hs.workstation) {
        (Some(u), Some(d), Some(w)) if !d.is_empty() && !w.is_empty() => format!("{d}\\{u} on {w}"),
        (Some(u), Some(d), _) if !d.is_empty() => format!("{d}\\{u}"),
        (Some(u), _, Some(w)) if !w.is_empty() => format!("{u} on {w}"),
        (Some(u), _, _) if !u.is_empty() => u.clone(),
        _ => "the client".to_owned(),
    }
}

/// `the client` -> `The client`, at the start of a sentence.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn status_word(hs: &Handshake) -> &'static str {
    if hs.proxy {
        "407"
    } else {
        "401"
    }
}

fn cred_name(c: &Credential) -> &'static str {
    match c {
        Credential::Basic { .. } => "Basic credentials",
        Credential::Digest { .. } => "Digest response",
        Credential::Bearer => "Bearer token",
        Credential::NtlmAuthenticate { .. } => "NTLM Type 3",
        Credential::KerberosApReq { .. } => "Kerberos AP-REQ",
        Credential::NtlmNegotiate { .. } => "NTLM Type 1",
        Credential::None => "anonymous request",
        _ => "credential",
    }
}

fn times(n: usize) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

fn offered(hs: &Handshake, scheme: &str) -> bool {
    hs.offered.iter().any(|o| o.eq_ignore_ascii_case(scheme))
}
