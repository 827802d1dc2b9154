//! `labrunner start` and `labrunner resume`: show who and where, load or create progress,
//! then hand the lab to the runner with the right reporter and prompter.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aws::whoami;
use crate::cli::RunArgs;
use crate::commands::Context;
use crate::error::{AccountMismatch, Error, EXIT_FINDINGS, EXIT_OK};
use crate::session::event::Reporter;
use crate::session::prompt::{LinePrompter, Prompter, TerminalPrompter};
use crate::session::runner::{RunEnd, RunOptions, Session};
use crate::session::vars::Values;
use crate::state::ledger::Ledger;
use crate::state::progress::Progress;
use crate::state::{Loaded, RunDir};
use crate::ui::report::{JsonReporter, TextReporter};
use crate::ui::Ui;
use crate::verify::VerifySettings;
use crate::{err, out};

/// Starts (or, with `resume`, continues) a lab.
pub async fn cmd_start(ui: &mut Ui, ctx: &Context, args: &RunArgs, resume: bool) -> Result<u8, Error> {
    let lab = ctx.load_lab(&args.lab)?;
    let interactive = ui.interactive && !args.auto;
    if !interactive && !args.auto {
        return Err(Error::usage(
            "there is no terminal to ask questions on",
            "run `labrunner start LAB --auto --yes` for an unattended run, or run it in a terminal",
        ));
    }
    let clients = Arc::new(ctx.clients().await?);
    let identity = whoami(&clients).await?;

    let s = ui.err_styles();
    err!(ui, "{} {}", s.heading.apply_to("Lab:"), lab.manifest.title);
    err!(ui, "{} {}", s.heading.apply_to("Account:"), identity.account);
    err!(ui, "{} {}", s.heading.apply_to("Identity:"), identity.arn);
    err!(ui, "{} {}", s.heading.apply_to("Region:"), identity.region);
    if let Some(cost) = &lab.manifest.cost {
        // Wrapped at word boundaries to the terminal's width, never mid-word.
        let options = crate::ui::markdown::RenderOptions { color: false, width: ui.width };
        let text = crate::ui::markdown::render(&format!("Cost: {cost}"), options);
        let text = text.trim_end().replacen("Cost:", &s.warn.apply_to("Cost:").to_string(), 1);
        err!(ui, "{text}");
    }

    let mut prompter: Option<Box<dyn Prompter>> = if interactive {
        Some(if std::io::stdin().is_terminal() {
            Box::new(TerminalPrompter::new())
        } else {
            Box::new(LinePrompter::new())
        })
    } else {
        None
    };
    if !args.yes {
        match prompter.as_deref_mut() {
            Some(p) => {
                let go = p
                    .confirm("Work in this account and region?", true)
                    .map_err(|e| Error::usage(e.to_string(), "pass --yes"))?;
                if !go {
                    err!(ui, "Nothing done. Choose another account with --profile or --region.");
                    return Ok(EXIT_OK);
                }
            }
            None => {
                return Err(Error::usage(
                    format!(
                        "confirm the account first: labrunner would act in account {} in {}",
                        identity.account, identity.region
                    ),
                    "pass --yes to confirm",
                ))
            }
        }
    }

    let state_dir = ctx.state_dir()?;
    let run = RunDir::new(&state_dir, lab.id(), &identity.account, &identity.region);
    if resume && !run.progress().exists() && !run.ledger().exists() {
        // Nothing here; refuse before creating anything, and say where the lab's state is.
        return Err(no_progress_here(&state_dir, &lab, &identity));
    }
    let _lock = run.lock(lab.id())?;
    let ledger =
        Ledger::load(&run)?.unwrap_or_else(|| Ledger::new(lab.id(), &identity.account, &identity.region));
    let mut rebuild = false;
    let (mut progress, resumed) = match Progress::load(&run)? {
        Loaded::Found(p) => (p, true),
        Loaded::Missing if resume && ledger.is_empty() => {
            return Err(no_progress_here(&state_dir, &lab, &identity))
        }
        Loaded::Missing if resume => {
            err!(
                ui,
                "{} there is no progress file, but the cleanup ledger lists {} resource(s): progress is rebuilt by checking each step against the account; nothing is run again blindly.",
                s.warn.apply_to("warning:"),
                ledger.entries.len()
            );
            rebuild = true;
            (Progress::new(lab.id(), &identity.account, &identity.region, &identity.arn), true)
        }
        Loaded::Missing => {
            (Progress::new(lab.id(), &identity.account, &identity.region, &identity.arn), false)
        }
        Loaded::Corrupt { backup, reason } => {
            rebuild = !ledger.is_empty();
            let then = if rebuild {
                format!(
                    "the cleanup ledger lists {} resource(s), so progress is rebuilt by checking each step against the account; nothing is run again blindly",
                    ledger.entries.len()
                )
            } else {
                "the lab starts from the beginning; the cleanup ledger is untouched".to_string()
            };
            err!(
                ui,
                "{} the progress file could not be read ({reason}); it was kept as {}, and {then}.",
                s.warn.apply_to("warning:"),
                backup.display()
            );
            (Progress::new(lab.id(), &identity.account, &identity.region, &identity.arn), rebuild)
        }
    };
    progress.source = std::fs::canonicalize(&lab.manifest_path).ok().map(|p| p.display().to_string());
    if resumed && !resume && !rebuild {
        err!(
            ui,
            "You have progress in this lab; continuing it (`labrunner reset {}` starts over).",
            lab.id()
        );
    }

    let mut values = Values::from_identity(&lab, &identity);
    for (name, value) in &args.vars {
        values.set(&lab, name, value.clone());
    }
    values.extend_missing(&progress.variables);

    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());

    let mut reporter: Box<dyn Reporter> = if args.json {
        Box::new(JsonReporter::new(Box::new(std::io::stdout())))
    } else {
        let fancy = ui.interactive && std::io::stderr().is_terminal();
        Box::new(TextReporter::new(
            lab.clone(),
            Box::new(std::io::stdout()),
            ui.render_options(),
            fancy,
            interactive,
        ))
    };
    let options = RunOptions {
        auto: args.auto,
        from: args.from.clone(),
        until: args.until.clone(),
        verify: VerifySettings {
            timeout_override: args.checks.timeout,
            dns_server: args.checks.dns_server,
            ..VerifySettings::default()
        },
        watch_interval: Duration::from_secs(5),
        rebuild,
    };
    let mut session = Session::new(
        &lab,
        Arc::clone(&clients),
        identity,
        run,
        progress,
        ledger,
        values,
        reporter.as_mut(),
        prompter.as_deref_mut().map(|p| -> &mut dyn Prompter { p }),
        options,
        cancel,
    );
    let end = session.run(resumed).await;
    let resources = session.ledger().entries.len();
    drop(session);
    if resources > 0 && !args.json {
        let s = ui.styles();
        let text = format!(
            "Reminder: {resources} resource(s) this lab created are still in your account and may cost money. Remove them with: labrunner cleanup {}",
            lab.id()
        );
        // Wrapped at words on a terminal; one line when piped (scripts grep it).
        let width = if ui.interactive { ui.width } else { usize::MAX };
        let text = crate::ui::wrap_words(&text, width).join("\n");
        out!(ui, "{}", text.replacen("Reminder:", &s.warn.apply_to("Reminder:").to_string(), 1));
    }
    match end? {
        RunEnd::Complete => Ok(EXIT_OK),
        RunEnd::Quit => {
            if !args.json {
                out!(ui, "Progress saved. Continue with: labrunner resume {}", lab.id());
            }
            Ok(EXIT_OK)
        }
        RunEnd::Failed => Ok(EXIT_FINDINGS),
        RunEnd::Stopped => Ok(EXIT_OK),
    }
}

