//! `labrunner cleanup`: plan from the ledger, show it, confirm by typing the account id,
//! refuse in the wrong account, delete in dependency order, and report what remains.

use std::io::Write;

use crate::aws::{whoami, Identity};
use crate::cleanup::{self, CleanupEvent, Resolution, Scanned};
use crate::cli::CleanupArgs;
use crate::clock::SystemClock;
use crate::commands::Context;
use crate::error::{AccountMismatch, Error, EXIT_FINDINGS, EXIT_OK};
use crate::session::vars::Values;
use crate::state::ledger::Ledger;
use crate::state::progress::Progress;
use crate::state::RunDir;
use crate::ui::prompt::prompter_for;
use crate::ui::report::cleanup_line;
use crate::ui::Styles;
use crate::ui::Ui;
use crate::{err, out};

struct Target {
    lab: String,
    run: RunDir,
    ledger: Ledger,
    /// Held from loading the ledger to the end, so no run of the lab changes it meanwhile.
    lock: Option<crate::state::RunLock>,
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
    let mut elsewhere_all = Vec::new();
    for lab in labs {
        let run = RunDir::new(&state_dir, &lab, &identity.account, &identity.region);
        let (here, lock) = if run.ledger().exists() {
            let lock = run.lock(&lab)?;
            (Ledger::load(&run)?, Some(lock))
        } else {
            (None, None)
        };
        match here {
            Some(ledger) => {
                refuse_if_elsewhere(&ledger.account, &ledger.region, &identity)?;
                targets.push(Target { lab, run, ledger, lock });
            }
            None => {
                let elsewhere: Vec<Ledger> = RunDir::all_for_lab(&state_dir, &lab)
                    .iter()
                    .filter_map(|r| Ledger::load(r).ok().flatten())
                    .filter(|l| !l.is_empty())
                    .collect();
                match (elsewhere.first(), args.all) {
                    (Some(ledger), false) => refuse_if_elsewhere(&ledger.account, &ledger.region, &identity)?,
                    (_, true) => elsewhere_all.extend(elsewhere),
                    (None, false) => {}
                }
                targets.push(Target {
                    ledger: Ledger::new(&lab, &identity.account, &identity.region),
                    lab,
                    run,
                    lock: None,
                });
            }
        }
    }

    // What any ledger of this account holds (any lab, any region: IAM is global) is never
    // taken for what an intent of this lab made.
    let protected = account_identities(&state_dir, &identity.account);
    for t in &mut targets {
        resolve_intents(ui, &clients, t, &protected, !args.dry_run).await?;
    }
    if args.scan {
        for t in &mut targets {
            scan_into(ui, ctx, &clients, &identity, t).await?;
        }
    }

