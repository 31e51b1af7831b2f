//! The KDC and DNS messages joined to a handshake (`Handshake::kdc`): what the KDC refused,
//! whether it answered, the clocks, the names DNS gave, and the encryption types.

use super::*;
use crate::auth::kerberos::{EncType, KrbErrorCode};
use crate::handshake::kdc::{host_key, http_spn_host};
use crate::kdc::krb::{KdcKind, KdcMessage};
use crate::kdc::{WireBody, WireMsg};

/// Kerberos allows five minutes between clocks by default (RFC 4120 1.6; MIT's
/// `clockskew`, Windows' "Maximum tolerance for computer clock synchronization").
const SKEW_NS: i64 = 300 * 1_000_000_000;

fn wire_evidence(m: &WireMsg, note: impl Into<String>) -> Evidence {
    Evidence {
        leg: None,
        conn: m.conn.unwrap_or(crate::handshake::UDP),
        frame: m.frame,
        note: note.into(),
    }
}

/// The Kerberos messages joined, with the message.
fn kerberos(hs: &Handshake) -> impl Iterator<Item = (&WireMsg, &KdcMessage)> {
    hs.kdc.iter().filter_map(|m| m.kerberos().map(|k| (m, k)))
}

fn sname(k: &KdcMessage) -> String {
    k.sname.as_ref().map(|s| s.to_string()).unwrap_or_default()
}

/// Whether a later reply of the KDC gave what this error refused (the client retried with
/// pre-authentication, the right password, another etype).
fn answered_later(hs: &Handshake, err: &WireMsg, k: &KdcMessage) -> bool {
    kerberos(hs).any(|(m, r)| {
        m.frame > err.frame
            && matches!(r.kind, KdcKind::AsRep | KdcKind::TgsRep)
            && (r.sname == k.sname
                || (r.kind == KdcKind::AsRep
                    && k.sname
                        .as_ref()
                        .and_then(|s| s.components.first())
                        .is_some_and(|c| c == "krbtgt")))
    })
}

/// The HTTP SPNs the KDC said it does not know, with their messages.
fn unknown_spns(hs: &Handshake) -> Vec<(&WireMsg, String, String)> {
    kerberos(hs)
        .filter(|(_, k)| k.error_code == Some(KrbErrorCode::SPrincipalUnknown))
        .filter_map(|(m, k)| {
            let host = k.sname.as_ref().and_then(http_spn_host)?;
            Some((m, sname(k), host))
        })
        .collect()
}

/// CNAME answers of the client's DNS, alias to canonical name.
fn cname_links(hs: &Handshake) -> Vec<(String, String)> {
    hs.kdc
        .iter()
        .filter_map(WireMsg::dns)
        .flat_map(|d| d.cnames().map(|(a, c)| (host_key(a), host_key(c))))
        .collect()
}

pub(super) fn kdc_spn_unknown(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let unknown = unknown_spns(hs);
    let Some((_, spn, _)) = unknown.first() else {
        return;
    };
    let ev = unknown
        .iter()
        .take(3)
        .map(|(m, s, _)| wire_evidence(m, format!("KRB-ERROR KDC_ERR_S_PRINCIPAL_UNKNOWN for {s}")))
        .collect();
    let fell_back = if hs.scheme == SchemeUsed::NegotiateNtlm {
        " so the client fell back to NTLM"
    } else {
        ""
    };
    out.push(finding(
        hs,
        "kdc-spn-unknown",
        format!(
            "The KDC does not know the service {spn} (KDC_ERR_S_PRINCIPAL_UNKNOWN): no account \
             has this SPN, or it is registered for another name than the one the client used,{fell_back}."
        ),
        ev,
        &format!(
            "Register the SPN on the account that runs the site: setspn -S {spn} <account> \
             (setspn -Q {spn} finds it if it is on another account; on MIT Kerberos, \
             kadmin addprinc and ktadd to the site's keytab)."
        ),
    ));
}

