//! labrunner library.
