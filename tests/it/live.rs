//! Live capture (issue 7), with feature `live`, run by `.ci/run` (AUTHSCOPE_FULL_TESTS=1, as
//! root): real servers of the capture lab on loopback, `authscope report -i lo` while curl
//! performs NTLM and Basic handshakes, and the handshakes, users and outcomes reported live
//! must equal those found when the `--write` file is read back. With AUTHSCOPE_FULL_TESTS=1
//! a missing piece (root, curl, the lab) is a failure, not a skip.
#![cfg(feature = "live")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::util::{bin, full, root};

/// How long a step may take before the test gives up.
const STEP: Duration = Duration::from_secs(30);

/// Lines of a child's stream, read on a thread so they can be waited for with a timeout.
fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line that satisfies `want`, keeping every line read in `seen`.
fn wait_for(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> Instant {
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = want(&line);
                seen.push(line);
                if hit {
                    return Instant::now();
                }
            }
            Err(e) => panic!("waiting for {what}: {e}; read so far:\n{}", seen.join("\n")),
        }
    }
}

/// A lab server (scripts/lab/serve.sh FAMILY) on its own port, stopped by its PID on drop.
struct Server {
    child: Child,
    vars: HashMap<String, String>,
    family: &'static str,
}

impl Server {
    fn start(family: &'static str, dir: &Path) -> Server {
        Server::start_with(family, dir, false)
    }

    /// The family's server over HTTPS (LAB_TLS=1: mod_ssl, a lab CA).
    fn start_https(family: &'static str, dir: &Path) -> Server {
        Server::start_with(family, dir, true)
    }

