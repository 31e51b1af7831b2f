//! A directory named as a capture: the files in it, in the order of their names.

use std::path::PathBuf;

use super::file::{CaptureError, STDIN};

/// `paths` with each directory replaced by the files in it, in name order (hidden files and
/// folders in it left out); a directory that cannot be listed or holds no file is put in
/// `skipped`.
pub fn expand(paths: &[PathBuf], skipped: &mut Vec<CaptureError>) -> Vec<PathBuf> {
    let mut all = Vec::with_capacity(paths.len());
    for p in paths {
        if p.as_os_str() == STDIN || !std::fs::metadata(p).is_ok_and(|m| m.is_dir()) {
            all.push(p.clone());
            continue;
        }
        let entries = match std::fs::read_dir(p) {
            Ok(e) => e,
            Err(source) => {
                skipped.push(CaptureError::Open {
                    path: p.clone(),
                    source,
                });
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()))
            .collect();
        if files.is_empty() {
            skipped.push(CaptureError::EmptyDirectory { path: p.clone() });
        }
        files.sort_by(|a, b| natural_order(&a.to_string_lossy(), &b.to_string_lossy()));
        all.append(&mut files);
    }
    all
}

/// Names compared with their runs of digits as numbers (`cap2` < `cap10`), else by character.
pub fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, ra) = a.split_at(da);
                let (nb, rb) = b.split_at(db);
                let strip = |n: &'_ [u8]| -> usize { n.iter().take_while(|c| **c == b'0').count() };
                let sa = na.get(strip(na)..).unwrap_or_default();
                let sb = nb.get(strip(nb)..).unwrap_or_default();
                let o = sa
                    .len()
                    .cmp(&sb.len())
                    .then_with(|| sa.cmp(sb))
                    .then(da.cmp(&db));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (
                    a.get(1..).unwrap_or_default(),
                    b.get(1..).unwrap_or_default(),
                );
            }
        }
    }
}
