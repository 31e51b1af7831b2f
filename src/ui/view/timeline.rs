//! The timeline of the selected handshake as a sequence diagram: client and server (and the
//! proxy between them when there is one, and the client's KDC and DNS server on a third lane
//! at the right when messages to them joined), each leg an arrow with its method or status
//! and a summary of its token, TCP events on the side that sent them, the connection id and
//! the frame beside each line and the time since the line before.

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
use std::net::SocketAddr;

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
    /// The client's KDC and DNS server, right of the server (as in the Mermaid export).
    third: Option<usize>,
    /// Columns before the diagram.
    gutter: usize,
}

impl Lanes {
    fn of(h: &Detail, dw: usize, gutter: usize) -> Lanes {
        let proxied = h.proxy || h.resource.contains("://") || h.legs.iter().any(|l| l.proxy);
        let right = dw.saturating_sub(2);
        let third = h
            .timeline
            .iter()
            .any(|e| matches!(e.what, TimelineWhat::Kdc { .. } | TimelineWhat::Dns { .. }));
        let part = |n: usize, of: usize| right.saturating_mul(n) / of;
        // Proxy authentication ends at the proxy: its arrows get the larger share. The KDC's
        // lines are fewer than the HTTP legs: its lane takes the last quarter.
        let (hop, origin) = match (proxied, third) {
            (false, false) => (right, right),
            (true, false) => (part(2, 3), right),
            (false, true) => (part(3, 4), part(3, 4)),
            (true, true) => (part(1, 2), part(3, 4)),
        };
        Lanes {
            client: 0,
            hop,
            origin,
            proxied,
            third: third.then_some(right),
            gutter,
        }
    }

    /// The lifelines strictly between `left` and `right`, which an arrow crosses.
    fn crossed(&self, left: usize, right: usize) -> Vec<usize> {
        let mut xs = vec![self.hop];
        if self.origin != self.hop {
            xs.push(self.origin);
        }
        xs.retain(|x| left < *x && *x < right);
        xs
    }

    fn all(&self) -> Vec<usize> {
        let mut xs = vec![self.client, self.hop, self.origin];
        xs.extend(self.third);
        xs
    }

    /// The names over the lifelines, shortened together until none runs into the next.
    fn labels(&self, h: &Detail, width: usize, t: &Theme) -> Line<'static> {
        let mut row = Row::new(width);
        let at = |x: usize| self.gutter.saturating_add(x);
        let named = |word: &str, a: SocketAddr| {
            [
                format!("{word} {a}"),
                format!("{word} {}", a.ip()),
                a.ip().to_string(),
                word.to_owned(),
            ]
        };
        let hop_word = if self.proxied { "proxy" } else { "server" };
        let host = h.host.as_deref().unwrap_or("?");
        // Each lane's names, longest first, where its name is anchored (the client's starts
        // at its lifeline, the others end at theirs), and whether the last word is its role.
        let mut lanes: Vec<([String; 4], usize, bool)> = vec![
            (named("client", h.client_socket), at(self.client), true),
            (named(hop_word, h.server), at(self.hop), true),
        ];
        if self.proxied {
            let origin = [
                format!("origin {host}"),
                format!("origin {host}"),
                host.to_owned(),
                "origin".to_owned(),
            ];
            lanes.push((origin, at(self.origin), false));
        }
        if let Some(x) = self.third {
            lanes.push((third_names(h), at(x), true));
        }
        let len = |s: &String| s.chars().count();
        let span = |i: usize, n: usize| {
            let a = lanes.get(i).map_or(0, |l| l.1);
            if i == 0 {
                (a, a.saturating_add(n))
            } else {
                (a.saturating_add(1).saturating_sub(n), a.saturating_add(1))
            }
        };
        // The fitting names that lose the fewest words; a lane's role (client, proxy, KDC)
        // is the last thing to lose.
        let role = |l: usize, has: bool| if has && l >= 2 { 2 } else { 0 };
        let n = lanes.len();
        let mut best: Option<(usize, Vec<usize>)> = None;
        for code in 0..4usize.pow(n as u32) {
            // The first lane is the most significant digit: on a tie, the earlier lanes keep
            // their longer names (the client its port).
            let pick: Vec<usize> = (0..n)
                .map(|i| code / 4usize.pow(n.saturating_sub(i + 1) as u32) % 4)
                .collect();
            let name = |i: usize| {
                lanes
                    .get(i)
                    .and_then(|l| pick.get(i).and_then(|p| l.0.get(*p)))
            };
            let fits = (1..n).all(|i| {
                let (_, end) = span(
                    i.saturating_sub(1),
                    name(i.saturating_sub(1)).map_or(0, len),
                );
                end < span(i, name(i).map_or(0, len)).0
            });
            let cost = lanes
                .iter()
                .zip(&pick)
                .map(|(l, p)| p.saturating_add(role(*p, l.2)))
                .sum::<usize>();
            if fits && best.as_ref().is_none_or(|(b, _)| cost < *b) {
                best = Some((cost, pick));
            }
        }
        let pick = best.map_or_else(|| vec![3; n], |(_, p)| p);
        // Written right to left, so a label that still does not fit is cut by the next.
        let mut limit = width;
        for (i, (names, _, _)) in lanes.iter().enumerate().rev() {
            let name = pick
                .get(i)
                .and_then(|p| names.get(*p))
                .map_or("", |s| s.as_str());
            let (start, _) = span(i, name.chars().count());
            let start = start.max(at(self.client));
            row.text(start, name, t.bold(), limit.saturating_sub(start).max(1));
            limit = start.saturating_sub(1);
        }
        row.into_line()
    }
}

