//! Hugo pages.
