//! Frames as plain-text snapshots (ratatui's TestBackend), at 80x24 and 160x48.

use std::path::PathBuf;

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

use crate::capture::MergedSource;
use crate::pipeline::Config;
use crate::ui::app::{Live, Pane, Source, State};
use crate::ui::input::Action;
use crate::ui::theme::Theme;
use crate::ui::worker;

fn captures(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| PathBuf::from("captures").join(n))
        .collect()
}

fn all_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("captures")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}

/// A state loaded from captures, sized `w` x `h`.
fn load(paths: &[PathBuf], w: u16, h: u16) -> State {
    load_with_keys(paths, &[], w, h)
}

/// [`load`], with TLS key logs.
fn load_with_keys(paths: &[PathBuf], keys: &[PathBuf], w: u16, h: u16) -> State {
    let source = MergedSource::open(paths)
        .unwrap()
        .with_key_logs(keys)
        .unwrap();
    let src = Source {
        names: paths.iter().map(|p| p.display().to_string()).collect(),
        total_bytes: source.total_size(),
        progress: source.files().iter().map(|f| f.progress()).collect(),
        live: None,
    };
    let (spool, reader) = crate::ui::spool::create().unwrap();
    let batch = worker::read_all(source, Config::default(), false, spool);
    let mut s = State::new(src);
    s.spool = Some(reader);
    s.apply(Action::Resize(w, h));
    s.take_batch(batch);
    s
}

fn draw(s: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| super::render(f, s, &Theme::plain())).unwrap();
    t
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

#[test]
fn main_screen() {
    for (w, h) in SIZES {
        let s = load(&all_captures(), w, h);
        insta::assert_snapshot!(format!("main_{w}x{h}"), draw(&s, w, h).backend());
    }
}

#[test]
fn broken_ntlm_timeline() {
    for (w, h) in SIZES {
        let mut s = load(&captures(&["ntlm-keepalive-broken.pcap"]), w, h);
        s.apply(Action::Enter);
        assert_eq!(s.focus, Pane::Timeline);
        // Down to the Type 3 sent on another connection.
        for _ in 0..8 {
            s.apply(Action::Down);
        }
        insta::assert_snapshot!(
            format!("ntlm_broken_timeline_{w}x{h}"),
            draw(&s, w, h).backend()
        );
    }
}

#[test]
fn kerberos_handshake_and_leg() {
    for (w, h) in SIZES {
        let mut s = load(&captures(&["kerberos-badkeyver.pcap"]), w, h);
        s.apply(Action::Enter);
        insta::assert_snapshot!(
            format!("kerberos_timeline_{w}x{h}"),
            draw(&s, w, h).backend()
        );
        // The AP-REQ leg, then its answer.
        for _ in 0..4 {
            s.apply(Action::Down);
        }
        s.apply(Action::Enter);
        assert_eq!(s.focus, Pane::Detail);
        insta::assert_snapshot!(format!("kerberos_leg_{w}x{h}"), draw(&s, w, h).backend());
    }
}

/// HTTP/2 refused by an imitated http.sys: the legs say HTTP/2, the timeline has the
/// RST_STREAM, and the refused leg says how its stream ended.
#[test]
fn http2_timeline_and_leg() {
    for (w, h) in SIZES {
        let paths = captures(&["https-h2-ntlm-downgrade.pcap"]);
        let keys = captures(&["https-h2-ntlm-downgrade.keylog"]);
        let mut s = load_with_keys(&paths, &keys, w, h);
        s.apply(Action::Enter);
        let text = draw(&s, w, h).backend().to_string();
        assert!(text.contains("GET / HTTP/2"), "{text}");
        assert!(
            text.contains("RST_STREAM stream 1 HTTP_1_1_REQUIRED"),
            "{text}"
        );
        insta::assert_snapshot!(format!("http2_timeline_{w}x{h}"), draw(&s, w, h).backend());
        // The refused leg (after the open, TLS and SETTINGS lines).
        for _ in 0..3 {
            s.apply(Action::Down);
        }
        s.apply(Action::Enter);
        assert_eq!(s.focus, Pane::Detail);
        let text = draw(&s, w, h).backend().to_string();
        assert!(text.contains("Request GET / HTTP/2"), "{text}");
        // Below the request's decoded token: on the large screen without scrolling.
        if h == 48 {
            assert!(
                text.contains("none: RST_STREAM HTTP_1_1_REQUIRED from server"),
                "{text}"
            );
        }
    }
}

#[test]
fn help_overlay() {
    for (w, h) in SIZES {
        let mut s = load(&captures(&["ntlm-keepalive-broken.pcap"]), w, h);
        s.apply(Action::Help);
        insta::assert_snapshot!(format!("help_{w}x{h}"), draw(&s, w, h).backend());
        s.apply(Action::CloseHelp);
        assert!(!draw(&s, w, h)
            .backend()
            .to_string()
            .contains("Keys (any key closes)"));
    }
}

