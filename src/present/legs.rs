//! A leg in a few words, as the exports and the ECS documents list it.

use crate::handshake::{Answer, Credential, Leg};
use crate::present::who;

/// What a leg's request carried, in a few words: `NTLM Type 3 user=CORP\alice`.
pub fn request_label(leg: &Leg) -> String {
    let scheme = |negotiate: bool| if negotiate { "Negotiate/NTLM" } else { "NTLM" };
    match &leg.credential {
        Credential::None => "no credential".into(),
        Credential::Basic { user } => format!("Basic user={user}"),
        Credential::Digest { user } => format!("Digest user={user}"),
        Credential::Bearer => "Bearer token".into(),
        Credential::NtlmNegotiate { negotiate } => format!("{} Type 1", scheme(*negotiate)),
        Credential::NtlmAuthenticate {
            negotiate,
            user,
            domain,
            response,
            ..
        } => format!(
            "{} Type 3 user={} {response}",
            scheme(*negotiate),
            who(Some(domain), Some(user)).unwrap_or_else(|| "(anonymous)".into())
        ),
        Credential::KerberosApReq { spn, realm } => {
            format!("Kerberos AP-REQ spn={spn} realm={realm}")
        }
        Credential::NegotiateOther => "Negotiate token".into(),
        Credential::Other { scheme } => format!("{scheme} credential"),
        Credential::Malformed { scheme } => format!("{scheme} malformed token"),
    }
}

/// What a leg's response said, in a few words: `401 NTLM Type 2 challenge 3e1ac61a...`.
pub fn response_label(leg: &Leg) -> String {
    let Some(r) = &leg.response else {
        return match leg.h2.as_ref().and_then(|h| h.end) {
            Some(e) => e.describe(),
            None => "no response".into(),
        };
    };
    let what = match &leg.answer {
        Answer::Missing => String::new(),
        Answer::Offer { schemes } => format!("offers {}", schemes.join(", ")),
        Answer::NoChallenge => "no challenge header".into(),
        Answer::NtlmChallenge {
            server_challenge,
            target,
            ..
        } => {
            let mut s = "NTLM Type 2".to_owned();
            if !server_challenge.is_empty() {
                s.push_str(&format!(" challenge={server_challenge}"));
            }
            if let Some(t) = target.as_deref().filter(|t| !t.is_empty()) {
                s.push_str(&format!(" target={t}"));
            }
            s
        }
        Answer::DigestStale => "Digest stale=true".into(),
        Answer::KerberosError { code } => format!("Kerberos {code}"),
        Answer::NegotiateReject => "Negotiate reject".into(),
        Answer::Refused => "refused".into(),
        Answer::Accepted { mutual: true } => "accepted (mutual auth)".into(),
        Answer::Accepted { mutual: false } => "accepted".into(),
        Answer::RequestFailed { mutual: true, .. } => "authenticated (final token)".into(),
        Answer::RequestFailed { mutual: false, .. } => String::new(),
    };
    let mut s = r.status.to_string();
    if let Some(sub) = &r.iis_substatus {
        s.push_str(&format!(" (IIS {sub})"));
    }
    if !what.is_empty() {
        s.push(' ');
        s.push_str(&what);
    }
    s
}
