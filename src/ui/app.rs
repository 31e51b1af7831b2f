//! The state of the UI and every change to it. Rendering reads [`State`]; only [`State::apply`]
//! and [`State::take_batch`] change it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ratatui::layout::{Position, Rect};

use crate::capture::Timestamp;
use crate::diagnose::Severity;
use crate::export::Start;
use crate::filter::{Fields, Filter};
use crate::handshake::{Outcome, SchemeUsed, TimelineWhat};
use crate::pipeline::{Analysed, Stats};

use super::event::Batch;
use super::input::Action;
use super::spool::{Cache, Detail, FindingDetail, Slot, SpoolReader};
use super::strings;
use super::view;

pub use super::spool::RawHeads;

/// One handshake as the UI keeps it in memory: what the list, the sort, the filter and the
/// header's counters need, with repeated strings shared. The rest (legs, tokens, finding
/// texts, raw heads) is in the spool at `slot`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    pub client_socket: SocketAddr,
    pub server: SocketAddr,
    pub host: Option<Arc<str>>,
    pub resource: Arc<str>,
    pub proxy: bool,
    pub scheme: SchemeUsed,
    pub offered: Arc<[String]>,
    pub user: Option<Arc<str>>,
    pub domain: Option<Arc<str>>,
    pub workstation: Option<Arc<str>>,
    pub spn: Option<Arc<str>>,
    pub realm: Option<Arc<str>>,
    pub outcome: Outcome,
    /// Finding codes and severities, most severe first.
    pub findings: Codes,
    /// The most severe finding.
    pub worst: Option<Severity>,
    /// Where the details are; `None` when they could not be kept.
    pub slot: Option<Slot>,
    /// Where it starts: how an export from a live capture finds it in the saved file.
    pub start: Option<Start>,
}

