//! checklist.