/// `resume` found nothing for this account and region: a refusal (exit 4) naming where the
/// lab's progress or ledger is, or a usage error when there is none anywhere.
fn no_progress_here(
    state_dir: &std::path::Path,
    lab: &crate::lab::Lab,
    identity: &crate::aws::Identity,
) -> Error {
    for other in RunDir::all_for_lab(state_dir, lab.id()) {
        let owner = match (Progress::peek(&other), Ledger::load(&other)) {
            (Ok(Some(p)), _) => Some((p.account, p.region, "progress")),
            (_, Ok(Some(l))) if !l.is_empty() => Some((l.account, l.region, "cleanup ledger")),
            _ => None,
        };
        if let Some((account, region, record)) = owner {
            return Error::WrongAccount(Box::new(AccountMismatch {
                what: format!("refusing to resume lab `{}` here", lab.id()),
                record: record.into(),
                expected_account: account,
                expected_region: region,
                actual_account: identity.account.clone(),
                actual_region: identity.region.clone(),
            }));
        }
    }
    Error::Usage {
        message: format!(
            "no progress for lab `{}` in account {} in {}",
            lab.id(),
            identity.account,
            identity.region
        ),
        hint: Some(format!("start it with `labrunner start {}`", lab.id())),
    }
}

/// Ctrl-C and SIGTERM cancel the run; the runner then stops the running command, saves
/// progress and the ledger, and returns.
fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
        cancel.cancel();
    });
}
