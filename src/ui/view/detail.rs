//! The detail of the selected leg: the request and the response, each decoded token as a
//! tree, and the raw heads on request (`r`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::capture::Timestamp;
use crate::http::Header;
use crate::present::{clock, human_delta};
use crate::ui::app::{Pane, RawHeads, State};
use crate::ui::spool::{Detail, LegDetail};
use crate::ui::strings;
use crate::ui::theme::Theme;

use crate::present::tree;

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme, wide: bool) {
    if area.is_empty() {
        return;
    }
    let focused = s.focus == Pane::Detail;
    let leg_no = s.current_leg();
    let own = match leg_no {
        Some(n) => format!("Leg {}", n.saturating_add(1)),
        None => "Leg".to_owned(),
    };
    let title = super::pane_tabs(s, Pane::Detail, &own, wide);
    Paragraph::new(lines(s, t))
        .block(super::pane_block(title, focused, t))
        .scroll((s.detail_scroll.min(u16::MAX / 2), 0))
        .render(area, buf);
}

/// Lines of the detail as drawn.
pub fn line_count(s: &State) -> usize {
    lines(s, &Theme::plain()).len()
}

fn lines(s: &State, t: &Theme) -> Vec<Line<'static>> {
    let leg_no = s.current_leg();
    match (s.current(), s.detail(), leg_no) {
        (Some(_), Some(d), Some(n)) => match d.legs.get(n) {
            Some(leg) => leg_lines(
                d,
                leg,
                leg.raw.as_ref(),
                s.show_raw,
                s.cursor_on_response(),
                t,
            ),
            None => vec![Line::styled(strings::NO_LEG, t.dim())],
        },
        (None, _, _) => vec![Line::styled(strings::NO_SELECTION, t.dim())],
        (Some(_), None, _) => super::no_detail(s, t),
        (Some(_), Some(_), None) => vec![Line::styled(strings::NO_LEG, t.dim())],
    }
}

/// Every line of a leg's detail.
fn leg_lines(
    d: &Detail,
    leg: &LegDetail,
    raw: Option<&RawHeads>,
    show_raw: bool,
    response_first: bool,
    t: &Theme,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut head = format!("on c{}", leg.conn);
    if leg.proxy {
        head.push_str(" (proxy authentication)");
    }
    if let Some(l) = leg.latency_ns {
        head.push_str(&format!(", answered in {}", human_delta(l)));
    }
    out.push(Line::styled(head, t.dim()));
    let mut req = Vec::new();
    request_lines(&mut req, d, leg, t);
    let mut resp = Vec::new();
    response_lines(&mut resp, d, leg, t);
    if response_first {
        out.extend(resp);
        out.extend(req);
    } else {
        out.extend(req);
        out.extend(resp);
    }
    out.push(Line::raw(""));
    match (show_raw, raw) {
        (false, _) => out.push(Line::styled(strings::RAW_HIDDEN, t.dim())),
        (true, None) => out.push(Line::styled(strings::RAW_MISSING, t.dim())),
        (true, Some(raw)) => {
            for heads in [&raw.request, &raw.response].into_iter().flatten() {
                push_heads(&mut out, heads, t);
                out.push(Line::raw(""));
            }
        }
    }
    out
}

fn push_heads(out: &mut Vec<Line<'static>>, heads: &[Header], t: &Theme) {
    for h in heads {
        if h.name.is_empty() {
            out.push(Line::styled(h.value.to_string(), t.bold()));
        } else {
            out.push(Line::from(vec![
                Span::styled(format!("{}: ", h.name), t.key()),
                Span::raw(h.value.to_string()),
            ]));
        }
    }
}

fn push_tree(out: &mut Vec<Line<'static>>, roots: &[tree::Node], t: &Theme) {
    for (guide, label, value) in tree::lines(roots) {
        let mut spans = vec![
            Span::styled(format!("    {guide}"), t.dim()),
            Span::styled(label, if guide.is_empty() { t.key() } else { t.bold() }),
        ];
        if let Some(v) = value {
            spans.push(Span::raw(format!(": {v}")));
        }
        out.push(Line::from(spans));
    }
}

fn request_lines(out: &mut Vec<Line<'static>>, d: &Detail, leg: &LegDetail, t: &Theme) {
    match &leg.request {
        Some(r) => {
            out.push(Line::from(vec![
                Span::styled("Request ", t.bold()),
                Span::raw(format!("{} {}{}", r.method, r.uri, leg.notes)),
                Span::styled(
                    format!("  {} at {}", d.frame_words(r.frame), clock(Timestamp(r.ts))),
                    t.dim(),
                ),
            ]));
            if let Some(c) = &r.connection {
                out.push(Line::raw(format!("  Connection: {c}")));
            }
            match &r.credential {
                Some(c) => {
                    out.push(Line::raw(format!("  {}:", c.kind)));
                    push_tree(out, &tree::of_value(&c.tree), t);
                }
                None => out.push(Line::styled("  no credentials (anonymous)", t.dim())),
            }
        }
        None => out.push(Line::styled("Request not captured", t.dim())),
    }
}

fn response_lines(out: &mut Vec<Line<'static>>, d: &Detail, leg: &LegDetail, t: &Theme) {
    match &leg.response {
        Some(r) => {
            let mut status = format!("{} {}", r.status, r.reason).trim_end().to_owned();
            if let Some(sub) = &r.iis_substatus {
                status.push_str(&format!(" (IIS {sub})"));
            }
            out.push(Line::from(vec![
                Span::styled("Response ", t.bold()),
                Span::styled(status, t.status(r.status)),
                Span::styled(
                    format!("  {} at {}", d.frame_words(r.frame), clock(Timestamp(r.ts))),
                    t.dim(),
                ),
            ]));
            if let Some(c) = &r.connection {
                out.push(Line::raw(format!("  Connection: {c}")));
            }
            match &r.challenges {
                Some(c) => {
                    out.push(Line::raw(format!("  {}:", c.kind)));
                    push_tree(out, &tree::of_value(&c.tree), t);
                }
                None => out.push(Line::styled("  no challenge", t.dim())),
            }
        }
        None => match &leg.cut {
            Some(cut) => out.push(Line::from(vec![
                Span::styled("Response ", t.bold()),
                Span::styled(format!("none: {cut}"), t.error()),
            ])),
            None => out.push(Line::styled("Response not captured", t.dim())),
        },
    }
}
