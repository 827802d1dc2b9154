//! The guided runner: the step machine (pure) and the session that drives it, variables,
//! events, and the prompt trait.

mod act;
pub mod event;
mod machine;
pub mod prompt;
pub mod runner;
pub mod vars;
mod watch;
