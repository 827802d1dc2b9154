//! Test support: the hermetic harness and the sandbox.

pub mod sandbox;
