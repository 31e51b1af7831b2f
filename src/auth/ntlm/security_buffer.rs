//! The (length, maximum length, offset) triple that points into an NTLM message payload.

use super::reader::Reader;
use crate::auth::error::{DecodeError, ErrorKind};
use serde::Serialize;

/// MS-NLMP 2.2.1.1 `DomainNameFields` and its siblings: the view checked once, then
/// `SecurityBuffer::slice` gives the bytes or an error naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SecurityBuffer {
    pub len: u16,
    pub max_len: u16,
    pub offset: u32,
}

impl SecurityBuffer {
    /// MS-NLMP 2.2.1.1: Len (2), MaxLen (2), BufferOffset (4), little-endian.
    pub(crate) fn parse(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        let len = r.u16(field)?;
        let max_len = r.u16(field)?;
        let offset = r.u32(field)?;
        Ok(Self {
            len,
            max_len,
            offset,
        })
    }

    /// The referenced bytes; an empty buffer is valid whatever its offset.
    pub(crate) fn slice<'a>(
        &self,
        msg: &'a [u8],
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        if self.len == 0 {
            return Ok(&[]);
        }
        let out_of_bounds = || {
            DecodeError::new(
                ErrorKind::OutOfBounds {
                    buffer_offset: self.offset,
                    len: self.len,
                    message_len: msg.len(),
                },
                field,
                usize::try_from(self.offset).unwrap_or(usize::MAX),
            )
        };
        let start = usize::try_from(self.offset).map_err(|_| out_of_bounds())?;
        let end = start
            .checked_add(usize::from(self.len))
            .ok_or_else(out_of_bounds)?;
        msg.get(start..end).ok_or_else(out_of_bounds)
    }

    /// Start and end in the message, for overlap checks; `None` when empty.
    pub(crate) fn span(&self) -> Option<(u64, u64)> {
        if self.len == 0 {
            None
        } else {
            let start = u64::from(self.offset);
            Some((start, start.saturating_add(u64::from(self.len))))
        }
    }
}

/// Where the fixed header ends: the lowest offset of any non-empty buffer. Optional header
/// fields (VERSION, MIC) exist only below it, which is how Windows itself tells.
pub(crate) fn payload_start(buffers: &[SecurityBuffer], msg_len: usize) -> u64 {
    buffers
        .iter()
        .filter_map(SecurityBuffer::span)
        .map(|(s, _)| s)
        .min()
        .unwrap_or(u64::try_from(msg_len).unwrap_or(u64::MAX))
}

/// Names every pair of buffers that overlap, or that point into the fixed header.
pub(crate) fn overlap_anomalies(
    named: &[(&'static str, SecurityBuffer)],
    header_len: u64,
) -> Vec<crate::auth::util::Anomaly> {
    let mut out = Vec::new();
    for (i, (na, a)) in named.iter().enumerate() {
        let Some((sa, ea)) = a.span() else { continue };
        if sa < header_len {
            out.push(crate::auth::util::Anomaly::new(
                "ntlm.buffer.in_header",
                format!("{na} starts at {sa}, inside the {header_len}-byte fixed header"),
            ));
        }
        if a.max_len < a.len {
            out.push(crate::auth::util::Anomaly::new(
                "ntlm.buffer.max_len_short",
                format!("{na} MaxLen {} is below Len {}", a.max_len, a.len),
            ));
        }
        for (nb, b) in named.iter().skip(i.saturating_add(1)) {
            let Some((sb, eb)) = b.span() else { continue };
            if sa < eb && sb < ea {
                out.push(crate::auth::util::Anomaly::new(
                    "ntlm.buffer.overlap",
                    format!("{na} [{sa}..{ea}) overlaps {nb} [{sb}..{eb})"),
                ));
            }
        }
    }
    out
}
