//! The keys of a pcapng slice's TLS connections ([`super::pcapng`], `--reveal-secrets`): the
//! client randoms of the chosen connections, and the key log lines that name them, from the
//! `--keylog` files and the input's Decryption Secrets Blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{ExportError, Options};
use crate::tcp::ConnId;

/// The TLS connections of the input, by the client random that names their keys.
#[derive(Debug, Default)]
pub(super) struct TlsConns {
    /// The client random (lower-case hex) when the ClientHello was read, and whether
    /// anything of the connection was decrypted.
    conns: BTreeMap<ConnId, (Option<String>, bool)>,
}

impl TlsConns {
    pub(super) fn add(&mut self, c: &crate::pipeline::Connection) {
        if let Some(info) = &c.tls {
            let random = info.client_random.as_ref().map(|r| r.to_ascii_lowercase());
            let decrypted =
                info.plaintext_bytes.to_server > 0 || info.plaintext_bytes.to_client > 0;
            self.conns.insert(c.id, (random, decrypted));
        }
    }

    /// The client randoms of `chosen`, and how many of them were decrypted.
    pub(super) fn of(&self, chosen: &BTreeSet<ConnId>) -> (BTreeSet<String>, usize) {
        let mut randoms = BTreeSet::new();
        let mut decrypted = 0usize;
        for id in chosen {
            if let Some((random, d)) = self.conns.get(id) {
                randoms.extend(random.iter().cloned());
                decrypted = decrypted.saturating_add(usize::from(*d));
            }
        }
        (randoms, decrypted)
    }
}

/// The key log lines of `randoms` (every label: TLS 1.3 has several a connection), from the
/// `--keylog` files and the input's Decryption Secrets Blocks, each line once, in the order
/// read; and how many of `randoms` have none.
pub(super) fn slice_key_log(
    paths: &[PathBuf],
    opts: &Options,
    randoms: &BTreeSet<String>,
) -> Result<(Vec<u8>, usize), ExportError> {
    let mut source = opts.open(paths)?;
    let mut lines = BTreeSet::new();
    let mut found = BTreeSet::new();
    let mut text = Vec::new();
    let mut keep = |piece: &[u8]| {
        for line in piece.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let (Some(_label), Some(random), Some(_secret)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let random = String::from_utf8_lossy(random).to_ascii_lowercase();
            if randoms.contains(&random) && lines.insert(line.to_vec()) {
                found.insert(random);
                text.extend_from_slice(line);
                text.push(b'\n');
            }
        }
    };
    // The key log files come first, whole; then the blocks as the frames come.
    loop {
        let piece = source.take_key_log();
        if piece.is_empty() && source.next_frame().is_none() {
            let last = source.take_key_log();
            if last.is_empty() {
                break;
            }
            keep(&last);
            continue;
        }
        keep(&piece);
    }
    let without = randoms.len().saturating_sub(found.len());
    Ok((text, without))
}
