//! The KDC and DNS stage against tshark's `kerberos.*` and `dns.*` fields, frame by frame, on
//! the lab's captures and (under `AUTHSCOPE_FULL_TESTS=1`, read in place) the public corpus:
//! every Kerberos message's type, error code, client and service names, realm, offered
//! etypes, PA-DATA types, KDC options, reply ticket and key etypes, kvno, nonce, e-text and
//! the KDC's microseconds; every DNS message's id, direction, RCODE, questions and answers.
//! The fixture is tests/fixtures/kdc/tshark-kdc.tsv (scripts/refresh-kdc-fixtures.sh); under
//! `AUTHSCOPE_FULL_TESTS=1` the script is run again and its output must be the fixture.

use std::collections::BTreeMap;
use std::path::PathBuf;

use authscope::kdc::krb::KdcKind;
use authscope::kdc::{WireBody, WireMsg};
use authscope::pipeline::Output;

use super::util::{full, outputs_with_keylog, public_corpus, root};

const FIXTURE: &str = "tests/fixtures/kdc/tshark-kdc.tsv";

type Row = BTreeMap<String, String>;

fn fixture(text: &str) -> BTreeMap<String, BTreeMap<u64, Row>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut out: BTreeMap<String, BTreeMap<u64, Row>> = BTreeMap::new();
    for l in lines {
        let row: Row = header
            .iter()
            .zip(l.split('\t'))
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        let frame = row["frame"].parse().unwrap();
        out.entry(row["file"].clone())
            .or_default()
            .insert(frame, row);
    }
    out
}

fn list(v: &str) -> Vec<String> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split('|').map(str::to_owned).collect()
    }
}

fn msg_type(k: KdcKind) -> &'static str {
    match k {
        KdcKind::AsReq => "10",
        KdcKind::AsRep => "11",
        KdcKind::TgsReq => "12",
        KdcKind::TgsRep => "13",
        KdcKind::KrbError => "30",
    }
}

/// Where authscope and tshark differ on one message, if they do.
fn compare(m: &WireMsg, row: &Row) -> Result<(), String> {
    let col = |c: &str| row.get(c).cloned().unwrap_or_default();
    let eq = |what: &str, ours: Vec<String>, theirs: Vec<String>| {
        if ours == theirs {
            Ok(())
        } else {
            Err(format!("{what}: authscope {ours:?}, tshark {theirs:?}"))
        }
    };
    match &m.body {
        WireBody::Kerberos(k) => compare_kerberos(k, &col, eq),
        // An ICMP unreachable: tshark reads the datagram it quotes, as far as the quote goes.
        WireBody::Unreachable { quoted, .. } => match quoted {
            Some(k) => compare_kerberos(k, &col, eq),
            // Cut short: authscope names the flow, tshark reads the message's first bytes.
            None if !col("kerberos.msg_type").is_empty() => Ok(()),
            None => Err("tshark reads no Kerberos in an ICMP quote".to_owned()),
        },
        WireBody::Dns(d) => {
            eq("id", vec![format!("0x{:04x}", d.id)], vec![col("dns.id")])?;
            eq(
                "response",
                vec![if d.response { "1" } else { "0" }.to_owned()],
                vec![col("dns.flags.response")],
            )?;
            if d.response {
                eq(
                    "rcode",
                    vec![d.rcode.to_string()],
                    vec![col("dns.flags.rcode")],
                )?;
            }
            eq(
                "questions",
                d.questions.iter().map(|q| q.name.clone()).collect(),
                list(&col("dns.qry.name")),
            )?;
            eq(
                "question types",
                d.questions.iter().map(|q| q.qtype.to_string()).collect(),
                list(&col("dns.qry.type")),
            )?;
            eq(
                "answer count",
                vec![d.answers.len().to_string()],
                vec![col("dns.count.answers")],
            )?;
            // tshark lists the authority and additional records after the answers.
            let n = d.answers.len();
            let first = |c: &str| list(&col(c)).into_iter().take(n).collect::<Vec<_>>();
            eq(
                "answer names",
                d.answers.iter().map(|a| a.name.clone()).collect(),
                first("dns.resp.name"),
            )?;
            eq(
                "answer types",
                d.answers.iter().map(|a| a.rtype.to_string()).collect(),
                first("dns.resp.type"),
            )?;
            eq(
                "answer ttls",
                d.answers.iter().map(|a| a.ttl.to_string()).collect(),
                first("dns.resp.ttl"),
            )
        }
        other => Err(format!("authscope did not decode it: {other:?}")),
    }
}

