//! Several files are several captures: `report a b` gives the handshakes of `report a` and of
//! `report b`, numbered on, each naming its file and its file's frames; `--merge` reads them as
//! one capture, as `mergecap` joins the parts of a rotated capture.

use std::path::{Path, PathBuf};
use std::process::Command;

use authscope::report::{run, ExchangeFilter, Format, Options};
use serde_json::Value;

use super::util::{
    bin, captures_in, full, pcap, pcapng_blocks, public_captures, push_tcp, root, PCAPNG_DSB,
};

fn json(paths: &[PathBuf], merge: bool, threads: usize) -> Value {
    let opts = Options {
        format: Format::Json,
        exchanges: ExchangeFilter::All,
        all_handshakes: true,
        plan: authscope::pipeline::Plan::threads(threads),
        merge,
        ..Options::default()
    };
    let mut out = Vec::new();
    run(paths, &opts, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn array<'a>(doc: &'a Value, key: &str) -> &'a Vec<Value> {
    doc[key].as_array().unwrap()
}

/// `v` as the report on several files has it: connection ids and handshake ids moved on by
/// what the files before held, and the capture named.
fn shifted(v: &Value, conns: u64, handshakes: u64, input: u64) -> Value {
    fn walk(v: &Value, key: Option<&str>, conns: u64, handshakes: u64, input: u64) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), walk(x, Some(k), conns, handshakes, input)))
                    .collect(),
            ),
            Value::Array(a) if key == Some("connections") => Value::Array(
                a.iter()
                    .map(|x| match x.as_u64() {
                        Some(c) => Value::from(c + conns),
                        None => walk(x, None, conns, handshakes, input),
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| walk(x, None, conns, handshakes, input))
                    .collect(),
            ),
            // Sentences name connections and handshakes by number too.
            Value::String(text) if matches!(key, Some("note" | "summary" | "next_step")) => {
                Value::String(digits_masked(text))
            }
            Value::Number(n) => match key {
                Some("conn" | "other_conn") => Value::from(n.as_u64().unwrap() + conns),
                Some("handshake" | "other") => Value::from(n.as_u64().unwrap() + handshakes),
                Some("input") => Value::from(input),
                _ => v.clone(),
            },
            _ => v.clone(),
        }
    }
    let mut out = walk(v, None, conns, handshakes, input);
    // A handshake's and a connection's own id.
    if let Some(id) = v.get("id").and_then(Value::as_u64) {
        let base = if v.get("legs").is_some() {
            handshakes
        } else {
            conns
        };
        out["id"] = Value::from(id + base);
    }
    out
}

