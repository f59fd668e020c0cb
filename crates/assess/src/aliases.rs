//! aliases.
