//! The JSON writer behind the report, the NDJSON stream and the UI's spool: serde's data
//! model written as compact JSON (RFC 8259) into a `Vec<u8>`, byte for byte what
//! `serde_json::to_writer` writes.
//!
//! Why not serde_json itself, written by hand: on the 100 MB benchmark capture 27 % of the
//! JSON report's instructions were serde_json's strings (each byte looked up in a table,
//! each run between escapes and each short string copied by a call to `memcpy`), and a
//! fifth of the report is auth headers that an exchange and its handshake's leg share and
//! that were serialised twice. Here a string is checked eight bytes at a time (SWAR, in safe
//! code) and short ones (and numbers) are copied as whole words; values the model shares
//! ([`crate::handshake::serial`]) are serialised once and copied after; and a struct's keys, written some forty times per value
//! from a few hundred names, come quoted from a per-thread cache (`Keys`). On the 100 MB
//! capture's report, 1.07 G instructions became 0.90 G, with the same bytes; the key cache and
//! the word copies of numbers took 0.05 G more.
//! serde_json stays the crate for `Value`, parsing and everything off the hot path; the tests
//! check that both write the same bytes.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::hash::BuildHasher;

use serde::ser::{self, Serialize};

use crate::handshake::serial::{offered, Identity, SHARED_NAME};
use crate::map::Map;

/// Version of the JSON document; changes when a field changes meaning or goes away.
pub const SCHEMA: &str = "authscope/1";

/// Why a value could not be written. The report turns it into its JSON error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Custom(String),
    /// RFC 8259 4: an object's names are strings; serde_json quotes numbers and booleans
    /// used as keys, and so does this writer, but refuses anything else.
    #[error("key must be a string")]
    KeyMustBeAString,
}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

impl From<Error> for serde_json::Error {
    fn from(e: Error) -> Self {
        <serde_json::Error as ser::Error>::custom(e)
    }
}

/// Appends `value`'s compact JSON to `out`.
pub fn extend<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    // Taken, not borrowed: a value that calls `extend` while being written gets a new one.
    let mut keys = KEYS.take().unwrap_or_default();
    let r = value.serialize(&mut Writer {
        out,
        keys: &mut keys,
    });
    KEYS.set(Some(keys));
    r
}

/// `value`'s compact JSON.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    extend(&mut out, value)?;
    Ok(out)
}

thread_local! {
    static SHARED: RefCell<SharedJson> = RefCell::new(SharedJson::default());
    /// This thread's [`Keys`], between two calls of [`extend`].
    static KEYS: Cell<Option<Box<Keys>>> = const { Cell::new(None) };
}

/// Struct keys as written (`"key":`), by the address and length of their `&'static str`.
/// A report writes some forty keys for every value it writes, from a few hundred distinct
/// names: a slot's copy is a fixed-size one, where checking and quoting the key again cost
/// about 70 instructions. The text behind a `&'static str` never changes, so its address
/// names it. Direct-mapped: two keys that share a slot take turns, which costs time only.
struct Keys {
    slots: [KeySlot; KEY_SLOTS],
}

#[derive(Clone, Copy, Default)]
struct KeySlot {
    /// 0 when empty (no text lives at address 0).
    addr: usize,
    len: u8,
    /// How much of `json` is the key's.
    used: u8,
    json: [u8; KEY_JSON],
}

/// A report names about 250 keys; fewer slots than twice that let them collide.
const KEY_BITS: u32 = 9;
const KEY_SLOTS: usize = 1 << KEY_BITS;
/// The longest key kept, quotes and colon included (a slot is 40 bytes).
const KEY_JSON: usize = 30;

impl Default for Keys {
    fn default() -> Self {
        Keys {
            slots: [KeySlot::default(); KEY_SLOTS],
        }
    }
}

