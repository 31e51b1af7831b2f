//! A decoded authentication header as a tree, for `authscope decode`, the HTML export and the
//! UI's leg pane alike.
//!
//! The tree is drawn from the same serialized form as `--format json`, so the two never
//! disagree and a field added to a decoder shows up in both. A few shapes read better on
//! one line: open enums (`KRB_AP_ERR_BADKEYVER (44)`), mechanisms (`NTLMSSP
//! (1.3.6.1.4.1.311.2.2.10)`), AV pairs (`MsvAvDnsComputerName: host.example.com`),
//! anomalies (`code: detail`); NTLM flags list every set flag by its spec name on its own
//! line. Absent values (`null`, empty lists) are left out. Secrets are already redacted in
//! the serialized form unless revealed.

use serde_json::{Map, Value};
use std::fmt::Write as _;

use crate::auth::AuthHeader;
use crate::auth::Scheme;
use crate::shown::{shown, shown_json};

/// One node: a field (`key: value`, or `key:` over its children), a list element (`- value`,
/// `- id: value`, or `-` over its children), or a bare name (a set flag).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub label: Option<String>,
    pub value: Option<String>,
    pub children: Vec<Node>,
    /// A list element.
    pub item: bool,
    /// A field whose value is its children (`key:`).
    pub branch: bool,
}

impl Node {
    fn field(key: &str, value: Option<String>) -> Node {
        Node {
            label: Some(key.to_owned()),
            value,
            children: Vec::new(),
            item: false,
            branch: false,
        }
    }

    fn element(label: Option<String>, value: Option<String>) -> Node {
        Node {
            label,
            value,
            children: Vec::new(),
            item: true,
            branch: false,
        }
    }

    /// The line without its value: `key`, `- id`, `-`; with `:` when the children are its
    /// value.
    pub fn head(&self) -> String {
        let mut s = String::new();
        if self.item {
            s.push('-');
            if let Some(l) = &self.label {
                s.push(' ');
                s.push_str(l);
            }
        } else if let Some(l) = &self.label {
            s.push_str(l);
        }
        if self.value.is_none() && self.branch {
            s.push(':');
        }
        s
    }

    /// The whole line: [`Node::head`] and its value.
    pub fn line(&self) -> String {
        let mut s = self.head();
        if let Some(v) = &self.value {
            s.push_str(if self.item && self.label.is_none() {
                " "
            } else {
                ": "
            });
            s.push_str(v);
        }
        s
    }

    /// How much deeper the children are written: an AV pair's fields sit under its value.
    fn step(&self) -> usize {
        if self.item && self.label.is_some() {
            2
        } else {
            1
        }
    }
}

/// The whole header as indented text: a title line, one block per challenge or credentials,
/// and the grammar's anomalies.
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
        let mut raw = serde_json::to_value(d).unwrap_or(Value::Null);
        shown_json(&mut raw);
        for n in item_fields(&raw) {
            write(&mut out, &n, 2);
        }
    }
    if !h.anomalies.is_empty() {
        let mut v = serde_json::to_value(&h.anomalies).unwrap_or(Value::Null);
        shown_json(&mut v);
        if let Some(n) = field("header anomalies", &v) {
            write(&mut out, &n, 1);
        }
    }
    out
}

/// The tree of a decoded header in its JSON form, as the UI's spool keeps it: one root per
/// challenge or credentials (its scheme, and the token's kind unless that only repeats the
/// scheme), then the grammar's anomalies and error.
pub fn of_value(v: &Value) -> Vec<Node> {
    let mut roots = Vec::new();
    if let Some(items) = v.get("items").and_then(Value::as_array) {
        for item in items {
            let scheme = item
                .get("scheme_raw")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let kind = item
                .get("token")
                .and_then(|t| t.get("type"))
                .and_then(Value::as_str)
                .filter(|k| !k.eq_ignore_ascii_case(&scheme))
                .map(str::to_owned);
            let mut root = Node::field(&scheme, kind);
            root.children = item_fields(item);
            flags_last(&mut root);
            roots.push(root);
        }
    }
    for (key, label) in [("anomalies", "header anomalies"), ("error", "unreadable")] {
        if let Some(n) = v.get(key).and_then(|x| field(label, x)) {
            roots.push(n);
        }
    }
    roots
}

/// NTLM's flag lists are long and rarely the answer: on a screen they go after the other
/// fields, so the names and the responses show without scrolling.
fn flags_last(n: &mut Node) {
    n.children
        .sort_by_key(|c| c.label.as_deref() == Some("flags") && !c.children.is_empty());
    for c in &mut n.children {
        flags_last(c);
    }
}

