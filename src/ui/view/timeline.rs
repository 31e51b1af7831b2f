//! The timeline of the selected handshake as a sequence diagram: client and server (and the
//! proxy between them when there is one), each leg an arrow with its method or status and a
//! one-line summary of its token, TCP events on the side that sent them, the connection id
//! and the frame beside each line and the time since the line before.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use crate::handshake::{ConnEventKind, Side, TimelineWhat};
use crate::present::{clip, human_delta};
use crate::ui::app::{Pane, State};
use crate::ui::spool::{Detail, Step};
use crate::ui::strings;
use crate::ui::theme::Theme;

use super::canvas::Row;

/// Columns before the diagram: cursor mark, delta, connection, then the frame in as many as
/// the handshake's longest needs (at least [`FRAME_COLUMNS`]).
const GUTTER: usize = 15;
const FRAME_COLUMNS: usize = 6;

/// The gutter of `h`'s timeline: a frame number is never cut.
fn gutter(h: &Detail) -> usize {
    let longest = h
        .timeline
        .iter()
        .map(|e| h.frame_label(e.frame).len().saturating_add(1))
        .max()
        .unwrap_or(0);
    GUTTER.saturating_add(longest.max(FRAME_COLUMNS))
}

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme, wide: bool) {
    if area.is_empty() {
        return;
    }
    let focused = s.focus == Pane::Timeline;
    let rec = s.current();
    let title = match rec {
        Some(r) => format!(
            "{}#{} {} {} ",
            super::pane_tabs(s, Pane::Timeline, "Timeline", wide),
            r.id,
            r.scheme,
            r.outcome.label()
        ),
        None => super::pane_tabs(s, Pane::Timeline, "Timeline", wide),
    };
    let inner = super::framed(buf, area, title, focused, t);
    if inner.is_empty() {
        return;
    }
    if rec.is_none() {
        Paragraph::new(Line::styled(strings::NO_SELECTION, t.dim())).render(inner, buf);
        return;
    }
    let Some(h) = s.detail() else {
        Paragraph::new(super::no_detail(s, t)).render(inner, buf);
        return;
    };
    let width = usize::from(inner.width);
    let gutter = gutter(h);
    let dw = width.saturating_sub(gutter);
    let lanes = Lanes::of(h, dw, gutter);
    let mut lines = vec![lanes.labels(h, width, t)];
    let rows = usize::from(inner.height.saturating_sub(1));
    let cur = s.timeline_cursor;
    let top = first_shown(h, &lanes, rows, s.timeline_top, cur);
    for (i, e) in h.timeline.iter().enumerate().skip(top) {
        if lines.len() > rows {
            break;
        }
        for mut line in entry_lines(h, e, &lanes, dw, t, i == cur) {
            if i == cur {
                line = line.style(t.selected(focused));
            }
            lines.push(line);
        }
    }
    lines.truncate(rows.saturating_add(1));
    Paragraph::new(lines).render(inner, buf);
}

/// The first entry shown: the one the state scrolled to, moved so that the cursor's entry is
/// whole on screen (an entry whose label wraps takes more than one row).
fn first_shown(h: &Detail, lanes: &Lanes, rows: usize, top: usize, cur: usize) -> usize {
    let height = |i: usize| h.timeline.get(i).map_or(1, |e| entry_height(h, e, lanes));
    let mut top = top.min(cur);
    let mut used: usize = (top..=cur).map(height).sum();
    while used > rows && top < cur {
        used = used.saturating_sub(height(top));
        top = top.saturating_add(1);
    }
    top
}

/// The first entry [`render`] shows in `area` with the state's scroll and cursor.
pub fn top_in(s: &State, area: Rect) -> usize {
    let Some(h) = s.detail() else {
        return s.timeline_top;
    };
    let width = usize::from(area.width.saturating_sub(2));
    let gutter = gutter(h);
    let lanes = Lanes::of(h, width.saturating_sub(gutter), gutter);
    let rows = usize::from(area.height.saturating_sub(super::TABLE_CHROME));
    first_shown(h, &lanes, rows, s.timeline_top, s.timeline_cursor)
}