pub(super) fn spn_from_cname(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let links = cname_links(hs);
    if links.is_empty() {
        return;
    }
    let host = hs.host.as_deref().map(host_key).unwrap_or_default();
    for (m, spn, asked) in unknown_spns(hs) {
        // The name the client asked for and another it goes by, linked by DNS.
        let other = links.iter().find_map(|(a, c)| {
            if *a == asked {
                Some(c.clone())
            } else if *c == asked {
                Some(a.clone())
            } else {
                None
            }
        });
        let Some(other) = other else {
            continue;
        };
        let canonical = links.iter().any(|(_, c)| *c == asked);
        let how = if canonical {
            format!("DNS resolved {host} through a CNAME to {asked}, and the client asked for the SPN of the canonical name")
        } else {
            format!("the client asked for the SPN of the alias {asked}, which DNS resolves through a CNAME to {other}")
        };
        out.push(finding(
            hs,
            "spn-from-cname",
            format!("{how}: {spn} is unknown to the KDC, so the SPN is registered for {other} only, or for neither."),
            vec![wire_evidence(m, format!("KRB-ERROR KDC_ERR_S_PRINCIPAL_UNKNOWN for {spn}"))],
            &format!(
                "Register HTTP/{asked} on the site's account too (setspn -S HTTP/{asked} <account>), \
                 or have clients use the name the SPN is for; browsers build the SPN from the \
                 canonical name unless told not to (Chrome's EnableAuthNegotiateCnameLookup, \
                 MIT's dns_canonicalize_hostname)."
            ),
        ));
        return;
    }
}

fn error_meaning(code: KrbErrorCode) -> (&'static str, &'static str) {
    match code {
        KrbErrorCode::PreauthFailed => (
            "the password is wrong (pre-authentication failed)",
            "Have the user type the password again or reset it; repeated failures lock the account.",
        ),
        KrbErrorCode::ClientRevoked => (
            "the account is locked, disabled or expired",
            "Unlock or enable the account (Active Directory Users and Computers, or kadmin modprinc).",
        ),
        KrbErrorCode::KeyExpired => (
            "the password has expired",
            "Have the user change the password, then log on again.",
        ),
        KrbErrorCode::EtypeNosupp => (
            "the KDC and the client (or the service's key) have no encryption type in common",
            "Compare the client's offered etypes with the account's keys (msDS-SupportedEncryptionTypes, supported_enctypes, permitted_enctypes); give the account AES keys by resetting its password.",
        ),
        KrbErrorCode::BadOption => (
            "the KDC refused an option the client asked for (delegation not allowed for this account or service)",
            "Check the account's delegation settings (trusted for delegation, constrained delegation to this SPN, 'Account is sensitive and cannot be delegated').",
        ),
        KrbErrorCode::CPrincipalUnknown => (
            "the KDC does not know the client's name",
            "Check the user name and realm the client used (a typo, or the wrong realm in krb5.conf).",
        ),
        KrbErrorCode::SPrincipalUnknown => (
            "the KDC does not know the service asked for",
            "Register the service principal on the account that runs it (setspn -S).",
        ),
        KrbErrorCode::Policy => (
            "a KDC policy refused the request",
            "Check the account's logon restrictions (logon hours, workstations, authentication policy silos).",
        ),
        KrbErrorCode::WrongRealm => (
            "the request went to a KDC of another realm",
            "Check the realm mapping ([domain_realm]) and the trusts.",
        ),
        _ => (
            "the KDC refused the request",
            "Look the error up (RFC 4120 7.5.9) and in the KDC's log.",
        ),
    }
}

pub(super) fn kdc_error(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    for (m, k) in kerberos(hs) {
        let Some(code) = k.error_code else { continue };
        let http = k.sname.as_ref().and_then(http_spn_host).is_some();
        let skip = match code {
            // Steps of a working exchange, not refusals (RFC 4120 3.1.1, 7.2.1; RFC 6113).
            KrbErrorCode::PreauthRequired
            | KrbErrorCode::MorePreauthDataRequired
            | KrbErrorCode::ResponseTooBig => true,
            // Their own findings.
            KrbErrorCode::SPrincipalUnknown => http,
            KrbErrorCode::Skew => true,
            _ => false,
        };
        if skip || answered_later(hs, m, k) {
            continue;
        }
        let (meaning, next) = error_meaning(code);
        let etext = k
            .etext
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| format!(" (\"{e}\")"))
            .unwrap_or_default();
        out.push(finding(
            hs,
            "kdc-error",
            format!(
                "The KDC answered {code}{etext} to the {} for {}: {meaning}.",
                request_of(hs, m),
                sname(k)
            ),
            vec![wire_evidence(
                m,
                format!("KRB-ERROR {code} for {}", sname(k)),
            )],
            next,
        ));
        return;
    }
}

