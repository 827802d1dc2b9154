//! Labs: the model, the Markdown and manifest parsers, loading from disk, and lint.

pub mod builtin;
pub mod check;
#[cfg(test)]
mod fuzz_tests;
pub mod import;
pub mod lint;
pub mod load;
pub mod manifest;
pub mod model;
pub mod parse;
pub mod resource;
pub mod site;
pub mod source;
pub mod vars;
pub mod yaml;

pub use load::{find_lab, list_labs, load_lab, LabDirs, LabSource};
pub use model::*;

/// A problem with a lab's files, at a precise position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError {
    /// Where the problem is.
    pub location: Location,
    /// What was found and what was expected.
    pub message: String,
    /// What to do about it, when there is something useful to say.
    pub hint: Option<String>,
}

impl LabError {
    /// An error at `location`.
    pub fn new(location: Location, message: String) -> Self {
        LabError { location, message, hint: None }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
}

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}
