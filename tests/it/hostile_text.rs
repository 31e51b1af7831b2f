//! Hostile text in packets stays harmless in what people read: a capture whose Host header,
//! reason phrase, NTLM user, domain and workstation, Basic user and Digest user carry
//! terminal escapes, newlines and bidirectional overrides. The text report, the Mermaid and
//! HTML exports and the pcapng comments show them escaped on one line; the CSV export
//! neutralises formula cells; JSON keeps the exact values. The UI test drives the real
//! binary in tmux and checks the terminal's title and screen.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;

use super::util::{bin, full, pcap, stdout_of, tcp_frame};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;

/// What a hostile sender writes: a window title, a screen clear, a bell, a forged report
/// line and a right-to-left override.
const TITLE: &str = "\u{1b}]0;PWNED\u{7}";
const CLEAR: &str = "\u{1b}[2J\u{1b}[H";
const FORGED: &str = "\nERROR   forged-finding  handshake #9  evil\n";
const RLO: &str = "\u{202e}";

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// An NTLM Type 3 (MS-NLMP 2.2.1.3) with Unicode names and NTLMv1-sized responses.
fn type3(domain: &str, user: &str, workstation: &str) -> Vec<u8> {
    let fields = [
        vec![0x11; 24],
        vec![0x22; 24],
        utf16(domain),
        utf16(user),
        utf16(workstation),
        Vec::new(),
    ];
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut at = 64u32;
    for f in &fields {
        let len = u16::try_from(f.len()).unwrap();
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&at.to_le_bytes());
        at += u32::from(len);
    }
    // NEGOTIATE_UNICODE | NEGOTIATE_NTLM
    m.extend_from_slice(&0x0000_0201u32.to_le_bytes());
    for f in &fields {
        m.extend_from_slice(f);
    }
    m
}

/// Source, destination, sequence and acknowledgement numbers, flags, payload.
type Packet<'a> = (([u8; 4], u16), ([u8; 4], u16), u32, u32, u8, &'a [u8]);

/// A pcap file (Ethernet) of the hostile conversations.
fn hostile_capture() -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let host = format!("intranet{TITLE}{CLEAR}");
    let ntlm_user = format!("alice{FORGED}{TITLE}");
    let ntlm = type3(&format!("LAB{CLEAR}"), &ntlm_user, &format!("WS{RLO}01"));
    let basic = b64(format!("=HYPERLINK(\"evil\"){TITLE}:pw").as_bytes());
    let exchanges: Vec<(String, String)> = vec![
        (
            format!(
                "GET /a HTTP/1.1\r\nHost: {host}\r\nAuthorization: NTLM {}\r\n\r\n",
                b64(&ntlm)
            ),
            format!(
                "HTTP/1.1 401 Unauthorized{TITLE}\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n"
            ),
        ),
        (
            format!("GET /b{CLEAR} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\n\r\n"),
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n"
                .to_owned(),
        ),
        (
            // Control bytes make a head malformed, and a lenient reading drops the field that
            // holds them: this one carries only what HTTP allows (UTF-8 as obs-text).
            format!(
                "GET /c HTTP/1.1\r\nHost: intranet{RLO}\r\nAuthorization: Digest username=\"bob{RLO}\", realm=\"r{RLO}\", nonce=\"n\", uri=\"/c\", response=\"0123456789abcdef0123456789abcdef\"\r\n\r\n"
            ),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
        ),
    ];
    let mut recs = Vec::new();
    let mut ts = 1_700_000_000_000_000u64;
    let server = ([10, 0, 0, 2], 80);
    for (i, (req, resp)) in exchanges.iter().enumerate() {
        let client = ([10, 0, 0, 1], 50_000 + u16::try_from(i).unwrap());
        let (c, s) = (1_000u32, 9_000u32);
        let req_end = c + 1 + u32::try_from(req.len()).unwrap();
        let resp_end = s + 1 + u32::try_from(resp.len()).unwrap();
        let packets: [Packet<'_>; 6] = [
            (client, server, c, 0, SYN, b""),
            (server, client, s, c + 1, SYN | ACK, b""),
            (client, server, c + 1, s + 1, PSH_ACK, req.as_bytes()),
            (server, client, s + 1, req_end, PSH_ACK, resp.as_bytes()),
            (client, server, req_end, resp_end, FIN_ACK, b""),
            (server, client, resp_end, req_end + 1, FIN_ACK, b""),
        ];
        for (src, dst, seq, ack, flags, payload) in packets {
            let mut frame = Vec::new();
            tcp_frame(&mut frame, src, dst, seq, ack, flags, payload);
            ts += 1_000;
            recs.push((ts, frame));
        }
    }
    pcap(1, &recs)
}

fn capture_file(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("hostile.pcap");
    std::fs::write(&path, hostile_capture()).unwrap();
    path
}