impl Record {
    pub fn of(a: &Analysed, slot: Option<Slot>, strings: &mut Interner) -> Record {
        let h = &a.handshake;
        // Packet text on a person's screen: made harmless (crate::shown).
        let mut opt =
            |o: &Option<String>| o.as_deref().map(|s| strings.str(&crate::shown::shown(s)));
        let host = opt(&h.host);
        let user = opt(&h.user);
        let domain = opt(&h.domain);
        let workstation = opt(&h.workstation);
        let spn = opt(&h.spn);
        let realm = opt(&h.realm);
        let findings: Vec<(&'static str, Severity)> =
            a.findings.iter().map(|f| (f.code, f.severity)).collect();
        Record {
            id: h.id,
            first: h.first,
            last: h.last,
            client_socket: h.client_socket,
            server: h.server,
            host,
            resource: strings.str(&crate::shown::shown(&h.resource)),
            proxy: h.proxy,
            scheme: h.scheme.clone(),
            offered: strings.list(&h.offered),
            user,
            domain,
            workstation,
            spn,
            realm,
            outcome: h.outcome,
            worst: findings.iter().map(|f| f.1).max(),
            findings: strings.findings(findings),
            slot,
            start: Start::of(h),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Fields for Record {
    fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn resource(&self) -> &str {
        &self.resource
    }
    fn scheme(&self) -> &SchemeUsed {
        &self.scheme
    }
    fn offered(&self) -> &[String] {
        &self.offered
    }
    fn any_code(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.findings.iter().any(|(c, _)| f(c))
    }
    fn client_socket(&self) -> SocketAddr {
        self.client_socket
    }
    fn server(&self) -> SocketAddr {
        self.server
    }
    fn outcome(&self) -> &Outcome {
        &self.outcome
    }
    fn workstation(&self) -> Option<&str> {
        self.workstation.as_deref()
    }
    fn spn(&self) -> Option<&str> {
        self.spn.as_deref()
    }
    fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }
}

/// Finding codes with their severities, shared by the records that have the same.
pub type Codes = Arc<[(&'static str, Severity)]>;

/// Distinct strings (and lists) seen so far are kept once and shared by the records: hosts,
/// users, schemes offered and finding sets repeat across thousands of handshakes.
#[derive(Debug, Default)]
pub struct Interner {
    strs: HashMap<Arc<str>, ()>,
    lists: HashMap<Vec<String>, Arc<[String]>>,
    findings: HashMap<Vec<(&'static str, Severity)>, Codes>,
}

/// Distinct values remembered at most, per kind; past it the tables start again empty (the
/// values already handed out stay valid, only sharing is lost), so a capture of unique
/// resources cannot grow the tables beyond this.
const INTERN_MAX: usize = 1 << 16;

impl Interner {
    fn str(&mut self, s: &str) -> Arc<str> {
        if let Some((k, _)) = self.strs.get_key_value(s) {
            return Arc::clone(k);
        }
        if self.strs.len() >= INTERN_MAX {
            self.strs.clear();
        }
        let k: Arc<str> = Arc::from(s);
        self.strs.insert(Arc::clone(&k), ());
        k
    }

    fn list(&mut self, l: &[String]) -> Arc<[String]> {
        if let Some(v) = self.lists.get(l) {
            return Arc::clone(v);
        }
        if self.lists.len() >= INTERN_MAX {
            self.lists.clear();
        }
        let v: Arc<[String]> = Arc::from(l);
        self.lists.insert(l.to_vec(), Arc::clone(&v));
        v
    }

    fn findings(&mut self, f: Vec<(&'static str, Severity)>) -> Codes {
        if let Some(v) = self.findings.get(&f) {
            return Arc::clone(v);
        }
        if self.findings.len() >= INTERN_MAX {
            self.findings.clear();
        }
        let v: Codes = Arc::from(f.as_slice());
        self.findings.insert(f, Arc::clone(&v));
        v
    }
}

/// The panes that take the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    List,
    Timeline,
    Detail,
    Findings,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::List => Pane::Timeline,
            Pane::Timeline => Pane::Detail,
            Pane::Detail => Pane::Findings,
            Pane::Findings => Pane::List,
        }
    }

    fn prev(self) -> Pane {
        match self {
            Pane::List => Pane::Findings,
            Pane::Timeline => Pane::List,
            Pane::Detail => Pane::Timeline,
            Pane::Findings => Pane::Detail,
        }
    }
}

/// Orders of the list, in the order `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// First packet of the handshake.
    Time,
    /// Most severe finding first.
    Severity,
    /// Longest first.
    Duration,
    /// By client address.
    Client,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Time => Sort::Severity,
            Sort::Severity => Sort::Duration,
            Sort::Duration => Sort::Client,
            Sort::Client => Sort::Time,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Time => "time",
            Sort::Severity => "severity",
            Sort::Duration => "duration",
            Sort::Client => "client",
        }
    }
}

/// What the keys do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter; `before` is restored by Esc.
    Filter {
        before: String,
    },
    Help,
    /// Typing the file an export goes to.
    Export {
        path: String,
        ids: Vec<u64>,
        starts: Vec<Start>,
    },
}

/// An export asked for in the UI, for the event loop to run off the UI thread: the
/// handshakes by id (capture files) and by where they start (a live capture's saved file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub path: String,
    pub ids: Vec<u64>,
    pub starts: Vec<Start>,
}

/// Live capture counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub interface: String,
    pub packets_per_second: f64,
    /// Every packet lost: by the kernel, the interface, and the queue to the analysis.
    pub dropped: u64,
    pub captured: u64,
    /// Batches received, which turns the running indicator.
    pub ticks: u64,
    /// Packets not saved to the file exports read: exports cover only the start.
    pub unsaved: u64,
}

/// Where the data comes from.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// File names as given.
    pub names: Vec<String>,
    pub total_bytes: u64,
    /// Shared byte counters of the readers, for the gauge.
    pub progress: Vec<Arc<AtomicU64>>,
    pub live: Option<Live>,
}

