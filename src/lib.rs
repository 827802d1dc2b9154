//! labrunner library.

pub mod ui;
