//! labrunner: a guided, verifying runner for hands-on cloud labs.

pub mod lab;