/// No byte that acts on a terminal or reorders text, and no forged line.
fn harmless(what: &str, text: &str) {
    for c in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
        assert!(
            !text.contains(c),
            "{what} holds U+{:04X}:\n{text}",
            u32::from(c)
        );
    }
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("ERROR   forged-finding")),
        "{what} holds a forged line:\n{text}"
    );
}

#[test]
fn hostile_text_is_shown_escaped_on_one_line_for_people() {
    let dir = tempfile::tempdir().unwrap();
    let path = capture_file(&dir);
    let p = path.to_str().unwrap();
    let text = String::from_utf8(stdout_of(&["report", "--all-handshakes", p])).unwrap();
    harmless("the text report", &text);
    // What was sent is still there to read, escaped.
    assert!(text.contains("\\x1b]0;PWNED\\x07"), "{text}");
    assert!(text.contains("\\x0aERROR   forged-finding"), "{text}");
    assert!(text.contains("WS\\u202e01"), "{text}");
    for format in ["mermaid", "html", "pcapng"] {
        let out = dir.path().join(format!("out.{format}"));
        stdout_of(&["export", "--format", format, "-o", out.to_str().unwrap(), p]);
        let bytes = std::fs::read(&out).unwrap();
        let shown = if format == "pcapng" {
            // The comments only: the packets themselves are the capture's.
            let tshark = Command::new("tshark")
                .args([
                    "-r",
                    out.to_str().unwrap(),
                    "-T",
                    "fields",
                    "-e",
                    "frame.comment",
                ])
                .output();
            match tshark {
                Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
                Err(e) => {
                    assert!(!full(), "tshark: {e}");
                    continue;
                }
            }
        } else {
            String::from_utf8(bytes).unwrap()
        };
        harmless(format, &shown);
    }
    let decode = String::from_utf8(stdout_of(&[
        "decode",
        &format!(
            "Authorization: NTLM {}",
            base64::engine::general_purpose::STANDARD.encode(type3(
                "LAB",
                &format!("alice{FORGED}"),
                TITLE
            ))
        ),
    ]))
    .unwrap();
    harmless("decode", &decode);
}

#[test]
fn json_keeps_the_exact_values_and_csv_cells_read_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = capture_file(&dir);
    let p = path.to_str().unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&stdout_of(&["report", "--format", "json", p])).unwrap();
    let users: Vec<&str> = doc["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["user"].as_str())
        .collect();
    assert!(
        users.contains(&format!("alice{FORGED}{TITLE}").as_str()),
        "{users:?}"
    );
    let out = dir.path().join("out.csv");
    stdout_of(&["export", "--format", "csv", "-o", out.to_str().unwrap(), p]);
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut rows = ::csv::Reader::from_reader(csv.as_bytes());
    let headers = rows.headers().unwrap().clone();
    let user = headers.iter().position(|h| h == "user").unwrap();
    let cells: Vec<String> = rows
        .records()
        .map(|r| r.unwrap()[user].to_owned())
        .collect();
    assert!(
        cells.iter().any(|c| c.starts_with("'=HYPERLINK(\"evil\")")),
        "{cells:?}"
    );
    assert!(
        !cells.iter().any(|c| c.starts_with('=')),
        "a formula cell: {cells:?}"
    );
}

/// The UI on the hostile capture, in tmux: the window title stays tmux's own and the screen
/// holds the escaped text.
#[test]
fn the_ui_keeps_the_terminal_title_and_screen() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = capture_file(&dir);
    let s = super::ui::Session(format!("authscope-hostile-{}", std::process::id()));
    let cmd = format!("{} open {}", bin().display(), path.display());
    s.start(120, 40, dir.path(), &cmd);
    let title = |s: &super::ui::Session| {
        String::from_utf8_lossy(
            &s.tmux(&["display-message", "-p", "-t", &s.0, "#{pane_title}"])
                .stdout,
        )
        .trim()
        .to_owned()
    };
    s.wait("the list", |sc| sc.contains("Handshakes 3"));
    // Every handshake's timeline and legs drawn once.
    for _ in 0..3 {
        s.keys(&["Enter"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        s.keys(&["Tab"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        s.keys(&["Escape", "Down"]);
    }
    let screen = s.wait("the list again", |sc| sc.contains("Handshakes 3"));
    assert!(!title(&s).contains("PWNED"), "title {:?}", title(&s));
    assert!(!screen.contains("PWNED\u{7}"), "{screen}");
    s.keys(&["Home", "Enter"]);
    let screen = s.wait("a timeline", |sc| sc.contains("Timeline"));
    assert!(screen.contains("\\x1b"), "{screen}");
    assert!(!title(&s).contains("PWNED"), "title {:?}", title(&s));
}