impl Source {
    pub fn bytes_read(&self) -> u64 {
        self.progress
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .fold(0u64, u64::saturating_add)
    }
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct State {
    pub source: Source,
    pub stats: Stats,
    pub connections: u64,
    pub done: bool,
    pub records: Vec<Record>,
    /// Findings by severity: error, warning, info.
    pub by_severity: [u64; 3],
    /// Findings about connections no handshake holds (a server's TLS).
    pub connection_findings: Vec<FindingDetail>,
    /// Indices into `records` that pass the filter, in the sort order.
    pub view: Vec<usize>,
    /// Position in `view`.
    pub cursor: usize,
    /// First row of `view` on screen.
    pub list_top: usize,
    /// The selected handshake, kept when the view changes.
    pub selected: Option<u64>,
    pub focus: Pane,
    /// The pane the compact layout shows under the list.
    pub lower: Pane,
    pub timeline_cursor: usize,
    pub timeline_top: usize,
    pub detail_scroll: u16,
    pub findings_scroll: u16,
    pub show_raw: bool,
    pub filter_text: String,
    pub filter: Filter,
    pub findings_only: bool,
    pub sort: Sort,
    pub mode: Mode,
    /// A one-line message in the hint bar until the next key.
    pub message: Option<String>,
    pub warnings: Vec<String>,
    /// How many of the server's records were joined ([`Batch::server_logs`]).
    pub server_logs: Option<String>,
    /// The terminal size, for layout-dependent moves (page size, mouse).
    pub size: Rect,
    pub quit: bool,
    /// An export to start (taken by the event loop).
    pub export: Option<ExportRequest>,
    /// Where the details of the handshakes are read from.
    pub spool: Option<SpoolReader>,
    /// Why details are missing (the spool could not be written or read), shown on screen.
    pub spool_error: Option<String>,
    /// Details read lately.
    cache: Cache,
    /// The details of the selected handshake, when they could be read.
    detail: Option<Arc<Detail>>,
}

impl State {
    pub fn new(source: Source) -> State {
        State {
            source,
            stats: Stats::default(),
            connections: 0,
            done: false,
            records: Vec::new(),
            by_severity: [0; 3],
            connection_findings: Vec::new(),
            view: Vec::new(),
            cursor: 0,
            list_top: 0,
            selected: None,
            focus: Pane::List,
            lower: Pane::Timeline,
            timeline_cursor: 0,
            timeline_top: 0,
            detail_scroll: 0,
            findings_scroll: 0,
            show_raw: false,
            filter_text: String::new(),
            filter: Filter::default(),
            findings_only: false,
            sort: Sort::Time,
            mode: Mode::Normal,
            message: None,
            warnings: Vec::new(),
            server_logs: None,
            size: Rect::new(0, 0, 80, 24),
            quit: false,
            export: None,
            spool: None,
            spool_error: None,
            cache: Cache::default(),
            detail: None,
        }
    }

    /// The details of the selected handshake (read from the spool when it was selected).
    pub fn detail(&self) -> Option<&Detail> {
        let d = self.detail.as_deref()?;
        (Some(d.id) == self.current().map(Record::id)).then_some(d)
    }

    /// Reads the details of the selected handshake, unless they are at hand already.
    fn load_detail(&mut self) {
        let Some((id, slot)) = self.current().map(|r| (r.id, r.slot)) else {
            self.detail = None;
            return;
        };
        if self.detail.as_ref().is_some_and(|d| d.id == id) {
            return;
        }
        if let Some(d) = self.cache.get(id) {
            self.detail = Some(d);
            return;
        }
        self.detail = None;
        let (Some(slot), Some(spool)) = (slot, self.spool.as_ref()) else {
            return;
        };
        match spool.detail(slot) {
            Ok(d) => {
                let d = Arc::new(d);
                self.cache.put(id, Arc::clone(&d));
                self.detail = Some(d);
            }
            Err(e) => {
                self.spool_error = Some(format!("details spool (temporary file): {e}"));
            }
        }
    }