/// The timeline entry on row `row` of the pane (0 is the first row under the lane labels).
pub fn entry_at(s: &State, area: Rect, row: usize) -> Option<usize> {
    let h = s.detail()?;
    let width = usize::from(area.width.saturating_sub(2));
    let gutter = gutter(h);
    let lanes = Lanes::of(h, width.saturating_sub(gutter), gutter);
    let top = top_in(s, area);
    let mut y = 0usize;
    for (i, e) in h.timeline.iter().enumerate().skip(top) {
        y = y.saturating_add(entry_height(h, e, &lanes));
        if row < y {
            return Some(i);
        }
    }
    None
}

/// Positions of the lifelines in the diagram.
struct Lanes {
    client: usize,
    /// The first hop: the server, or the proxy.
    hop: usize,
    /// The origin server behind a proxy (equal to `hop` without one).
    origin: usize,
    proxied: bool,
    /// Columns before the diagram.
    gutter: usize,
}

impl Lanes {
    fn of(h: &Detail, dw: usize, gutter: usize) -> Lanes {
        let proxied = h.proxy || h.resource.contains("://") || h.legs.iter().any(|l| l.proxy);
        let right = dw.saturating_sub(2);
        // Proxy authentication ends at the proxy: its arrows get the larger share.
        let hop = if proxied {
            right.saturating_mul(2) / 3
        } else {
            right
        };
        Lanes {
            client: 0,
            hop,
            origin: right,
            proxied,
            gutter,
        }
    }

    /// The names over the lifelines, shortened together until none runs into the next.
    fn labels(&self, h: &Detail, width: usize, t: &Theme) -> Line<'static> {
        let mut row = Row::new(width);
        let at = |x: usize| self.gutter.saturating_add(x);
        let client = [
            format!("client {}", h.client_socket),
            format!("client {}", h.client_socket.ip()),
            h.client_socket.ip().to_string(),
            "client".to_owned(),
        ];
        let hop_word = if self.proxied { "proxy" } else { "server" };
        let hop = [
            format!("{hop_word} {}", h.server),
            format!("{hop_word} {}", h.server.ip()),
            h.server.ip().to_string(),
            hop_word.to_owned(),
        ];
        let host = h.host.as_deref().unwrap_or("?");
        let origin = [
            format!("origin {host}"),
            format!("origin {host}"),
            host.to_owned(),
            "origin".to_owned(),
        ];
        // Where each label starts and ends at a given length.
        let hop_span = |n: usize| {
            let end = at(self.hop);
            (
                end.saturating_add(1).saturating_sub(n),
                end.saturating_add(1),
            )
        };
        let origin_start = |n: usize| at(self.origin).saturating_add(1).saturating_sub(n);
        let len = |s: &String| s.chars().count();
        let fits = |c: &String, p: &String, o: &String| {
            let (p_start, p_end) = hop_span(len(p));
            let client_ok = at(self.client).saturating_add(len(c)) < p_start;
            client_ok && (!self.proxied || p_end < origin_start(len(o)))
        };
        // The fitting names that lose the fewest words; a lane's role (client, proxy) is
        // the last thing to lose.
        let role = |l: usize| if l >= 2 { 2 } else { 0 };
        let mut best: Option<(usize, (&String, &String, &String))> = None;
        for (lc, c) in client.iter().enumerate() {
            for (lp, p) in hop.iter().enumerate() {
                for (lo, o) in origin.iter().enumerate() {
                    let cost = lc + lp + lo + role(lc) + role(lp);
                    if best.is_none_or(|(b, _)| cost < b) && fits(c, p, o) {
                        best = Some((cost, (c, p, o)));
                    }
                }
            }
        }
        let shortest = (&client[3], &hop[3], &origin[3]);
        let (c, p, o) = best.map_or(shortest, |(_, names)| names);
        let (p_start, p_end) = hop_span(len(p));
        // Written right to left, so a label that still does not fit is cut by the next.
        if self.proxied {
            let o_start = origin_start(len(o)).max(p_end.saturating_add(1));
            row.text(o_start, o, t.bold(), width.saturating_sub(o_start));
        }
        let p_start = p_start.max(at(self.client));
        row.text(p_start, p, t.bold(), p_end.saturating_sub(p_start));
        let room = p_start.saturating_sub(at(self.client)).saturating_sub(1);
        row.text(at(self.client), c, t.bold(), room.max(1));
        row.into_line()
    }
}

