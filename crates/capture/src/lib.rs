//! TODO(issue 4): capture sources.
