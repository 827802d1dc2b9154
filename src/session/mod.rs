//! The guided runner: the step state machine, variables, events, and the driver around them.

pub mod vars;