/// The fields of one challenge or credentials (an `AuthItem` in its JSON form): its token's
/// (the tag is already on the line above), and for a scheme not decoded, its raw token68 and
/// parameters.
fn item_fields(item: &Value) -> Vec<Node> {
    let mut out = Vec::new();
    if let Some(Value::Object(m)) = item.get("token") {
        out.extend(
            m.iter()
                .filter(|(k, _)| k.as_str() != "type")
                .filter_map(|(k, v)| field(k, v)),
        );
    }
    let unknown = item
        .get("scheme")
        .and_then(Value::as_str)
        .is_some_and(|s| matches!(Scheme::from_name(s), Scheme::Unknown(_)));
    if unknown {
        for k in ["token68", "params"] {
            if let Some(n) = item.get(k).and_then(|v| field(k, v)) {
                out.push(n);
            }
        }
    }
    out
}

fn write(out: &mut String, n: &Node, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    out.push_str(&n.line());
    out.push('\n');
    let deeper = depth.saturating_add(n.step());
    for c in &n.children {
        write(out, c, deeper);
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
        // Errors: `{kind}` (nested as `{kind: {kind}}`), with where they were met.
        ["kind"] => get("kind"),
        ["kind", rest @ ..] if rest.iter().all(|k| get(k).is_some()) => {
            let at: Vec<String> = rest
                .iter()
                .filter_map(|k| Some(format!("{k} {}", get(k)?)))
                .collect();
            Some(format!("{} ({})", get("kind")?, at.join(", ")))
        }
        // AV pair values with one field besides their tag.
        ["type", "text"] => get("text"),
        ["type", "hex"] => get("hex"),
        _ => None,
    }
}

/// Field `key`: `key: value`, or `key:` over its children; `None` when there is nothing to
/// show.
fn field(key: &str, v: &Value) -> Option<Node> {
    if let Some(line) = inline(v) {
        return Some(Node::field(key, Some(line)));
    }
    match v {
        Value::Array(a) if !a.is_empty() => Some(Node {
            children: a.iter().map(element).collect(),
            branch: true,
            ..Node::field(key, None)
        }),
        Value::Object(m) if !m.is_empty() => {
            // NTLM NegotiateFlags: the value, then every set flag by name.
            if let (Some(Value::String(value)), Some(Value::Array(names))) =
                (m.get("value"), m.get("names"))
            {
                return Some(Node {
                    children: names
                        .iter()
                        .map(|n| Node::field(n.as_str().unwrap_or_default(), None))
                        .collect(),
                    ..Node::field(key, Some(value.clone()))
                });
            }
            // A JWT's header and claims are shown whole: the fields copied out of them for
            // the summary are not shown again.
            let copied = |k: &str, x: &Value| {
                ["header", "claims"]
                    .iter()
                    .any(|part| m.get(*part).and_then(|p| p.get(k)) == Some(x))
            };
            Some(Node {
                children: m
                    .iter()
                    .filter(|(k, x)| !copied(k, x))
                    .filter_map(|(k, x)| field(k, x))
                    .collect(),
                branch: true,
                ..Node::field(key, None)
            })
        }
        _ => None,
    }
}

/// One element of a list: `- value`, an AV pair as `- MsvAvName: value`, or `-` over its
/// children.
fn element(v: &Value) -> Node {
    if let Some(line) = inline(v) {
        return Node::element(None, Some(line));
    }
    let Value::Object(m) = v else {
        let children = match v {
            Value::Array(a) => a.iter().map(element).collect(),
            _ => Vec::new(),
        };
        return Node {
            children,
            ..Node::element(None, None)
        };
    };
    // NTLM AV_PAIR: `{id, len, value}`.
    if let (Some(id), Some(value)) = (m.get("id").and_then(inline), m.get("value")) {
        return match inline(value) {
            Some(line) => Node::element(Some(id), Some(line)),
            None => Node {
                children: match value {
                    Value::Object(vm) => vm
                        .iter()
                        .filter(|(k, _)| *k != "type")
                        .filter_map(|(k, x)| field(k, x))
                        .collect(),
                    _ => Vec::new(),
                },
                branch: true,
                ..Node::element(Some(id), None)
            },
        };
    }
    Node {
        children: m.iter().filter_map(|(k, x)| field(k, x)).collect(),
        ..Node::element(None, None)
    }
}

/// The tree as lines with guides (`├─`, `└─`, `│`): each line's guide, head and value.
pub fn lines(roots: &[Node]) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for r in roots {
        out.push((String::new(), r.head(), r.value.clone()));
        walk(&r.children, "", &mut out);
    }
    out
}

fn walk(nodes: &[Node], prefix: &str, out: &mut Vec<(String, String, Option<String>)>) {
    let n = nodes.len();
    for (i, node) in nodes.iter().enumerate() {
        let last = i.saturating_add(1) == n;
        let guide = format!("{prefix}{}", if last { "└─ " } else { "├─ " });
        // A list element's value is its line: `- value` drawn as `value`.
        let (head, value) = match (node.item, &node.label) {
            (true, None) => (node.value.clone().unwrap_or_else(|| "-".to_owned()), None),
            (true, Some(l)) => (l.clone(), node.value.clone()),
            (false, _) => (node.label.clone().unwrap_or_default(), node.value.clone()),
        };
        out.push((guide, head, value));
        let next = format!("{prefix}{}", if last { "   " } else { "│  " });
        walk(&node.children, &next, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::decode_pasted;
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
