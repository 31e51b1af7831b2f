//! A cursor over a little-endian message: nom parsers underneath, our errors outside, each
//! read named after the spec field so a short message says which field was cut.

use crate::auth::error::DecodeError;
use crate::auth::util::offset_in;
use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, le_u64, u8 as le_u8};
use nom::Parser as _;

type NomError<'a> = nom::error::Error<&'a [u8]>;

pub(crate) struct Reader<'a> {
    base: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(base: &'a [u8]) -> Self {
        Self { base, rest: base }
    }

    /// Offset of the next byte from the start of the message.
    pub(crate) fn offset(&self) -> usize {
        offset_in(self.base, self.rest)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn run<T>(
        &mut self,
        field: &'static str,
        parser: impl FnOnce(&'a [u8]) -> nom::IResult<&'a [u8], T, NomError<'a>>,
    ) -> Result<T, DecodeError> {
        let at = self.offset();
        let (rest, v) = parser(self.rest).map_err(|_| DecodeError::truncated(field, at))?;
        self.rest = rest;
        Ok(v)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.run(field, le_u8)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.run(field, le_u16)
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.run(field, le_u32)
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.run(field, le_u64)
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        self.run(field, |i| take(n).parse(i))
    }

    pub(crate) fn array8(&mut self, field: &'static str) -> Result<[u8; 8], DecodeError> {
        let at = self.offset();
        let b = self.bytes(8, field)?;
        <[u8; 8]>::try_from(b).map_err(|_| DecodeError::truncated(field, at))
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }
}
