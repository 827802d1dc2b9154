//! `labrunner status`: progress of each lab run on this machine, and what still runs.

use crate::cli::StatusArgs;
use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::out;
use crate::state::ledger::Ledger;
use crate::state::progress::{Completion, Progress};
use crate::state::RunDir;
use crate::ui::Ui;

/// Shows progress for one lab or every lab with state. Reads local state only.
pub fn cmd_status(ui: &mut Ui, ctx: &Context, args: &StatusArgs) -> Result<u8, Error> {
    let state_dir = ctx.state_dir()?;
    let labs = match &args.lab {
        Some(lab) => vec![lab.clone()],
        None => RunDir::labs(&state_dir),
    };
    let s = ui.styles();
    let mut shown = 0;
    for lab_id in labs {
        let lab = ctx.find_lab(&lab_id).ok().and_then(|source| source.load().ok());
        for run in RunDir::all_for_lab(&state_dir, &lab_id) {
            // Read only: a corrupt progress file is reported, never moved (status takes no lock).
            let (progress, unreadable) = match Progress::peek(&run) {
                Ok(p) => (p, None),
                Err(e) => (None, Some(e.to_string())),
            };
            let ledger = Ledger::load(&run)?;
            if progress.is_none() && unreadable.is_none() && ledger.as_ref().is_none_or(Ledger::is_empty) {
                continue;
            }
            shown += 1;
            let where_ = run.dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
            out!(
                ui,
                "{} {}",
                s.heading.apply_to(&lab_id),
                s.dim.apply_to(format!("(account-region {where_})"))
            );
            if let Some(p) = &progress {
                let of = |o: Completion| p.finished.iter().filter(|r| r.outcome == o).collect::<Vec<_>>();
                let (done, shown, skipped) =
                    (of(Completion::Done), of(Completion::Shown), of(Completion::Skipped));
                let total = lab.as_ref().map_or(p.finished.len(), |l| l.step_count());
                let mut line = format!("  steps: {} done", done.len());
                if !shown.is_empty() {
                    line.push_str(&format!(", {} shown but not verified", shown.len()));
                }
                line.push_str(&format!(", {} skipped, of {total}", skipped.len()));
                out!(ui, "{line}");
                if !skipped.is_empty() {
                    let ids: Vec<&str> = skipped.iter().map(|r| r.step.as_str()).collect();
                    out!(ui, "  {} skipped: {}", s.warn.apply_to("»"), ids.join(", "));
                }
                let next =
                    lab.as_ref().and_then(|l| l.steps().map(|(_, st)| st).find(|st| !p.is_finished(&st.id)));
                match (&p.current, next) {
                    (Some(current), _) => out!(ui, "  stopped in step: {current}"),
                    (None, Some(next)) => out!(ui, "  next step: {} ({})", next.id, next.title),
                    (None, None) if done.is_empty() && !shown.is_empty() => {
                        out!(
                            ui,
                            "  {} every step was shown; none was verified (the pages have no checks)",
                            s.dim.apply_to("○")
                        )
                    }
                    (None, None) => out!(ui, "  {} every step is finished", s.mark(true)),
                }
                out!(ui, "  last activity: {}", p.updated_at);
            } else if let Some(problem) = &unreadable {
                out!(ui, "  {} {problem}", s.warn.apply_to("!"));
                out!(ui, "  `labrunner resume {lab_id}` rebuilds progress by checking each step against the account");
            } else {
                out!(ui, "  no progress (reset), but the cleanup ledger remains");
            }
            match ledger.filter(|l| !l.is_empty()) {
                Some(l) => {
                    out!(ui, "  {} {} resource(s) still recorded:", s.warn.apply_to("!"), l.entries.len());
                    for e in &l.entries {
                        out!(ui, "    {}", e.describe());
                    }
                    out!(ui, "  remove them with: labrunner cleanup {lab_id}");
                    let estimate = crate::state::cost::estimate(&l, std::time::SystemTime::now());
                    out!(ui, "  cost: {}", estimate.line());
                }
                None => out!(ui, "  nothing left to clean up"),
            }
        }
    }
    if shown == 0 {
        match &args.lab {
            Some(lab) => out!(ui, "No progress for lab `{lab}` yet. Start it with: labrunner start {lab}"),
            None => out!(ui, "No lab has been started yet. See the labs with: labrunner list"),
        }
    }
    Ok(EXIT_OK)
}
