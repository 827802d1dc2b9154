//! `labrunner cleanup`: plan from the ledger, show it, confirm by typing the account id,
//! refuse in the wrong account, delete in dependency order, and report what remains.

use std::io::Write;

use tokio_util::sync::CancellationToken;

use crate::aws::{whoami, Identity};
use crate::cleanup::{self, CleanupEvent, TokioSleeper};
use crate::cli::CleanupArgs;
use crate::commands::Context;
use crate::error::{AccountMismatch, Error, EXIT_FINDINGS, EXIT_OK};
use crate::session::prompt::{LinePrompter, Prompter, TerminalPrompter};
use crate::session::vars::Values;
use crate::state::ledger::Ledger;
use crate::state::progress::Progress;
use crate::state::{Loaded, RunDir};
use crate::ui::report::cleanup_line;
use crate::ui::Styles;
use crate::ui::Ui;
use crate::{err, out};

struct Target {
    lab: String,
    run: RunDir,
    ledger: Ledger,
}

/// Cleans up one lab, or every lab with a ledger in this account and region.
pub async fn cmd_cleanup(ui: &mut Ui, ctx: &Context, args: &CleanupArgs) -> Result<u8, Error> {
    let clients = ctx.clients().await?;
    let identity = whoami(&clients).await?;
    let state_dir = ctx.state_dir()?;
    let s = ui.err_styles();
    err!(
        ui,
        "{} account {} ({}), region {}",
        s.heading.apply_to("Cleaning up in"),
        identity.account,
        identity.arn,
        identity.region
    );

    let labs = match &args.lab {
        Some(lab) => vec![lab_id(lab)],
        None => RunDir::labs(&state_dir),
    };
    let mut targets = Vec::new();
    for lab in labs {
        let run = RunDir::new(&state_dir, &lab, &identity.account, &identity.region);
        match Ledger::load(&run)? {
            Some(ledger) => {
                refuse_if_elsewhere(&ledger.account, &ledger.region, &identity)?;
                targets.push(Target { lab, run, ledger });
            }
            None => {
                let elsewhere: Vec<RunDir> = RunDir::all_for_lab(&state_dir, &lab)
                    .into_iter()
                    .filter(|r| Ledger::load(r).ok().flatten().is_some_and(|l| !l.is_empty()))
                    .collect();
                if let (Some(other), false) = (elsewhere.first(), args.all) {
                    if let Some(ledger) = Ledger::load(other)? {
                        refuse_if_elsewhere(&ledger.account, &ledger.region, &identity)?;
                    }
                }
                targets.push(Target {
                    ledger: Ledger::new(&lab, &identity.account, &identity.region),
                    lab,
                    run,
                });
            }
        }
    }

    if args.scan {
        for t in &mut targets {
            scan_into(ui, ctx, &clients, &identity, t).await?;
        }
    }

    let total: usize = targets.iter().map(|t| t.ledger.entries.len()).sum();
    if total == 0 {
        out!(ui, "Nothing to clean up in account {} in {}.", identity.account, identity.region);
        if !args.scan {
            out!(ui, "(Resources made by hand outside labrunner are found with --scan.)");
        }
        return Ok(EXIT_OK);
    }
    for t in &targets {
        print_plan(ui, t);
    }
    if args.dry_run {
        out!(ui, "Dry run: nothing was deleted.");
        return Ok(EXIT_OK);
    }
    if !args.yes {
        confirm(ui, &identity, total)?;
    }

    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    let color = ui.err_color;
    let events = move |event: CleanupEvent| {
        let _ = writeln!(std::io::stderr().lock(), "{}", cleanup_line(&event, &Styles::new(color)));
    };
    let mut clean = true;
    for t in &mut targets {
        let _lock = t.run.lock(&t.lab)?;
        let plan = cleanup::plan(&t.ledger.entries);
        if plan.items.is_empty() {
            continue;
        }
        let run = t.run.clone();
        let mut save = move |ledger: &Ledger| ledger.save(&run);
        let report =
            cleanup::execute(&clients, &plan, &mut t.ledger, &mut save, &events, &TokioSleeper, &cancel)
                .await;
        let heading = ui.styles().heading.apply_to(format!("Cleanup of {}", t.lab)).to_string();
        out!(ui, "\n{heading}");
        let _ = write!(ui.out(), "{report}");
        clean &= report.is_clean();
    }
    if cancel.is_cancelled() {
        // The hint must say cleanup: `labrunner resume` would run the lab again and create
        // what cleanup just removed.
        let labs: Vec<&str> = targets.iter().map(|t| t.lab.as_str()).collect();
        return Err(Error::Interrupted {
            what: "cleanup was interrupted; the ledger keeps what remains".into(),
            hint: Some(format!(
                "run `labrunner cleanup {}` again to finish",
                if labs.len() == 1 { labs[0] } else { "--all" }
            )),
        });
    }
    Ok(if clean { EXIT_OK } else { EXIT_FINDINGS })
}