/// The kind of request a KRB-ERROR answered: the client's last request before it.
fn request_of(hs: &Handshake, err: &WireMsg) -> &'static str {
    kerberos(hs)
        .filter(|(m, k)| m.frame < err.frame && k.kind.is_request())
        .last()
        .map_or("request", |(_, k)| k.kind.name())
}

pub(super) fn clock_skew(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    // The KDC or the server said so.
    let said = kerberos(hs)
        .find(|(_, k)| k.error_code == Some(KrbErrorCode::Skew))
        .map(|(m, k)| wire_evidence(m, format!("KRB-ERROR KRB_AP_ERR_SKEW for {}", sname(k))))
        .or_else(|| {
            hs.legs
                .iter()
                .enumerate()
                .find_map(|(i, l)| match &l.answer {
                    Answer::KerberosError { code } if code == "KRB_AP_ERR_SKEW" => Some(
                        leg_evidence(i, l, "KRB-ERROR KRB_AP_ERR_SKEW from the server"),
                    ),
                    _ => None,
                })
        });
    // The KDC's clock in its KRB-ERROR against the capture's.
    let apart = kerberos(hs).find_map(|(m, k)| {
        let d = k.stime_ns?.saturating_sub(m.ts.0);
        (d.saturating_abs() > SKEW_NS).then_some((m, k, d))
    });
    let (ev, summary) = match (said, apart) {
        (Some(ev), Some((m, k, d))) => (
            vec![ev, wire_evidence(m, format!("KDC time {}", k.stime.as_deref().unwrap_or_default()))],
            format!(
                "Kerberos refused the clocks (KRB_AP_ERR_SKEW): the KDC's time is {} {} the capture's clock.",
                human(d),
                if d > 0 { "ahead of" } else { "behind" }
            ),
        ),
        (Some(ev), None) => (
            vec![ev],
            "Kerberos refused the clocks (KRB_AP_ERR_SKEW): the client's and the KDC's or the \
             server's clocks are more than the allowed five minutes apart."
                .to_owned(),
        ),
        (None, Some((m, k, d))) => (
            vec![wire_evidence(m, format!("KDC time {}", k.stime.as_deref().unwrap_or_default()))],
            format!(
                "The KDC's clock is {} {} the capture's clock (taken as the client's): more than \
                 the five minutes Kerberos allows.",
                human(d),
                if d > 0 { "ahead of" } else { "behind" }
            ),
        ),
        (None, None) => return,
    };
    out.push(finding(
        hs,
        "clock-skew",
        summary,
        ev,
        "Synchronise the clocks: w32tm /resync on Windows clients and servers (the domain's PDC \
         emulator is the source), chronyc or timedatectl on Linux; check the time zone too.",
    ));
}