    /// The capture runs over more than one date (UTC): times need their date.
    pub fn spans_days(&self) -> bool {
        match (self.stats.first, self.stats.last) {
            (Some(a), Some(b)) => {
                let day = |ts: Timestamp| ts.secs().div_euclid(86_400);
                day(a) != day(b)
            }
            _ => false,
        }
    }

    /// The selected handshake.
    pub fn current(&self) -> Option<&Record> {
        self.view
            .get(self.cursor)
            .and_then(|&i| self.records.get(i))
    }

    /// The leg the timeline cursor is on (a TCP line belongs to the leg before it).
    pub fn current_leg(&self) -> Option<usize> {
        let tl = &self.detail()?.timeline;
        let upto = self.timeline_cursor.min(tl.len().saturating_sub(1));
        tl.iter()
            .take(upto.saturating_add(1))
            .rev()
            .chain(tl.iter().skip(upto.saturating_add(1)))
            .find_map(|e| match e.what {
                TimelineWhat::Request { leg, .. }
                | TimelineWhat::Response { leg, .. }
                | TimelineWhat::IisStatus { leg, .. }
                | TimelineWhat::SecurityEvent { leg, .. } => Some(leg),
                TimelineWhat::Tcp(_) | TimelineWhat::Kdc { .. } | TimelineWhat::Dns { .. } => None,
            })
    }

    /// The timeline cursor is on a response (the detail then shows the response first).
    pub fn cursor_on_response(&self) -> bool {
        self.detail()
            .and_then(|d| d.timeline.get(self.timeline_cursor))
            .is_some_and(|e| matches!(e.what, TimelineWhat::Response { .. }))
    }

    fn passes(&self, r: &Record) -> bool {
        (!self.findings_only || !r.findings.is_empty()) && self.filter.matches(r)
    }

    /// Takes a batch from the worker: new handshakes join the view where the sort puts them;
    /// the selection and its row on screen stay put.
    pub fn take_batch(&mut self, b: Batch) {
        self.stats = b.stats;
        self.connections = b.connections;
        self.done |= b.done;
        self.warnings.extend(b.warnings);
        if b.server_logs.is_some() {
            self.server_logs = b.server_logs;
        }
        for f in b.connection_findings {
            if let Some(n) = self.by_severity.get_mut(severity_slot(f.severity)) {
                *n = n.saturating_add(1);
            }
            self.connection_findings.push(f);
        }
        if let Some(e) = b.spool_error {
            self.spool_error = Some(e);
        }
        if let (Some(live), Some(c)) = (self.source.live.as_mut(), b.live) {
            live.packets_per_second = c.packets_per_second;
            live.captured = c.captured;
            live.dropped = c
                .kernel_dropped
                .saturating_add(c.interface_dropped)
                .saturating_add(c.queue_dropped);
            live.ticks = live.ticks.wrapping_add(1);
            live.unsaved = c.unsaved;
        }
        if b.handshakes.is_empty() {
            return;
        }
        let start = self.records.len();
        for r in b.handshakes {
            for (_, sev) in r.findings.iter() {
                if let Some(n) = self.by_severity.get_mut(severity_slot(*sev)) {
                    *n = n.saturating_add(1);
                }
            }
            self.records.push(r);
        }
        let mut added = false;
        for i in start..self.records.len() {
            if self.records.get(i).is_some_and(|r| self.passes(r)) {
                self.view.push(i);
                added = true;
            }
        }
        if added {
            self.resort();
        }
        self.load_detail();
    }

    /// Rebuilds the view from scratch (the filter or the sort changed).
    fn rebuild(&mut self) {
        self.view = (0..self.records.len())
            .filter(|&i| self.records.get(i).is_some_and(|r| self.passes(r)))
            .collect();
        self.resort();
    }

