//! labrunner: a guided, verifying runner for hands-on cloud labs.
//!
//! `main` calls [`run`]; everything else is reachable from here:
//! - [`lab`]: the lab model, the Markdown/YAML parser, loading and lint;
//! - [`verify`]: typed checks of real account state, with polling and diagnostics;
//! - [`session`]: the guided runner (step state machine, shell execution, events);
//! - [`state`]: progress and the cleanup ledger, versioned and written atomically;
//! - [`cleanup`]: the dependency-ordered teardown;
//! - [`validate`]: read-only checks across many accounts;
//! - [`ui`]: everything that reaches the terminal;
//! - [`commands`]: one module per subcommand.

pub mod aws;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod concurrent;
pub mod error;
pub mod exec;
pub mod lab;
pub mod session;
pub mod state;
pub mod ui;
pub mod validate;
pub mod verify;

use std::ffi::OsString;

use clap::Parser;

use crate::cli::Cli;
use crate::ui::Ui;

/// Runs labrunner with these arguments (the program name first) and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap renders usage errors and help itself; help and version are not failures.
            let _ = e.print();
            return if e.use_stderr() { error::EXIT_INPUT } else { error::EXIT_OK };
        }
    };
    let mut ui = Ui::from_process(cli.global.color);
    let result = commands::dispatch(&cli, &mut ui);
    match result {
        Ok(code) => code,
        Err(e) => {
            ui.report_error(&e);
            e.exit_code()
        }
    }
}