    fn start_with(family: &'static str, dir: &Path, tls: bool) -> Server {
        // A free port, so the test does not collide with a lab run on port 80.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let log = std::fs::File::create(dir.join(format!("serve-{family}.err"))).unwrap();
        let mut child = Command::new(root().join("scripts/lab/serve.sh"))
            .arg(family)
            .env("LAB_NO_HOSTS", "1")
            .env("LAB_PORT", port.to_string())
            .env("LAB_TLS", if tls { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting scripts/lab/serve.sh {family}: {e}"));
        let rx = lines_of(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let mut server = Server {
            child,
            vars: HashMap::new(),
            family,
        };
        // Apache and the Python venv start in a few seconds; allow for a slow machine.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut ready = false;
        while !ready {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    ready = l == "READY";
                    seen.push(l);
                }
                Err(_) => break,
            }
        }
        if !ready {
            let err = std::fs::read_to_string(dir.join(format!("serve-{family}.err")))
                .unwrap_or_default();
            panic!(
                "scripts/lab/serve.sh {family} did not get ready\nstdout:\n{}\nstderr:\n{err}",
                seen.join("\n")
            );
        }
        // Values are raw text (USER holds a backslash): split on the first '='.
        for l in &seen {
            if let Some((k, v)) = l.split_once('=') {
                server.vars.insert(k.to_owned(), v.to_owned());
            }
        }
        server
    }

    fn var(&self, k: &str) -> &str {
        self.vars
            .get(k)
            .unwrap_or_else(|| panic!("serve.sh {} printed no {k}=", self.family))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // serve.sh stops its server by PID on SIGTERM (its trap), then exits.
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl with these arguments; the HTTP status of the last response.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running curl: {e}"));
    assert!(out.status.success(), "curl {args:?}: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (scheme, domain, user, outcome) of a handshake as the JSON report writes it.
type Seen = (String, String, String, String);

fn seen(h: &serde_json::Value) -> Seen {
    let s = |k: &str| h.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    (
        s("scheme"),
        s("domain"),
        s("user"),
        h["outcome"].to_string(),
    )
}

/// The frames of a handshake's requests and responses, leg by leg.
fn leg_frames(h: &serde_json::Value) -> Vec<u64> {
    h["legs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| [&l["request"]["frame"], &l["response"]["frame"]])
        .filter_map(|f| f.as_u64())
        .collect()
}

/// `authscope report -i lo --format ndjson -f FILTER ARGS...` started, once it says it is
/// capturing: the child, its output and error lines, and the error lines seen so far.
fn report_live(
    filter: &str,
    args: &[&std::ffi::OsStr],
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    std::sync::mpsc::Receiver<String>,
    Vec<String>,
) {
    let mut authscope = Command::new(bin())
        .args(["report", "-i", "lo", "--user", "root", "-f", filter])
        .args(["--format", "ndjson"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(authscope.stdout.take().unwrap());
    let err = lines_of(authscope.stderr.take().unwrap());
    let mut err_seen = Vec::new();
    wait_for(&err, &mut err_seen, "authscope to start capturing", |l| {
        l.contains("listening on lo")
    });
    (authscope, out, err, err_seen)
}

/// Whether a test that captures on lo and starts the lab's servers runs: only under the full
/// tests, where it fails without root.
fn full_as_root(what: &str) -> bool {
    if !full() {
        eprintln!("{what} test skipped (AUTHSCOPE_FULL_TESTS=1 runs it, as root)");
        return false;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the {what} test needs root (to capture on lo and start the lab's servers)"
    );
    true
}

fn outcome(result: &str, how: Option<&str>) -> String {
    match how {
        Some(how) => serde_json::json!({"result": result, "how": how}).to_string(),
        None => serde_json::json!({"result": result}).to_string(),
    }
}

#[test]
fn live_handshakes_equal_the_written_file() {
    if !full_as_root("live capture") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ntlm = Server::start("ntlm", dir.path());
    let basic = Server::start("basic", dir.path());
    let written = dir.path().join("live.pcapng");
    let filter = format!(
        "tcp and (port {} or port {})",
        ntlm.var("PORT"),
        basic.var("PORT")
    );
    // The written file goes into root's temporary folder: the capture stays root.
    let (mut authscope, out, _err, _err_seen) = report_live(
        &filter,
        &[
            "--write".as_ref(),
            written.as_os_str(),
            "--duration".as_ref(),
            "120".as_ref(),
        ],
    );

    // NTLM (pyspnego acceptor; curl --ntlm works there, LAB-NOTES) and Basic (apache2), each
    // with the right password and a wrong one.
    let (nu, np, nurl) = (ntlm.var("USER"), ntlm.var("PASSWORD"), ntlm.var("URL"));
    let (bu, bp, burl) = (basic.var("USER"), basic.var("PASSWORD"), basic.var("URL"));
    assert_eq!(curl(&["--ntlm", "-u", &format!("{nu}:{np}"), nurl]), "200");
    assert_eq!(curl(&["--basic", "-u", &format!("{bu}:{bp}"), burl]), "200");
    let successes_done = Instant::now();

    // Successes are printed as soon as their connection closes, while capture goes on.
    let mut live = Vec::new();
    let successes = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("\"type\":\"handshake\"") && l.contains("\"success\""))
            .count()
    };
    let mut streamed = successes_done;
    while successes(&live) < 2 {
        streamed = wait_for(&out, &mut live, "two successful handshakes", |_| true);
    }
    let latency = streamed.saturating_duration_since(successes_done);
    assert!(
        authscope.try_wait().unwrap().is_none(),
        "authscope ended before it was stopped"
    );

    assert_eq!(curl(&["--ntlm", "-u", &format!("{nu}:wrong"), nurl]), "401");
    assert_eq!(
        curl(&["--basic", "-u", &format!("{bu}:wrong"), burl]),
        "401"
    );

    // Ctrl-C: the rest (failures wait out the join window until the end) and the summary.
    let stop = Instant::now();
    kill(
        Pid::from_raw(i32::try_from(authscope.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    wait_for(&out, &mut live, "the summary line", |l| {
        l.contains("\"type\":\"summary\"")
    });
    let status = authscope.wait().unwrap();
    let stopped_in = stop.elapsed();
    assert!(status.success(), "authscope report -i lo: {status:?}");

    let objects: Vec<serde_json::Value> = live
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let mut live_hs: Vec<Seen> = objects
        .iter()
        .filter(|o| o["type"] == "handshake")
        .map(seen)
        .collect();
    let summary = objects.last().unwrap();
    assert_eq!(summary["type"], "summary");
    let input = &summary["inputs"][0];

    // The file, read back.
    let back = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(back.status.success(), "{back:?}");
    let doc: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    let mut file_hs: Vec<Seen> = doc["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(seen)
        .collect();
    live_hs.sort();
    file_hs.sort();
    assert_eq!(live_hs, file_hs, "live and read back differ");
    // Frame numbers too: a live frame's number is its place in the --write file (the live
    // UI's exports find handshakes in that file by them).
    let mut live_frames: Vec<Vec<u64>> = objects
        .iter()
        .filter(|o| o["type"] == "handshake")
        .map(leg_frames)
        .collect();
    let mut file_frames: Vec<Vec<u64>> = doc["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(leg_frames)
        .collect();
    live_frames.sort();
    file_frames.sort();
    assert!(live_frames.iter().all(|f| !f.is_empty()));
    assert_eq!(
        live_frames, file_frames,
        "frame numbers, live and read back"
    );
    assert_eq!(
        summary["summary"]["handshakes_by_scheme"], doc["summary"]["handshakes_by_scheme"],
        "handshake counts by scheme and outcome"
    );

    // And they are the ones curl made.
    let (domain, user) = nu.split_once('\\').unwrap();
    let mut want: Vec<Seen> = vec![
        (
            "ntlm".into(),
            domain.into(),
            user.into(),
            outcome("success", None),
        ),
        (
            "ntlm".into(),
            domain.into(),
            user.into(),
            outcome("failed", Some("logon-failed")),
        ),
        (
            "basic".into(),
            "".into(),
            bu.into(),
            outcome("success", None),
        ),
        (
            "basic".into(),
            "".into(),
            bu.into(),
            outcome("failed", Some("logon-failed")),
        ),
    ];
    want.sort();
    assert_eq!(live_hs, want);

    // Everything captured was saved, and the file holds exactly that.
    assert_eq!(input["captured"], input["written"], "{input}");
    assert_eq!(doc["inputs"][0]["packets"], input["written"], "{input}");
    assert_eq!(input["dropped"], 0, "drops on loopback: {input}");
    eprintln!(
        "live: {} packets, {} dropped (kernel {}, interface {}, queue {}); first successes \
         printed {:?} after curl; stopped {:?} after SIGINT",
        input["captured"],
        input["dropped"],
        input["kernel_dropped"],
        input["interface_dropped"],
        input["queue_dropped"],
        latency,
        stopped_in
    );
}

/// curl over HTTPS writing its TLS secrets to `keylog` (SSLKEYLOGFILE); the HTTP status.
fn curl_keys(keylog: &Path, args: &[&str]) -> String {
    let out = Command::new("curl")
        .env("SSLKEYLOGFILE", keylog)
        .args(["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", "20"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running curl: {e}"));
    assert!(out.status.success(), "curl {args:?}: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn live_https_is_decrypted_with_a_key_log_written_while_capturing() {
    if !full_as_root("live HTTPS") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let basic = Server::start_https("basic", dir.path());
    assert!(
        basic.var("URL").starts_with("https://"),
        "{}",
        basic.var("URL")
    );
    // The key log does not exist yet: curl creates it at its first connection.
    let keylog = dir.path().join("keys.log");
    let (mut authscope, out, err, mut err_seen) = report_live(
        &format!("tcp port {}", basic.var("PORT")),
        &[
            "--duration".as_ref(),
            "120".as_ref(),
            "--keylog".as_ref(),
            keylog.as_os_str(),
        ],
    );
    wait_for(&err, &mut err_seen, "the note on the key log", |l| {
        l.contains("keys.log") && l.contains("no such file yet")
    });

    // TLS 1.3 (the lab's default), then TLS 1.2 (its key log lines appended to the file),
    // then a wrong password.
    let (u, p, url) = (basic.var("USER"), basic.var("PASSWORD"), basic.var("URL"));
    let good = format!("{u}:{p}");
    assert_eq!(curl_keys(&keylog, &["--basic", "-u", &good, url]), "200");
    assert_eq!(
        curl_keys(&keylog, &["--tls-max", "1.2", "--basic", "-u", &good, url]),
        "200"
    );
    assert_eq!(
        curl_keys(&keylog, &["--basic", "-u", &format!("{u}:wrong"), url]),
        "401"
    );
    late_keys_decrypt_a_held_connection(&basic, &keylog, dir.path());
    let mut live = Vec::new();
    let successes = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("\"type\":\"handshake\"") && l.contains("\"success\""))
            .count()
    };
    while successes(&live) < 3 {
        wait_for(
            &out,
            &mut live,
            "three successful handshakes over HTTPS",
            |_| true,
        );
    }
    kill(
        Pid::from_raw(i32::try_from(authscope.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    wait_for(&out, &mut live, "the summary line", |l| {
        l.contains("\"type\":\"summary\"")
    });
    let status = authscope.wait().unwrap();
    assert!(
        status.success(),
        "authscope report -i lo --keylog: {status:?}"
    );
    let objects: Vec<serde_json::Value> = live
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let mut got: Vec<Seen> = objects
        .iter()
        .filter(|o| o["type"] == "handshake")
        .map(seen)
        .collect();
    got.sort();
    let mut want: Vec<Seen> = vec![
        (
            "basic".into(),
            "".into(),
            u.into(),
            outcome("success", None),
        ),
        (
            "basic".into(),
            "".into(),
            u.into(),
            outcome("success", None),
        ),
        (
            "basic".into(),
            "".into(),
            u.into(),
            outcome("success", None),
        ),
        (
            "basic".into(),
            "".into(),
            u.into(),
            outcome("failed", Some("logon-failed")),
        ),
    ];
    want.sort();
    assert_eq!(got, want, "the handshakes inside HTTPS");
    let summary = objects.last().unwrap();
    let tls = &summary["summary"]["stats"]["tls"];
    assert_eq!(tls["connections"], 4, "{summary}");
    assert_eq!(tls["decrypted"], 4, "{summary}");
    assert!(
        tls["late_decrypted"].as_u64().is_some_and(|n| n >= 1),
        "the held connection decrypted when its keys came: {summary}"
    );
}

/// A client that holds its HTTPS connection open after one request until told to close, with
/// its TLS secrets in its own key log: the keys reach the followed key log only when the
/// test copies them, after the whole exchange was captured.
const HOLDING_CLIENT: &str = r#"
import socket, ssl, sys
host, port, path, auth, keylog = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = keylog
s = ctx.wrap_socket(socket.create_connection((host, int(port))))
s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\r\n".encode())
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(4096)
head, body = data.split(b"\r\n\r\n", 1)
length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
while length and len(body) < length[0]:
    body += s.recv(4096)
print(head.split(b" ")[1].decode(), flush=True)
sys.stdin.readline()
s.close()
"#;

/// Keys that come after the exchange they decrypt: the connection's bytes were held.
fn late_keys_decrypt_a_held_connection(server: &Server, followed: &Path, dir: &Path) {
    use std::io::Write as _;
    let own = dir.join("late.keylog");
    let (u, p) = (server.var("USER"), server.var("PASSWORD"));
    let auth = base64_of(&format!("{u}:{p}"));
    let url = server.var("URL");
    let path = &url[url.find("://").unwrap() + 3..];
    let path = &path[path.find('/').unwrap()..];
    let mut client = Command::new("python3")
        .args([
            "-c",
            HOLDING_CLIENT,
            server.var("ADDR"),
            server.var("PORT"),
            path,
            &auth,
        ])
        .arg(&own)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = lines_of(client.stdout.take().unwrap())
        .recv_timeout(STEP)
        .expect("the holding client's status");
    assert_eq!(status, "200");
    // The exchange is captured and analysed without keys by now.
    std::thread::sleep(Duration::from_millis(500));
    let keys = std::fs::read(&own).unwrap();
    assert!(!keys.is_empty(), "python wrote no key log");
    std::fs::OpenOptions::new()
        .append(true)
        .open(followed)
        .unwrap()
        .write_all(&keys)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    client.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(client.wait().unwrap().success());
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_filter_that_does_not_compile_is_one_line_before_anything_starts() {
    if !full() {
        return;
    }
    assert!(nix::unistd::geteuid().is_root(), "needs root");
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("never.pcapng");
    let out = Command::new(bin())
        .args(["report", "-i", "lo", "--bpf", "tcp port", "--write"])
        .arg(&written)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does not compile"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!written.exists(), "the output file was created");
}

/// `nobody`, for a test that runs as root in the full tests (`None` otherwise).
fn root_and_nobody() -> Option<nix::unistd::User> {
    if !full() {
        return None;
    }
    assert!(nix::unistd::geteuid().is_root(), "needs root");
    Some(
        nix::unistd::User::from_name("nobody")
            .unwrap()
            .expect("a user named nobody"),
    )
}

/// `Name:\tvalue` of a process's /proc/PID/status.
fn proc_status(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in\n{status}"))
        .trim()
        .to_owned()
}

/// Started as root, a live capture analyses packets as `nobody` (there is no SUDO_USER
/// here), or as root only when asked, and either way with no capability and no way to gain
/// one (`no_new_privs`).
#[test]
fn live_capture_parses_packets_without_root_or_capabilities() {
    let Some(nobody) = root_and_nobody() else {
        return;
    };
    for (args, uid) in [
        (&["report", "-i", "lo"][..], nobody.uid.as_raw()),
        (&["report", "-i", "lo", "--user", "root"][..], 0),
    ] {
        let child = Command::new(bin())
            .args(args)
            .args(["--duration", "3", "--format", "ndjson"])
            .env_remove("SUDO_USER")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Until the interface is open and the process has changed, its uid is root's.
        let start = std::time::Instant::now();
        while proc_status(pid, "NoNewPrivs") != "1" {
            assert!(
                start.elapsed().as_secs() < 3,
                "{args:?}: no_new_privs never set"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let uids = proc_status(pid, "Uid");
        assert!(
            uids.split_whitespace().all(|u| u == uid.to_string()),
            "{args:?}: Uid {uids}"
        );
        for caps in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
            assert_eq!(
                proc_status(pid, caps),
                "0000000000000000",
                "{args:?}: {caps}"
            );
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
}

#[test]
fn user_drops_root_and_owns_the_file() {
    let Some(nobody) = root_and_nobody() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The directory must be writable by the user the capture becomes.
    std::os::unix::fs::chown(dir.path(), Some(nobody.uid.as_raw()), None).unwrap();
    let written = dir.path().join("as-nobody.pcapng");
    let out = Command::new(bin())
        .args([
            "report",
            "-i",
            "lo",
            "--duration",
            "0.5",
            "--user",
            "nobody",
        ])
        .args(["--format", "ndjson", "--write"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&written).unwrap().uid(),
        nobody.uid.as_raw()
    );
}

/// `authscope live` in tmux (issue 7): handshakes appear in the UI as curl makes them, the
/// selection stays on its handshake when a new one sorts above it, the header shows the live
/// capture (interface, drops), `e` exports the selected handshake while the capture goes on
/// (JSON, and a pcapng slice that tshark reads), and `q` ends it with status 0 and a
/// readable `--write` file.
#[test]
fn live_ui_shows_handshakes_as_they_happen() {
    use super::ui::{selected_row, Session};
    if !full_as_root("live UI") {
        return;
    }
    assert!(
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "tmux is needed for the live UI test (AUTHSCOPE_FULL_TESTS=1)"
    );
    let dir = tempfile::tempdir().unwrap();
    let ntlm = Server::start("ntlm", dir.path());
    let basic = Server::start("basic", dir.path());
    let written = dir.path().join("live-ui.pcapng");
    let status = dir.path().join("status");
    let filter = format!(
        "tcp and (port {} or port {})",
        ntlm.var("PORT"),
        basic.var("PORT")
    );
    let cmd = format!(
        "{} live -i lo --user root -f '{filter}' --write {}; echo $? > {}",
        bin().display(),
        written.display(),
        status.display()
    );
    let s = Session(format!("authscope-live-ui-{}", std::process::id()));
    s.start(160, 48, dir.path(), &cmd);
    let screen = s.wait("the live UI", |t| {
        t.contains("authscope live lo") && t.contains("capturing")
    });
    assert!(screen.contains("no handshakes yet: capturing"), "{screen}");
    assert!(screen.contains("dropped 0"), "{screen}");

    let (nu, np, nurl) = (ntlm.var("USER"), ntlm.var("PASSWORD"), ntlm.var("URL"));
    let (bu, bp, burl) = (basic.var("USER"), basic.var("PASSWORD"), basic.var("URL"));
    assert_eq!(curl(&["--basic", "-u", &format!("{bu}:{bp}"), burl]), "200");
    let screen = s.wait("the Basic handshake", |t| t.contains("Handshakes 1 "));
    assert!(selected_row(&screen).contains("basic"), "{screen}");
    assert!(selected_row(&screen).contains(" ok "), "{screen}");
    assert_eq!(curl(&["--ntlm", "-u", &format!("{nu}:{np}"), nurl]), "200");
    s.wait("the NTLM handshake", |t| t.contains("Handshakes 2 "));

    // Select the NTLM handshake and sort by severity: the Basic one (cleartext) goes first,
    // and the selection with it, to the first row.
    s.keys(&["j"]);
    s.wait("j to select the NTLM handshake", |t| {
        selected_row(t).contains("ntlm")
    });
    s.keys(&["s"]);
    s.wait("the sort by severity", |t| {
        t.contains("sort: severity") && selected_row(t).contains("basic")
    });
    // A refused Basic login is an error: it sorts above, and the selection stays where it is
    // while the capture goes on.
    assert_eq!(
        curl(&["--basic", "-u", &format!("{bu}:wrong"), burl]),
        "401"
    );
    // A failure waits out the join window (10 s) before it is decided.
    let screen = s.wait_up_to(Duration::from_secs(40), "the refused login", |t| {
        t.contains("Handshakes 3 ")
    });
    let rows: Vec<&str> = screen.lines().filter(|l| l.starts_with("│")).collect();
    let first = rows.iter().position(|l| l.contains("logon-failed"));
    let sel = rows.iter().position(|l| l.starts_with("│>"));
    assert!(first < sel, "the refused login sorts above:\n{screen}");
    assert!(selected_row(&screen).contains("basic"), "{screen}");
    assert!(selected_row(&screen).contains(" ok "), "{screen}");
    assert!(screen.contains("live lo") || screen.contains("authscope live lo"));
    assert!(screen.contains("dropped 0"), "{screen}");

    // The NTLM success, with no finding, sorts last.
    s.keys(&["G"]);
    s.wait("G to select the NTLM handshake", |t| {
        selected_row(t).contains("ntlm")
    });

    // e exports the selected handshake (the NTLM success) from the --write file, flushed
    // first, though the capture goes on: as JSON, then as a pcapng slice.
    let (domain, user) = nu.split_once('\\').unwrap();
    let json = export_selected(&s, dir.path(), "ntlm.json");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "{doc}");
    assert_eq!(
        seen(&hs[0]),
        (
            "ntlm".to_owned(),
            domain.to_owned(),
            user.to_owned(),
            outcome("success", None)
        )
    );
    export_selected(&s, dir.path(), "ntlm.pcapng");
    let slice = dir.path().join("ntlm.pcapng");
    let comments = tshark_fields(&slice, &["frame.comment"]).join("\n");
    assert!(
        comments.contains(&format!("NTLM Type 3 user={domain}\\{user}")),
        "{comments}"
    );
    // Only the NTLM handshake's connection: no packet of the Basic server's port.
    let ports = tshark_fields(&slice, &["tcp.srcport", "tcp.dstport"]).join("\n");
    assert!(!ports.contains(basic.var("PORT")), "{ports}");
    assert!(ports.contains(ntlm.var("PORT")), "{ports}");

    quit(&s, &status);
    // The --write file was flushed and closed: it reads back with the three handshakes.
    let back = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(back.status.success(), "{back:?}");
    let doc: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    assert_eq!(doc["handshakes"].as_array().unwrap().len(), 3, "{doc}");
}

/// `q` ends the live UI within 10 s, with exit status 0 (written to `status`).
fn quit(s: &super::ui::Session, status: &Path) {
    s.keys(&["q"]);
    let start = Instant::now();
    while s.alive() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "q did not quit:\n{}",
            s.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(status).unwrap().trim(),
        "0",
        "authscope live exit status"
    );
}

/// Exports the selected handshake with `e` to `name` in `dir` (the prompt's default name is
/// erased first); waits for the UI to say it is done, and returns the file's text.
fn export_selected(s: &super::ui::Session, dir: &Path, name: &str) -> String {
    s.keys(&["e"]);
    s.wait("the export prompt", |t| {
        t.contains("to: authscope-handshake-")
    });
    for _ in 0..60 {
        s.keys(&["BSpace"]);
    }
    s.text(name);
    s.keys(&["Enter"]);
    let done = format!("exported 1 handshakes to {name}");
    let screen = s.wait(&format!("the export to {name}"), |t| {
        t.contains(&done) || t.contains("export failed")
    });
    assert!(screen.contains(&done), "{screen}");
    String::from_utf8_lossy(&std::fs::read(dir.join(name)).unwrap()).into_owned()
}

/// `tshark -r FILE -T fields -e ...`, which must read the file without complaint.
fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("tshark is needed (AUTHSCOPE_FULL_TESTS=1): {e}"));
    let err = String::from_utf8_lossy(&o.stderr);
    // As root, tshark always warns that it runs as root; anything else (a file "cut short in
    // the middle of a packet") is a complaint.
    let complaints: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Running as user \"root\""))
        .collect();
    assert!(o.status.success() && complaints.is_empty(), "tshark: {err}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The live UI without `--write` (exports read its temporary file, removed at the end) and
/// with it, each ended by a signal: the terminal is put back, the exit status is 128 plus the
/// signal's number, and a `--write` file is complete (tshark reads it without complaint, and
/// so does authscope, with the same packets).
#[test]
fn live_ui_exports_from_its_own_file_and_ends_cleanly_on_signals() {
    use super::ui::{pid_in, signalable, Session};
    if !full_as_root("live UI") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let basic = Server::start("basic", dir.path());
    let (bu, bp, burl) = (basic.var("USER"), basic.var("PASSWORD"), basic.var("URL"));
    let filter = format!("tcp port {}", basic.var("PORT"));

    // Without --write: a temporary file, which exports read.
    let run_a = dir.path().join("a");
    std::fs::create_dir(&run_a).unwrap();
    let s = Session(format!("authscope-live-sig-a-{}", std::process::id()));
    s.start(
        160,
        48,
        &run_a,
        &signalable(&format!("live -i lo --user root -f \"{filter}\""), &run_a),
    );
    s.wait("the live UI", |t| t.contains("capturing"));
    let pid = pid_in(&run_a);
    // The temporary file, found among the process's open files.
    let scratch = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .find(|p| p.to_string_lossy().contains("authscope-live-"))
        .expect("a temporary capture file is open");
    assert_eq!(curl(&["--basic", "-u", &format!("{bu}:{bp}"), burl]), "200");
    s.wait("the Basic handshake", |t| t.contains("Handshakes 1 "));
    let doc: serde_json::Value =
        serde_json::from_str(&export_selected(&s, &run_a, "basic.json")).unwrap();
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "{doc}");
    assert_eq!(
        seen(&hs[0]),
        (
            "basic".to_owned(),
            String::new(),
            bu.to_owned(),
            outcome("success", None)
        )
    );
    kill(pid, Signal::SIGHUP).unwrap();
    let left = s.left(&run_a, STEP);
    assert_eq!(left.status, "129", "exit status after SIGHUP");
    left.assert_terminal_restored();
    assert!(!scratch.exists(), "{} was left behind", scratch.display());
    drop(s);

    // With --write: SIGTERM stops the capture cleanly, the file is complete.
    let run_b = dir.path().join("b");
    std::fs::create_dir(&run_b).unwrap();
    let written = run_b.join("term.pcapng");
    let s = Session(format!("authscope-live-sig-b-{}", std::process::id()));
    s.start(
        160,
        48,
        &run_b,
        &signalable(
            &format!(
                "live -i lo --user root -f \"{filter}\" --write {}",
                written.display()
            ),
            &run_b,
        ),
    );
    s.wait("the live UI", |t| t.contains("capturing"));
    assert_eq!(curl(&["--basic", "-u", &format!("{bu}:{bp}"), burl]), "200");
    s.wait("the Basic success", |t| t.contains("Handshakes 1 "));
    kill(pid_in(&run_b), Signal::SIGTERM).unwrap();
    let left = s.left(&run_b, STEP);
    assert_eq!(left.status, "143", "exit status after SIGTERM");
    left.assert_terminal_restored();
    let frames = tshark_fields(&written, &["frame.number"]);
    let back = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(back.status.success(), "{back:?}");
    let doc: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    let input = &doc["inputs"][0];
    assert_eq!(input["packets"], frames.len(), "{input}");
    assert_eq!(doc["summary"]["warnings"], serde_json::json!([]), "{input}");
    let got: Vec<Seen> = doc["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(seen)
        .collect();
    let want = vec![(
        "basic".to_owned(),
        String::new(),
        bu.to_owned(),
        outcome("success", None),
    )];
    assert_eq!(got, want, "the --write file read back");
}

#[test]
fn live_ui_decrypts_https_with_a_key_log_created_while_capturing() {
    use super::ui::{selected_row, Session};
    if !full_as_root("live UI") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let basic = Server::start_https("basic", dir.path());
    let keylog = dir.path().join("keys.log");
    let status = dir.path().join("status");
    let cmd = format!(
        "{} live -i lo --user root -f 'tcp port {}' --keylog {}; echo $? > {}",
        bin().display(),
        basic.var("PORT"),
        keylog.display(),
        status.display()
    );
    let s = Session(format!("authscope-live-ui-https-{}", std::process::id()));
    s.start(160, 48, dir.path(), &cmd);
    s.wait("the live UI", |t| {
        t.contains("authscope live lo") && t.contains("capturing")
    });
    let (u, p, url) = (basic.var("USER"), basic.var("PASSWORD"), basic.var("URL"));
    assert_eq!(
        curl_keys(&keylog, &["--basic", "-u", &format!("{u}:{p}"), url]),
        "200"
    );
    let screen = s.wait("the Basic handshake inside HTTPS", |t| {
        t.contains("Handshakes 1 ")
    });
    assert!(selected_row(&screen).contains("basic"), "{screen}");
    assert!(selected_row(&screen).contains(" ok "), "{screen}");
    quit(&s, &status);
}