    fn resort(&mut self) {
        let recs = &self.records;
        let key = |i: &usize| recs.get(*i);
        match self.sort {
            Sort::Time => self.view.sort_by_key(|i| key(i).map(|h| (h.first, h.id))),
            Sort::Severity => self.view.sort_by_key(|i| {
                let r = recs.get(*i);
                (
                    std::cmp::Reverse(r.and_then(|r| r.worst)),
                    key(i).map(|h| (h.first, h.id)),
                )
            }),
            Sort::Duration => self.view.sort_by_key(|i| {
                (
                    std::cmp::Reverse(key(i).map(|h| h.last.since(h.first))),
                    key(i).map(|h| h.id),
                )
            }),
            Sort::Client => self
                .view
                .sort_by_key(|i| key(i).map(|h| (h.client_socket.ip(), h.first, h.id))),
        }
        self.restore_selection();
    }

    /// Puts the cursor back on the selected handshake, at the same row on screen.
    fn restore_selection(&mut self) {
        let row = self.cursor.saturating_sub(self.list_top);
        let found = self.selected.and_then(|id| {
            self.view
                .iter()
                .position(|&i| self.records.get(i).is_some_and(|r| r.id() == id))
        });
        match found {
            Some(p) => {
                self.cursor = p;
                self.list_top = p.saturating_sub(row);
            }
            None => {
                self.cursor = self.cursor.min(self.view.len().saturating_sub(1));
                let now = self.current().map(Record::id);
                if now != self.selected {
                    self.select_changed();
                }
                self.selected = now;
            }
        }
        self.scroll_list_into_view();
    }

    fn list_height(&self) -> usize {
        usize::from(view::layout(self.size, self).list_rows())
    }

    fn scroll_list_into_view(&mut self) {
        let h = self.list_height().max(1);
        if self.cursor < self.list_top {
            self.list_top = self.cursor;
        } else if self.cursor >= self.list_top.saturating_add(h) {
            self.list_top = self.cursor.saturating_add(1).saturating_sub(h);
        }
        // No empty rows below the last handshake while there are some above.
        let max_top = self.view.len().saturating_sub(h);
        self.list_top = self.list_top.min(max_top);
    }

    fn select_changed(&mut self) {
        self.timeline_cursor = 0;
        self.timeline_top = 0;
        self.detail_scroll = 0;
        self.findings_scroll = 0;
        self.load_detail();
    }

    fn move_list(&mut self, to: usize) {
        let to = to.min(self.view.len().saturating_sub(1));
        if to != self.cursor {
            self.cursor = to;
            self.select_changed();
        }
        self.selected = self.current().map(Record::id);
        self.scroll_list_into_view();
    }

    fn timeline_len(&self) -> usize {
        self.detail().map_or(0, |d| d.timeline.len())
    }

    fn move_timeline(&mut self, to: usize) {
        let to = to.min(self.timeline_len().saturating_sub(1));
        if to != self.timeline_cursor {
            self.timeline_cursor = to;
            self.detail_scroll = 0;
        }
        let h = usize::from(view::layout(self.size, self).timeline_rows()).max(1);
        if self.timeline_cursor < self.timeline_top {
            self.timeline_top = self.timeline_cursor;
        } else if self.timeline_cursor >= self.timeline_top.saturating_add(h) {
            self.timeline_top = self.timeline_cursor.saturating_add(1).saturating_sub(h);
        }
        self.timeline_top = view::timeline_top(self);
    }

    fn page(&self) -> usize {
        let l = view::layout(self.size, self);
        let rows = match self.focus {
            Pane::List => l.list_rows(),
            Pane::Timeline => l.timeline_rows(),
            Pane::Detail => l.detail.height.saturating_sub(2),
            Pane::Findings => l.findings.height.saturating_sub(2),
        };
        usize::from(rows.saturating_sub(1)).max(1)
    }

