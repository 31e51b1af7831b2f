//! The KDC and DNS messages joined to a handshake (`Handshake::kdc`): what the KDC refused,
//! whether it answered, the clocks, the names DNS gave, and the encryption types.

use super::*;
use crate::auth::kerberos::{EncType, KrbErrorCode};
use crate::handshake::kdc::{host_key, http_spn_host};
use crate::kdc::krb::{KdcKind, KdcMessage};
use crate::kdc::{Protocol, WireBody, WireMsg};

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

/// The clocks of the servers a handshake shows, each against the capture's clock when it
/// was read: the KDC's in its KRB-ERRORs (RFC 4120 5.9.1 stime), the server's in its NTLM
/// Type 2 (MsvAvTimestamp, MS-NLMP 2.2.2.1), and the HTTP `Date` of the answers the
/// authenticating server made then: a challenge, or the answer to a credential, not from a
/// cache (no `Age`). Each source's closest reading; only those more than five minutes off.
fn clocks_apart(hs: &Handshake) -> Vec<(Evidence, String)> {
    let mut out = Vec::new();
    let closest = |v: &mut Vec<(i64, Evidence)>| {
        v.sort_by_key(|(d, _)| d.saturating_abs());
        v.first().cloned()
    };
    let mut kdc: Vec<(i64, Evidence)> = kerberos(hs)
        .filter_map(|(m, k)| {
            let d = k.stime_ns?.saturating_sub(m.ts.0);
            Some((
                d,
                wire_evidence(
                    m,
                    format!("KDC time {}", k.stime.as_deref().unwrap_or_default()),
                ),
            ))
        })
        .collect();
    if let Some((d, ev)) = closest(&mut kdc).filter(|(d, _)| d.saturating_abs() > SKEW_NS) {
        out.push((ev, format!("the KDC's clock is {}", apart(d))));
    }
    if !http_clocks_matter(hs) {
        return out;
    }
    let whose = if hs.proxy { "proxy's" } else { "server's" };
    let mut ntlm: Vec<(i64, Evidence)> = hs
        .legs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let Answer::NtlmChallenge {
                timestamp: Some(t), ..
            } = &l.answer
            else {
                return None;
            };
            let r = l.response.as_ref()?;
            let d = filetime_ns(*t)?.saturating_sub(r.ts.0);
            Some((d, leg_evidence(i, l, "NTLM Type 2 MsvAvTimestamp")))
        })
        .collect();
    if let Some((d, ev)) = closest(&mut ntlm).filter(|(d, _)| d.saturating_abs() > SKEW_NS) {
        out.push((
            ev,
            format!(
                "the {whose} clock in its NTLM challenge (MsvAvTimestamp) is {}",
                apart(d)
            ),
        ));
    }
    let mut date: Vec<(i64, Evidence)> = hs
        .legs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let r = l.response.as_ref()?;
            let made_now = matches!(r.status, 401 | 407) || l.credential != Credential::None;
            if !made_now || r.cached || r.status == 304 {
                return None;
            }
            // `Date` has whole seconds: the reading is up to a second behind.
            let d = r.date?.saturating_mul(1_000_000_000).saturating_sub(r.ts.0);
            Some((d, leg_evidence(i, l, "HTTP Date header")))
        })
        .collect();
    if let Some((d, ev)) =
        closest(&mut date).filter(|(d, _)| d.saturating_abs() > SKEW_NS + 1_000_000_000)
    {
        out.push((ev, format!("the {whose} Date header is {}", apart(d))));
    }
    out
}

/// Whether the server's clocks read from HTTP (NTLM, `Date`) may explain this login: Kerberos
/// was offered or used and failed, or Negotiate fell back to NTLM. On a login that worked, or
/// one without Kerberos, a difference may as well be the capturing machine's clock.
fn http_clocks_matter(hs: &Handshake) -> bool {
    let offered = hs
        .offered
        .iter()
        .any(|o| o.eq_ignore_ascii_case("negotiate") || o.eq_ignore_ascii_case("kerberos"));
    hs.scheme == SchemeUsed::NegotiateNtlm
        || ((hs.scheme == SchemeUsed::Kerberos || offered) && hs.outcome != Outcome::Success)
}

/// FILETIME (100 ns since 1601, MS-DTYP 2.3.3) in nanoseconds since 1970.
fn filetime_ns(ticks: u64) -> Option<i64> {
    const FROM_1601_NS: i128 = 11_644_473_600 * 1_000_000_000;
    let ns = i128::from(ticks)
        .checked_mul(100)?
        .checked_sub(FROM_1601_NS)?;
    i64::try_from(ns).ok()
}