/// `text` with each run of digits as one `#`.
fn digits_masked(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

/// A finding about connections: its code, server, and what its evidence is (which alert).
fn kind(v: &Value) -> (String, String, String) {
    (
        v["code"].to_string(),
        v["subject"].to_string(),
        v["evidence"][0]["note"].to_string(),
    )
}

#[test]
fn several_files_report_what_each_reports_alone() {
    let files = captures_in(&root().join("captures"));
    assert!(files.len() > 10);
    let together = json(&files, false, 1);
    assert_eq!(together["merged"], Value::Bool(false));
    assert_eq!(array(&together, "inputs").len(), files.len());
    let (mut conns, mut handshakes) = (0u64, 0u64);
    let mut want = [
        ("handshakes", Vec::new()),
        ("findings", Vec::new()),
        ("connections", Vec::new()),
        ("exchanges", Vec::new()),
    ];
    // Findings about connections are one per server and kind (which alert) over the whole
    // input: those of the files alone, each with the connections of every file.
    let mut servers = std::collections::BTreeSet::new();
    for (input, f) in files.iter().enumerate() {
        let alone = json(std::slice::from_ref(f), false, 1);
        for (key, list) in &mut want {
            list.extend(
                array(&alone, key)
                    .iter()
                    .filter(|v| *key != "findings" || v.get("handshake").is_some())
                    .map(|v| shifted(v, conns, handshakes, input as u64)),
            );
        }
        servers.extend(
            array(&alone, "findings")
                .iter()
                .filter(|v| v.get("handshake").is_none())
                .map(kind),
        );
        conns += array(&alone, "connections").len() as u64;
        handshakes += alone["summary"]["stats"]["handshakes"].as_u64().unwrap();
    }
    let (by_handshake, by_server): (Vec<Value>, Vec<Value>) = array(&together, "findings")
        .iter()
        .cloned()
        .partition(|v| v.get("handshake").is_some());
    let got: std::collections::BTreeSet<(String, String, String)> =
        by_server.iter().map(kind).collect();
    assert_eq!(got, servers, "findings about connections");
    assert_eq!(by_server.len(), servers.len(), "one per server and kind");
    for (key, list) in &want {
        let got = if *key == "findings" {
            by_handshake.clone()
        } else {
            array(&together, key).to_vec()
        };
        assert_eq!(got.len(), list.len(), "{key}: how many");
        for (g, w) in got.iter().zip(list) {
            assert_eq!(
                &shifted(g, 0, 0, g["input"].as_u64().unwrap_or(0)),
                w,
                "{key}"
            );
        }
    }
    let hs = array(&together, "handshakes");
    assert!(hs.iter().any(|h| h["input"] != 0), "the inputs are named");
}

#[test]
fn several_files_report_the_same_whatever_the_threads() {
    let files = captures_in(&root().join("captures"));
    let one = json(&files, false, 1);
    for threads in [2, 3, 4] {
        assert!(
            one == json(&files, false, threads),
            "{threads} threads differ from one"
        );
    }
    let merged = json(&files, true, 1);
    for threads in [3, 4] {
        assert!(
            merged == json(&files, true, threads),
            "--merge, {threads} threads"
        );
    }
}

/// The text report numbers its files and names each frame with its file's number.
#[test]
fn the_text_report_names_the_file_of_every_frame() {
    let files = [
        root().join("captures/ntlm-wrong-password.pcap"),
        root().join("captures/basic-success.pcap"),
    ];
    let out = Command::new(bin())
        .arg("report")
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("1: "), "{text}");
    assert!(text.contains("\n2: "), "{text}");
    let block = text.split("\n#1 ").nth(1).unwrap();
    assert!(block.contains("file 2: "), "{block}");
    let timeline: Vec<&str> = block
        .lines()
        .filter(|l| l.contains(" c1 ") || l.contains(" c1  "))
        .collect();
    assert!(!timeline.is_empty(), "{block}");
    for l in timeline {
        assert!(l.contains(" 2:f"), "a frame without its file: {l}");
    }
    let first = text
        .split("\n#0 ")
        .nth(1)
        .unwrap()
        .split("\n#1 ")
        .next()
        .unwrap();
    for l in first.lines() {
        assert!(!l.contains(" 2:f"), "file 1's handshake names file 2: {l}");
    }
}

/// Parts of one capture cut by `editcap -c`, read with `--merge`, report what the whole does.
#[test]
fn merged_parts_report_what_the_whole_capture_does() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut wholes: Vec<PathBuf> = captures_in(&root().join("captures"));
    wholes.extend(public_captures().into_iter().take(6));
    for whole in wholes {
        let parts = split(&whole, dir.path(), 7);
        if parts.len() < 2 {
            continue;
        }
        let mut want = json(std::slice::from_ref(&whole), false, 1);
        let mut got = json(&parts, true, 1);
        assert_eq!(got["merged"], Value::Bool(true));
        for doc in [&mut want, &mut got] {
            let m = doc.as_object_mut().unwrap();
            m.remove("inputs");
            m.remove("merged");
            m["summary"].as_object_mut().unwrap().remove("warnings");
        }
        assert!(
            want == got,
            "{}: --merge of its {} parts differs from the whole",
            whole.display(),
            parts.len()
        );
        for p in parts {
            std::fs::remove_file(p).unwrap();
        }
    }
}

/// `whole` cut into files of `packets` packets each, in `dir`.
fn split(whole: &Path, dir: &Path, packets: u32) -> Vec<PathBuf> {
    let stem = whole.file_stem().unwrap().to_string_lossy().into_owned();
    let out = dir.join(format!("{stem}.pcapng"));
    // editcap 4.0 writes nothing read from a file that holds a Decryption Secrets Block
    // ("can't be written as a pcapng file", --discard-all-secrets too): cut a copy without
    // them, and put them back into the first part, after its section header.
    let bytes = std::fs::read(whole).unwrap();
    let secrets: Vec<u8> = pcapng_blocks(&bytes)
        .unwrap_or_default()
        .iter()
        .filter(|(t, _)| *t == PCAPNG_DSB)
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    let source = match pcapng_blocks(&bytes) {
        Some(blocks) if blocks.iter().any(|(t, _)| *t == PCAPNG_DSB) => {
            let copy = dir.join(format!("without-secrets-{stem}.pcapng"));
            let kept: Vec<u8> = blocks
                .iter()
                .filter(|(t, _)| *t != PCAPNG_DSB)
                .flat_map(|(_, b)| b.iter().copied())
                .collect();
            std::fs::write(&copy, kept).unwrap();
            copy
        }
        _ => whole.to_owned(),
    };
    let status = Command::new("editcap")
        .args(["-c", &packets.to_string()])
        .arg(&source)
        .arg(&out)
        .status()
        .expect("editcap (Wireshark's) is needed for the full tests");
    assert!(status.success(), "editcap on {}", whole.display());
    if source != whole {
        std::fs::remove_file(&source).unwrap();
    }
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{stem}_"))
        })
        .collect();
    parts.sort();
    if let (false, Some(first)) = (secrets.is_empty(), parts.first()) {
        let part = std::fs::read(first).unwrap();
        let blocks = pcapng_blocks(&part).unwrap();
        let mut with: Vec<u8> = Vec::new();
        for (i, (_, b)) in blocks.iter().enumerate() {
            with.extend_from_slice(b);
            if i == 0 {
                with.extend_from_slice(&secrets);
            }
        }
        std::fs::write(first, with).unwrap();
    }
    parts
}

