//! The text report: findings first, most severe first, then a block per handshake with its
//! timeline, then the counters; wrapped at the terminal's width (80 columns off a terminal).

use super::*;

/// The text report: findings first, most severe first; then one block per handshake with
/// its timeline; then the counters. Fits the width of its style.
pub(super) struct TextReport<'a> {
    pub(super) summary: &'a Summary,
    pub(super) inputs: &'a dyn Inputs,
    pub(super) shown: &'a [Analysed],
    pub(super) hidden: u64,
    pub(super) groups: &'a BTreeMap<&'static str, Group>,
    pub(super) style: Style,
    /// The blocks were printed as their handshakes completed (live capture).
    pub(super) streamed: bool,
}

/// Colours (or not) for the text report.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    pub(super) color: bool,
    /// The columns lines wrap at.
    pub(super) width: usize,
}

impl Style {
    pub(super) fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(super) fn severity(&self, s: Severity) -> String {
        let (code, word) = match s {
            Severity::Error => ("1;31", "ERROR  "),
            Severity::Warning => ("33", "WARNING"),
            Severity::Info => ("36", "INFO   "),
        };
        self.paint(code, word)
    }
}

impl TextReport<'_> {
    pub(super) fn paint(&self, code: &str, text: &str) -> String {
        self.style.paint(code, text)
    }

    pub(super) fn severity(&self, s: Severity) -> String {
        self.style.severity(s)
    }

    pub(super) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let s = self.summary;
        if self.streamed {
            writeln!(out)?;
        }
        self.inputs.text_header(out)?;
        if self.inputs.no_capture() {
            return self.server_logs(out);
        }
        let mut groups: Vec<&Group> = self.groups.values().collect();
        groups.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(is_symptom(a.code).cmp(&is_symptom(b.code)))
                .then(b.count.cmp(&a.count))
                .then(a.code.cmp(b.code))
        });
        writeln!(out)?;
        if groups.is_empty() {
            writeln!(out, "{}", self.paint("1", "FINDINGS: none"))?;
        } else {
            let by: Vec<String> = ["error", "warning", "info"]
                .iter()
                .filter_map(|k| s.findings_by_severity.get(k).map(|n| format!("{n} {k}")))
                .collect();
            writeln!(
                out,
                "{}",
                self.paint("1", &format!("FINDINGS ({})", by.join(", ")))
            )?;
            for g in groups {
                self.group(out, g)?;
            }
        }
        writeln!(out)?;
        if self.streamed {
            writeln!(
                out,
                "{}",
                self.paint(
                    "1",
                    &format!(
                        "HANDSHAKES ({}, shown above as they completed)",
                        s.handshakes
                    )
                )
            )?;
        } else if self.shown.is_empty() {
            writeln!(out, "{}", self.paint("1", "HANDSHAKES: none"))?;
        } else {
            writeln!(
                out,
                "{}",
                self.paint("1", &format!("HANDSHAKES ({})", s.handshakes))
            )?;
        }
        for a in self.shown {
            self.style.handshake(out, a, Some(self.inputs))?;
        }
        if self.hidden > 0 {
            writeln!(
                out,
                "\n({} more handshakes not shown; --all-handshakes shows every one, --format \
                 json has them all)",
                self.hidden
            )?;
        }
        writeln!(out)?;
        self.server_logs(out)?;
        self.counters(out)
    }

    fn server_logs(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(logs) = &self.summary.server_logs {
            writeln!(out, "{}", self.paint("1", "SERVER LOGS"))?;
            for line in crate::present::server_log_lines(logs, self.inputs.no_capture()) {
                writeln!(out, "  {}", shown(&line))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

impl TextReport<'_> {
    /// One code's findings: the code, then each distinct wording with the handshakes it
    /// concerns, so that a summary is never shown for a handshake it does not describe.
    pub(super) fn group(&self, out: &mut dyn Write, g: &Group) -> io::Result<()> {
        let ids = |v: &Variant| {
            let mut ids: Vec<String> = v.examples.iter().map(|i| format!("#{i}")).collect();
            if v.count > v.examples.len() as u64 {
                ids.push("...".to_owned());
            }
            ids.join(", ")
        };
        // A finding about connections names its server; one about handshakes, which.
        let whom = |v: &Variant| {
            if v.examples.is_empty() {
                format!("server {}", v.target)
            } else if v.count == 1 {
                format!("handshake {}  {}", ids(v), v.target)
            } else {
                format!("x{}  handshakes {}", v.count, ids(v))
            }
        };
        let one_step = g.variants.iter().all(|v| {
            g.variants
                .first()
                .is_some_and(|f| f.next_step == v.next_step)
        });
        match g.variants.as_slice() {
            [v] if g.more == 0 => {
                let whom = whom(v);
                writeln!(
                    out,
                    "{} {}  {}",
                    self.severity(g.severity),
                    self.paint("1", g.code),
                    whom
                )?;
                wrap(out, "        ", &v.summary, self.style.width)?;
                wrap(out, "        next: ", &v.next_step, self.style.width)?;
            }
            variants => {
                writeln!(
                    out,
                    "{} {}  x{}",
                    self.severity(g.severity),
                    self.paint("1", g.code),
                    g.count
                )?;
                for v in variants {
                    wrap(out, "        ", &whom(v), self.style.width)?;
                    wrap(out, "          ", &v.summary, self.style.width)?;
                    if !one_step {
                        wrap(out, "          next: ", &v.next_step, self.style.width)?;
                    }
                }
                if g.more > 0 {
                    writeln!(out, "        ({} more worded otherwise)", g.more)?;
                }
                if one_step {
                    if let Some(v) = variants.first() {
                        wrap(out, "        next: ", &v.next_step, self.style.width)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Style {
    /// One handshake's block: who, against what, the outcome, the timeline.
    /// A handshake's block; `inputs` names its file when there are several captures.
    pub(super) fn handshake(
        &self,
        out: &mut dyn Write,
        a: &Analysed,
        inputs: Option<&dyn Inputs>,
    ) -> io::Result<()> {
        let h = &a.handshake;
        let outcome = match h.outcome {
            Outcome::Success => self.paint("32", &h.outcome.label()),
            Outcome::InProgress => h.outcome.label(),
            _ => self.paint("31", &h.outcome.label()),
        };
        let mut who = String::new();
        if let Some(u) = h.user.as_deref().filter(|u| !u.is_empty()) {
            match h.domain.as_deref().filter(|d| !d.is_empty()) {
                Some(d) => who.push_str(&format!("{d}\\{u}")),
                None => who.push_str(u),
            }
            if let Some(w) = h.workstation.as_deref().filter(|w| !w.is_empty()) {
                who.push_str(&format!(" on {w}"));
            }
            who.push_str("  ");
        }
        writeln!(
            out,
            "\n{} {}{}  {}{}",
            self.paint("1", &format!("#{}", h.id)),
            shown(h.scheme.as_str()),
            if h.proxy { " (proxy)" } else { "" },
            shown(&who),
            outcome
        )?;
        writeln!(out, "   {} -> {}  {}", h.client_socket, h.server, target(h))?;
        let several = inputs.is_some_and(|i| i.captures() > 1);
        if several {
            let name = inputs
                .and_then(|i| i.capture_name(h.input))
                .unwrap_or_default();
            writeln!(
                out,
                "   file {}: {}",
                h.input.saturating_add(1),
                shown(&name)
            )?;
        }
        let mut facts = Vec::new();
        if !h.offered.is_empty() {
            facts.push(format!("offered: {}", h.offered.join(", ")));
        }
        if let Some(spn) = &h.spn {
            match &h.realm {
                Some(r) => facts.push(format!("spn: {spn} (realm {r})")),
                None => facts.push(format!("spn: {spn}")),
            }
        }
        if h.rounds > 1 {
            facts.push(format!("rounds: {}", h.rounds));
        }
        if h.reused_requests > 0 {
            facts.push(format!("+{} requests reusing it", h.reused_requests));
        }
        if !facts.is_empty() {
            writeln!(out, "   {}", shown(&facts.join("  ")))?;
        }
        for e in &h.timeline {
            let delta = if e.delta_ns == 0 {
                String::new()
            } else {
                format!("+{}", human_delta(e.delta_ns))
            };
            let text = match &e.what {
                TimelineWhat::Request { text, .. } => format!("-> {text}"),
                TimelineWhat::Response { text, .. } => format!("<- {text}"),
                TimelineWhat::Tcp(k) => tcp_text(k),
                TimelineWhat::IisStatus { text, .. } | TimelineWhat::SecurityEvent { text, .. } => {
                    format!("   server log: {text}")
                }
                TimelineWhat::Kdc { by, text } | TimelineWhat::Dns { by, text } => match by {
                    crate::handshake::Side::Client => format!(">> {text}"),
                    crate::handshake::Side::Server => format!("<< {text}"),
                },
            };
            // `f12`: the frame Wireshark shows this on, to type into its Go to Packet; `2:f12`
            // in the second of several files.
            let frame = if several {
                format!("{}:f{}", h.input.saturating_add(1), e.frame)
            } else {
                format!("f{}", e.frame)
            };
            let lead = format!(
                "   {} {:>9} {:<4} {:<6} ",
                clock(e.ts),
                delta,
                e.conn_label(),
                frame
            );
            hang(out, &lead, &clip(&text, 240), self.width)?;
        }
        if !a.findings.is_empty() {
            let codes: Vec<&str> = a.findings.iter().map(|f| f.code).collect();
            writeln!(out, "   findings: {}", codes.join(", "))?;
        }
        Ok(())
    }
}

impl TextReport<'_> {
    pub(super) fn counters(&self, out: &mut dyn Write) -> io::Result<()> {
        let s = self.summary;
        let st = &s.stats;
        if let (Some(a), Some(b)) = (st.first, st.last) {
            writeln!(
                out,
                "span:        {} .. {} ({:.3} s)",
                rfc3339(a),
                rfc3339(b),
                b.since(a) as f64 / 1e9
            )?;
        }
        writeln!(
            out,
            "packets:     {} ({} TCP segments)",
            st.packets, st.net.tcp_segments
        )?;
        let ended: Vec<String> = s.ended.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(
            out,
            "connections: {} ({} HTTP; ended: {})",
            s.connections,
            s.http_connections,
            if ended.is_empty() {
                "-".into()
            } else {
                ended.join(", ")
            }
        )?;
        if st.tls.connections > 0 {
            writeln!(
                out,
                "tls:         {} connections, {} decrypted ({} key log lines read)",
                st.tls.connections, st.tls.decrypted, st.tls_keys.lines
            )?;
        }
        writeln!(
            out,
            "http:        {} requests, {} responses, {} exchanges",
            st.http.requests, st.http.responses, s.exchanges
        )?;
        let h2 = &st.http.h2;
        if !h2.is_empty() {
            let upgraded = if h2.upgrades > 0 {
                format!(" ({} upgraded from h2c)", h2.upgrades)
            } else {
                String::new()
            };
            writeln!(
                out,
                "http/2:      {} connections{upgraded}, {} streams, {} frames, {} RST_STREAM, {} GOAWAY",
                h2.connections, h2.streams, h2.frames, h2.resets, h2.goaways
            )?;
        }
        if !s.statuses.is_empty() {
            let codes: Vec<String> = s
                .statuses
                .iter()
                .map(|(k, v)| format!("{k} x{v}"))
                .collect();
            writeln!(out, "statuses:    {}", codes.join(", "))?;
        }
        let kinds: Vec<String> = s
            .handshakes_by_scheme
            .iter()
            .map(|(k, v)| format!("{k} {}", v.values().sum::<u64>()))
            .collect();
        writeln!(
            out,
            "handshakes:  {}{}",
            s.handshakes,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            }
        )?;
        let mut notes = Vec::new();
        if st.net.truncated_segments > 0 {
            notes.push(format!(
                "{} segments cut by the snap length",
                st.net.truncated_segments
            ));
        }
        if st.tcp.gaps > 0 {
            notes.push(format!(
                "{} gaps ({} bytes never seen)",
                st.tcp.gaps, st.tcp.gap_bytes
            ));
        }
        if st.net.malformed > 0 {
            notes.push(format!("{} malformed frames", st.net.malformed));
        }
        if st.http.malformed_heads > 0 {
            notes.push(format!("{} malformed HTTP heads", st.http.malformed_heads));
        }
        if h2.malformed_frames > 0 {
            notes.push(format!("{} malformed HTTP/2 frames", h2.malformed_frames));
        }
        if h2.hpack_errors > 0 {
            notes.push(format!(
                "{} HTTP/2 header blocks HPACK could not decode",
                h2.hpack_errors
            ));
        }
        // Every cap is counted: say which were hit (the JSON summary has each counter).
        let limits: Vec<String> = [
            (st.tcp.evicted_connections, "connections evicted"),
            (
                st.tcp.forgotten_closed,
                "closed connections forgotten early",
            ),
            (st.tcp.buffer_limit_hits, "out-of-order buffers full"),
            (st.http.head_cap_hits, "HTTP heads too large"),
            (st.http.pending_cap_hits, "pipelined requests unpaired"),
            (st.http.interim_cap_hits, "interim responses dropped"),
            (h2.hpack_table_cap_hits, "HPACK tables over their cap"),
            (h2.header_list_cap_hits, "HTTP/2 header lists cut"),
            (h2.stream_cap_hits, "HTTP/2 streams not followed"),
            (st.net.ipv4_fragments_dropped, "IPv4 fragments dropped"),
            (st.http.budget_hits, "HTTP memory budget full"),
            (st.tls.budget_hits, "TLS memory budget full"),
            (
                st.correlate.open_cap_hits,
                "handshakes finished early (too many open)",
            ),
            (
                st.correlate.client_cap_hits,
                "handshakes finished early (too many open for one client)",
            ),
            (
                st.correlate.bytes_cap_hits,
                "handshakes finished early (too much held)",
            ),
            (st.correlate.legs_dropped, "legs not kept"),
            (st.correlate.conn_events_dropped, "TCP events not kept"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !limits.is_empty() {
            notes.push(format!("limits hit: {}", limits.join(", ")));
        }
        for n in notes {
            writeln!(out, "note:        {}", shown(&n))?;
        }
        // The warnings go to standard error (the command line writes them from the
        // summary), where a reader of the report looks for them.
        Ok(())
    }
}

/// `host/resource` as the text report shows it (made harmless: see [`shown`]).
pub(super) fn target(h: &crate::handshake::Handshake) -> String {
    shown(&crate::present::target(h)).into_owned()
}

/// A value cut to `max` characters, in ASCII.
pub(super) fn clip(s: &str, max: usize) -> String {
    crate::present::clip_with(s, max, "...")
}

pub(super) fn tcp_text(k: &crate::handshake::ConnEventKind) -> String {
    k.to_string()
}

/// Writes `lead` then `text`, continuing on lines indented to the text's column so that no
/// line passes `width` (a word longer than the room is cut across lines).
pub(super) fn hang(out: &mut dyn Write, lead: &str, text: &str, width: usize) -> io::Result<()> {
    let indent = lead.chars().count();
    let room = width.saturating_sub(indent).max(20);
    for (i, line) in crate::present::wrap_words(&shown(text), room)
        .iter()
        .enumerate()
    {
        if i == 0 {
            writeln!(out, "{lead}{line}")?;
        } else {
            writeln!(out, "{:indent$}{line}", "")?;
        }
    }
    Ok(())
}

/// Writes `text` wrapped at `width` columns, the first line after `lead`, the rest indented.
pub(super) fn wrap(out: &mut dyn Write, lead: &str, text: &str, width: usize) -> io::Result<()> {
    let text = &*shown(text);
    // Continuation lines line up with the lead's own indentation.
    let indent = " ".repeat(lead.len().saturating_sub(lead.trim_start().len()));
    let mut line = lead.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty
            && line
                .chars()
                .count()
                .saturating_add(word.len())
                .saturating_add(1)
                > width
        {
            writeln!(out, "{line}")?;
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    writeln!(out, "{line}")
}
