//! The text form of `authscope decode`: a decoded header as an indented tree.
//!
//! The tree is drawn from the same serialized form as `--format json`, so the two never
//! disagree and a field added to a decoder shows up in both. A few shapes read better on
//! one line: open enums (`KRB_AP_ERR_BADKEYVER (44)`), mechanisms (`NTLMSSP
//! (1.3.6.1.4.1.311.2.2.10)`), AV pairs (`MsvAvDnsComputerName: host.example.com`),
//! anomalies (`code: detail`); NTLM flags list every set flag by its spec name on its own
//! line. Absent values (`null`, empty lists) are left out. Secrets are already redacted in
//! the serialized form unless revealed.

use crate::auth::decode::AuthHeader;
use crate::shown::{shown, shown_json};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The whole header: a title line, one block per challenge or credentials, and the
/// grammar's anomalies.
pub fn render(h: &AuthHeader) -> String {
    let mut out = String::new();
    let n = h.items.len();
    let what = match (h.kind.is_challenge(), n) {
        (true, 1) => "1 challenge".to_string(),
        (true, n) => format!("{n} challenges"),
        (false, 1) => "credentials".to_string(),
        (false, n) => format!("{n} credentials"),
    };
    let _ = writeln!(out, "{}: {what}", h.kind.name());
    if let Some(e) = &h.error {
        let _ = writeln!(out, "  unreadable: {}", shown(&e.to_string()));
    }
    for d in &h.items {
        if d.scheme_raw.is_empty() {
            // The summary says there is no scheme.
            let _ = writeln!(out, "  {}", shown(&d.summary()));
        } else {
            let _ = writeln!(out, "  {}: {}", shown(&d.scheme_raw), shown(&d.summary()));
        }
        let mut token = serde_json::to_value(&d.token).unwrap_or(Value::Null);
        shown_json(&mut token);
        if let Value::Object(m) = &token {
            for (k, v) in m {
                // The tag is already in the summary line.
                if k != "type" {
                    node(&mut out, k, v, 2);
                }
            }
        }
        if matches!(d.scheme, crate::auth::Scheme::Unknown(_)) {
            let mut raw = serde_json::to_value(d).unwrap_or(Value::Null);
            shown_json(&mut raw);
            if let Some(t) = raw.get("token68") {
                node(&mut out, "token68", t, 2);
            }
            if let Some(p) = raw.get("params") {
                node(&mut out, "params", p, 2);
            }
        }
    }
    if !h.anomalies.is_empty() {
        let mut v = serde_json::to_value(&h.anomalies).unwrap_or(Value::Null);
        shown_json(&mut v);
        node(&mut out, "header anomalies", &v, 1);
    }
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// One line for values that read well on one line; `None` for the rest.
fn inline(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if s.is_empty() => Some("\"\"".to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) => None,
        Value::Object(m) => inline_object(m),
    }
}

fn inline_object(m: &Map<String, Value>) -> Option<String> {
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    let get = |k: &str| m.get(k).and_then(inline);
    match keys.as_slice() {
        // Open enums: `{value, name}`.
        ["value", "name"] | ["name", "value"] => {
            let value = get("value")?;
            Some(match get("name") {
                Some(n) => format!("{n} ({value})"),
                None => format!("unknown ({value})"),
            })
        }
        // GSS-API mechanisms: `{oid, name}`.
        ["oid", "name"] | ["name", "oid"] => {
            let oid = get("oid")?;
            Some(match get("name") {
                Some(n) => format!("{n} ({oid})"),
                None => oid,
            })
        }
        // Anomalies: `{code, detail}`.
        ["code", "detail"] => Some(format!("{}: {}", get("code")?, get("detail")?)),
        // AV pair values with one field besides their tag.
        ["type", "text"] => get("text"),
        ["type", "hex"] => get("hex"),
        _ => None,
    }
}

