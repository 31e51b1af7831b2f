//! What the server's answer says: no method offered, a credential refused, IIS substatus
//! pages, a request that failed after the login, a credential too large, a challenge left
//! unanswered.

use super::*;

/// IIS 401.2 with AuthFlags=0: a 401/407 that offers nothing.
pub(super) fn no_auth_method(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let legs: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.answer == Answer::NoChallenge && !l.credential.is_complete())
        .map(|(i, l)| {
            leg_evidence(
                i,
                l,
                format!("{} without any challenge header", status_word(hs)),
            )
        })
        .collect();
    if legs.is_empty() {
        return;
    }
    let header = if hs.proxy {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    out.push(finding(
        hs,
        "no-auth-method",
        format!(
            "The server answered {} {} with no {header} header: it offers no way to authenticate.",
            hs.resource,
            status_word(hs)
        ),
        legs,
        "Enable an authentication method for this URL (IIS returns 401.2 when no method is \
         enabled, AuthFlags=0).",
    ));
}

/// IIS 401.1: a complete credential refused.
pub(super) fn logon_failed(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let refused: Vec<Evidence> = hs
        .credential_legs()
        .filter(|(i, l)| {
            // A refused AP-REQ is `kerberos-error`'s, unless the server wrote down why.
            (!matches!(l.credential, Credential::KerberosApReq { .. })
                || recorded_refusal(l).is_some())
                && !split_type3(hs, *i)
                && !l.answer.accepts()
                && matches!(l.status(), Some(401 | 407))
                && l.answer != Answer::DigestStale
                && l.response
                    .as_ref()
                    .is_none_or(|r| r.iis_substatus.as_deref() != Some("401.3"))
                && logged_acl_denial(l).is_none()
        })
        .map(|(i, l)| {
            leg_evidence(
                i,
                l,
                format!("{} answered {}", cred_name(&l.credential), status_word(hs)),
            )
        })
        .collect();
    if refused.is_empty() {
        logon_failed_recorded(hs, out);
        return;
    }
    // What the server wrote down about the refused legs, when it was given.
    let recorded = refused.iter().find_map(|e| {
        let leg = hs.legs.get(e.leg?)?;
        recorded_refusal(leg).map(|(n, r)| reason_clause(hs, leg, n, r))
    });
    let n = refused.len();
    let times = if n > 1 {
        format!(" {n} times")
    } else {
        String::new()
    };
    if hs.outcome == Outcome::Success {
        let next = if matches!(hs.scheme, SchemeUsed::Bearer) {
            "The login worked in the end: the refused token was expired, malformed or for \
             another audience (the timeline shows its claims); fix the client that sent it."
        } else {
            "The login worked in the end: the refused attempts carried another password or \
             account (a stale saved credential is typical); clear saved credentials if it \
             repeats, as each refusal counts toward the lockout threshold."
        };
        let said = recorded.as_ref().map_or("", |(c, _)| c.as_str());
        let mut f = finding(
            hs,
            "logon-failed",
            format!(
                "{} was refused{times} before a later {} credential was accepted.{said}",
                capitalised(&who(hs)),
                hs.scheme
            ),
            refused,
            next,
        );
        // The login worked: what stays true is a warning, not an error.
        f.severity = Severity::Warning;
        out.push(f);
        return;
    }
    // A Type 3 sent inside TLS and not bound to this connection's certificate may be
    // refused for that alone (Extended Protection): the cbt-* finding says which.
    let unbound = hs.legs.iter().any(|l| {
        matches!(
            l.binding,
            Some(Binding::NotBound | Binding::Zero | Binding::Mismatch { .. })
        ) && !l.answer.accepts()
    });
    let (bindings, next) = if unbound {
        (
            " (its Type 3 was not bound to this TLS connection, which a server requiring \
             Extended Protection refuses whatever the password)",
            "Look at the channel bindings first (the cbt- finding); then check the user name \
             and password, that the account is not expired, disabled or locked out, and that it \
             holds the \"Access this computer from the network\" right (IIS 401.1).",
        )
    } else {
        (
            "",
            "Check the user name and password, that the account is not expired, disabled or \
             locked out, and that it holds the \"Access this computer from the network\" right \
             (IIS 401.1).",
        )
    };
    let said = recorded.as_ref().map_or("", |(c, _)| c.as_str());
    // The server's own reason says what to do better than the wire can.
    let next = recorded.as_ref().map_or(next, |(_, n)| *n);
    out.push(finding(
        hs,
        "logon-failed",
        format!(
            "{} was refused{times}: the {} credentials were not accepted{bindings}.{said}",
            capitalised(&who(hs)),
            hs.scheme
        ),
        refused,
        next,
    ));
}