fn human(ns: i64) -> String {
    let s = ns.saturating_abs() / 1_000_000_000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn weak(e: EncType) -> bool {
    matches!(e.value(), 1 | 2 | 3 | 23 | 24 | -128 | -133)
}

pub(super) fn weak_etype(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    for (m, k) in kerberos(hs) {
        if !matches!(k.kind, KdcKind::AsRep | KdcKind::TgsRep) {
            continue;
        }
        let ticket = k.ticket_etype.filter(|e| weak(*e));
        let key = k.enc_part_etype.filter(|e| weak(*e));
        let Some(e) = ticket.or(key) else { continue };
        let what = if ticket.is_some() {
            "ticket"
        } else {
            "reply key"
        };
        out.push(finding(
            hs,
            "weak-etype",
            format!(
                "The KDC gave a {what} for {} encrypted with {e}, a weak encryption type.",
                sname(k)
            ),
            vec![wire_evidence(m, format!("{} {what} {e}", k.kind.name()))],
            "Give the accounts AES keys (reset the service account's password after raising the \
             domain functional level; msDS-SupportedEncryptionTypes = 0x18) and stop offering \
             RC4 and DES (the 'Network security: Configure encryption types allowed for \
             Kerberos' policy, permitted_enctypes).",
        ));
        return;
    }
}

/// The client asked the KDC and got no answer: a TCP connection refused, reset or closed
/// with nothing, or requests over UDP with no reply.
fn unanswered(hs: &Handshake) -> Vec<&WireMsg> {
    let refused: Vec<&WireMsg> = hs
        .kdc
        .iter()
        .filter(|m| matches!(m.body, WireBody::NoAnswer { .. }))
        .collect();
    let any_reply = kerberos(hs).any(|(_, k)| !k.kind.is_request());
    if any_reply {
        return Vec::new();
    }
    let mut v = refused;
    v.extend(
        kerberos(hs)
            .filter(|(_, k)| k.kind.is_request())
            .map(|(m, _)| m),
    );
    v.sort_by_key(|m| m.frame);
    v
}

pub(super) fn kdc_unreachable(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let v = unanswered(hs);
    let Some(first) = v.first() else { return };
    let ev = v
        .iter()
        .take(3)
        .map(|m| wire_evidence(m, m.text()))
        .collect();
    let then = if hs.scheme == SchemeUsed::NegotiateNtlm {
        ", then it fell back to NTLM"
    } else {
        ""
    };
    out.push(finding(
        hs,
        "kdc-unreachable",
        format!(
            "The client's requests to the KDC {} got no answer{then}.",
            first.server
        ),
        ev,
        "Check that the KDC runs and listens on port 88 (UDP and TCP), that no firewall drops \
         it between the client and the KDC, and which KDC the client finds (DNS SRV \
         _kerberos._tcp.<realm>, krb5.conf's [realms], nltest /dsgetdc).",
    ));
}

pub(super) fn krb_ticket_for_other_account(
    hs: &Handshake,
    _: &DiagnoseConfig,
    out: &mut Vec<Finding>,
) {
    let Some((i, l)) = hs.legs.iter().enumerate().find(|(_, l)| {
        matches!(&l.answer, Answer::KerberosError { code } if code == "KRB_AP_ERR_MODIFIED")
    }) else {
        return;
    };
    let spn = hs.spn.as_deref().unwrap_or("the site's SPN");
    out.push(finding(
        hs,
        "krb-ticket-for-other-account",
        format!(
            "The server could not decrypt the ticket for {spn} (KRB_AP_ERR_MODIFIED): the KDC \
             encrypted it with the key of the account that holds the SPN, and the service runs \
             with another account's key."
        ),
        vec![leg_evidence(
            i,
            l,
            "KRB-ERROR KRB_AP_ERR_MODIFIED from the server",
        )],
        &format!(
            "Find who holds the SPN (setspn -Q {spn}; setspn -X lists duplicates) and keep it on \
             the account the site runs as (the application pool identity, or the machine \
             account for LocalSystem), or export that account's key to the server's keytab."
        ),
    ));
}

/// Why the client did not use Kerberos, when the joined messages say it.
pub(super) fn fallback_reason(hs: &Handshake) -> Option<String> {
    if let Some((_, spn, _)) = unknown_spns(hs).first() {
        return Some(format!(
            "the KDC answered KDC_ERR_S_PRINCIPAL_UNKNOWN for {spn}"
        ));
    }
    if let Some(m) = unanswered(hs).first() {
        return Some(format!("the KDC {} did not answer", m.server));
    }
    let saw_kdc = kerberos(hs).next().is_some();
    let asked_site = kerberos(hs).any(|(_, k)| k.sname.as_ref().and_then(http_spn_host).is_some());
    if saw_kdc && !asked_site {
        return Some(
            "the client talked to its KDC but asked for no ticket for this site's name: it did \
             not try Kerberos for it"
                .to_owned(),
        );
    }
    if let Some((m, k)) = kerberos(hs).find(|(m, k)| {
        k.error_code.is_some()
            && !matches!(k.error_code, Some(KrbErrorCode::PreauthRequired))
            && !answered_later(hs, m, k)
    }) {
        let _ = m;
        return Some(format!(
            "the KDC answered {} for {}",
            k.error_code.map(|c| c.to_string()).unwrap_or_default(),
            sname(k)
        ));
    }
    None
}