#[test]
fn filtered_list() {
    for (w, h) in SIZES {
        let mut s = load(&all_captures(), w, h);
        s.apply(Action::StartFilter);
        for c in "scheme:ntlm -outcome:ok".chars() {
            s.apply(Action::FilterChar(c));
        }
        s.apply(Action::FilterApply);
        assert!(!s.view.is_empty());
        assert!(s.view.len() < s.records.len());
        insta::assert_snapshot!(format!("filtered_{w}x{h}"), draw(&s, w, h).backend());
    }
}

#[test]
fn findings_pane_compact() {
    let mut s = load(&captures(&["ntlm-keepalive-broken.pcap"]), 80, 24);
    s.apply(Action::PrevPane);
    assert_eq!(s.focus, Pane::Findings);
    let text = draw(&s, 80, 24).backend().to_string();
    // The root cause comes first, before the loop it explains.
    assert!(text.contains("ERROR ntlm-connection-closed"), "{text}");
    assert!(text.contains("next:"), "{text}");
}

#[test]
fn raw_headers_on_request() {
    let mut s = load(&captures(&["ntlm-keepalive-broken.pcap"]), 160, 48);
    s.apply(Action::Enter);
    for _ in 0..3 {
        s.apply(Action::Down);
    }
    s.apply(Action::Enter);
    s.apply(Action::Bottom);
    let before = draw(&s, 160, 48).backend().to_string();
    assert!(before.contains("press r"), "{before}");
    s.apply(Action::ToggleRaw);
    s.apply(Action::Bottom);
    let after = draw(&s, 160, 48).backend().to_string();
    assert!(after.contains("HTTP/1.1 401 Unauthorized"), "{after}");
    assert!(after.contains("Authorization: NTLM <redacted"), "{after}");
}

#[test]
fn tiny_areas_do_not_panic() {
    let mut s = load(&captures(&["ntlm-keepalive-broken.pcap"]), 1, 1);
    for mode in 0..4 {
        match mode {
            1 => s.apply(Action::Help),
            2 => {
                s.apply(Action::CloseHelp);
                s.apply(Action::StartFilter);
                s.apply(Action::FilterChar('x'));
            }
            3 => {
                s.apply(Action::FilterCancel);
                s.apply(Action::Enter);
                s.apply(Action::Enter);
                s.apply(Action::ToggleRaw);
            }
            _ => {}
        }
        for w in 0..24u16 {
            for h in 0..14u16 {
                s.apply(Action::Resize(w, h));
                s.apply(Action::Down);
                s.apply(Action::PageDown);
                s.apply(Action::Click(w / 2, h / 2));
                let mut t = Terminal::new(TestBackend::new(w.max(1), h.max(1))).unwrap();
                t.draw(|f| super::render(f, &s, &Theme::from_env()))
                    .unwrap();
            }
        }
    }
    let mut t = Terminal::new(TestBackend::new(1, 1)).unwrap();
    t.draw(|f| super::render(f, &s, &Theme::plain())).unwrap();
}

#[test]
fn empty_state_renders() {
    let s = State::new(Source::default());
    let text = draw(&s, 80, 24).backend().to_string();
    assert!(text.contains("no handshakes yet"), "{text}");
}

/// The server's records joined are said in the header at 80 columns, not counted as read
/// warnings.
#[test]
fn joined_server_logs_are_said_in_the_header() {
    let mut s = load(&captures(&["ntlm-wrong-password.pcap"]), 80, 24);
    s.take_batch(crate::ui::event::Batch {
        server_logs: Some("logs 3/3 joined".into()),
        done: true,
        ..Default::default()
    });
    let text = draw(&s, 80, 24).backend().to_string();
    assert!(text.contains("logs 3/3 joined"), "{text}");
    assert!(!text.contains("read warning"), "{text}");
}

/// Read warnings are counted in the header at 80 columns, ahead of the counters that may not
/// fit.
#[test]
fn read_warnings_are_counted_in_the_header_at_80_columns() {
    let mut s = load(&captures(&["ntlm-wrong-password.pcap"]), 80, 24);
    for (n, want) in [(1, "1 read warning "), (2, "2 read warnings")] {
        s.take_batch(crate::ui::event::Batch {
            warnings: vec!["the 2 files follow one another in time".into()],
            done: true,
            ..Default::default()
        });
        let text = draw(&s, 80, 24).backend().to_string();
        assert!(text.contains(want), "{n}: {text}");
    }
}

