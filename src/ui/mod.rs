//! Terminal user interface: rendering and interaction.

pub mod markdown;
