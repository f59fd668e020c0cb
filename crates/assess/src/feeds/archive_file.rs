//! An archive on disk read through a buffer at explicit offsets.
//!
//! The zip reader seeks to every entry and asks where it is several times
//! per entry: on a `File` each of those is an `lseek` system call and each
//! small read a `read` (2.4 million and 1.8 million of them for the
//! 300,000-entry cvelistV5 archive). [`ArchiveFile`] keeps the position
//! itself and reads with `pread` into a buffer, so a seek is arithmetic
//! and most reads are copies out of the buffer.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// A file read with `pread` through a buffer, with its position kept here.
#[derive(Debug)]
pub struct ArchiveFile {
    file: File,
    len: u64,
    /// The file position of the next byte read.
    pos: u64,
    buf: Vec<u8>,
    /// The file offset of `buf[0]`; `buf[..filled]` is valid.
    buf_at: u64,
    filled: usize,
}

impl ArchiveFile {
    /// Wraps `file`, reading `capacity` bytes at a time.
    pub fn new(file: File, capacity: usize) -> io::Result<ArchiveFile> {
        let len = file.metadata()?.len();
        Ok(ArchiveFile { file, len, pos: 0, buf: vec![0; capacity.max(1)], buf_at: 0, filled: 0 })
    }

    /// The buffered bytes from the current position, if it is inside the
    /// buffer.
    fn buffered(&self) -> &[u8] {
        match self.pos.checked_sub(self.buf_at) {
            Some(off) if off < self.filled as u64 => {
                self.buf.get(off as usize..self.filled).unwrap_or_default()
            }
            _ => &[],
        }
    }
}

impl Read for ArchiveFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        if self.buffered().is_empty() {
            if out.len() >= self.buf.len() {
                // Large reads go straight to the caller.
                let n = self.file.read_at(out, self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            self.filled = 0;
            self.buf_at = self.pos;
            self.filled = self.file.read_at(&mut self.buf, self.pos)?;
        }
        let have = self.buffered();
        let n = have.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), have.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ArchiveFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            ));
        };
        self.pos = target;
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mix of seeks and reads gives the bytes a plain file gives,
    /// whatever the buffer size.
    #[test]
    fn reads_and_seeks_give_the_files_bytes() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let Ok(dir) = tempfile::tempdir() else { return };
        let path = dir.path().join("a.bin");
        assert!(std::fs::write(&path, &bytes).is_ok());
        for cap in [1, 7, 64, 4096, 20_000] {
            let Ok(file) = File::open(&path) else { panic!("open") };
            let Ok(mut f) = ArchiveFile::new(file, cap) else { panic!("wrap") };
            let mut plain = File::open(&path).ok().map(std::io::BufReader::new);
            let Some(plain) = plain.as_mut() else { panic!("open") };
            let steps: [(SeekFrom, usize); 7] = [
                (SeekFrom::Start(0), 100),
                (SeekFrom::Current(50), 3000),
                (SeekFrom::End(-22), 22),
                (SeekFrom::Start(9_990), 100),
                (SeekFrom::Current(-500), 1),
                (SeekFrom::Start(4_000), 8_000),
                (SeekFrom::End(10), 5),
            ];
            for (to, len) in steps {
                assert_eq!(f.seek(to).ok(), plain.seek(to).ok(), "cap {cap} {to:?}");
                let (mut a, mut b) = (vec![0; len], vec![0; len]);
                let (mut na, mut nb) = (0, 0);
                while let Ok(k @ 1..) = f.read(a.get_mut(na..).unwrap_or_default()) {
                    na += k;
                }
                while let Ok(k @ 1..) = plain.read(b.get_mut(nb..).unwrap_or_default()) {
                    nb += k;
                }
                assert_eq!((na, &a), (nb, &b), "cap {cap} after {to:?}");
                assert_eq!(f.stream_position().ok(), plain.stream_position().ok());
            }
            assert!(f.seek(SeekFrom::Current(-1_000_000)).is_err());
        }
    }
}
