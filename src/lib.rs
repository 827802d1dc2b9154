//! labrunner: a guided, verifying runner for hands-on cloud labs.

pub mod aws;
pub mod cleanup;
pub mod error;
pub mod lab;
pub mod state;