/// Rows an entry takes: its arrow, and the rest of a label that does not fit on it.
fn entry_height(h: &Detail, e: &Step, lanes: &Lanes) -> usize {
    match &e.what {
        TimelineWhat::Request { leg, text } | TimelineWhat::Response { leg, text, .. } => {
            let room = label_room(lanes.client, leg_end(h, *leg, lanes));
            label_lines(text, room).len().max(1)
        }
        TimelineWhat::Kdc { text, .. } | TimelineWhat::Dns { text, .. } => label_lines(
            &format!("> {text}"),
            third_party_room(lanes).saturating_sub(2),
        )
        .len()
        .max(1),
        _ => 1,
    }
}

/// Columns for a line of the client's KDC or DNS exchange, beside the client's lane.
fn third_party_room(lanes: &Lanes) -> usize {
    lanes
        .hop
        .saturating_sub(lanes.client)
        .saturating_sub(2)
        .max(8)
}

/// Label lines on an arrow at most: longer labels end with an ellipsis.
const LABEL_LINES: usize = 3;

/// Columns for a label on an arrow between `left` and `right`.
fn label_room(left: usize, right: usize) -> usize {
    right.saturating_sub(left).saturating_sub(7)
}

/// A label broken at spaces into lines of `room`, at most [`LABEL_LINES`].
fn label_lines(text: &str, room: usize) -> Vec<String> {
    let mut lines = crate::present::wrap_words(text, room.max(4));
    if lines.len() > LABEL_LINES {
        lines.truncate(LABEL_LINES);
        if let Some(last) = lines.last_mut() {
            *last = clip(&format!("{last} …"), room.max(4));
        }
    }
    lines
}

fn entry_lines(
    h: &Detail,
    e: &Step,
    lanes: &Lanes,
    dw: usize,
    t: &Theme,
    cursor: bool,
) -> Vec<Line<'static>> {
    let mut row = Row::new(lanes.gutter);
    row.text(0, if cursor { ">" } else { " " }, Style::new(), 1);
    let delta = if e.delta_ns == 0 {
        String::new()
    } else {
        format!("+{}", human_delta(e.delta_ns))
    };
    row.text(1, &format!("{delta:>8}"), t.dim(), 8);
    let conn = format!("{:<4}", crate::handshake::conn_label(e.conn));
    row.text(10, &conn, t.conn(e.conn), 4);
    // The frame Wireshark shows the line on, for its Go to Packet.
    let frame = h.frame_label(e.frame);
    row.text(GUTTER, &frame, t.dim(), frame.len());
    let lifelines = || {
        let mut d = Row::new(dw);
        for x in [lanes.client, lanes.hop, lanes.origin] {
            d.put(x, '│', t.dim());
        }
        d
    };
    let mut d = lifelines();
    let mut more: Vec<Row> = Vec::new();
    match &e.what {
        TimelineWhat::Request { leg, text } => {
            let to = leg_end(h, *leg, lanes);
            more = arrow(
                &mut d,
                lanes.client,
                to,
                text,
                true,
                t.bold(),
                lanes,
                &lifelines,
            );
        }
        TimelineWhat::Response { leg, status, text } => {
            let from = leg_end(h, *leg, lanes);
            more = arrow(
                &mut d,
                lanes.client,
                from,
                text,
                false,
                t.status(*status),
                lanes,
                &lifelines,
            );
        }
        TimelineWhat::Tcp(k) => tcp(&mut d, k, lanes, t),
        TimelineWhat::IisStatus { text, .. } | TimelineWhat::SecurityEvent { text, .. } => {
            // Written by the server: beside its lane.
            let label = format!(" {text}");
            let room = dw.saturating_sub(lanes.origin).saturating_sub(1);
            d.text(lanes.origin.saturating_add(1), &label, t.warning(), room);
        }
        TimelineWhat::Kdc { by, text } | TimelineWhat::Dns { by, text } => {
            // The client's third party (its KDC, its DNS): beside the client's lane, the
            // arrow saying which way.
            let arrow = match by {
                crate::handshake::Side::Client => "⇢",
                crate::handshake::Side::Server => "⇠",
            };
            // Continuation lines are indented by two: every line has two columns less.
            let room = third_party_room(lanes).saturating_sub(2);
            let mut lines = label_lines(&format!("{arrow} {text}"), room).into_iter();
            let first = lines.next().unwrap_or_default();
            d.text(lanes.client.saturating_add(1), &first, t.dim(), room);
            more = lines
                .map(|l| {
                    let mut r = lifelines();
                    r.text(lanes.client.saturating_add(3), &l, t.dim(), room);
                    r
                })
                .collect();
        }
    }
    let mut line = row.into_line();
    line.spans.extend(d.into_line().spans);
    let mut out = vec![line];
    for d in more {
        let mut line = Row::new(lanes.gutter).into_line();
        line.spans.extend(d.into_line().spans);
        out.push(line);
    }
    out
}