/// `doc` without what names the files read (their paths, sizes, compression and warnings).
fn without_inputs(mut doc: Value) -> Value {
    let m = doc.as_object_mut().unwrap();
    m.remove("inputs");
    m.remove("merged");
    m["summary"].as_object_mut().unwrap().remove("warnings");
    doc
}

/// `authscope report --format json ARGS` with `stdin` on standard input: the document, and
/// standard error.
fn report_cli(args: &[&std::ffi::OsStr], stdin: Vec<u8>) -> (Value, String) {
    use std::io::Write as _;
    let mut child = Command::new(bin())
        .args(["report", "--format", "json", "--exchanges", "all"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // A report that stops reading early closes the pipe: not this test's failure.
        let _ = pipe.write_all(&stdin);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "authscope report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn compressed(kind: &str, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    match kind {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::stream::encode_all(bytes, 3).unwrap(),
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        _ => unreachable!("{kind}"),
    }
}

/// `cat cap | authscope report -`, and the capture gzip-, zstd- and xz-compressed (under a
/// name that says nothing: the magic bytes tell), report what the plain file does.
#[test]
fn standard_input_and_compressed_files_report_what_the_plain_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let captures = captures_in(&root().join("captures"));
    assert!(
        captures.len() > 20,
        "the lab captures are in the repository"
    );
    // Every family of the lab: plain HTTP, HTTPS with keys in the file, HTTP/2.
    for whole in captures.iter().step_by(7) {
        let bytes = std::fs::read(whole).unwrap();
        let (want, _) = report_cli(&[whole.as_os_str()], Vec::new());
        let want = without_inputs(want);
        let (got, _) = report_cli(&["-".as_ref()], bytes.clone());
        assert!(
            without_inputs(got) == want,
            "{}: from standard input",
            whole.display()
        );
        for kind in ["gz", "zst", "xz"] {
            let path = dir.path().join(format!("capture-{kind}"));
            std::fs::write(&path, compressed(kind, &bytes)).unwrap();
            let (got, _) = report_cli(&[path.as_os_str()], Vec::new());
            assert_eq!(got["inputs"][0]["compression"], *kind_name(kind));
            assert!(
                without_inputs(got) == want,
                "{}: {kind}-compressed",
                whole.display()
            );
            // And piped in compressed.
            let (got, _) = report_cli(&["-".as_ref()], compressed(kind, &bytes));
            assert!(
                without_inputs(got) == want,
                "{}: {kind}-compressed on standard input",
                whole.display()
            );
        }
    }
}

fn kind_name(kind: &str) -> &'static Value {
    static NAMES: std::sync::OnceLock<[Value; 3]> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| ["gzip".into(), "zstd".into(), "xz".into()]);
    match kind {
        "gz" => &names[0],
        "zst" => &names[1],
        _ => &names[2],
    }
}

/// A compressed stream that ends early is read up to the damage, with the warning a cut file
/// gives: the packets before the cut stand.
#[test]
fn a_cut_compressed_stream_is_read_up_to_the_cut_with_the_truncated_warning() {
    // Larger than a zstd block (128 KiB), which its decoder gives out whole.
    let mut recs = Vec::new();
    for i in 0..3000u32 {
        let payload = format!(
            "GET /{i} HTTP/1.1\r\nHost: intranet\r\n\r\n{}",
            "x".repeat(i as usize % 200)
        );
        push_tcp(
            &mut recs,
            ([10, 0, 0, 1], 40000),
            ([10, 0, 0, 2], 80),
            i * 300,
            0,
            0x18,
            payload.as_bytes(),
        );
    }
    let bytes = pcap(1, &recs);
    let (_, cut_file) = report_cli(&["-".as_ref()], bytes[..bytes.len() / 2].to_vec());
    assert!(cut_file.contains("(truncated)"), "{cut_file}");
    for kind in ["gz", "zst", "xz"] {
        let mut z = compressed(kind, &bytes);
        z.truncate(z.len() * 2 / 3);
        let (got, warned) = report_cli(&["-".as_ref()], z);
        assert!(
            warned.contains("(truncated)")
                && warned.contains(&format!("the {} stream", kind_name(kind).as_str().unwrap())),
            "{kind}: {warned}"
        );
        let packets = got["inputs"][0]["packets"].as_u64().unwrap();
        assert!(packets > 0, "{kind}: the packets before the cut are read");
    }
}