impl Keys {
    /// `"key":`, escaped as any string is (a rename may hold anything).
    #[inline]
    fn push(&mut self, out: &mut Vec<u8>, key: &'static str) {
        let addr = key.as_ptr() as usize;
        // Fibonacci hashing: literals sit a few bytes apart, in runs.
        let at = (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - KEY_BITS);
        match self.slots.get_mut(at as usize) {
            Some(slot) if slot.addr == addr && usize::from(slot.len) == key.len() => {
                let start = out.len();
                out.extend_from_slice(&slot.json);
                out.truncate(start.saturating_add(usize::from(slot.used)));
            }
            slot => Keys::miss(slot, out, key),
        }
    }

    /// Writes the key the long way, and keeps it in `slot` if it fits.
    #[cold]
    #[inline(never)]
    fn miss(slot: Option<&mut KeySlot>, out: &mut Vec<u8>, key: &'static str) {
        let start = out.len();
        push_str(out, key);
        out.push(b':');
        let (Some(slot), Some(written)) = (slot, out.get(start..)) else {
            return;
        };
        let (Ok(len), Ok(used)) = (u8::try_from(key.len()), u8::try_from(written.len())) else {
            return;
        };
        if let Some(to) = slot.json.get_mut(..written.len()) {
            to.copy_from_slice(written);
            slot.addr = key.as_ptr() as usize;
            slot.len = len;
            slot.used = used;
        }
    }
}

/// The JSON of values shared by `Arc` and serialised more than once: a handshake's leg and
/// its exchange hold the same decoded auth headers, and the report writes both, the
/// exchange when it ends and the leg when its handshake does, seconds later.
///
/// A cache of fixed size, oldest first out: the JSON sits in a ring of [`RING`] bytes, and
/// writing over an entry forgets it (its value is then written the slow way). Handshakes end
/// about in the order they began, so what is overwritten is mostly what was written already.
/// A `Vec` or a string per entry instead grew the 1 GB capture's peak RSS by 10 to 20 MB
/// (reallocation, and pages left half used).
///
/// Keyed by the value's address; the entry's `Weak` keeps that address from being reused
/// by another value while the entry exists.
#[derive(Default)]
struct SharedJson {
    map: Map<usize, SharedEntry>,
    ring: Vec<u8>,
    /// Where the next entry goes.
    head: usize,
    /// Entries by age: key and place.
    order: std::collections::VecDeque<(usize, usize)>,
}

struct SharedEntry {
    value: Identity,
    at: usize,
    len: usize,
}

/// The ring's size. On the benchmark captures a few hundred entries (half a megabyte) are
/// wanted at once, and 93 % of the entries made are copied later; 1 MiB saved no more
/// instructions than this, and cost 2 MB more of peak RSS.
const RING: usize = 512 << 10;

impl SharedJson {
    fn get(&self, key: usize) -> Option<&[u8]> {
        let e = self.map.get(&key)?;
        self.ring.get(e.at..e.at.checked_add(e.len)?)
    }

    /// Forgets the oldest entry; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some((key, at)) = self.order.pop_front() else {
            return false;
        };
        // Removed already, or removed and made again elsewhere.
        if self.map.get(&key).is_some_and(|e| e.at == at) {
            self.map.remove(&key);
        }
        true
    }

    fn insert(&mut self, key: usize, value: Identity, json: &[u8]) {
        let len = json.len();
        if len > RING / 8 {
            return;
        }
        if self.ring.capacity() < RING {
            self.ring
                .reserve_exact(RING.saturating_sub(self.ring.len()));
        }
        let mut at = self.head;
        if at.saturating_add(len) > RING {
            // The tail is too short: what lies there is the oldest; start again at 0.
            while self.order.front().is_some_and(|&(_, a)| a >= at) {
                self.evict_oldest();
            }
            at = 0;
        }
        let end = at.saturating_add(len);
        // The oldest entries lie just ahead of the head: forget those the new one covers.
        while self.order.front().is_some_and(|&(_, a)| a >= at && a < end) {
            self.evict_oldest();
        }
        if self.ring.len() < end {
            self.ring.resize(end, 0);
        }
        let Some(slot) = self.ring.get_mut(at..end) else {
            return;
        };
        slot.copy_from_slice(json);
        self.head = end;
        self.order.push_back((key, at));
        self.map.insert(key, SharedEntry { value, at, len });
    }
}

