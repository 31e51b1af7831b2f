//! The terminal UI driven as a user drives it: the real binary in tmux, keys sent with
//! `send-keys`, screens read with `capture-pane`. Runs with AUTHSCOPE_FULL_TESTS=1, and then
//! fails (never skips) when tmux is missing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::util::{bin, full, root};

/// A tmux session that is killed however the test ends (the live UI test uses it too).
pub(crate) struct Session(pub(crate) String);

impl Session {
    pub(crate) fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").args(args).output().expect("tmux runs")
    }

    /// Starts the session detached, `cols` x `rows`, in `dir`, without colours, running
    /// `cmd`. Tried again after a failure: tests running at once can start the tmux server at
    /// once, and one of them may then lose it.
    pub(crate) fn start(&self, cols: u16, rows: u16, dir: &Path, cmd: &str) {
        let (cols, rows, dir) = (
            cols.to_string(),
            rows.to_string(),
            dir.display().to_string(),
        );
        let args = [
            "new-session",
            "-d",
            "-s",
            &self.0,
            "-x",
            &cols,
            "-y",
            &rows,
            "-c",
            &dir,
            "-e",
            "NO_COLOR=1",
            cmd,
        ];
        let mut errors = Vec::new();
        for _ in 0..3 {
            let out = self.tmux(&args);
            if out.status.success() {
                return;
            }
            errors.push(String::from_utf8_lossy(&out.stderr).into_owned());
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("tmux new-session: {errors:?}");
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.0];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success(), "send-keys {keys:?}");
    }

    pub(crate) fn text(&self, text: &str) {
        assert!(self
            .tmux(&["send-keys", "-t", &self.0, "-l", text])
            .status
            .success());
    }

    pub(crate) fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", &self.0]).stdout)
            .into_owned()
    }

    /// Waits until the screen satisfies `ok`; fails with the last screen after 10 s.
    pub(crate) fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_up_to(Duration::from_secs(10), what, ok)
    }

    /// [`Session::wait`] with another limit.
    pub(crate) fn wait_up_to(
        &self,
        limit: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            // A screen caught in the middle of a repaint can match early: take it only when
            // a second look 50 ms later shows the same screen.
            if ok(&s) {
                std::thread::sleep(Duration::from_millis(50));
                let again = self.screen();
                if again == s {
                    return s;
                }
            }
            if start.elapsed() > limit {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", &self.0]).status.success()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

/// A command line for tmux that runs `authscope ARGS` so that a test can signal it and see
/// how it left the terminal: its PID goes to `DIR/pid` (the inner shell `exec`s it), its exit
/// status to `DIR/status`, the terminal's modes to `DIR/stty`; the pane then stays open, so
/// tmux can still be asked about it.
pub(crate) fn signalable(args: &str, dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "sh -c 'echo $$ > {d}/pid; exec {} {args}'; echo $? > {d}/status; stty -a > {d}/stty; \
         sleep 120",
        bin().display()
    )
}

/// The PID `signalable` wrote.
pub(crate) fn pid_in(dir: &std::path::Path) -> nix::unistd::Pid {
    let start = Instant::now();
    loop {
        if let Ok(t) = std::fs::read_to_string(dir.join("pid")) {
            if let Ok(n) = t.trim().parse() {
                return nix::unistd::Pid::from_raw(n);
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// After a `signalable` command ended: its exit status, and the terminal as it left it.
pub(crate) struct Left {
    pub(crate) status: String,
    /// tmux's `#{alternate_on} #{cursor_flag}`: "0 1" is the main screen, cursor shown.
    pub(crate) screen_modes: String,
    pub(crate) stty: String,
}

impl Session {
    /// Waits (up to `limit`) for a `signalable` command to end, then reads what it left.
    pub(crate) fn left(&self, dir: &std::path::Path, limit: Duration) -> Left {
        let start = Instant::now();
        let stty = loop {
            // stty runs after the status is written: wait for its output to be complete.
            if let Ok(t) = std::fs::read_to_string(dir.join("stty")) {
                if t.contains("icanon") {
                    break t;
                }
            }
            assert!(
                start.elapsed() < limit,
                "authscope did not end; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let modes = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.0,
            "#{alternate_on} #{cursor_flag}",
        ]);
        Left {
            status: std::fs::read_to_string(dir.join("status"))
                .unwrap()
                .trim()
                .to_owned(),
            screen_modes: String::from_utf8_lossy(&modes.stdout).trim().to_owned(),
            stty,
        }
    }
}

impl Left {
    /// The terminal is as a shell wants it: main screen, cursor shown, line editing and echo
    /// on (raw mode off).
    pub(crate) fn assert_terminal_restored(&self) {
        assert_eq!(self.screen_modes, "0 1", "alternate screen, cursor shown");
        let words: Vec<&str> = self.stty.split_whitespace().collect();
        for mode in ["icanon", "echo", "isig"] {
            assert!(words.contains(&mode), "raw mode left on: {}", self.stty);
        }
    }
}

/// The line the list cursor is on.
pub(crate) fn selected_row(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.starts_with("│>"))
        .unwrap_or_default()
}

#[test]
fn open_move_filter_drill_quit() {
    if !full() {
        return;
    }
    let have_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have_tmux,
        "tmux is needed for the UI test (AUTHSCOPE_FULL_TESTS=1)"
    );
    let caps = root().join("captures");
    let cmd = format!(
        "{} open {} {}",
        bin().display(),
        caps.join("ntlm-keepalive-broken.pcap").display(),
        caps.join("kerberos-success.pcap").display()
    );
    let s = Session(format!("authscope-ui-{}", std::process::id()));
    s.start(120, 40, &root(), &cmd);

    // Open: both handshakes, read in full, the first selected.
    let screen = s.wait("the capture to be read", |t| {
        t.contains("read in full") && t.contains("Handshakes 2")
    });
    assert!(selected_row(&screen).contains("ntlm"), "{screen}");
    assert!(screen.contains("client 127.0.0.100:56355"), "{screen}");

    // Move: j selects the Kerberos handshake, k goes back.
    s.keys(&["j"]);
    let screen = s.wait("j to select the second", |t| {
        selected_row(t).contains("kerberos")
    });
    assert!(screen.contains("#1 kerberos success"), "{screen}");
    s.keys(&["k"]);
    s.wait("k to select the first", |t| {
        selected_row(t).contains("ntlm")
    });

    // Filter: only the Kerberos handshake is left.
    s.keys(&["/"]);
    s.text("scheme:kerberos");
    s.keys(&["Enter"]);
    let screen = s.wait("the filter", |t| t.contains("Handshakes 1 of 2"));
    assert!(selected_row(&screen).contains("kerberos"), "{screen}");
    assert!(screen.contains("filter: scheme:kerberos"), "{screen}");
    // Esc in the list clears it.
    s.keys(&["Escape"]);
    let screen = s.wait("the filter to clear", |t| t.contains("Handshakes 2 "));
    // The selection stayed on the Kerberos handshake; g goes to the top.
    assert!(selected_row(&screen).contains("kerberos"), "{screen}");
    s.keys(&["g"]);
    s.wait("g to select the first", |t| {
        selected_row(t).contains("ntlm")
    });

    // Drill into a leg: the timeline, down to the NTLM Type 2, then its detail.
    s.keys(&["Enter"]);
    s.wait("the timeline to take the keys", |t| {
        t.contains("[Timeline]")
    });
    for _ in 0..4 {
        s.keys(&["Down"]);
    }
    s.keys(&["Enter"]);
    let screen = s.wait("the leg detail", |t| t.contains("[Leg 2]"));
    assert!(screen.contains("WWW-Authenticate:"), "{screen}");
    assert!(
        screen.contains("server_challenge: 3e1ac61a83c073a5"),
        "{screen}"
    );
    // Esc goes back to the timeline.
    s.keys(&["Escape"]);
    s.wait("Esc back to the timeline", |t| t.contains("[Timeline]"));

    // Help, then quit.
    s.keys(&["?"]);
    s.wait("the help", |t| t.contains("Keys (any key closes)"));
    s.keys(&["Escape"]);
    s.wait("the help to close", |t| {
        !t.contains("Keys (any key closes)")
    });
    s.keys(&["q"]);
    let start = Instant::now();
    while s.alive() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "q did not quit:\n{}",
            s.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn export_from_the_ui() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let caps = root().join("captures");
    let cmd = format!(
        "{} open {} {}",
        bin().display(),
        caps.join("ntlm-keepalive-broken.pcap").display(),
        caps.join("kerberos-success.pcap").display()
    );
    let s = Session(format!("authscope-ui-export-{}", std::process::id()));
    s.start(120, 40, dir.path(), &cmd);
    s.wait("the capture to be read", |t| {
        t.contains("read in full") && t.contains("Handshakes 2")
    });

    // e: the selected handshake, to the default file name.
    s.keys(&["e"]);
    s.wait("the export prompt", |t| {
        t.contains("export #0 to: authscope-handshake-0.html")
    });
    s.keys(&["Enter"]);
    s.wait("the export to end", |t| t.contains("exported 1 handshakes"));
    let html = std::fs::read_to_string(dir.path().join("authscope-handshake-0.html")).unwrap();
    assert!(html.contains("<svg class=\"timeline\""));

    // E: the list shown, to a file named in the prompt (the extension picks the format).
    s.keys(&["E"]);
    s.wait("the list export prompt", |t| {
        t.contains("export 2 handshakes to:")
    });
    for _ in 0.."authscope-export.html".len() {
        s.keys(&["BSpace"]);
    }
    s.text("list.csv");
    s.keys(&["Enter"]);
    s.wait("the list export to end", |t| {
        t.contains("exported 2 handshakes")
    });
    let mut r = csv::Reader::from_path(dir.path().join("list.csv")).unwrap();
    assert_eq!(r.records().count(), 2);
    s.keys(&["q"]);
}

/// SIGTERM (issue: signals during the UI): the terminal is put back (main screen, cursor, no
/// raw mode) and authscope exits with 143, as a shell reports a process SIGTERM ended.
#[test]
fn sigterm_puts_the_terminal_back() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let caps = root().join("captures");
    let args = format!("open {}", caps.join("ntlm-keepalive-broken.pcap").display());
    let s = Session(format!("authscope-ui-term-{}", std::process::id()));
    s.start(120, 40, dir.path(), &signalable(&args, dir.path()));
    s.wait("the capture to be read", |t| t.contains("read in full"));
    let on = s.tmux(&["display-message", "-p", "-t", &s.0, "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&on.stdout).trim(), "1");
    nix::sys::signal::kill(pid_in(dir.path()), nix::sys::signal::Signal::SIGTERM).unwrap();
    let left = s.left(dir.path(), Duration::from_secs(10));
    assert_eq!(left.status, "143");
    left.assert_terminal_restored();
}

/// The text report wraps at the terminal's width, and at 80 columns off a terminal.
#[test]
fn the_text_report_fits_the_terminal() {
    if !full() {
        return;
    }
    let capture = root().join("captures/ntlm-success.pcap");
    // The timeline's lines: the ones that wrap.
    let longest = |text: &str| {
        text.lines()
            .filter(|l| l.contains(" c0 "))
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
    };
    let piped = Command::new(bin())
        .arg("report")
        .arg(&capture)
        .output()
        .unwrap();
    let piped = String::from_utf8_lossy(&piped.stdout);
    assert!(longest(&piped) <= 80, "{piped}");
    let s = Session(format!("authscope-width-{}", std::process::id()));
    let cmd = format!("{} report {}; sleep 30", bin().display(), capture.display());
    s.start(160, 50, &root(), &cmd);
    let screen = s.wait("the report", |t| t.contains("handshakes:"));
    // The NTLM Type 1 leg's line is longer than 80 columns and fits in 160.
    assert!(longest(&screen) > 80, "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("[NTLM Type 1 negotiate") && l.contains("version")),
        "{screen}"
    );
}
