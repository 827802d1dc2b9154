//! `labrunner completions SHELL` and `labrunner man`: generated from the clap definitions, so
//! they never disagree with `--help`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Error, EXIT_OK};
use crate::ui::Ui;

/// Writes the completion script for a shell to stdout.
pub fn cmd_completions(ui: &mut Ui, args: &CompletionsArgs) -> Result<u8, Error> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "labrunner", ui.out());
    Ok(EXIT_OK)
}

/// Writes the manual page (roff) to stdout.
pub fn cmd_man(ui: &mut Ui) -> Result<u8, Error> {
    let page = clap_mangen::Man::new(Cli::command());
    page.render(ui.out()).map_err(|e| Error::Io {
        action: "write",
        path: "the manual page".into(),
        detail: e.to_string(),
    })?;
    Ok(EXIT_OK)
}
