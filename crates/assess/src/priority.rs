//! priority.