/// The third lane's names, longest first: the KDC, the DNS server, or both.
fn third_names(h: &Detail) -> [String; 4] {
    match (h.kdc, h.dns) {
        (Some(k), Some(d)) if k.ip() == d.ip() => [
            format!("KDC/DNS {}", k.ip()),
            format!("KDC/DNS {}", k.ip()),
            k.ip().to_string(),
            "KDC/DNS".to_owned(),
        ],
        (Some(k), Some(d)) => [
            format!("KDC {} DNS {}", k.ip(), d.ip()),
            format!("KDC {}", k.ip()),
            k.ip().to_string(),
            "KDC/DNS".to_owned(),
        ],
        (Some(a), None) | (None, Some(a)) => {
            let word = if h.kdc.is_some() { "KDC" } else { "DNS" };
            [
                format!("{word} {a}"),
                format!("{word} {}", a.ip()),
                a.ip().to_string(),
                word.to_owned(),
            ]
        }
        (None, None) => [
            "KDC".to_owned(),
            "KDC".to_owned(),
            "KDC".to_owned(),
            "KDC".to_owned(),
        ],
    }
}

/// Rows an entry takes: its arrow, and the rest of a label that does not fit on it.
fn entry_height(h: &Detail, e: &Step, lanes: &Lanes) -> usize {
    match &e.what {
        TimelineWhat::Request { leg, text } | TimelineWhat::Response { leg, text, .. } => {
            let room = label_room(lanes.client, leg_end(h, *leg, lanes));
            label_lines(text, room).len().max(1)
        }
        TimelineWhat::Kdc { text, .. } | TimelineWhat::Dns { text, .. } => {
            let room = label_room(lanes.client, lanes.third.unwrap_or(lanes.origin));
            label_lines(text, room).len().max(1)
        }
        _ => 1,
    }
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
        for x in lanes.all() {
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
            let room = lanes
                .third
                .unwrap_or(dw)
                .saturating_sub(lanes.origin)
                .saturating_sub(1);
            d.text(lanes.origin.saturating_add(1), &label, t.warning(), room);
        }
        TimelineWhat::Kdc { by, text } | TimelineWhat::Dns { by, text } => {
            let req = matches!(by, Side::Client);
            let st = if req {
                t.bold()
            } else if text.contains("KRB-ERROR") {
                t.status(401)
            } else {
                t.dim()
            };
            let far = lanes.third.unwrap_or(lanes.origin);
            more = arrow(&mut d, lanes.client, far, text, req, st, lanes, &lifelines);
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
    for x in lanes.crossed(left, right) {
        d.put(x, '┼', st);
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
            after_close,
        } => (
            format!(
                "TLS {} {} from {}{}",
                crate::tls::alert_level_name(*level),
                crate::tls::alert_name(*description),
                side_name(*by),
                if *after_close && *description != 0 {
                    " after FIN"
                } else {
                    ""
                }
            ),
            *by,
            // close_notify is how TLS ends; a fatal alert is a failure, unless it answers
            // the other side's close without close_notify.
            if *level == 2 && !*after_close {
                t.error()
            } else {
                t.dim()
            },
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