/// Copies the JSON kept of the shared value `key` to `out`; false if there is none.
fn copy_shared(out: &mut Vec<u8>, key: usize) -> bool {
    SHARED.with_borrow_mut(|m| {
        let Some(json) = m.get(key) else {
            return false;
        };
        out.extend_from_slice(json);
        // Its last holder is being written: nobody is left to write it again.
        if m.map.get(&key).is_some_and(|e| e.value.strong_count() < 2) {
            m.map.remove(&key);
        }
        true
    })
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of `w` (little-endian) that RFC 8259 7 says must be escaped: `"`, `\` and the
/// controls below 0x20, each marked by its top bit. The lowest mark is exact; the borrow of
/// a subtraction can mark bytes above a true one, which nobody reads.
fn must_escape(w: u64) -> u64 {
    let control = w.wrapping_sub(LO.wrapping_mul(0x20)) & !w;
    let q = w ^ LO.wrapping_mul(u64::from(b'"'));
    let quote = q.wrapping_sub(LO) & !q;
    let b = w ^ LO.wrapping_mul(u64::from(b'\\'));
    let backslash = b.wrapping_sub(LO) & !b;
    (control | quote | backslash) & HI
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Eight bytes as a little-endian word.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// Where the first byte of `bytes` that must be escaped is.
fn next_escape(bytes: &[u8]) -> Option<usize> {
    let len = bytes.len();
    if len < 8 {
        return bytes.iter().position(|&b| needs_escape(b));
    }
    let mut at = 0usize;
    while let Some(w) = word_at(bytes, at) {
        let m = must_escape(w);
        if m != 0 {
            return Some(at.saturating_add(m.trailing_zeros() as usize / 8));
        }
        at = at.saturating_add(8);
    }
    if at >= len {
        return None;
    }
    // The tail as the last whole word: the bytes it shares with the previous one are clean.
    let last = len.saturating_sub(8);
    let m = must_escape(word_at(bytes, last)?);
    (m != 0).then(|| last.saturating_add(m.trailing_zeros() as usize / 8))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// RFC 8259 7: the two-character escapes where there is one, `\u00XX` (lower-case, as
/// serde_json writes it) for the other controls.
fn push_escape(out: &mut Vec<u8>, byte: u8) {
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            let hi = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(byte & 0x0f)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// `s` as a JSON string, quotes included. Most strings need no escape: one scan, one copy.
fn push_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len().saturating_add(2));
    out.push(b'"');
    let start = out.len();
    let clean = if bytes.len() <= SHORT {
        push_words::<true>(out, bytes)
    } else if next_escape(bytes).is_none() {
        out.extend_from_slice(bytes);
        true
    } else {
        false
    };
    if !clean {
        out.truncate(start);
        push_escaped(out, bytes);
    }
    out.push(b'"');
}

/// The longest string [`push_words`] takes.
const SHORT: usize = 32;

/// Writes `bytes` (at most [`SHORT`] of them), checked as they go if `CHECK`: false if one
/// needs an escape, with some of them written. Most keys, values and numbers are this short,
/// and a copy of a length known only at run time is a call to `memcpy`, which costs more
/// than the copy: these go as whole words (the last one overlapping the one before).
fn push_words<const CHECK: bool>(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let dirty = |w: u64| CHECK && must_escape(w) != 0;
    let len = bytes.len();
    let start = out.len();
    if len < 8 {
        if len >= 4 {
            let (Some(a), Some(b)) = (half_at(bytes, 0), half_at(bytes, len.saturating_sub(4)))
            else {
                return false;
            };
            if dirty(u64::from(a) | u64::from(b) << 32) {
                return false;
            }
            out.extend_from_slice(&a.to_le_bytes());
            out.truncate(start.saturating_add(len).saturating_sub(4));
            out.extend_from_slice(&b.to_le_bytes());
            return true;
        }
        for &b in bytes {
            if CHECK && needs_escape(b) {
                return false;
            }
            out.push(b);
        }
        return true;
    }
    let mut at = 0usize;
    while let Some(w) = word_at(bytes, at) {
        if dirty(w) {
            return false;
        }
        out.extend_from_slice(&w.to_le_bytes());
        at = at.saturating_add(8);
    }
    if at < len {
        let last = len.saturating_sub(8);
        let Some(w) = word_at(bytes, last) else {
            return false;
        };
        if dirty(w) {
            return false;
        }
        out.truncate(start.saturating_add(last));
        out.extend_from_slice(&w.to_le_bytes());
    }
    true
}

/// Four bytes as a little-endian word.
fn half_at(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(chunk))
}

/// `bytes`, escaped. Long strings that need escapes are mostly error pages and the like,
/// the same few again and again (every 401 of an IIS site carries the same page): the last
/// few are kept escaped, by their text.
#[cold]
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() < ESCAPED_MIN {
        return escape_into(out, bytes);
    }
    let hash = ESCAPED.with_borrow(|c| c.hasher.hash_one(bytes));
    let slot = (hash as usize) % ESCAPED_SLOTS;
    let known = ESCAPED.with_borrow(|c| {
        let (h, text, escaped) = c.slots.get(slot)?.as_ref()?;
        (*h == hash && **text == *bytes).then(|| out.extend_from_slice(escaped))
    });
    if known.is_some() {
        return;
    }
    let start = out.len();
    escape_into(out, bytes);
    if let Some(escaped) = out.get(start..) {
        let entry = (hash, Box::<[u8]>::from(bytes), Box::<[u8]>::from(escaped));
        ESCAPED.with_borrow_mut(|c| {
            if let Some(s) = c.slots.get_mut(slot) {
                *s = Some(entry);
            }
        });
    }
}

/// Strings at least this long are looked up in [`ESCAPED`].
const ESCAPED_MIN: usize = 256;
const ESCAPED_SLOTS: usize = 16;

#[derive(Default)]
struct EscapedCache {
    hasher: foldhash::fast::RandomState,
    slots: [Option<Escaped>; ESCAPED_SLOTS],
}

/// The hash of a text, the text, the text escaped.
type Escaped = (u64, Box<[u8]>, Box<[u8]>);

thread_local! {
    static ESCAPED: RefCell<EscapedCache> = RefCell::new(EscapedCache::default());
}

fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while let Some(at) = next_escape(rest) {
        let (run, tail) = rest.split_at(at.min(rest.len()));
        out.extend_from_slice(run);
        let Some((&byte, after)) = tail.split_first() else {
            break;
        };
        push_escape(out, byte);
        rest = after;
    }
    out.extend_from_slice(rest);
}

fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, i: I) {
    push_number(out, itoa::Buffer::new().format(i).as_bytes());
}

/// A number's digits (at most 40, an i128's), copied by words when they fit.
fn push_number(out: &mut Vec<u8>, digits: &[u8]) {
    if digits.len() > SHORT || !push_words::<false>(out, digits) {
        out.extend_from_slice(digits);
    }
}

/// Shortest round-trip digits (zmij), as serde_json writes them; JSON has no NaN or
/// infinity, so those are `null`, as there.
fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        push_number(out, zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn push_f32(out: &mut Vec<u8>, v: f32) {
    if v.is_finite() {
        push_number(out, zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The methods of a `Serializer` that write a string (a unit variant is its name), the
/// same for a value and for a key.
macro_rules! strings {
    () => {
        fn serialize_char(self, v: char) -> Result<(), Error> {
            push_str(self.out, v.encode_utf8(&mut [0u8; 4]));
            Ok(())
        }
        fn serialize_str(self, v: &str) -> Result<(), Error> {
            push_str(self.out, v);
            Ok(())
        }
        fn serialize_unit_variant(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
        ) -> Result<(), Error> {
            push_str(self.out, variant);
            Ok(())
        }
    };
}

/// The integer methods of a `Serializer`, each writing its value with `$write(self, v)`.
macro_rules! integers {
    ($write:ident) => {
        integers!($write: serialize_i8 i8, serialize_i16 i16, serialize_i32 i32,
            serialize_i64 i64, serialize_i128 i128, serialize_u8 u8, serialize_u16 u16,
            serialize_u32 u32, serialize_u64 u64, serialize_u128 u128);
    };
    ($write:ident: $($method:ident $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<(), Error> {
            $write(self, v)
        })*
    };
}

fn push_int_to<I: itoa::Integer>(w: &mut Writer<'_>, i: I) -> Result<(), Error> {
    push_int(w.out, i);
    Ok(())
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    keys: &'a mut Keys,
}

/// An array or object being written: whether a member was written yet, and what closes it
/// (`]` or `}`, and a `}` more for an enum variant's). Bytes, not a slice: a slice of a length
/// known only at run time is copied by a call to `memcpy`.
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    close: u8,
    variant: bool,
}

impl<'w, 'a> Compound<'w, 'a> {
    fn open(w: &'w mut Writer<'a>, open: u8, close: u8) -> Self {
        w.out.push(open);
        Compound {
            w,
            first: true,
            close,
            variant: false,
        }
    }

    /// The content of a variant, after [`open_variant`].
    fn open_in_variant(w: &'w mut Writer<'a>, open: u8, close: u8) -> Self {
        Compound {
            variant: true,
            ..Compound::open(w, open, close)
        }
    }

    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.w)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.comma();
        self.w.keys.push(self.w.out, key);
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), Error> {
        self.w.out.push(self.close);
        if self.variant {
            self.w.out.push(b'}');
        }
        Ok(())
    }
}

/// `{"variant":` before an enum variant's content.
fn open_variant(out: &mut Vec<u8>, variant: &str) {
    out.push(b'{');
    push_str(out, variant);
    out.push(b':');
}

/// The methods of a `Serializer` that open an enum variant with members, `$open` and `$close`
/// around them (an array for a tuple variant, an object for a struct variant): serde gives
/// both the same signature.
macro_rules! member_variants {
    ($($method:ident $open:literal $close:literal),*) => {
        $(fn $method(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
            _len: usize,
        ) -> Result<Compound<'w, 'a>, Error> {
            open_variant(self.out, variant);
            Ok(Compound::open_in_variant(self, $open, $close))
        })*
    };
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(push_int_to);
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        push_f32(self.out, v);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        push_f64(self.out, v);
        Ok(())
    }
    strings!();
    /// As serde_json: an array of numbers.
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = Compound::open(self, b'[', b']');
        for b in v {
            seq.element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if name == SHARED_NAME {
            if let Some(identity) = offered() {
                // The value's address names it while the identity lives.
                let key = identity.as_ptr().cast::<()>() as usize;
                if copy_shared(self.out, key) {
                    return Ok(());
                }
                if identity.strong_count() > 1 {
                    let start = self.out.len();
                    value.serialize(&mut *self)?;
                    if let Some(json) = self.out.get(start..) {
                        SHARED.with_borrow_mut(|m| m.insert(key, identity, json));
                    }
                    return Ok(());
                }
            }
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        open_variant(self.out, variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::open(self, b'[', b']'))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::open(self, b'[', b']'))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::open(self, b'[', b']'))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::open(self, b'{', b'}'))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::open(self, b'{', b'}'))
    }
    member_variants!(serialize_tuple_variant b'[' b']', serialize_struct_variant b'{' b'}');
}

/// The serde traits of an array's elements (and of a struct's or a variant's, when they have
/// no names): each is the next element.
macro_rules! elements {
    ($($trait:ident $method:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        })*
    };
}

elements!(
    SerializeSeq serialize_element,
    SerializeTuple serialize_element,
    SerializeTupleStruct serialize_field,
    SerializeTupleVariant serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(KeyWriter { out: self.w.out })?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// The serde traits of an object's named members.
macro_rules! members {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        })*
    };
}

members!(SerializeStruct, SerializeStructVariant);

/// A map's key: a string, or a number, boolean or character written as one (serde_json
/// does the same); anything else is refused.
struct KeyWriter<'a> {
    out: &'a mut Vec<u8>,
}

/// A number as a key: quoted, as serde_json writes it.
fn quoted_int<I: itoa::Integer>(w: KeyWriter<'_>, i: I) -> Result<(), Error> {
    w.quoted(itoa::Buffer::new().format(i).as_bytes())
}

impl KeyWriter<'_> {
    fn quoted(self, text: &[u8]) -> Result<(), Error> {
        self.out.push(b'"');
        self.out.extend_from_slice(text);
        self.out.push(b'"');
        Ok(())
    }
}

fn refused<T>() -> Result<T, Error> {
    Err(Error::KeyMustBeAString)
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(if v { b"true" } else { b"false" })
    }
    integers!(quoted_int);
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return refused();
        }
        self.quoted(zmij::Buffer::new().format_finite(v).as_bytes())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return refused();
        }
        self.quoted(zmij::Buffer::new().format_finite(v).as_bytes())
    }
    strings!();
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        refused()
    }
    fn serialize_none(self) -> Result<(), Error> {
        refused()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        refused()
    }
    fn serialize_unit(self) -> Result<(), Error> {
        refused()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        refused()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        refused()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        refused()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        refused()
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        refused()
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        refused()
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        refused()
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        refused()
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        refused()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crate::handshake::serial::{shared, socket_addr};

    fn same<T: Serialize + ?Sized>(v: &T) {
        let ours = to_vec(v).ok();
        let theirs = serde_json::to_vec(v).ok();
        assert_eq!(
            ours.as_deref().map(String::from_utf8_lossy),
            theirs.as_deref().map(String::from_utf8_lossy)
        );
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i32, String),
        Struct { a: Option<f64>, b: Vec<u8> },
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        One { x: u32 },
        Two,
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrap(&'static str);

    #[derive(Serialize)]
    struct Pair(u8, char);

    #[derive(Serialize)]
    struct Inner {
        #[serde(rename = "we\"ird\nkey")]
        weird: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
    }

    #[derive(Serialize)]
    struct Outer {
        shapes: Vec<Shape>,
        tagged: Vec<Tagged>,
        #[serde(flatten)]
        inner: Inner,
        unit: Unit,
        wrap: Wrap,
        pair: Pair,
        tuple: (u8, i64, u128, i128),
        floats: Vec<f64>,
        small: f32,
        map: BTreeMap<u16, &'static str>,
        bools: BTreeMap<bool, ()>,
        bytes: serde_bytes_like::Bytes,
        empty: Vec<String>,
        empty_map: BTreeMap<String, u8>,
    }

    /// `serialize_bytes`, which derive never calls for `Vec<u8>`.
    mod serde_bytes_like {
        pub struct Bytes(pub &'static [u8]);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
    }

    #[test]
    fn every_shape_of_the_data_model_reads_as_serde_json_writes_it() {
        same(&Outer {
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, "t\u{7f}\u{1f}".into()),
                Shape::Struct {
                    a: None,
                    b: vec![0, 255],
                },
                Shape::Struct {
                    a: Some(f64::NAN),
                    b: vec![],
                },
            ],
            tagged: vec![Tagged::One { x: 1 }, Tagged::Two],
            inner: Inner {
                weird: true,
                skipped: None,
            },
            unit: Unit,
            wrap: Wrap("w"),
            pair: Pair(1, '\u{1}'),
            tuple: (0, i64::MIN, u128::MAX, i128::MIN),
            floats: vec![
                0.0,
                -0.0,
                1.5,
                1e300,
                1795655846.1708171,
                f64::INFINITY,
                f64::MIN_POSITIVE,
            ],
            small: 0.1,
            map: [(1, "a"), (65535, "b\"")].into_iter().collect(),
            bools: [(true, ()), (false, ())].into_iter().collect(),
            bytes: serde_bytes_like::Bytes(b"\x00ab"),
            empty: vec![],
            empty_map: BTreeMap::new(),
        });
        same(&serde_json::json!({"a": [1, 2.5, null, "x", {"b": {}}], "c": []}));
        same(&(Some(1u8), None::<u8>, (), 'x'));
    }

    /// Keys of every length around the slot's size, one that needs escapes, and more keys
    /// than slots, so that some share a slot and take turns.
    #[test]
    fn struct_keys_read_the_same_from_the_cache_as_written_the_long_way() {
        const NAMES: [&str; 8] = [
            "a",
            "four",
            "we\"ird\nkey",
            "exactly_twenty_seven_chars_",
            "exactly_twenty_eight_chars__",
            "a_key_much_longer_than_any_slot_can_hold_at_all",
            "",
            "\u{7f}\u{1}",
        ];
        let mut keys = Keys::default();
        let mut many: Vec<&'static str> = NAMES.to_vec();
        // Slices of one leaked text: at one address with many lengths, and at more addresses
        // than there are slots.
        let text: &'static str = Box::leak("k".repeat(KEY_SLOTS * 3).into_boxed_str());
        many.extend((1..40).map(|n| text.get(..n).unwrap_or_default()));
        many.extend((0..KEY_SLOTS * 2).map(|n| text.get(n..n + 1 + n % 31).unwrap_or_default()));
        for round in 0..3 {
            for &name in &many {
                let mut out = Vec::new();
                keys.push(&mut out, name);
                let want = format!("{}:", serde_json::to_string(name).unwrap());
                assert_eq!(out, want.as_bytes(), "{name:?}, round {round}");
            }
        }
    }

    #[test]
    fn keys_that_are_not_strings_are_refused_as_serde_json_refuses_them() {
        let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(to_vec(&bad).is_err());
        assert!(serde_json::to_vec(&bad).is_err());
        let bad: BTreeMap<Option<u8>, u8> = [(None, 1)].into_iter().collect();
        assert!(to_vec(&bad).is_err());
    }

    #[test]
    fn every_byte_that_needs_an_escape_is_found_at_every_offset() {
        for byte in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 0..70 {
                for at in 0..len {
                    let mut s = vec![b'a'; len];
                    if let Some(slot) = s.get_mut(at) {
                        *slot = byte;
                    }
                    let s = String::from_utf8(s).unwrap_or_default();
                    same(s.as_str());
                }
            }
        }
    }

    thread_local! {
        static SERIALISED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Counts how often it is serialised.
    #[derive(Serialize)]
    struct Counted {
        #[serde(serialize_with = "count")]
        text: String,
        n: u32,
    }

    fn count<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        SERIALISED.set(SERIALISED.get().saturating_add(1));
        s.serialize_str(text)
    }

    #[derive(Serialize)]
    struct Holder {
        #[serde(serialize_with = "shared")]
        a: Option<Arc<Counted>>,
        #[serde(serialize_with = "shared")]
        b: Option<Arc<Counted>>,
    }

    fn counted(text: &str, n: u32) -> Arc<Counted> {
        Arc::new(Counted {
            text: text.into(),
            n,
        })
    }

    #[test]
    fn a_shared_value_is_serialised_once_and_reads_the_same() {
        let v = counted("x\"y", 1);
        let h = Holder {
            a: Some(v.clone()),
            b: Some(v),
        };
        SERIALISED.set(0);
        let ours = to_vec(&h).ok();
        assert_eq!(SERIALISED.get(), 1);
        let again = to_vec(&h).ok();
        assert_eq!(SERIALISED.get(), 1, "copied on the second report too");
        let theirs = serde_json::to_vec(&h).ok();
        assert_eq!(SERIALISED.get(), 3, "serde_json serialises each");
        assert_eq!(ours, theirs);
        assert_eq!(again, theirs);
    }

    #[test]
    fn a_value_made_where_a_dropped_one_was_is_not_taken_for_it() {
        for n in 0..200 {
            let v = counted("same", n);
            let h = Holder {
                a: Some(v.clone()),
                b: None,
            };
            let ours = to_vec(&h).ok();
            assert_eq!(ours, serde_json::to_vec(&h).ok());
            drop(h);
            let alone = Holder {
                a: Some(v),
                b: None,
            };
            assert_eq!(to_vec(&alone).ok(), serde_json::to_vec(&alone).ok());
        }
    }

    #[test]
    fn values_pushed_out_of_the_ring_are_serialised_again() {
        let big = "z".repeat(RING / 16);
        let kept: Vec<Arc<Counted>> = (0..64).map(|n| counted(&big, n)).collect();
        let holders: Vec<Holder> = kept
            .iter()
            .map(|v| Holder {
                a: Some(v.clone()),
                b: None,
            })
            .collect();
        for h in &holders {
            assert!(to_vec(h).is_ok());
        }
        // The ring holds the newest 16 or so: those are copied, the oldest made again.
        let (old, new) = (holders.get(..8), holders.get(56..));
        for (part, made) in [(new, 0), (old, 8)] {
            SERIALISED.set(0);
            for h in part.unwrap_or_default() {
                assert_eq!(to_vec(h).ok(), serde_json::to_vec(h).ok());
            }
            // serde_json serialised each of the 8.
            assert_eq!(SERIALISED.get(), made + 8);
        }
    }

    /// Serialises its holder through serde_json, inside this writer.
    struct ThroughSerdeJson(Holder);

    impl Serialize for ThroughSerdeJson {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serde_json::to_value(&self.0)
                .map_err(serde::ser::Error::custom)?
                .serialize(s)
        }
    }

    #[test]
    fn another_serializer_inside_this_one_still_gets_the_value() {
        let v = counted("inner", 7);
        let h = ThroughSerdeJson(Holder {
            a: Some(v.clone()),
            b: Some(v),
        });
        assert_eq!(
            to_vec(&(&h, &h)).ok(),
            serde_json::to_vec(&(&h.0, &h.0)).ok()
        );
    }

    #[test]
    fn long_strings_with_escapes_read_the_same_each_time() {
        let page = "<html>\r\n<title>401 - \"Unauthorized\"</title>\r\n".repeat(12);
        let mut texts: Vec<String> = (0..40).map(|n| format!("{page}{n}")).collect();
        // Same length and slot candidates, one byte apart.
        texts.push(page.replacen('4', "5", 1));
        texts.push(page.clone());
        for _ in 0..3 {
            for t in &texts {
                same(t.as_str());
            }
        }
    }

    #[derive(Serialize)]
    struct Sock(#[serde(serialize_with = "socket_addr")] std::net::SocketAddr);

    proptest! {
        #[test]
        fn socket_addresses_read_as_serde_writes_them(ip in any::<[u8; 4]>(), port in any::<u16>(), v6 in any::<[u8; 16]>()) {
            for a in [
                std::net::SocketAddr::from((ip, port)),
                std::net::SocketAddr::from((v6, port)),
            ] {
                prop_assert_eq!(to_vec(&Sock(a)).ok(), serde_json::to_vec(&a).ok());
                prop_assert_eq!(serde_json::to_vec(&Sock(a)).ok(), serde_json::to_vec(&a).ok());
            }
        }

        #[test]
        fn strings_read_as_serde_json_writes_them(s in any::<String>()) {
            prop_assert_eq!(to_vec(&s).ok(), serde_json::to_vec(&s).ok());
        }

        #[test]
        fn control_heavy_strings_read_as_serde_json_writes_them(
            s in proptest::collection::vec(prop_oneof![
                Just('"'), Just('\\'), Just('\n'), Just('\u{0}'), Just('\u{1f}'),
                Just('\u{7f}'), Just('é'), Just('\u{10ffff}'), any::<char>(), Just('a'),
            ], 0..64).prop_map(|v| v.into_iter().collect::<String>())
        ) {
            prop_assert_eq!(to_vec(&s).ok(), serde_json::to_vec(&s).ok());
        }

        #[test]
        fn numbers_read_as_serde_json_writes_them(f in any::<f64>(), g in any::<f32>(), i in any::<i64>(), u in any::<u64>()) {
            let v = (f, g, i, u);
            prop_assert_eq!(to_vec(&v).ok(), serde_json::to_vec(&v).ok());
        }
    }
}