/// The far end of a leg: the proxy for proxy authentication, else the origin.
fn leg_end(h: &Detail, leg: usize, lanes: &Lanes) -> usize {
    match h.legs.get(leg) {
        Some(l) if l.proxy => lanes.hop,
        _ => lanes.origin,
    }
}

/// An arrow between `left` and `right`, pointing right for a request; a label longer than
/// the arrow goes on under it, between the same lifelines (the rows returned).
#[allow(clippy::too_many_arguments)]
fn arrow(
    d: &mut Row,
    left: usize,
    right: usize,
    text: &str,
    req: bool,
    st: Style,
    lanes: &Lanes,
    lifelines: &dyn Fn() -> Row,
) -> Vec<Row> {
    let from = left.saturating_add(1);
    d.fill(from, right, '─', st);
    if lanes.proxied && right > lanes.hop && lanes.hop > left {
        d.put(lanes.hop, '┼', st);
    }
    if req {
        d.put(right.saturating_sub(1), '▶', st);
    } else {
        d.put(from, '◀', st);
    }
    let room = label_room(left, right);
    let mut lines = label_lines(text, room).into_iter();
    let first = lines.next().unwrap_or_default();
    d.text(
        from.saturating_add(2),
        &format!(" {first} "),
        st,
        room.saturating_add(2),
    );
    lines
        .map(|l| {
            let mut r = lifelines();
            r.text(from.saturating_add(3), &l, st, room);
            r
        })
        .collect()
}

fn tcp(d: &mut Row, k: &ConnEventKind, lanes: &Lanes, t: &Theme) {
    let span_to = lanes.hop;
    // The far end of the connection is the proxy when there is one.
    let side_name = |s: Side| match s {
        Side::Client => "client",
        Side::Server if lanes.proxied => "proxy",
        Side::Server => "server",
    };
    let (text, side, st) = match k {
        ConnEventKind::Open { .. } | ConnEventKind::Tls { .. } => {
            d.fill(lanes.client.saturating_add(1), span_to, '┄', t.dim());
            let label = format!(" {k} ");
            let room = span_to.saturating_sub(lanes.client).saturating_sub(2);
            d.text(lanes.client.saturating_add(2), &label, t.dim(), room);
            return;
        }
        ConnEventKind::Fin { by } => (format!("FIN from {}", side_name(*by)), *by, t.dim()),
        ConnEventKind::Rst { by } => (format!("RST from {} ✕", side_name(*by)), *by, t.error()),
        ConnEventKind::Gap { by, len } => (
            format!("gap: {len} bytes from {} not captured", side_name(*by)),
            *by,
            t.warning(),
        ),
        ConnEventKind::TlsAlert {
            by,
            level,
            description,
        } => (
            format!(
                "TLS {} {} from {}",
                crate::tls::alert_level_name(*level),
                crate::tls::alert_name(*description),
                side_name(*by)
            ),
            *by,
            // close_notify is how TLS ends; a fatal alert is a failure.
            if *level == 2 { t.error() } else { t.dim() },
        ),
        ConnEventKind::H2 { by, frame } => (
            format!("h2 {frame} from {}", side_name(*by)),
            *by,
            match frame {
                crate::http::H2Frame::Settings { .. } => t.dim(),
                crate::http::H2Frame::GoAway { code: 0, .. } => t.dim(),
                _ => t.error(),
            },
        ),
    };
    match side {
        Side::Client => {
            d.put(lanes.client, '├', st);
            d.text(
                lanes.client.saturating_add(1),
                &format!("─ {text}"),
                st,
                span_to.saturating_sub(1),
            );
        }
        Side::Server => {
            d.put(span_to, '┤', st);
            let s = format!("{text} ─");
            let n = s.chars().count();
            let start = span_to
                .saturating_sub(n)
                .max(lanes.client.saturating_add(1));
            d.text(start, &s, st, span_to.saturating_sub(start));
        }
    }
}
