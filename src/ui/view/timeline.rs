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
    let top = s
        .timeline_top
        .min(cur)
        .max(cur.saturating_add(1).saturating_sub(rows));
    for (i, e) in h.timeline.iter().enumerate().skip(top).take(rows) {
        let mut line = entry_line(h, e, &lanes, dw, t, i == cur);
        if i == cur {
            line = line.style(t.selected(focused));
        }
        lines.push(line);
    }
    Paragraph::new(lines).render(inner, buf);
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
        let hop = if proxied { right / 2 } else { right };
        Lanes {
            client: 0,
            hop,
            origin: right,
            proxied,
            gutter,
        }
    }

    fn labels(&self, h: &Detail, width: usize, t: &Theme) -> Line<'static> {
        let mut row = Row::new(width);
        let at = |x: usize| self.gutter.saturating_add(x);
        let client = format!("client {}", h.client_socket);
        row.text(at(self.client), &client, t.bold(), width);
        let hop_name = if self.proxied {
            format!("proxy {}", h.server)
        } else {
            format!("server {}", h.server)
        };
        place_right(&mut row, at(self.hop), &hop_name, t.bold(), self.proxied);
        if self.proxied {
            let origin = format!("origin {}", h.host.as_deref().unwrap_or("?"));
            place_right(&mut row, at(self.origin), &origin, t.bold(), false);
        }
        row.into_line()
    }
}

/// Writes `text` ending at column `end` (or centred on it).
fn place_right(row: &mut Row, end: usize, text: &str, st: Style, centred: bool) {
    let n = text.chars().count();
    let start = if centred {
        end.saturating_sub(n / 2)
    } else {
        end.saturating_add(1).saturating_sub(n)
    };
    row.text(start, text, st, row.width().saturating_sub(start));
}

fn entry_line(
    h: &Detail,
    e: &Step,
    lanes: &Lanes,
    dw: usize,
    t: &Theme,
    cursor: bool,
) -> Line<'static> {
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
    let mut d = Row::new(dw);
    let lane = t.dim();
    for x in [lanes.client, lanes.hop, lanes.origin] {
        d.put(x, '│', lane);
    }
    match &e.what {
        TimelineWhat::Request { leg, text } => {
            let to = leg_end(h, *leg, lanes);
            arrow(&mut d, lanes.client, to, text, true, t.bold(), lanes);
        }
        TimelineWhat::Response { leg, status, text } => {
            let from = leg_end(h, *leg, lanes);
            arrow(
                &mut d,
                lanes.client,
                from,
                text,
                false,
                t.status(*status),
                lanes,
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
            let label = format!("{arrow} {text}");
            let room = lanes.hop.saturating_sub(lanes.client).saturating_sub(2);
            d.text(lanes.client.saturating_add(1), &label, t.dim(), room.max(8));
        }
    }
    let mut line = row.into_line();
    line.spans.extend(d.into_line().spans);
    line
}

/// The far end of a leg: the proxy for proxy authentication, else the origin.
fn leg_end(h: &Detail, leg: usize, lanes: &Lanes) -> usize {
    match h.legs.get(leg) {
        Some(l) if l.proxy => lanes.hop,
        _ => lanes.origin,
    }
}

/// An arrow between `left` and `right`, pointing right for a request.
fn arrow(d: &mut Row, left: usize, right: usize, text: &str, req: bool, st: Style, lanes: &Lanes) {
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
    let room = right.saturating_sub(from).saturating_sub(4);
    let label = format!(" {} ", clip(text, room.saturating_sub(2)));
    d.text(from.saturating_add(2), &label, st, room);
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