    /// Moves in the focused pane: `delta` rows, or to an end.
    fn step(&mut self, delta: isize) {
        let apply = |v: usize| -> usize {
            if delta < 0 {
                v.saturating_sub(delta.unsigned_abs())
            } else {
                v.saturating_add(delta.unsigned_abs())
            }
        };
        match self.focus {
            Pane::List => self.move_list(apply(self.cursor)),
            Pane::Timeline => self.move_timeline(apply(self.timeline_cursor)),
            Pane::Detail => {
                let to = apply(usize::from(self.detail_scroll)).min(self.max_scroll(Pane::Detail));
                self.detail_scroll = u16::try_from(to).unwrap_or(u16::MAX);
            }
            Pane::Findings => {
                let to =
                    apply(usize::from(self.findings_scroll)).min(self.max_scroll(Pane::Findings));
                self.findings_scroll = u16::try_from(to).unwrap_or(u16::MAX);
            }
        }
    }

    /// The scroll that shows the last line of a pane at its bottom.
    fn max_scroll(&self, pane: Pane) -> usize {
        let l = view::layout(self.size, self);
        let rows = match pane {
            Pane::Detail => l.detail.height,
            Pane::Findings => l.findings.height,
            Pane::List | Pane::Timeline => 0,
        };
        view::content_lines(self, pane).saturating_sub(usize::from(rows.saturating_sub(2)))
    }

    fn jump_to_end(&mut self, end: bool) {
        match self.focus {
            Pane::List => self.move_list(if end { usize::MAX } else { 0 }),
            Pane::Timeline => self.move_timeline(if end { usize::MAX } else { 0 }),
            Pane::Detail => self.step(if end { isize::MAX } else { isize::MIN }),
            Pane::Findings => self.step(if end { isize::MAX } else { isize::MIN }),
        }
    }

    fn focus(&mut self, p: Pane) {
        self.focus = p;
        if p != Pane::List {
            self.lower = p;
        }
    }

    fn set_filter(&mut self, text: String) {
        self.filter = Filter::parse(&text);
        self.filter_text = text;
        self.rebuild();
        // A cleared filter keeps the selection in view among all the rows again.
        if !self.filter_text.is_empty() {
            self.show_first_row();
        }
    }

    /// After the person sorts or filters: the first row is what they asked to see.
    fn show_first_row(&mut self) {
        self.list_top = 0;
        self.move_list(0);
    }

