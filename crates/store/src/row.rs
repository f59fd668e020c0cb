//! Decoding columns of an [`AnyRow`] into domain values. Anything that does
//! not decode is a [`StoreError::Corrupt`] naming the table and column.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use sekimori_types::{Label, from_micros};

use crate::StoreError;

/// A row of a known table.
pub(crate) struct Cols<'r> {
    row: &'r AnyRow,
    table: &'static str,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: &'r AnyRow, table: &'static str) -> Self {
        Self { row, table }
    }

    fn get<T>(&self, col: &'static str) -> Result<T, StoreError>
    where
        T: for<'a> sqlx::Decode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.row.try_get::<T, _>(col).map_err(|e| StoreError::corrupt(self.table, col, e))
    }

    pub(crate) fn i64(&self, col: &'static str) -> Result<i64, StoreError> {
        self.get(col)
    }

    pub(crate) fn opt_i64(&self, col: &'static str) -> Result<Option<i64>, StoreError> {
        self.get(col)
    }

    pub(crate) fn u32(&self, col: &'static str) -> Result<u32, StoreError> {
        let v = self.i64(col)?;
        u32::try_from(v).map_err(|_| StoreError::corrupt(self.table, col, "out of range"))
    }

    pub(crate) fn u64(&self, col: &'static str) -> Result<u64, StoreError> {
        let v = self.i64(col)?;
        u64::try_from(v).map_err(|_| StoreError::corrupt(self.table, col, "negative"))
    }

    pub(crate) fn bool(&self, col: &'static str) -> Result<bool, StoreError> {
        match self.i64(col)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StoreError::corrupt(self.table, col, "not 0 or 1")),
        }
    }

    pub(crate) fn string(&self, col: &'static str) -> Result<String, StoreError> {
        self.get(col)
    }

    pub(crate) fn opt_string(&self, col: &'static str) -> Result<Option<String>, StoreError> {
        self.get(col)
    }

    pub(crate) fn bytes(&self, col: &'static str) -> Result<Vec<u8>, StoreError> {
        self.get(col)
    }

    pub(crate) fn opt_bytes(&self, col: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(col)
    }

    pub(crate) fn time(&self, col: &'static str) -> Result<OffsetDateTime, StoreError> {
        self.i64(col).map(from_micros)
    }

    pub(crate) fn opt_time(&self, col: &'static str) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(self.opt_i64(col)?.map(from_micros))
    }

    /// A text column parsed with `FromStr` (IDs, enums, addresses).
    pub(crate) fn parse<T: FromStr>(&self, col: &'static str) -> Result<T, StoreError> {
        let s = self.string(col)?;
        s.parse().map_err(|_| StoreError::corrupt(self.table, col, "unparseable value"))
    }

    pub(crate) fn opt_parse<T: FromStr>(&self, col: &'static str) -> Result<Option<T>, StoreError> {
        match self.opt_string(col)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| StoreError::corrupt(self.table, col, "unparseable value")),
        }
    }

    pub(crate) fn label(&self, col: &'static str) -> Result<Label, StoreError> {
        let s = self.string(col)?;
        Label::parse(col, &s).map_err(|e| StoreError::corrupt(self.table, col, e.reason))
    }

    pub(crate) fn opt_label(&self, col: &'static str) -> Result<Option<Label>, StoreError> {
        match self.opt_string(col)? {
            None => Ok(None),
            Some(s) => Label::parse(col, &s)
                .map(Some)
                .map_err(|e| StoreError::corrupt(self.table, col, e.reason)),
        }
    }
}

/// Unix microseconds of a time, as stored.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    sekimori_types::to_micros(t)
}

/// A `u64` sequence number as stored (BIGINT).
pub(crate) fn seq_to_db(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::invalid("seq", "out_of_range"))
}