/// Where authscope and tshark differ on one Kerberos message, if they do.
fn compare_kerberos(
    k: &authscope::kdc::krb::KdcMessage,
    col: &dyn Fn(&str) -> String,
    eq: impl Fn(&str, Vec<String>, Vec<String>) -> Result<(), String>,
) -> Result<(), String> {
    let types = list(&col("kerberos.msg_type"));
    eq(
        "msg_type",
        vec![msg_type(k.kind).to_owned()],
        types.into_iter().take(1).collect(),
    )?;
    eq(
        "error_code",
        k.error_code
            .map(|c| c.value().to_string())
            .into_iter()
            .collect(),
        list(&col("kerberos.error_code")),
    )?;
    eq(
        "cname",
        k.cname.iter().flat_map(|c| c.components.clone()).collect(),
        list(&col("kerberos.CNameString")),
    )?;
    // A TGS-REQ's PA-TGS-REQ carries the TGT, and S4U2proxy's additional ticket
    // follows the body: tshark lists every ticket's sname with the body's.
    let snames = list(&col("kerberos.SNameString"));
    let ours: Vec<String> = k.sname.iter().flat_map(|s| s.components.clone()).collect();
    if !ours.is_empty() && !snames.windows(ours.len()).any(|w| w == ours.as_slice()) {
        return Err(format!(
            "sname: authscope {ours:?} not in tshark's {snames:?}"
        ));
    }
    let realms = list(&col("kerberos.realm"));
    if let Some(r) = &k.realm {
        if !realms.contains(r) {
            return Err(format!("realm {r} not in tshark's {realms:?}"));
        }
    }
    if k.kind.is_request() {
        eq(
            "etypes offered",
            k.etypes.iter().map(|e| e.value().to_string()).collect(),
            list(&col("kerberos.ENCTYPE")),
        )?;
        eq(
            "kdc_options",
            k.kdc_options
                .map(|o| format!("{o:08x}"))
                .into_iter()
                .collect(),
            list(&col("kerberos.kdc_options")),
        )?;
        eq(
            "nonce",
            k.nonce.map(|n| n.to_string()).into_iter().collect(),
            list(&col("kerberos.nonce")),
        )?;
    }
    if k.kind != KdcKind::KrbError {
        // A KRB-ERROR's e-data carries PA-DATA that authscope does not read.
        let padata = list(&col("kerberos.padata_type"));
        let ours: Vec<String> = k.padata.iter().map(|p| p.to_string()).collect();
        eq(
            "padata",
            ours.clone(),
            padata.into_iter().take(ours.len()).collect(),
        )?;
    }
    if matches!(k.kind, KdcKind::AsRep | KdcKind::TgsRep) {
        // The ticket's and the reply's EncryptedData close tshark's list of etypes.
        let etypes = list(&col("kerberos.etype"));
        let ours: Vec<String> = [k.ticket_etype, k.enc_part_etype]
            .iter()
            .flatten()
            .map(|e| e.value().to_string())
            .collect();
        eq(
            "ticket and reply etypes",
            ours,
            etypes[etypes.len().saturating_sub(2)..].to_vec(),
        )?;
        let kvnos = list(&col("kerberos.kvno"));
        if let Some(v) = k.ticket_kvno {
            if !kvnos.contains(&v.to_string()) {
                return Err(format!("ticket kvno {v} not in tshark's {kvnos:?}"));
            }
        }
    }
    if k.kind == KdcKind::KrbError {
        eq(
            "e_text",
            k.etext.iter().cloned().collect(),
            list(&col("kerberos.e_text")),
        )?;
        eq(
            "susec",
            k.susec.map(|s| s.to_string()).into_iter().collect(),
            list(&col("kerberos.susec")),
        )?;
    }
    Ok(())
}