/// IIS 401.3, only when the error page names it or the IIS log says `401 3` (`401 3 5`:
/// ERROR_ACCESS_DENIED).
pub(super) fn access_denied_acl(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut logged = None;
    let ev: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            if let Some(n) = logged_acl_denial(l) {
                logged.get_or_insert_with(|| n.text.clone());
                return Some(leg_evidence(i, l, n.text.clone()));
            }
            (l.response.as_ref().and_then(|r| r.iis_substatus.as_deref()) == Some("401.3"))
                .then(|| leg_evidence(i, l, "IIS error page names 401.3"))
        })
        .collect();
    if ev.is_empty() {
        return;
    }
    let source = match &logged {
        Some(text) => format!("the IIS log confirms it: {text}"),
        None => "IIS 401.3".to_owned(),
    };
    out.push(finding(
        hs,
        "access-denied-acl",
        format!(
            "{} authenticated, but access to {} was denied by an ACL ({source}).",
            capitalised(&who(hs)),
            hs.resource
        ),
        ev,
        "Check the file and directory ACLs for this account; when the URL is a directory, check \
         the default documents (a missing first default document can make the next one fail).",
    ));
}

/// Meanings of the IIS 401 substatus codes (KB 943891, the seed article).
pub(super) fn substatus_meaning(code: &str) -> &'static str {
    match code {
        "401.1" => "logon failed: invalid credentials",
        "401.2" => {
            "logon failed due to server configuration (no method enabled, or the mechanism failed)"
        }
        "401.3" => "unauthorized due to an ACL on the resource",
        "401.4" => "authorization failed by a filter",
        "401.5" => "authorization failed by an ISAPI/CGI application",
        "401.7" => "access denied by URL authorization policy",
        _ => "see the IIS documentation for this substatus",
    }
}

pub(super) fn iis_substatus(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut seen: Vec<String> = Vec::new();
    let last = hs.legs.len().saturating_sub(1);
    for (i, l) in hs.legs.iter().enumerate() {
        let Some(code) = l.response.as_ref().and_then(|r| r.iis_substatus.clone()) else {
            continue;
        };
        // The anonymous probe (401.2) and the NTLM challenge (401.1) carry substatus pages in
        // every healthy handshake (IIS logs them as "401 2 5" and "401 1 2148074254"): only a
        // refusal, or the step the handshake ended on, says something.
        let refusal = l.credential.is_complete()
            && !l.answer.accepts()
            && matches!(l.status(), Some(401 | 407));
        let ended_here = i == last && hs.outcome != Outcome::Success;
        if !(refusal || ended_here || code == "401.3") {
            continue;
        }
        if seen.contains(&code) {
            continue;
        }
        seen.push(code.clone());
        out.push(finding(
            hs,
            "iis-substatus",
            format!(
                "The IIS error page names HTTP {code}: {}.",
                substatus_meaning(&code)
            ),
            vec![leg_evidence(i, l, format!("body names {code}"))],
            "Read it with the other findings: the substatus says which step IIS refused.",
        ));
    }
}

pub(super) fn challenge_unanswered(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    if hs.outcome != Outcome::Abandoned {
        return;
    }
    let Some((i, l)) = hs.legs.iter().enumerate().next_back() else {
        return;
    };
    let schemes = if hs.offered.is_empty() {
        "its challenge".to_owned()
    } else {
        hs.offered.join(", ")
    };
    out.push(finding(
        hs,
        "challenge-unanswered",
        format!("The client never answered the server's challenge ({schemes})."),
        vec![leg_evidence(i, l, "last challenge, no credential after it")],
        "The client does not support or will not use the offered schemes: check the scheme \
         order, the browser's zone settings (automatic logon only in the intranet zone), or the \
         client's configuration.",
    ));
}

