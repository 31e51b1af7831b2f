//! Small helpers shared by the decoders: text encodings, Windows and Unix times, offsets.

use serde::Serialize;

/// Something odd that did not stop the decode: kept as data so the diagnosis can use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Stable code, e.g. `ntlm.av_pairs.no_eol`.
    pub code: &'static str,
    /// One line for a person.
    pub detail: String,
}

impl Anomaly {
    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// Decodes UTF-16LE; an odd trailing byte or a lone surrogate becomes U+FFFD and `false`.
pub(crate) fn utf16le(bytes: &[u8]) -> (String, bool) {
    let units = bytes
        .chunks_exact(2)
        .map(|c| match c {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => 0xfffd,
        })
        .collect::<Vec<u16>>();
    let mut clean = bytes.len() % 2 == 0;
    let mut s = String::with_capacity(units.len());
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => s.push(c),
            Err(_) => {
                clean = false;
                s.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
    if bytes.len() % 2 != 0 {
        s.push(char::REPLACEMENT_CHARACTER);
    }
    (s, clean)
}

/// OEM code pages differ per machine; Latin-1 keeps every byte visible and reversible.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    // Nearly always ASCII, which is the same text in both: copied whole, not char by char.
    if bytes.is_ascii() {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return s.to_owned();
        }
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_DIFF_SECS: u64 = 11_644_473_600;

/// MS-DTYP 2.3.3 FILETIME (100 ns ticks since 1601) as RFC 3339 UTC; `None` before 1970.
pub(crate) fn filetime_to_rfc3339(ticks: u64) -> Option<String> {
    let secs = (ticks / 10_000_000).checked_sub(FILETIME_UNIX_DIFF_SECS)?;
    let frac = ticks % 10_000_000;
    let mut s = unix_to_rfc3339(i64::try_from(secs).ok()?)?;
    // The sub-second part goes before the trailing `Z`.
    s.pop();
    s.push('.');
    push_digits(&mut s, frac, 7);
    s.push('Z');
    Some(s)
}

/// Appends `n`'s last `width` decimal digits, zero-padded (`{n:0width$}` for n < 10^width),
/// without the formatting machinery: every NTLM Type 2 and Type 3 carries a timestamp.
fn push_digits(s: &mut String, n: u64, width: u32) {
    for i in (0..width).rev() {
        let d = n
            .checked_div(10u64.saturating_pow(i))
            .and_then(|q| q.checked_rem(10))
            .unwrap_or(0);
        s.push(char::from(
            b'0'.saturating_add(u8::try_from(d).unwrap_or(0)),
        ));
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC); `None` if out of range.
pub(crate) fn unix_to_rfc3339(secs: i64) -> Option<String> {
    let days = secs.checked_div_euclid(86_400)?;
    let rem = u64::try_from(secs.checked_rem_euclid(86_400)?).ok()?;
    let (y, m, d) = civil_from_days(days)?;
    if !(0..=9999).contains(&y) {
        return None;
    }
    let mut s = String::with_capacity(28);
    push_digits(&mut s, u64::try_from(y).ok()?, 4);
    s.push('-');
    push_digits(&mut s, m.into(), 2);
    s.push('-');
    push_digits(&mut s, d.into(), 2);
    s.push('T');
    push_digits(&mut s, rem / 3600, 2);
    s.push(':');
    push_digits(&mut s, rem % 3600 / 60, 2);
    s.push(':');
    push_digits(&mut s, rem % 60, 2);
    s.push('Z');
    Some(s)
}

// Howard Hinnant's days-to-civil algorithm, with checked arithmetic for hostile inputs.
fn civil_from_days(z: i64) -> Option<(i64, u32, u32)> {
    let z = z.checked_add(719_468)?;
    let era = z.checked_div_euclid(146_097)?;
    let doe = z.checked_sub(era.checked_mul(146_097)?)?;
    let yoe = doe
        .checked_sub(doe / 1460)?
        .checked_add(doe / 36524)?
        .checked_sub(doe / 146_096)?
        / 365;
    let y = yoe.checked_add(era.checked_mul(400)?)?;
    let doy = doe.checked_sub(
        yoe.checked_mul(365)?
            .checked_add(yoe / 4)?
            .checked_sub(yoe / 100)?,
    )?;
    let mp = doy.checked_mul(5)?.checked_add(2)? / 153;
    let d = doy
        .checked_sub(mp.checked_mul(153)?.checked_add(2)? / 5)?
        .checked_add(1)?;
    let m = if mp < 10 {
        mp.checked_add(3)?
    } else {
        mp.checked_sub(9)?
    };
    let y = if m <= 2 { y.checked_add(1)? } else { y };
    Some((y, u32::try_from(m).ok()?, u32::try_from(d).ok()?))
}

/// Offset of `rest` inside `base`, for errors; `rest` is always a suffix of `base`.
pub(crate) fn offset_in(base: &[u8], rest: &[u8]) -> usize {
    base.len().saturating_sub(rest.len())
}

/// Generates an open enum: known values by name, anything else kept as `Unknown(raw)`.
/// Serializes as `{"value": raw, "name": "..."}` so exports keep both.
macro_rules! open_enum {
    (
        $(#[$m:meta])*
        pub enum $name:ident : $raw:ty {
            $( $(#[$vm:meta])* $var:ident = $val:literal => $text:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vm])* $var, )*
            /// A value this version does not know, kept as sent.
            Unknown($raw),
        }

        impl From<$raw> for $name {
            fn from(v: $raw) -> Self {
                match v {
                    $( $val => Self::$var, )*
                    other => Self::Unknown(other),
                }
            }
        }

        impl $name {
            /// The value on the wire.
            pub fn value(self) -> $raw {
                match self {
                    $( Self::$var => $val, )*
                    Self::Unknown(v) => v,
                }
            }

            /// The spec name, if known.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$var => Some($text), )*
                    Self::Unknown(_) => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "unknown ({})", self.value()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct as _;
                let mut st = s.serialize_struct(stringify!($name), 2)?;
                st.serialize_field("value", &self.value())?;
                st.serialize_field("name", &self.name())?;
                st.end()
            }
        }
    };
}
pub(crate) use open_enum;

/// A duration in seconds in the largest unit that keeps it readable (`40 s`, `3 min`, `5 h`,
/// `12 days`).
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(unix_to_rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            unix_to_rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        // MS-NLMP 4.2.4 example timestamp is zero; use a real one from a capture instead.
        assert_eq!(filetime_to_rfc3339(0), None);
        assert_eq!(
            filetime_to_rfc3339(116_444_736_000_000_000).as_deref(),
            Some("1970-01-01T00:00:00.0000000Z")
        );
        assert_eq!(unix_to_rfc3339(i64::MAX), None);
    }

    proptest::proptest! {
        // The digits are written by hand for speed; they must read as `format!` would.
        #[test]
        fn times_read_as_the_formatter_writes_them(secs in 0i64..253_402_300_800, frac in 0u64..10_000_000) {
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days).unwrap();
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                rem / 3600,
                (rem % 3600) / 60,
                rem % 60
            );
            proptest::prop_assert_eq!(unix_to_rfc3339(secs), Some(want.clone()));
            let ticks = (secs as u64 + FILETIME_UNIX_DIFF_SECS) * 10_000_000 + frac;
            let stem = want.strip_suffix('Z').unwrap();
            proptest::prop_assert_eq!(filetime_to_rfc3339(ticks), Some(format!("{stem}.{frac:07}Z")));
        }
    }

    #[test]
    fn utf16() {
        assert_eq!(utf16le(b"S\0u\0"), ("Su".to_string(), true));
        assert!(!utf16le(b"S\0u").1);
    }
}