/// `flask-inventory`, `labs/flask-inventory.yaml` → `flask-inventory`.
fn lab_id(arg: &str) -> String {
    let path = std::path::Path::new(arg);
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => path.file_stem().and_then(|s| s.to_str()).unwrap_or(arg).to_string(),
        _ => arg.to_string(),
    }
}

fn refuse_if_elsewhere(account: &str, region: &str, identity: &Identity) -> Result<(), Error> {
    if account == identity.account && region == identity.region {
        return Ok(());
    }
    Err(Error::WrongAccount(Box::new(AccountMismatch {
        what: "refusing to clean up".into(),
        record: "cleanup ledger".into(),
        expected_account: account.into(),
        expected_region: region.into(),
        actual_account: identity.account.clone(),
        actual_region: identity.region.clone(),
    })))
}

/// Adds resources the lab declares that exist but are not in the ledger (made by hand).
async fn scan_into(
    ui: &mut Ui,
    ctx: &Context,
    clients: &crate::aws::Clients,
    identity: &Identity,
    target: &mut Target,
) -> Result<(), Error> {
    let lab = ctx.load_lab(&target.lab)?;
    let mut values = Values::from_identity(&lab, identity);
    if let Loaded::Found(p) = Progress::load(&target.run)? {
        values.extend_missing(&p.variables);
    }
    values.apply_defaults(&lab);
    let declared: Vec<(String, crate::lab::ResourceSpec)> = lab
        .steps()
        .flat_map(|(_, step)| step.creates.iter().map(move |r| (step.id.clone(), r)))
        .filter_map(|(step, r)| values.resolve_resource(r).ok().map(|r| (step, r)))
        .collect();
    let found = cleanup::scan(clients, &declared, &target.ledger).await;
    if found.is_empty() {
        err!(ui, "--scan: nothing of {} exists outside the ledger.", target.lab);
    }
    for (step, resource, ids) in found {
        err!(ui, "--scan: found {} (declared by step {step}) not recorded by labrunner", resource.describe());
        target.ledger.record(resource, ids, &step);
    }
    Ok(())
}

fn print_plan(ui: &mut Ui, target: &Target) {
    let plan = cleanup::plan(&target.ledger.entries);
    let s = ui.styles();
    out!(
        ui,
        "{}",
        s.heading.apply_to(format!("Deletion plan for {} ({} resources)", target.lab, plan.items.len()))
    );
    let rows: Vec<(String, String, String, String)> = plan
        .items
        .iter()
        .map(|i| {
            let describe = i.entry.resource.describe();
            let name = describe.split_once(' ').map_or(String::new(), |(_, n)| n.to_string());
            (i.wave.to_string(), i.entry.resource.kind().to_string(), name, i.entry.step.clone())
        })
        .collect();
    let w = |f: fn(&(String, String, String, String)) -> usize, min: usize| {
        rows.iter().map(f).max().unwrap_or(0).max(min)
    };
    let (w1, w2, w3) = (w(|r| r.0.len(), 4), w(|r| r.1.len(), 4), w(|r| r.2.chars().count(), 4));
    out!(ui, "{}", s.bold.apply_to(format!("{:<w1$}  {:<w2$}  {:<w3$}  STEP", "WAVE", "TYPE", "NAME")));
    for (wave, kind, name, step) in rows {
        out!(ui, "{wave:<w1$}  {kind:<w2$}  {name:<w3$}  {step}");
    }
}

fn confirm(ui: &mut Ui, identity: &Identity, total: usize) -> Result<(), Error> {
    if !ui.interactive {
        return Err(Error::usage(
            format!("deleting {total} resource(s) needs confirmation"),
            "run in a terminal to confirm by typing the account id, or pass --yes",
        ));
    }
    let mut prompter: Box<dyn Prompter> = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        Box::new(TerminalPrompter::new())
    } else {
        Box::new(LinePrompter::new())
    };
    let typed = prompter
        .input(
            &format!("Type the account id ({}) to delete these {total} resource(s)", identity.account),
            None,
        )
        .map_err(|e| Error::usage(e.to_string(), "pass --yes"))?;
    if typed.trim() != identity.account {
        return Err(Error::usage(
            "the account id did not match; nothing was deleted",
            "type it exactly as shown",
        ));
    }
    Ok(())
}