/// The login worked; the application then refused or failed the request.
pub(super) fn request_failed_after_auth(
    hs: &Handshake,
    _: &DiagnoseConfig,
    out: &mut Vec<Finding>,
) {
    if hs.outcome != Outcome::Success {
        return;
    }
    let failed: Vec<(usize, &Leg, u16)> = hs
        .legs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l.answer {
            Answer::RequestFailed { status, .. }
                if l.credential.is_complete() || l.credential == Credential::None =>
            {
                Some((i, l, status))
            }
            _ => None,
        })
        .collect();
    let Some(&(_, last, status)) = failed.last() else {
        return;
    };
    let reason = last
        .response
        .as_ref()
        .map(|r| r.reason.to_string())
        .filter(|r| !r.is_empty())
        .map_or(String::new(), |r| format!(" {r}"));
    let request = last.request.as_ref().map_or_else(
        || "the request".to_owned(),
        |r| format!("{} {}", r.method, r.uri),
    );
    let (what, next) = match status {
        401 | 407 | 403 => (
            "an authorization failure: the user is known, and not allowed this",
            "Authentication is fine: grant this account access (IIS authorization rules, \
             NTFS or share permissions, Apache `Require` lines, the application's roles), or \
             use an account that has it.",
        ),
        405 | 501 => (
            "the method is not allowed on this resource",
            "Authentication is fine: enable the method for this resource (WebDAV module or \
             authoring rules, IIS request filtering verbs and handler mappings), or have the \
             client use another one.",
        ),
        404 | 410 => (
            "the resource is not there",
            "Authentication is fine: check the URL and the site's content or routes.",
        ),
        400..=499 => (
            "the application refused the request",
            "Authentication is fine: the request itself is refused (a missing or bad header \
             such as WebDAV's Destination, a bad body); read the response body and the \
             server's log for this request.",
        ),
        _ => (
            "the application failed",
            "Authentication is fine: the application failed on this request; read the \
             server's application and error logs at this time.",
        ),
    };
    let who = who(hs);
    let who = if who == "the client" {
        String::new()
    } else {
        format!(" ({who})")
    };
    out.push(finding(
        hs,
        "request-failed-after-auth",
        format!(
            "The login worked{who}; the server then answered {status}{reason} to {request}: \
             {what}."
        ),
        failed
            .iter()
            .map(|(i, l, s)| leg_evidence(*i, l, format!("{s} after the accepted credential")))
            .collect(),
        next,
    ));
}

/// The server turned a credential away for its size before checking it (http.sys
/// `MaxFieldLength`/`MaxRequestBytes`, Apache `LimitRequestFieldSize`).
pub(super) fn token_too_large(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let ev: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.token_too_large())
        .map(|(i, l)| {
            let len = l
                .request
                .as_ref()
                .and_then(|r| r.credential.as_deref())
                .map_or(0, crate::handshake::credential_len);
            leg_evidence(
                i,
                l,
                format!(
                    "{}-byte token answered {}",
                    len,
                    l.status().unwrap_or_default()
                ),
            )
        })
        .collect();
    let Some(first) = ev.first() else {
        return;
    };
    let mut note = first.note.clone();
    if let Some(n) = hs
        .legs
        .iter()
        .filter(|l| l.httperr_too_long())
        .flat_map(|l| &l.server)
        .find(|n| n.iis().is_some_and(|l| l.reason.is_some()))
    {
        note.push_str(&format!("; {}", n.text));
    }
    out.push(finding(
        hs,
        "token-too-large",
        format!(
            "The server refused the request for the size of its authentication header ({note}): \
             the credential was never checked."
        ),
        ev,
        "Kerberos tickets grow with the user's group memberships: raise the server's header \
         limits (http.sys MaxFieldLength and MaxRequestBytes, Apache LimitRequestFieldSize, \
         the proxies' limits), or reduce the groups in the token.",
    ));
}
