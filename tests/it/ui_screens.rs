//! The screens of the terminal UI at 80x24 (a console, an SSH session) and 160x45, as tmux
//! shows them, pinned as snapshots: a sort that puts errors above the view, a proxy's three
//! lanes, a Digest leg whose label must not lose `stale=true`, a capture over two days, and
//! a handshake whose KDC exchanges are on a third lane.
//! Runs with AUTHSCOPE_FULL_TESTS=1 (tmux, editcap).

use std::path::Path;
use std::process::Command;

use super::ui::{selected_row, Session};
use super::util::{bin, full, root};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 45)];

/// Opens `args` at each size, runs `steps` and snapshots the screen as `name_WxH`.
fn screens(name: &str, args: &str, steps: &dyn Fn(&Session) -> String) {
    for (cols, rows) in SIZES {
        let s = Session(format!(
            "authscope-screen-{name}-{cols}-{}",
            std::process::id()
        ));
        s.start(
            cols,
            rows,
            &root(),
            &format!("{} open {args}", bin().display()),
        );
        s.wait("the capture to be read", |t| t.contains("read in full"));
        let screen = steps(&s);
        insta::assert_snapshot!(format!("{name}_{cols}x{rows}"), screen);
    }
}

fn need_tools() -> bool {
    if !full() {
        return false;
    }
    for tool in ["tmux", "editcap"] {
        let ok = Command::new(tool)
            .arg(if tool == "tmux" { "-V" } else { "-h" })
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{tool} is needed for the UI screen tests (AUTHSCOPE_FULL_TESTS=1)"
        );
    }
    true
}

#[test]
fn sort_by_severity_brings_the_errors_into_view() {
    if !need_tools() {
        return;
    }
    let args = "captures/basic-success.pcap captures/digest-success.pcap \
                captures/ntlm-success.pcap captures/kerberos-success.pcap \
                captures/negotiate-ntlm-success.pcap captures/webdav-ntlm-per-method.pcap \
                captures/plain-pipelining.pcap captures/ntlm-wrong-password.pcap \
                captures/kerberos-badkeyver.pcap";
    screens("sorted", args, &|s| {
        // The last row selected, the errors before it out of sight; then the sort.
        s.keys(&["G"]);
        s.wait("G to select the last", |t| t.contains("above"));
        s.keys(&["s"]);
        let screen = s.wait("the sort by severity", |t| t.contains("sort: severity"));
        assert!(selected_row(&screen).contains("!!"), "{screen}");
        assert!(!screen.contains("above"), "{screen}");
        assert!(screen.contains("below"), "{screen}");
        screen
    });
}

#[test]
fn a_proxy_has_three_lanes() {
    if !need_tools() {
        return;
    }
    screens("proxy", "captures/proxy-ntlm-success.pcap", &|s| {
        let screen = s.screen();
        let lanes = screen
            .lines()
            .find(|l| l.contains("proxy 127.0.0.17"))
            .unwrap_or_else(|| panic!("no lane names: {screen}"));
        assert!(lanes.contains("client 127.0.0.100"), "{lanes}");
        assert!(lanes.contains("web.lab.test"), "{lanes}");
        screen
    });
}

#[test]
fn the_kdc_has_a_lane_of_its_own() {
    if !need_tools() {
        return;
    }
    let args = "captures/kerberos-unknown-spn-ntlm-fallback.pcap";
    screens("kdc_lane", args, &|s| {
        s.keys(&["Enter"]);
        let screen = s.wait("the timeline", |t| t.contains("KRB-ERROR"));
        let lanes = screen
            .lines()
            .find(|l| l.contains("server 127.0.0.15"))
            .unwrap_or_else(|| panic!("no lane names: {screen}"));
        // The KDC's lane is right of the server's, and its arrows cross the server's lane.
        let server = lanes.find("server").unwrap_or(0);
        assert!(
            lanes.rfind("127.0.0.16").is_some_and(|k| k > server),
            "{lanes}"
        );
        assert!(screen.contains('┼'), "{screen}");
        assert!(screen.contains("KDC AS-REQ"), "{screen}");
        screen
    });
}

#[test]
fn a_stale_nonce_keeps_its_label() {
    if !need_tools() {
        return;
    }
    screens("stale_nonce", "captures/digest-stale-nonce.pcap", &|s| {
        // The timeline, down to the 401 that says stale=true.
        s.keys(&["Enter"]);
        s.wait("the timeline", |t| {
            t.contains("[Timeline]") || t.contains("Timeline #")
        });
        for _ in 0..6 {
            s.keys(&["Down"]);
        }
        s.wait("the stale challenge", |t| {
            let lines: Vec<&str> = t.lines().collect();
            lines.windows(2).any(|w| {
                w[0].starts_with("│>") && w[0].contains("401") && w[1].contains("stale=true")
            })
        })
    });
}

#[test]
fn a_capture_over_two_days_shows_dates() {
    if !need_tools() {
        return;
    }
    let dir = root().join("target").join("ui-two-days");
    std::fs::create_dir_all(&dir).expect("a folder under target");
    let next = dir.join("basic-success-next-day.pcap");
    shifted(
        &root().join("captures/basic-success.pcap"),
        &next,
        86_400 * 2 + 3600,
    );
    let args = format!(
        "captures/basic-success.pcap {}",
        next.strip_prefix(root()).unwrap_or(&next).display()
    );
    screens("two_days", &args, &|s| {
        let screen = s.screen();
        assert!(selected_row(&screen).contains("11-25"), "{screen}");
        assert!(screen.contains("11-27 16:46"), "{screen}");
        screen
    });
}

/// A copy of `from` with every packet `secs` later.
fn shifted(from: &Path, to: &Path, secs: u64) {
    let out = Command::new("editcap")
        .args(["-F", "pcap", "-t"])
        .arg(secs.to_string())
        .arg(from)
        .arg(to)
        .output()
        .expect("editcap runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
