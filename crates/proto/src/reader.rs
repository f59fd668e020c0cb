//! One decode cursor for every wire type: reads advance, a read past the end
//! is [`Incomplete`] (never a panic), and `rest`/`expect_end` make trailing
//! bytes explicit.

use thiserror::Error;

/// The input ended before the message did. `needed` is how many more bytes
/// the failing read wanted (at least), when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("incomplete input: {needed} more byte(s) needed at offset {offset}")]
pub struct Incomplete {
    pub offset: usize,
    pub needed: usize,
}

/// A cursor over a byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn incomplete(&self, n: usize) -> Incomplete {
        Incomplete { offset: self.pos, needed: n.saturating_sub(self.remaining()) }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Incomplete> {
        let end = self.pos.checked_add(n).ok_or(self.incomplete(n))?;
        let out = self.buf.get(self.pos..end).ok_or(self.incomplete(n))?;
        self.pos = end;
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Incomplete> {
        self.take(n).map(|_| ())
    }

    /// Looks at the next `n` bytes without consuming them.
    pub fn peek(&self, n: usize) -> Result<&'a [u8], Incomplete> {
        let end = self.pos.checked_add(n).ok_or(self.incomplete(n))?;
        self.buf.get(self.pos..end).ok_or(self.incomplete(n))
    }

    pub fn u8(&mut self) -> Result<u8, Incomplete> {
        let b = self.take(1)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    pub fn u16_be(&mut self) -> Result<u16, Incomplete> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u16_le(&mut self) -> Result<u16, Incomplete> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u24_be(&mut self) -> Result<u32, Incomplete> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub fn u32_be(&mut self) -> Result<u32, Incomplete> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u32_le(&mut self) -> Result<u32, Incomplete> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64_be(&mut self) -> Result<u64, Incomplete> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Incomplete> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// A length-prefixed (u8) field.
    pub fn vec_u8(&mut self) -> Result<&'a [u8], Incomplete> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A length-prefixed (u16 big-endian) field.
    pub fn vec_u16(&mut self) -> Result<&'a [u8], Incomplete> {
        let n = self.u16_be()?;
        self.take(usize::from(n))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_incomplete_not_panics() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_be(), Ok(0x0102));
        assert_eq!(r.u16_be(), Err(Incomplete { offset: 2, needed: 1 }));
        assert_eq!(r.offset(), 2, "a failed read consumes nothing");
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.take(usize::MAX).unwrap_err().offset, 3);
    }

    #[test]
    fn length_prefixed_fields() {
        let mut r = Reader::new(&[2, b'h', b'i', 0, 1, b'x']);
        assert_eq!(r.vec_u8(), Ok(&b"hi"[..]));
        assert_eq!(r.vec_u16(), Ok(&b"x"[..]));
        let mut r = Reader::new(&[5, b'h']);
        assert_eq!(r.vec_u8(), Err(Incomplete { offset: 1, needed: 4 }));
    }
}
