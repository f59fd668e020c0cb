//! CPE 2.3 names: parsing (formatted string and 2.2 URI bindings) and name
//! matching. OWNED BY THE VERSION HELPER — placeholder with the agreed API.

/// A parsed CPE 2.3 name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpe {
    /// `a`, `o` or `h` (or ANY).
    pub part: Component,
    /// Vendor.
    pub vendor: Component,
    /// Product.
    pub product: Component,
    /// Version.
    pub version: Component,
    /// Update.
    pub update: Component,
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Component {
    /// `*`.
    Any,
    /// `-`.
    Na,
    /// A value, unescaped (may hold the wildcards `*`/`?` at its ends).
    Value(String),
}

/// Why a CPE string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPE at byte {offset}: {message}")]
pub struct CpeError {
    /// Byte offset in the input.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

impl Cpe {
    /// Parse `cpe:2.3:…` or `cpe:/…`.
    pub fn parse(text: &str) -> Result<Cpe, CpeError> {
        let _ = text;
        Err(CpeError { offset: 0, message: "placeholder".into() })
    }

    /// Whether `self` (a pattern, e.g. an NVD criterion) matches `target`.
    pub fn matches(&self, target: &Cpe) -> bool {
        let _ = target;
        false
    }
}