    let total: usize = targets.iter().map(|t| t.ledger.entries.len()).sum();
    if total == 0 {
        out!(ui, "Nothing to clean up in account {} in {}.", identity.account, identity.region);
        for ledger in &elsewhere_all {
            out!(
                ui,
                "Lab `{}` has {} resource(s) recorded in account {} in {}: clean them up with credentials for that account and --region {}.",
                ledger.lab,
                ledger.entries.len(),
                ledger.account,
                ledger.region,
                ledger.region
            );
        }
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

    // Ctrl-C or SIGTERM (a closed terminal, `kill`, a CI timeout) stops between calls; the
    // ledger keeps everything not yet confirmed gone.
    let cancel = super::cancel_on_signals();
    let color = ui.err_color;
    let events = move |event: CleanupEvent| {
        let _ = writeln!(std::io::stderr().lock(), "{}", cleanup_line(&event, &Styles::new(color)));
    };
    let mut clean = true;
    for t in &mut targets {
        if t.lock.is_none() && !t.ledger.is_empty() {
            // Only --scan found something: the run directory exists from here on.
            t.lock = Some(t.run.lock(&t.lab)?);
        }
        let mut plan = cleanup::plan(&t.ledger.entries);
        plan.protected.clone_from(&protected);
        if plan.items.is_empty() {
            continue;
        }
        let run = t.run.clone();
        let mut save = move |ledger: &Ledger| ledger.save(&run);
        let report =
            cleanup::execute(&clients, &plan, &mut t.ledger, &mut save, &events, &SystemClock, &cancel).await;
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
    if let Ok(Some(p)) = Progress::peek(&target.run) {
        values.extend_missing(&p.variables);
    }
    values.apply_defaults(&lab);
    let declared: Vec<(String, crate::lab::ResourceSpec)> = lab
        .steps()
        .flat_map(|(_, step)| step.creates.iter().chain(&step.aws_creates).map(move |r| (step.id.clone(), r)))
        .filter_map(|(step, r)| values.resolve_resource(r).ok().map(|r| (step, r)))
        .collect();
    let found = cleanup::scan(clients, &declared, &target.ledger).await;
    if found.is_empty() {
        err!(ui, "--scan: nothing of {} exists outside the ledger.", target.lab);
    }
    for (step, resource, scanned) in found {
        match scanned {
            Scanned::One(ids) => {
                let id = crate::state::ledger::identity(&ids).unwrap_or("its revisions").to_string();
                err!(
                    ui,
                    "--scan: found {} ({id}, declared by step {step}) not recorded by labrunner",
                    resource.describe()
                );
                target.ledger.record(resource, ids, &step);
            }
            Scanned::Several(ids) => err!(
                ui,
                "--scan: {} resources match {} ({}); labrunner cannot tell which is the lab's and adds none of them",
                ids.len(),
                resource.describe(),
                ids.join(", ")
            ),
        }
    }
    Ok(())
}

/// Every identity recorded in any ledger of `account`.
fn account_identities(state_dir: &std::path::Path, account: &str) -> std::collections::BTreeSet<String> {
    RunDir::labs(state_dir)
        .iter()
        .flat_map(|lab| RunDir::all_for_lab(state_dir, lab))
        .filter_map(|run| Ledger::load(&run).ok().flatten())
        .filter(|l| l.account == account)
        .flat_map(|l| l.identities())
        .collect()
}

/// Intents left by an interrupted step: what appeared since is recorded by its id, what never
/// appeared is forgotten, and what cannot be told apart stays (cleanup reports it). Saved
/// unless `save` is false (a dry run changes nothing).
async fn resolve_intents(
    ui: &mut Ui,
    clients: &crate::aws::Clients,
    target: &mut Target,
    protected: &std::collections::BTreeSet<String>,
    save: bool,
) -> Result<(), Error> {
    let intents: Vec<_> = target.ledger.entries.iter().filter(|e| e.intent).cloned().collect();
    if intents.is_empty() {
        return Ok(());
    }
    for original in intents {
        let mut known = target.ledger.identities();
        known.extend(protected.iter().cloned());
        // Values the lab captured fill what the intent could not name when it was written.
        let mut intent = original.clone();
        if let Ok(resource) = intent.resource.resolve(&|name| target.ledger.variables.get(name).cloned()) {
            if resource != original.resource {
                intent.resource = resource;
                target.ledger.remove(&original);
                target.ledger.entries.push(intent.clone());
            }
        }
        match cleanup::resolve_intent(clients, &intent, &known).await {
            Ok(Resolution::Found(ids)) => {
                target.ledger.record(intent.resource.clone(), ids, &intent.step);
            }
            Ok(Resolution::Absent) => target.ledger.remove(&intent),
            Ok(Resolution::Ambiguous(_) | Resolution::Unresolved(_)) => {}
            Err(e) => err!(ui, "could not look for {} yet: {e}", intent.describe()),
        }
    }
    if save {
        target.ledger.save(&target.run)?;
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
    let rows: Vec<[String; 5]> = plan
        .items
        .iter()
        .map(|i| {
            let describe = i.entry.resource.describe();
            let name = describe.split_once(' ').map_or(String::new(), |(_, n)| n.to_string());
            let id = match i.entry.identity() {
                Some(id) => id.to_string(),
                None if i.entry.intent => "(not known yet)".to_string(),
                None => {
                    let revisions = i.entry.ids.keys().filter(|k| k.starts_with("revision:")).count();
                    format!("{revisions} revision(s)")
                }
            };
            [i.wave.to_string(), i.entry.resource.kind().to_string(), name, i.entry.step.clone(), id]
        })
        .collect();
    let header = ["WAVE", "TYPE", "NAME", "STEP", "ID"];
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0).max(header[c].len()))
        .collect();
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (c, cell) in cells.iter().enumerate().take(4) {
            text.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        text.push_str(cells[4]);
        text
    };
    out!(ui, "{}", s.bold.apply_to(line(header)));
    for r in &rows {
        out!(ui, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
}

fn confirm(ui: &mut Ui, identity: &Identity, total: usize) -> Result<(), Error> {
    let Some(mut prompter) = prompter_for(ui.interactive) else {
        return Err(Error::usage(
            format!("deleting {total} resource(s) needs confirmation"),
            "run in a terminal to confirm by typing the account id, or pass --yes",
        ));
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
