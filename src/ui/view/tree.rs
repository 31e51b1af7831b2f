//! A decoded token as a tree, walked generically from its JSON form (every decoded type is
//! `serde::Serialize`), with a few foldings that make it read like a protocol analyser: an
//! enum value and its name on one line, flags by name, small records inline.

use serde_json::{Map, Value};

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub label: String,
    pub value: Option<String>,
    pub children: Vec<Node>,
}

impl Node {
    fn leaf(label: impl Into<String>, value: impl Into<String>) -> Node {
        Node {
            label: label.into(),
            value: Some(value.into()),
            children: Vec::new(),
        }
    }
}

/// The tree of a decoded header: one root per challenge or credentials.
/// The tree of a decoded header ([`crate::auth::AuthHeader`]) in its JSON form, as the spool
/// keeps it: one root per challenge or credentials.
pub fn of_value(v: &Value) -> Vec<Node> {
    let mut roots = Vec::new();
    if let Some(items) = v.get("items").and_then(Value::as_array) {
        for item in items {
            roots.push(item_node(item));
        }
    }
    for extra in ["anomalies", "error"] {
        if let Some(n) = v.get(extra).and_then(|x| build(extra, x)) {
            roots.push(n);
        }
    }
    roots
}

fn item_node(item: &Value) -> Node {
    let scheme = item
        .get("scheme_raw")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let token = item.get("token");
    // The token's kind, unless it only repeats the scheme (`NTLM: ntlm`).
    let kind = token
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .filter(|k| !k.eq_ignore_ascii_case(&scheme))
        .map(str::to_owned);
    let mut children = Vec::new();
    if let Some(t) = token.and_then(Value::as_object) {
        children.extend(
            t.iter()
                .filter(|(k, _)| k.as_str() != "type")
                .filter_map(|(k, v)| build(k, v)),
        );
    }
    flags_last(&mut children);
    for k in ["params", "token68"] {
        if let Some(n) = item.get(k).and_then(|v| build(k, v)) {
            children.push(n);
        }
    }
    Node {
        label: scheme,
        value: kind,
        children,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `{value, name}` -> `NAME (value)`; a small record of scalars -> one line.
fn inline(o: &Map<String, Value>) -> Option<String> {
    if let (Some(name), Some(value), 2) = (o.get("name"), o.get("value"), o.len()) {
        if let (Some(n), Some(v)) = (scalar(name), scalar(value)) {
            return Some(format!("{n} ({v})"));
        }
    }
    let kind = o.get("type").and_then(Value::as_str);
    let rest: Vec<(&String, &Value)> = o
        .iter()
        .filter(|(k, v)| k.as_str() != "type" && !v.is_null())
        .collect();
    if rest.len() > 3 || rest.iter().any(|(_, v)| scalar(v).is_none()) {
        return None;
    }
    match (kind, rest.as_slice()) {
        (Some(k), []) => Some(k.to_owned()),
        (Some(k), [(name, v)]) if name.as_str() == k => scalar(v),
        (Some(k), _) if kind.is_some() => Some(format!("{k}: {}", pairs(&rest))),
        (None, [_, ..]) if rest.len() <= 2 => Some(pairs(&rest)),
        _ => None,
    }
}

fn pairs(rest: &[(&String, &Value)]) -> String {
    rest.iter()
        .map(|(k, v)| format!("{k}={}", scalar(v).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Flag lists are long and rarely the answer: they go after the other fields.
fn flags_last(children: &mut [Node]) {
    children.sort_by_key(|n| n.label == "flags");
}

/// The node of field `name`, or `None` when there is nothing to show.
fn build(name: &str, v: &Value) -> Option<Node> {
    match v {
        Value::Null => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            Some(Node::leaf(name, scalar(v).unwrap_or_default()))
        }
        Value::Object(o) => {
            if let (Some(value), Some(Value::Array(names))) = (o.get("value"), o.get("names")) {
                // Flags: the value, then each flag by name.
                return Some(Node {
                    label: name.to_owned(),
                    value: scalar(value),
                    children: names
                        .iter()
                        .filter_map(scalar)
                        .map(|n| Node {
                            label: n,
                            value: None,
                            children: Vec::new(),
                        })
                        .collect(),
                });
            }
            if let Some(s) = inline(o) {
                return Some(Node::leaf(name, s));
            }
            // A record's `type` or `kind` is its value on the parent line (`token: kerberos`).
            let kind_key = ["type", "kind"]
                .into_iter()
                .find(|k| o.get(*k).is_some_and(Value::is_string));
            let value = kind_key.and_then(|k| o.get(k)).and_then(scalar);
            let mut children: Vec<Node> = o
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != kind_key)
                .filter_map(|(k, v)| build(k, v))
                .collect();
            flags_last(&mut children);
            Some(Node {
                label: name.to_owned(),
                value,
                children,
            })
        }
        Value::Array(a) => {
            let scalars: Option<Vec<String>> = a.iter().map(scalar).collect();
            if let Some(s) = scalars {
                let joined = s.join(", ");
                if joined.chars().count() <= 60 {
                    return Some(Node::leaf(name, joined));
                }
                return Some(Node {
                    label: name.to_owned(),
                    value: None,
                    children: s
                        .into_iter()
                        .map(|x| Node {
                            label: x,
                            value: None,
                            children: Vec::new(),
                        })
                        .collect(),
                });
            }
            let children = a
                .iter()
                .enumerate()
                .filter_map(|(i, e)| element(i, e))
                .collect();
            Some(Node {
                label: name.to_owned(),
                value: None,
                children,
            })
        }
    }
}

/// An element of an array of records, labelled by its `id`, `name`, `type` or index.
fn element(i: usize, e: &Value) -> Option<Node> {
    let Some(o) = e.as_object() else {
        return build(&format!("[{i}]"), e);
    };
    for key in ["id", "name", "type", "kind"] {
        let Some(idv) = o.get(key) else { continue };
        let label = match idv {
            Value::Object(io) => inline(io),
            other => scalar(other),
        };
        let Some(label) = label else { continue };
        let rest: Vec<Node> = o
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .filter_map(|(k, v)| build(k, v))
            .collect();
        // A pair whose only interesting field is its value reads best on one line.
        let (value, children) = match rest.as_slice() {
            [only] if only.children.is_empty() => (only.value.clone(), Vec::new()),
            _ => {
                let mut v = None;
                let mut kids = Vec::new();
                for n in rest {
                    if n.label == "value" && n.children.is_empty() {
                        v = n.value;
                    } else if n.label != "len" && n.label != "quoted" {
                        kids.push(n);
                    }
                }
                (v, kids)
            }
        };
        return Some(Node {
            label,
            value,
            children,
        });
    }
    build(&format!("[{i}]"), e)
}

/// The tree as lines of text with guides (`├─`, `└─`, `│`).
pub fn lines(roots: &[Node]) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for r in roots {
        out.push((String::new(), r.label.clone(), r.value.clone()));
        walk(&r.children, "", &mut out);
    }
    out
}

fn walk(nodes: &[Node], prefix: &str, out: &mut Vec<(String, String, Option<String>)>) {
    let n = nodes.len();
    for (i, node) in nodes.iter().enumerate() {
        let last = i.saturating_add(1) == n;
        let guide = format!("{prefix}{}", if last { "└─ " } else { "├─ " });
        out.push((guide, node.label.clone(), node.value.clone()));
        let next = format!("{prefix}{}", if last { "   " } else { "│  " });
        walk(&node.children, &next, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{decode_header, HeaderKind};

    #[test]
    fn flags_and_names_fold() {
        // An NTLM Type 1 as curl sends it.
        let h = decode_header(
            HeaderKind::Authorization,
            b"NTLM TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=",
        );
        let roots = of_value(&serde_json::to_value(&h).unwrap());
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].label, "NTLM");
        let text: Vec<String> = lines(&roots)
            .into_iter()
            .map(|(g, l, v)| format!("{g}{l}{}", v.map(|v| format!(": {v}")).unwrap_or_default()))
            .collect();
        let all = text.join("\n");
        assert!(all.contains("flags: 0x"), "{all}");
        assert!(all.contains("NTLMSSP_NEGOTIATE_NTLM"), "{all}");
        assert!(
            all.starts_with("NTLM\n├─ message: negotiate"),
            "spec order: {all}"
        );
        assert!(all.contains("token68: <redacted"), "{all}");
    }

    #[test]
    fn inline_records() {
        let v: Value = serde_json::json!({"id": {"value": 1, "name": "MsvAvNbComputerName"},
            "len": 4, "value": {"type": "text", "text": "VM"}});
        let n = element(0, &v).unwrap();
        assert_eq!(n.label, "MsvAvNbComputerName (1)");
        assert_eq!(n.value.as_deref(), Some("VM"));
    }
}
