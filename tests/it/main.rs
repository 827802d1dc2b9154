//! labrunner's one integration-test binary: the real executable, run hermetically.
//!
//! - `support`: the [`support::Test`] builder, [`support::Outcome`] assertions and
//!   [`support::LabTree`] for lab trees in temporary directories;
//! - `catalog`: `list`, `show` and `lint` over small fixture labs, asserting whole outputs;
//! - `malformed`: one broken lab per parser error, with the exact position and message;
//! - `hugo`: real workshop pages without labrunner metadata still load and show;
//! - `import`: plain pages made into a lab that lints clean, runs unattended in the sandbox
//!   and cleans up;
//! - `pages`: pages, directories and Hugo sites as labs without a manifest (snapshots, lint
//!   of what authors break, an honest unattended run);
//! - `sandbox_smoke`: the local sandbox itself, from Rust;
//! - `validate`: instructor validation across sandbox accounts.
//! - `runner`: `start`/`resume`/`status`/`reset` against the sandbox (shipped lab, interactive
//!   answers, interrupts, account changes, secrets);
//! - `cleanup`: `cleanup` proven by an independent aws CLI listing;
//! - `safety`: labrunner acts only where it says, resumes never duplicate, cleanup goes by id.

mod support;

mod catalog;
mod cleanup;
mod hugo;
mod import;
mod malformed;
mod pages;
mod runner;
mod safety;
mod sandbox_smoke;
mod validate;
mod verify;
