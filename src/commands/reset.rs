//! `labrunner reset`: forget a lab's progress in every account and region, never its
//! cleanup ledger (that would leave resources nobody removes).

use crate::cli::ResetArgs;
use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::out;
use crate::state::{io_error, RunDir};
use crate::ui::prompt::prompter_for;
use crate::ui::Ui;

/// Removes the progress files (and working directories) of a lab.
pub fn cmd_reset(ui: &mut Ui, ctx: &Context, args: &ResetArgs) -> Result<u8, Error> {
    let state_dir = ctx.state_dir()?;
    let lab = args.lab.trim_end_matches(".yaml");
    let lab = std::path::Path::new(lab).file_name().and_then(|n| n.to_str()).unwrap_or(lab).to_string();
    let runs: Vec<RunDir> =
        RunDir::all_for_lab(&state_dir, &lab).into_iter().filter(|r| r.progress().exists()).collect();
    if runs.is_empty() {
        out!(ui, "No progress to forget for lab `{lab}`.");
        return Ok(EXIT_OK);
    }
    if !args.yes {
        let Some(mut prompter) = prompter_for(ui.interactive) else {
            return Err(Error::usage("reset needs confirmation", "pass --yes"));
        };
        let question =
            format!("Forget the progress of `{lab}` ({} run(s))? The cleanup ledger is kept.", runs.len());
        if !prompter.confirm(&question, false).map_err(|e| Error::usage(e.to_string(), "pass --yes"))? {
            out!(ui, "Nothing changed.");
            return Ok(EXIT_OK);
        }
    }
    for run in &runs {
        let _lock = run.lock(&lab)?;
        std::fs::remove_file(run.progress()).map_err(|e| io_error("remove", &run.progress(), &e))?;
        let work = run.workdir();
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(|e| io_error("remove", &work, &e))?;
        }
        let kept = if run.ledger().exists() { " (cleanup ledger kept)" } else { "" };
        out!(ui, "Forgot progress in {}{kept}.", run.dir.display());
    }
    Ok(EXIT_OK)
}
