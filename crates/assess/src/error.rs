use std::fmt;
use std::path::PathBuf;

/// One input record that could not be read: which file, where in it, and
/// what was wrong. Reading goes on past it; the caller prints the list and
/// the counts of what was kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{}: {location}: {message}", file.display())]
pub struct InputError {
    /// The file (for an entry inside a zip archive: `archive.zip!/path/in/zip`).
    pub file: PathBuf,
    /// A JSON path (`$.vulnerabilities[3].cve.configurations`), a CSV line
    /// (`line 12, column バージョン`) or a byte offset, whichever the format has.
    pub location: String,
    /// What was wrong, in English (machine-stable wording; the CLI adds Japanese).
    pub message: String,
}

impl InputError {
    /// An error at `location` in `file`.
    pub fn new(
        file: impl Into<PathBuf>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { file: file.into(), location: location.into(), message: message.into() }
    }
}

/// The errors of one read, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