/// Writes `key: value`, or `key:` and the children one level deeper.
fn node(out: &mut String, key: &str, v: &Value, depth: usize) {
    let deeper = depth.saturating_add(1);
    if let Some(line) = inline(v) {
        indent(out, depth);
        let _ = writeln!(out, "{key}: {line}");
        return;
    }
    match v {
        Value::Array(a) if a.is_empty() => {}
        Value::Array(a) => {
            indent(out, depth);
            let _ = writeln!(out, "{key}:");
            for x in a {
                item(out, x, deeper);
            }
        }
        Value::Object(m) if m.is_empty() => {}
        Value::Object(m) => {
            // NTLM NegotiateFlags: the value, then every set flag by name.
            if let (Some(Value::String(value)), Some(Value::Array(names))) =
                (m.get("value"), m.get("names"))
            {
                indent(out, depth);
                let _ = writeln!(out, "{key}: {value}");
                for n in names {
                    indent(out, deeper);
                    let _ = writeln!(out, "{}", n.as_str().unwrap_or_default());
                }
                return;
            }
            indent(out, depth);
            let _ = writeln!(out, "{key}:");
            for (k, x) in m {
                node(out, k, x, deeper);
            }
        }
        _ => {}
    }
}

/// One element of a list: `- value`, an AV pair as `MsvAvName: value`, or `-` and children.
fn item(out: &mut String, v: &Value, depth: usize) {
    if let Some(line) = inline(v) {
        indent(out, depth);
        let _ = writeln!(out, "- {line}");
        return;
    }
    let Value::Object(m) = v else {
        indent(out, depth);
        let _ = writeln!(out, "-");
        if let Value::Array(a) = v {
            for x in a {
                item(out, x, depth.saturating_add(1));
            }
        }
        return;
    };
    // NTLM AV_PAIR: `{id, len, value}`.
    if let (Some(id), Some(value)) = (m.get("id").and_then(inline), m.get("value")) {
        match inline(value) {
            Some(line) => {
                indent(out, depth);
                let _ = writeln!(out, "- {id}: {line}");
            }
            None => {
                indent(out, depth);
                let _ = writeln!(out, "- {id}:");
                if let Value::Object(vm) = value {
                    for (k, x) in vm.iter().filter(|(k, _)| *k != "type") {
                        node(out, k, x, depth.saturating_add(2));
                    }
                }
            }
        }
        return;
    }
    indent(out, depth);
    let _ = writeln!(out, "-");
    for (k, x) in m {
        node(out, k, x, depth.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::decode::decode_pasted;
    use crate::auth::RevealSecrets as _;

    #[test]
    fn ntlm_challenge_tree() {
        let h = decode_pasted("WWW-Authenticate: NTLM TlRMTVNTUAACAAAABgAGADgAAAAFgomiKip4pcf2dvwAAAAAAAAAAFoAWgA+AAAABQLODgAAAA9JAE4AUwACAAYASQBOAFMAAQAIAEIASQBMAEwABAAOAGkAbgBzAC4AYwBvAG0AAwAYAEIASQBMAEwALgBpAG4AcwAuAGMAbwBtAAUADgBpAG4AcwAuAGMAbwBtAAAAAAA=");
        let t = render(&h);
        for want in [
            "WWW-Authenticate: 1 challenge\n",
            "  NTLM: NTLM Type 2 challenge 2a2a78a5c7f676fc, target INS, server BILL.ins.com\n",
            "    flags: 0xa2898205\n      NTLMSSP_NEGOTIATE_UNICODE\n",
            "      NTLMSSP_NEGOTIATE_56\n",
            "    server_challenge: 2a2a78a5c7f676fc\n",
            "        - MsvAvNbDomainName (2): INS\n",
            "        - MsvAvDnsComputerName (3): BILL.ins.com\n",
            "    version:\n      major: 5\n      minor: 2\n      build: 3790\n",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
    }

    #[test]
    fn secrets_stay_redacted_until_revealed() {
        let mut h = decode_pasted("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let t = render(&h);
        assert!(t.contains("password: <redacted 11 bytes>"), "{t}");
        assert!(!t.contains("open sesame"), "{t}");
        h.reveal_secrets();
        assert!(render(&h).contains("password: open sesame"));
    }

    #[test]
    fn unknown_scheme_and_unreadable_header() {
        let t = render(&decode_pasted("Authorization: Turbo a=b"));
        assert!(t.contains("params:"), "{t}");
        let t = render(&decode_pasted("Authorization: "));
        assert!(t.contains("unreadable"), "{t}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = render(&decode_pasted(&s));
        }
    }
}