fn apart(d: i64) -> String {
    format!(
        "{} {} the capture's clock",
        human(d),
        if d > 0 { "ahead of" } else { "behind" }
    )
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
    let clocks = clocks_apart(hs);
    let words: Vec<&str> = clocks.iter().map(|(_, w)| w.as_str()).collect();
    let (ev, summary) = match (said, words.is_empty()) {
        (Some(ev), false) => (
            {
                let said = ev.frame;
                std::iter::once(ev)
                    .chain(
                        clocks
                            .iter()
                            .map(|(e, _)| e.clone())
                            .filter(|e| e.frame != said),
                    )
                    .collect()
            },
            format!(
                "Kerberos refused the clocks (KRB_AP_ERR_SKEW): {}.",
                words.join("; ")
            ),
        ),
        (Some(ev), true) => (
            vec![ev],
            "Kerberos refused the clocks (KRB_AP_ERR_SKEW): the client's and the KDC's or the \
             server's clocks are more than the allowed five minutes apart."
                .to_owned(),
        ),
        (None, false) => (
            clocks.iter().map(|(e, _)| e.clone()).collect(),
            format!(
                "{}{}: more than the five minutes Kerberos allows (the capture's clock taken as \
                 the client's).",
                words.first().map(|w| capitalised(w)).unwrap_or_default(),
                words
                    .get(1..)
                    .unwrap_or_default()
                    .iter()
                    .map(|w| format!("; {w}"))
                    .collect::<String>()
            ),
        ),
        (None, true) => return,
    };
    let mut f = finding(hs, "clock-skew", summary, ev, SYNC_CLOCKS);
    // A login that worked despite the clocks: they will break Kerberos, not this login.
    if hs.outcome == Outcome::Success {
        f.severity = Severity::Warning;
    }
    out.push(f);
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

const SYNC_CLOCKS: &str = "Synchronise the clocks: w32tm /resync on Windows clients and \
     servers (the domain's PDC emulator is the source), chronyc or timedatectl on Linux; check \
     the time zone too.";

const KDC_REACH: &str = "Check that the KDC runs and listens on port 88 (UDP and TCP), that no \
     firewall drops it between the client and the KDC, and which KDC the client finds (DNS SRV \
     _kerberos._tcp.<realm>, krb5.conf's [realms], nltest /dsgetdc).";

/// To the nearest second: a clock set ten minutes ahead, measured on the wire a fraction of a
/// second short, is said as 10m00s.
fn human(ns: i64) -> String {
    let s = ns.saturating_abs().saturating_add(500_000_000) / 1_000_000_000;
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

/// A refusal the wire shows for a request to the KDC: its TCP connection reset or closed
/// with nothing, an ICMP destination unreachable about it.
fn refusal(m: &WireMsg) -> bool {
    match &m.body {
        WireBody::NoAnswer { .. } => true,
        WireBody::Unreachable { of, .. } => *of == Protocol::Kerberos,
        _ => false,
    }
}

/// The client asked the KDC and got no answer: its last requests refused (an RST, a close
/// with nothing, an ICMP unreachable) with no reply of the KDC after them, or, with no
/// refusal on the wire, requests and not one reply at all. The evidence: the refusals and
/// the requests after the KDC's last reply.
fn unanswered(hs: &Handshake) -> Vec<&WireMsg> {
    let last_reply = kerberos(hs)
        .filter(|(_, k)| !k.kind.is_request())
        .map(|(m, _)| m.frame)
        .max();
    let refusals: Vec<&WireMsg> = hs.kdc.iter().filter(|m| refusal(m)).collect();
    let after = |m: &&WireMsg| last_reply.is_none_or(|r| m.frame > r);
    match refusals.last() {
        Some(last) if after(last) => {}
        Some(_) => return Vec::new(),
        None if last_reply.is_some() => return Vec::new(),
        None => {}
    }
    let mut v: Vec<&WireMsg> = refusals.into_iter().filter(after).collect();
    v.extend(
        kerberos(hs)
            .filter(|(m, k)| k.kind.is_request() && after(m))
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
    // How the wire refused them, each way once, in order.
    let mut how: Vec<String> = Vec::new();
    for m in &v {
        let h = match &m.body {
            WireBody::Unreachable { icmp, .. } => format!(
                "{} {} from {} over {}",
                if icmp.v6 { "an ICMPv6" } else { "an ICMP" },
                icmp.reason(),
                icmp.from,
                if icmp.tcp { "TCP" } else { "UDP" }
            ),
            WireBody::NoAnswer { reset: true } => "a TCP connection refused or reset".to_owned(),
            WireBody::NoAnswer { reset: false } => {
                "a TCP connection closed with nothing".to_owned()
            }
            _ => continue,
        };
        if !how.contains(&h) {
            how.push(h);
        }
    }
    let how = if how.is_empty() {
        String::new()
    } else {
        format!(" ({})", how.join(", "))
    };
    out.push(finding(
        hs,
        "kdc-unreachable",
        format!(
            "The client's requests to the KDC {} got no answer{how}{then}.",
            first.server
        ),
        ev,
        KDC_REACH,
    ));
}

pub(super) fn krb_ticket_for_other_account(
    hs: &Handshake,
    _: &DiagnoseConfig,
    out: &mut Vec<Finding>,
) {
    // Windows says KRB_AP_ERR_MODIFIED; MIT's acceptor says KRB_AP_ERR_BAD_INTEGRITY when a
    // key of the right kvno does not decrypt the ticket.
    let Some((i, l, code)) = hs
        .legs
        .iter()
        .enumerate()
        .find_map(|(i, l)| match &l.answer {
            Answer::KerberosError { code }
                if code == "KRB_AP_ERR_MODIFIED" || code == "KRB_AP_ERR_BAD_INTEGRITY" =>
            {
                Some((i, l, code))
            }
            _ => None,
        })
    else {
        return;
    };
    let spn = hs.spn.as_deref().unwrap_or("the site's SPN");
    out.push(finding(
        hs,
        "krb-ticket-for-other-account",
        format!(
            "The server could not decrypt the ticket for {spn} ({code}): the KDC encrypted it \
             with the key of the account that holds the SPN, and the service runs with another \
             account's key."
        ),
        vec![leg_evidence(
            i,
            l,
            format!("KRB-ERROR {code} from the server"),
        )],
        &format!(
            "Find who holds the SPN (setspn -Q {spn}; setspn -X lists duplicates) and keep it on \
             the account the site runs as (the application pool identity, or the machine \
             account for LocalSystem), or export that account's key to the server's keytab."
        ),
    ));
}

/// Why the client did not use Kerberos, when the joined messages say it, and the next step
/// that fixes that cause (`None`: the usual SPN, name and zone checks).
pub(super) fn fallback_reason(hs: &Handshake) -> Option<(String, Option<String>)> {
    if let Some((_, spn, _)) = unknown_spns(hs).first() {
        return Some((
            format!("the KDC answered KDC_ERR_S_PRINCIPAL_UNKNOWN for {spn}"),
            Some(format!(
                "Register {spn} on the account that runs the site (setspn -S {spn} <account>), \
                 or have clients use the name the SPN is for."
            )),
        ));
    }
    if let Some(m) = unanswered(hs).first() {
        return Some((
            format!("the KDC {} did not answer", m.server),
            Some(KDC_REACH.to_owned()),
        ));
    }
    if let Some((_, k)) = kerberos(hs).find(|(m, k)| {
        k.error_code.is_some_and(|c| {
            !matches!(
                c,
                KrbErrorCode::PreauthRequired
                    | KrbErrorCode::MorePreauthDataRequired
                    | KrbErrorCode::ResponseTooBig
            )
        }) && !answered_later(hs, m, k)
    }) {
        let code = k.error_code.unwrap_or(KrbErrorCode::Generic);
        let tgt = k
            .sname
            .as_ref()
            .and_then(|s| s.components.first())
            .is_some_and(|c| c.eq_ignore_ascii_case("krbtgt"));
        let why = if tgt {
            format!(
                "the client got no ticket-granting ticket: the KDC answered {code} to its logon"
            )
        } else {
            format!("the KDC answered {code} for {}", sname(k))
        };
        let next = if code == KrbErrorCode::Skew {
            SYNC_CLOCKS
        } else {
            error_meaning(code).1
        };
        return Some((why, Some(next.to_owned())));
    }
    let saw_kdc = kerberos(hs).next().is_some();
    let asked_site = kerberos(hs).any(|(_, k)| k.sname.as_ref().and_then(http_spn_host).is_some());
    if saw_kdc && !asked_site {
        return Some((
            "the client talked to its KDC but asked for no ticket for this site's name: it did \
             not try Kerberos for it"
                .to_owned(),
            None,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_read_to_the_nearest_second() {
        assert_eq!(super::human(599_999_700_000), "10m00s");
        assert_eq!(super::human(-599_999_700_000), "10m00s");
        assert_eq!(super::human(299_400_000_000), "4m59s");
        assert_eq!(super::human(3_600_000_000_000), "1h00m");
        assert_eq!(super::human(i64::MIN), super::human(i64::MAX));
    }
}
