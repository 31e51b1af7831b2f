//! `--format json`: the report's JSON document (`"schema": "authscope/1"`), the whole model:
//! exchanges, handshakes with their legs, decoded tokens and timelines, findings,
//! connections, anomalies, inputs and the summary. With `--handshake` or `--where`, the
//! `handshakes` and `findings` arrays hold the selection, which the document records as
//! `"selection"`; everything else (and the summary's counters) still covers the whole input.
//!
//! The JSON Schema of the document is `schema/authscope-1.schema.json`; the `schema` member
//! of every document names its version.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;

use super::{ExportError, Found, Options, Summary};
use crate::document::{self, DocumentOptions, ExchangeFilter, JsonDocument};
use crate::pipeline::{Analysed, Source};

/// The schema file, as shipped in the repository.
pub const SCHEMA_FILE: &str = "schema/authscope-1.schema.json";

pub(crate) fn write(
    paths: &[PathBuf],
    opts: &Options,
    out: &mut dyn Write,
    direct: Option<std::sync::Arc<std::fs::File>>,
) -> Result<Summary, ExportError> {
    let dopts = DocumentOptions {
        reveal_secrets: opts.reveal_secrets,
        exchanges: ExchangeFilter::Auth,
        selection: opts.selection.describe(),
        direct,
    };
    let found: RefCell<(u64, Found)> = RefCell::new((0, Found::default()));
    let keep = |a: &Analysed| {
        let k = opts.selection.keeps(a);
        let mut f = found.borrow_mut();
        f.1.saw(a);
        if k {
            f.0 = f.0.saturating_add(1);
            f.1.add(&opts.selection, a);
        }
        k
    };
    let source = opts.open(paths)?;
    let doc = JsonDocument::start(&dopts, Box::new(keep), out)?;
    let config = opts.config.revealing(opts.reveal_secrets);
    let rs = document::read(doc, Source::Files(source), config, opts.plan, out)?;
    let (selected, found) = found.into_inner();
    let mut summary = Summary {
        handshakes: rs.handshakes,
        selected,
        ..Summary::default()
    };
    found.into_summary(&opts.selection, &mut summary);
    Ok(summary)
}