/// A directory is the captures in it, in the order of their names; with `--merge`, the parts
/// of one capture cut by `editcap -c` report what the whole does, and without it what the
/// parts named one by one do, with one worker or two.
#[test]
fn a_directory_is_the_captures_in_it_in_name_order() {
    if !full() {
        return;
    }
    let mut wholes: Vec<PathBuf> = captures_in(&root().join("captures"));
    wholes.extend(public_captures().into_iter().take(4));
    for whole in wholes.iter().step_by(3) {
        let dir = tempfile::tempdir().unwrap();
        let parts = split(whole, dir.path(), 5);
        if parts.len() < 2 {
            continue;
        }
        let folder = vec![dir.path().to_owned()];
        let want = without_inputs(json(std::slice::from_ref(whole), false, 1));
        assert!(
            without_inputs(json(&folder, true, 1)) == want,
            "{}: --merge of the folder of its parts differs from the whole",
            whole.display()
        );
        let named = json(&parts, false, 1);
        for threads in [1, 2, 3] {
            assert!(
                json(&folder, false, threads) == named,
                "{}: the folder differs from its files named in order ({threads} threads)",
                whole.display()
            );
        }
    }
}

/// Files read as separate captures whose packets follow one another in time, as a rotated
/// capture's pieces do, are said to be so, with `--merge` named; files apart in time, files
/// that overlap (two sensors), and merged files are not. The login cut at the edge is then
/// joined by `--merge`.
#[test]
fn pieces_of_one_rotated_capture_read_apart_are_said_to_be() {
    let (client, server) = (([10, 0, 0, 1], 50_000), ([10, 0, 0, 2], 80));
    let req = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\n\
                Content-Length: 0\r\n\r\n";
    let answer = "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\r\n";
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (mut c, mut s) = (1_001u32, 9_001u32);
    let mut recs = Vec::new();
    push_tcp(&mut recs, client, server, c - 1, 0, 0x02, b"");
    push_tcp(&mut recs, server, client, s - 1, c, 0x12, b"");
    for (q, r) in [(req, resp), (answer, ok)] {
        push_tcp(&mut recs, client, server, c, s, 0x18, q.as_bytes());
        c += q.len() as u32;
        push_tcp(&mut recs, server, client, s, c, 0x18, r.as_bytes());
        s += r.len() as u32;
    }
    // Cut after the challenge.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, recs: &[(u64, Vec<u8>)]| {
        let p = dir.path().join(name);
        std::fs::write(&p, pcap(1, recs)).unwrap();
        p
    };
    let first = write("a-0.pcap", &recs[..4]);
    let second = write("a-1.pcap", &recs[4..]);
    let hour = 3_600_000_000u64;
    let later: Vec<_> = recs[4..]
        .iter()
        .map(|(t, f)| (t + hour, f.clone()))
        .collect();
    let apart = write("b-1.pcap", &later);
    // Another sensor's capture of the same minute: it ends half a minute after a-0 begins.
    let mut sensor: Vec<_> = recs.iter().map(|(t, f)| (t + 500, f.clone())).collect();
    let (t, f) = sensor[0].clone();
    sensor.push((t + 30_000_000, f));
    let other_sensor = write("c-0.pcap", &sensor);
    let said = |doc: &Value| {
        doc["summary"]["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.to_string().contains("--merge reads them"))
        })
    };
    for threads in [1, 2, 3] {
        let cut = json(&[first.clone(), second.clone()], false, threads);
        assert!(said(&cut), "{threads}: {}", cut["summary"]);
        assert_eq!(array(&cut, "handshakes").len(), 2);
        for paths in [
            vec![first.clone(), apart.clone()],
            vec![other_sensor.clone(), first.clone()],
        ] {
            let doc = json(&paths, false, threads);
            assert!(!said(&doc), "{paths:?} {threads}: {}", doc["summary"]);
        }
        let merged = json(&[first.clone(), second.clone()], true, threads);
        assert!(!said(&merged));
        let hs = array(&merged, "handshakes");
        assert_eq!(hs.len(), 1, "{hs:?}");
        assert_eq!(hs[0]["outcome"]["result"], "success");
    }
}