/// Frames tshark reads and authscope reads otherwise, on purpose.
const KNOWN: &[(&str, u64, &str)] = &[
    // Synthetic messages that break RFC 4120's ASN.1 (a field missing, [8] where [7] must
    // come): authscope shows them as malformed with the reason, tshark reads what it can.
    (
        "public/synthetic-multiproto-arkime.pcap",
        298,
        "truncated AS-REQ",
    ),
    (
        "public/synthetic-multiproto-arkime.pcap",
        558,
        "AS-REQ with a misplaced tag",
    ),
    (
        "public/synthetic-multiproto-arkime.pcap",
        559,
        "KRB-ERROR without stime",
    ),
    // Inside UDP tunnels authscope does not follow (VXLAN-GPE on 4790, Geneve on 6081).
    ("public/synthetic-multiproto-arkime.pcap", 618, "VXLAN-GPE"),
    ("public/synthetic-multiproto-arkime.pcap", 619, "VXLAN-GPE"),
    ("public/synthetic-multiproto-arkime.pcap", 622, "Geneve"),
    ("public/synthetic-multiproto-arkime.pcap", 623, "Geneve"),
];

fn messages(pcap: &std::path::Path) -> BTreeMap<u64, Vec<WireMsg>> {
    let mut by_frame: BTreeMap<u64, Vec<WireMsg>> = BTreeMap::new();
    outputs_with_keylog(pcap, &mut |o| {
        if let Output::Wire(m) = o {
            by_frame.entry(m.frame).or_default().push(*m);
        }
    });
    by_frame
}

#[test]
fn kdc_and_dns_messages_match_tshark() {
    let text = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    let want = fixture(&text);
    let mut bad = Vec::new();
    let mut compared = 0usize;
    for (file, frames) in &want {
        let path: PathBuf = match file.strip_prefix("public/") {
            Some(name) if full() => public_corpus().join(name),
            Some(_) => continue,
            None => root().join("captures").join(file),
        };
        let ours = messages(&path);
        for (frame, row) in frames {
            if KNOWN.iter().any(|(f, n, _)| f == file && n == frame) {
                continue;
            }
            let types = list(row.get("kerberos.msg_type").map_or("", String::as_str));
            let got = ours.get(frame).map(Vec::as_slice).unwrap_or_default();
            match got {
                [m] => {
                    compared += 1;
                    if let Err(e) = compare(m, row) {
                        bad.push(format!("{file} frame {frame}: {e}"));
                    }
                }
                [] => bad.push(format!(
                    "{file} frame {frame}: tshark reads a message ({types:?}), authscope none"
                )),
                // Several records in one segment: tshark's fields are of them all.
                many => compared += many.len(),
            }
        }
        for (frame, ms) in &ours {
            // A KDC connection's silence is no message tshark would show, nor is an ICMP
            // unreachable whose quote holds no whole message (tshark reads what it can of it).
            let ms: Vec<&WireMsg> = ms
                .iter()
                .filter(|m| {
                    !matches!(
                        m.body,
                        WireBody::NoAnswer { .. } | WireBody::Unreachable { quoted: None, .. }
                    )
                })
                .collect();
            if !ms.is_empty() && !frames.contains_key(frame) {
                bad.push(format!(
                    "{file} frame {frame}: authscope reads {} message(s) tshark does not: {}",
                    ms.len(),
                    ms[0].text()
                ));
            }
        }
    }
    assert!(compared >= 70, "only {compared} messages compared");
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_fixture_is_what_tshark_reads() {
    if !full() {
        return;
    }
    let out = std::env::temp_dir().join(format!("authscope-kdc-{}.tsv", std::process::id()));
    let status = std::process::Command::new(root().join("scripts/refresh-kdc-fixtures.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/refresh-kdc-fixtures.sh failed");
    let fresh = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let fixture = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    assert!(
        fresh == fixture,
        "tshark reads the captures otherwise: refresh {FIXTURE}"
    );
}