/// The read warnings the header counts are read in full in the findings pane, and a capture
/// with no handshake shows them there at once.
#[test]
fn read_warnings_are_read_in_the_findings_pane() {
    let warning = "cut.pcap: packet 7: the capture ends inside a packet\x1b[2J";
    let mut s = load(&captures(&["ntlm-wrong-password.pcap"]), 80, 24);
    s.take_batch(crate::ui::event::Batch {
        warnings: vec![warning.into()],
        done: true,
        ..Default::default()
    });
    s.apply(Action::PrevPane);
    let text = draw(&s, 80, 24).backend().to_string();
    assert!(text.contains("read warnings:"), "{text}");
    assert!(text.contains("packet 7: the capture ends"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");

    let mut empty = State::new(Source::default());
    empty.apply(Action::Resize(80, 24));
    empty.take_batch(crate::ui::event::Batch {
        warnings: vec![warning.into()],
        done: true,
        ..Default::default()
    });
    let text = draw(&empty, 80, 24).backend().to_string();
    assert!(text.contains("no authentication handshakes"), "{text}");
    assert!(text.contains("packet 7: the capture ends"), "{text}");
}

#[test]
fn selection_stays_put_as_handshakes_arrive() {
    let mut all = load(&all_captures(), 80, 24);
    let records = std::mem::take(&mut all.records);
    let mut s = State::new(Source::default());
    s.apply(Action::Resize(80, 24));
    let (first, rest) = records.split_at(records.len() / 2);
    s.take_batch(crate::ui::event::Batch {
        handshakes: first.to_vec(),
        ..Default::default()
    });
    s.apply(Action::Down);
    s.apply(Action::Down);
    let chosen = s.selected;
    let row = s.cursor - s.list_top;
    s.take_batch(crate::ui::event::Batch {
        handshakes: rest.to_vec(),
        ..Default::default()
    });
    assert_eq!(s.selected, chosen);
    assert_eq!(s.cursor - s.list_top, row);
    assert_eq!(s.current().map(|r| r.id()), chosen);
}

/// A live capture under way: the header names the interface, the rate and the drops, and a
/// running indicator takes the place of the gauge.
#[test]
fn live_header() {
    for (w, h) in SIZES {
        let loaded = load(&captures(&["ntlm-keepalive-broken.pcap"]), w, h);
        let mut s = State::new(Source {
            live: Some(Live {
                interface: "eth0".into(),
                packets_per_second: 1234.4,
                dropped: 7,
                captured: 98765,
                ticks: 3,
                unsaved: 0,
            }),
            ..Source::default()
        });
        s.apply(Action::Resize(w, h));
        s.spool = loaded.spool;
        s.take_batch(crate::ui::event::Batch {
            handshakes: loaded.records,
            stats: loaded.stats,
            connections: loaded.connections,
            ..Default::default()
        });
        let text = draw(&s, w, h).backend().to_string();
        assert!(text.contains("live eth0"), "{text}");
        assert!(text.contains("dropped 7"), "{text}");
        assert!(!text.contains("reading"), "{text}");
        insta::assert_snapshot!(format!("live_{w}x{h}"), draw(&s, w, h).backend());
    }
    // Ended: the indicator says so.
    let mut s = State::new(Source {
        live: Some(Live {
            interface: "eth0".into(),
            ..Live::default()
        }),
        ..Source::default()
    });
    s.take_batch(crate::ui::event::Batch {
        done: true,
        ..Default::default()
    });
    let text = draw(&s, 80, 24).backend().to_string();
    assert!(text.contains("capture ended"), "{text}");
    assert!(
        text.contains("no authentication handshakes were captured"),
        "{text}"
    );
    assert!(!text.contains("not saved"), "{text}");
    // The temporary file for exports reached its cap: the header says what exports cover.
    s.take_batch(crate::ui::event::Batch {
        live: Some(crate::ui::event::LiveCounters {
            unsaved: 12,
            ..Default::default()
        }),
        ..Default::default()
    });
    let text = draw(&s, 160, 48).backend().to_string();
    assert!(
        text.contains("12 packets not saved: exports cover the capture's start"),
        "{text}"
    );
}

/// The spool could not be written: the list works, and the panes and the header say why the
/// details are missing.
#[test]
fn missing_details_are_said() {
    let loaded = load(&captures(&["ntlm-keepalive-broken.pcap"]), 160, 48);
    let mut s = State::new(Source::default());
    s.apply(Action::Resize(160, 48));
    s.spool_error = Some("details spool (temporary file): No space left on device".into());
    s.take_batch(crate::ui::event::Batch {
        handshakes: loaded.records,
        ..Default::default()
    });
    assert!(s.current().is_some());
    assert!(s.detail().is_none());
    let text = draw(&s, 160, 48).backend().to_string();
    assert!(
        text.contains("details not kept (see a handshake)"),
        "{text}"
    );
    assert!(
        text.contains("details of this handshake were not kept"),
        "{text}"
    );
    assert!(text.contains("No space left on device"), "{text}");
}

#[test]
fn no_color_means_no_colour() {
    let s = load(&captures(&["ntlm-keepalive-broken.pcap"]), 80, 24);
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| super::render(f, &s, &Theme::plain())).unwrap();
    let buf = t.backend().buffer();
    let area = Rect::new(0, 0, 80, 24);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let c = buf.cell((x, y)).unwrap();
            assert_eq!(c.fg, ratatui::style::Color::Reset, "({x},{y})");
            assert_eq!(c.bg, ratatui::style::Color::Reset, "({x},{y})");
        }
    }
}

#[test]
fn tls_without_handshakes() {
    for (w, h) in SIZES {
        let s = load(
            &captures(&["https-ntlm-success.pcap", "https-tls-alert-unknown-ca.pcap"]),
            w,
            h,
        );
        insta::assert_snapshot!(format!("tls_only_{w}x{h}"), draw(&s, w, h).backend());
    }
}