    /// Applies one user action.
    pub fn apply(&mut self, action: Action) {
        if !matches!(action, Action::None) {
            self.message = None;
        }
        match action {
            Action::None => {}
            Action::Quit => self.quit = true,
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.step(-isize::try_from(self.page()).unwrap_or(1)),
            Action::PageDown => self.step(isize::try_from(self.page()).unwrap_or(1)),
            Action::Top => self.jump_to_end(false),
            Action::Bottom => self.jump_to_end(true),
            Action::NextPane => self.focus(self.focus.next()),
            Action::PrevPane => self.focus(self.focus.prev()),
            Action::Enter => match self.focus {
                Pane::List => self.focus(Pane::Timeline),
                Pane::Timeline => self.focus(Pane::Detail),
                Pane::Detail | Pane::Findings => {}
            },
            Action::Back => match self.focus {
                Pane::List => {
                    if !self.filter_text.is_empty() {
                        self.set_filter(String::new());
                    }
                }
                Pane::Timeline | Pane::Findings => self.focus(Pane::List),
                Pane::Detail => self.focus(Pane::Timeline),
            },
            Action::Help => {
                self.mode = if self.mode == Mode::Help {
                    Mode::Normal
                } else {
                    Mode::Help
                }
            }
            Action::CloseHelp => self.mode = Mode::Normal,
            Action::StartFilter => {
                self.mode = Mode::Filter {
                    before: self.filter_text.clone(),
                }
            }
            Action::FilterChar(c) => {
                let mut t = self.filter_text.clone();
                t.push(c);
                self.set_filter(t);
            }
            Action::FilterBackspace => {
                let mut t = self.filter_text.clone();
                t.pop();
                self.set_filter(t);
            }
            Action::FilterClear => self.set_filter(String::new()),
            Action::FilterApply => {
                self.mode = Mode::Normal;
                self.focus(Pane::List);
                if let Some(n) = self.filter.notes.first() {
                    self.message = Some(n.clone());
                }
            }
            Action::FilterCancel => {
                let before = match &self.mode {
                    Mode::Filter { before } => before.clone(),
                    _ => String::new(),
                };
                self.mode = Mode::Normal;
                self.set_filter(before);
            }
            Action::FindingsOnly => {
                self.findings_only = !self.findings_only;
                self.rebuild();
                self.show_first_row();
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.resort();
                self.show_first_row();
                self.message = Some(format!("sort: {}", self.sort.label()));
            }
            Action::ToggleRaw => self.show_raw = !self.show_raw,
            Action::Export(list) => {
                let chosen: Vec<&Record> = if list {
                    self.view
                        .iter()
                        .filter_map(|&i| self.records.get(i))
                        .collect()
                } else {
                    self.current().into_iter().collect()
                };
                let ids: Vec<u64> = chosen.iter().map(|r| r.id).collect();
                let starts: Vec<Start> = chosen.iter().filter_map(|r| r.start).collect();
                if ids.is_empty() {
                    self.message = Some(strings::EXPORT_NOTHING.to_owned());
                } else {
                    let one: &[u64] = if list { &[] } else { &ids };
                    let path = crate::export::default_path(crate::export::Format::Html, one);
                    self.mode = Mode::Export {
                        path: path.display().to_string(),
                        ids,
                        starts,
                    };
                }
            }
            Action::ExportChar(c) => {
                if let Mode::Export { path, .. } = &mut self.mode {
                    path.push(c);
                }
            }
            Action::ExportBackspace => {
                if let Mode::Export { path, .. } = &mut self.mode {
                    path.pop();
                }
            }
            Action::ExportClear => {
                if let Mode::Export { path, .. } = &mut self.mode {
                    path.clear();
                }
            }
            Action::ExportCancel => self.mode = Mode::Normal,
            Action::ExportApply => {
                if let Mode::Export { path, ids, starts } =
                    std::mem::replace(&mut self.mode, Mode::Normal)
                {
                    let path = path.trim().to_owned();
                    if crate::export::Format::from_path(std::path::Path::new(&path)).is_none() {
                        self.message = Some(strings::EXPORT_NO_FORMAT.to_owned());
                    } else {
                        self.message = Some(format!("exporting to {path} ..."));
                        self.export = Some(ExportRequest { path, ids, starts });
                    }
                }
            }
            Action::Resize(w, h) => {
                self.size = Rect::new(0, 0, w, h);
                self.scroll_list_into_view();
                self.move_timeline(self.timeline_cursor);
            }
            Action::Click(x, y) => self.click(x, y),
            Action::Scroll(x, y, down) => {
                if let Some(p) = self.pane_at(x, y) {
                    self.focus(p);
                    self.step(if down { 3 } else { -3 });
                }
            }
        }
        self.load_detail();
    }

    fn pane_at(&self, x: u16, y: u16) -> Option<Pane> {
        let l = view::layout(self.size, self);
        let p = Position::new(x, y);
        [
            (l.list, Pane::List),
            (l.timeline, Pane::Timeline),
            (l.detail, Pane::Detail),
            (l.findings, Pane::Findings),
        ]
        .into_iter()
        .find(|(r, _)| r.contains(p))
        .map(|(_, pane)| pane)
    }

    fn click(&mut self, x: u16, y: u16) {
        let l = view::layout(self.size, self);
        let Some(pane) = self.pane_at(x, y) else {
            return;
        };
        self.focus(pane);
        match pane {
            Pane::List => {
                if let Some(row) = l.list_row_at(y) {
                    self.move_list(self.list_top.saturating_add(usize::from(row)));
                }
            }
            Pane::Timeline => {
                if let Some(i) = l
                    .timeline_row_at(y)
                    .and_then(|row| view::timeline_entry_at(self, row))
                {
                    self.move_timeline(i);
                }
            }
            Pane::Detail | Pane::Findings => {}
        }
    }
}

/// Where [`State::by_severity`] counts a severity.
fn severity_slot(s: Severity) -> usize {
    match s {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}
