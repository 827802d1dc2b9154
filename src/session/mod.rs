//! The guided runner: the step state machine, variables, events, and prompts.

pub mod event;
pub mod prompt;
pub mod runner;
pub mod vars;
