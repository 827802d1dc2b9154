//! `labrunner start` and `labrunner resume`: show who and where, load or create progress,
//! then hand the lab to the runner with the right reporter and prompter.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::{whoami, Identity};
use crate::cli::RunArgs;
use crate::commands::Context;
use crate::error::{AccountMismatch, Error, EXIT_FINDINGS, EXIT_OK};
use crate::lab::Lab;
use crate::session::event::Reporter;
use crate::session::prompt::Prompter;
use crate::session::runner::{Account, Io, RunEnd, RunOptions, RunState, Session};
use crate::session::vars::Values;
use crate::state::ledger::Ledger;
use crate::state::progress::Progress;
use crate::state::{Loaded, RunDir};
use crate::ui::prompt::prompter_for;
use crate::ui::report::{JsonReporter, TextReporter};
use crate::ui::Ui;
use crate::verify::VerifySettings;
use crate::{err, out};

/// What `start` or `resume` was asked to do, resolved from the arguments before anything acts.
#[derive(Debug, Clone)]
struct RunConfig {
    /// `resume`: continue earlier progress, refuse when there is none here.
    resume: bool,
    /// Menus and questions: a terminal (or LABRUNNER_INTERACTIVE=1), never with `--auto`.
    interactive: bool,
    /// How the account is confirmed before anything is done in it.
    account: AccountCheck,
    /// Events as JSON lines on stdout.
    json: bool,
    /// `--var` values.
    vars: Vec<(String, String)>,
    /// How the runner behaves (`rebuild` is decided once progress is loaded).
    options: RunOptions,
}

/// How the account and region are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountCheck {
    /// `--yes`: confirmed already.
    Given,
    /// The student is asked.
    Ask,
    /// Nobody to ask and no `--yes`: refused, naming the account and region.
    Refuse,
}

impl RunConfig {
    /// The run the arguments describe, for a terminal that may (`can_prompt`) or may not
    /// be asked questions.
    fn resolve(args: &RunArgs, can_prompt: bool, resume: bool) -> Result<Self, Error> {
        let interactive = can_prompt && !args.auto;
        if !interactive && !args.auto {
            return Err(Error::usage(
                "there is no terminal to ask questions on",
                "run `labrunner start LAB --auto --yes` for an unattended run, or run it in a terminal",
            ));
        }
        let account = match (args.yes, interactive) {
            (true, _) => AccountCheck::Given,
            (false, true) => AccountCheck::Ask,
            (false, false) => AccountCheck::Refuse,
        };
        Ok(RunConfig {
            resume,
            interactive,
            account,
            json: args.json,
            vars: args.vars.clone(),
            options: RunOptions {
                auto: args.auto,
                from: args.from.clone(),
                until: args.until.clone(),
                verify: VerifySettings {
                    timeout_override: args.checks.timeout,
                    dns_server: args.checks.dns_server,
                    ..VerifySettings::default()
                },
                watch_interval: Duration::from_secs(5),
                rebuild: false,
            },
        })
    }
}

/// Where a run begins, from what reading the progress file found.
#[derive(Debug, PartialEq)]
enum Beginning<T> {
    /// Earlier progress goes on.
    Continue(T),
    /// A first run.
    Fresh,
    /// No usable progress, but the ledger lists resources: progress is rebuilt by checking
    /// each step against the account. The warning says why.
    Rebuild(String),
    /// The progress file was unreadable and nothing is recorded: from the beginning, after
    /// the warning.
    Restart(String),
    /// `resume`, with neither progress nor anything recorded here.
    NothingHere,
}

/// Where a run begins: `loaded` progress, whether this is `resume`, and how many resources
/// the cleanup ledger lists.
fn beginning<T>(loaded: Loaded<T>, resume: bool, recorded: usize) -> Beginning<T> {
    match loaded {
        Loaded::Found(p) => Beginning::Continue(p),
        Loaded::Missing if resume && recorded == 0 => Beginning::NothingHere,
        Loaded::Missing if resume => Beginning::Rebuild(format!(
            "there is no progress file, but the cleanup ledger lists {recorded} resource(s): progress is rebuilt by checking each step against the account; nothing is run again blindly."
        )),
        Loaded::Missing => Beginning::Fresh,
        Loaded::Corrupt { backup, reason } => {
            let kept = format!("the progress file could not be read ({reason}); it was kept as {}", backup.display());
            if recorded > 0 {
                Beginning::Rebuild(format!(
                    "{kept}, and the cleanup ledger lists {recorded} resource(s), so progress is rebuilt by checking each step against the account; nothing is run again blindly."
                ))
            } else {
                Beginning::Restart(format!(
                    "{kept}, and the lab starts from the beginning; the cleanup ledger is untouched."
                ))
            }
        }
    }
}

/// Starts (or, with `resume`, continues) a lab.
pub async fn cmd_start(ui: &mut Ui, ctx: &Context, args: &RunArgs, resume: bool) -> Result<u8, Error> {
    let lab = ctx.load_lab(&args.lab)?;
    let config = RunConfig::resolve(args, ui.interactive, resume)?;
    let clients = Arc::new(ctx.clients().await?);
    let identity = whoami(&clients).await?;
    show_where(ui, &lab, &identity);

    let mut prompter = prompter_for(config.interactive);
    if !confirm_account(
        config.account,
        prompter.as_deref_mut().map(|p| -> &mut dyn Prompter { p }),
        &identity,
    )? {
        err!(ui, "Nothing done. Choose another account with --profile or --region.");
        return Ok(EXIT_OK);
    }

    let state_dir = ctx.state_dir()?;
    let run = RunDir::new(&state_dir, lab.id(), &identity.account, &identity.region);
    if config.resume && !run.progress().exists() && !run.ledger().exists() {
        // Nothing here; refuse before creating anything, and say where the lab's state is.
        return Err(no_progress_here(&state_dir, &lab, &identity));
    }
    let _lock = run.lock(lab.id())?;
    let ledger =
        Ledger::load(&run)?.unwrap_or_else(|| Ledger::new(lab.id(), &identity.account, &identity.region));
    let fresh = || Progress::new(lab.id(), &identity.account, &identity.region, &identity.arn);
    let warn = ui.err_styles().warn.apply_to("warning:").to_string();
    let (mut progress, resumed, rebuild) =
        match beginning(Progress::load(&run)?, config.resume, ledger.entries.len()) {
            Beginning::Continue(p) => (p, true, false),
            Beginning::Fresh => (fresh(), false, false),
            Beginning::Rebuild(warning) => {
                err!(ui, "{warn} {warning}");
                (fresh(), true, true)
            }
            Beginning::Restart(warning) => {
                err!(ui, "{warn} {warning}");
                (fresh(), false, false)
            }
            Beginning::NothingHere => return Err(no_progress_here(&state_dir, &lab, &identity)),
        };
    progress.source = std::fs::canonicalize(&lab.manifest_path).ok().map(|p| p.display().to_string());
    if resumed && !config.resume && !rebuild {
        err!(
            ui,
            "You have progress in this lab; continuing it (`labrunner reset {}` starts over).",
            lab.id()
        );
    }

    let mut values = Values::from_identity(&lab, &identity);
    for (name, value) in &config.vars {
        values.set(&lab, name, value.clone());
    }
    values.extend_missing(&progress.variables);

    // Ctrl-C and SIGTERM cancel the run; the runner then stops the running command, saves
    // progress and the ledger, and returns.
    let cancel = super::cancel_on_signals();

    let mut reporter = reporter_for(ui, &lab, &config);
    let options = RunOptions { rebuild, ..config.options.clone() };
    let mut session = Session::new(
        &lab,
        Account { clients: Arc::clone(&clients), identity },
        RunState { run, progress, ledger, values },
        Io {
            reporter: reporter.as_mut(),
            prompter: prompter.as_deref_mut().map(|p| -> &mut dyn Prompter { p }),
            cancel,
        },
        options,
    );
    let end = session.run(resumed).await;
    let resources = session.ledger().entries.len();
    drop(session);
    if resources > 0 && !config.json {
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
            if !config.json {
                out!(ui, "Progress saved. Continue with: labrunner resume {}", lab.id());
            }
            Ok(EXIT_OK)
        }
        RunEnd::Failed => Ok(EXIT_FINDINGS),
        RunEnd::Stopped => Ok(EXIT_OK),
    }
}

/// The lab, the account, the identity and the region, before anything happens; and the
/// lab's cost note.
fn show_where(ui: &mut Ui, lab: &Lab, identity: &Identity) {
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
}

/// Whether to work in this account and region: given by `--yes`, asked, or refused.
fn confirm_account(
    check: AccountCheck,
    prompter: Option<&mut dyn Prompter>,
    identity: &Identity,
) -> Result<bool, Error> {
    match (check, prompter) {
        (AccountCheck::Given, _) => Ok(true),
        (AccountCheck::Ask, Some(p)) => p
            .confirm("Work in this account and region?", true)
            .map_err(|e| Error::usage(e.to_string(), "pass --yes")),
        (AccountCheck::Ask | AccountCheck::Refuse, _) => Err(Error::usage(
            format!(
                "confirm the account first: labrunner would act in account {} in {}",
                identity.account, identity.region
            ),
            "pass --yes to confirm",
        )),
    }
}

/// JSON lines on stdout, or the text reporter (live lines on a terminal).
fn reporter_for(ui: &Ui, lab: &Lab, config: &RunConfig) -> Box<dyn Reporter> {
    if config.json {
        Box::new(JsonReporter::new(Box::new(std::io::stdout())))
    } else {
        let fancy = ui.interactive && std::io::stderr().is_terminal();
        Box::new(TextReporter::new(
            lab.clone(),
            Box::new(std::io::stdout()),
            ui.render_options(),
            fancy,
            config.interactive,
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::CheckArgs;

    fn args(auto: bool, yes: bool) -> RunArgs {
        RunArgs {
            lab: "lab".into(),
            auto,
            yes,
            json: false,
            from: Some("second".into()),
            until: None,
            vars: vec![("A".into(), "1".into())],
            checks: CheckArgs { timeout: Some(Duration::from_secs(90)), dns_server: None },
        }
    }

    #[test]
    fn the_arguments_resolve_into_a_run() {
        // (auto, yes, can prompt) → interactive, how the account is confirmed; or an error.
        let cases = [
            (false, false, true, Some((true, AccountCheck::Ask))),
            (false, true, true, Some((true, AccountCheck::Given))),
            (true, false, true, Some((false, AccountCheck::Refuse))),
            (true, true, true, Some((false, AccountCheck::Given))),
            (true, true, false, Some((false, AccountCheck::Given))),
            (true, false, false, Some((false, AccountCheck::Refuse))),
            (false, true, false, None),
            (false, false, false, None),
        ];
        for (auto, yes, can_prompt, want) in cases {
            let got = RunConfig::resolve(&args(auto, yes), can_prompt, false);
            let label = format!("auto={auto} yes={yes} can_prompt={can_prompt}");
            match (got, want) {
                (Ok(c), Some((interactive, account))) => {
                    assert_eq!((c.interactive, c.account), (interactive, account), "{label}");
                    assert_eq!(c.options.auto, auto, "{label}");
                }
                (Err(e), None) => {
                    assert_eq!(e.to_string(), "there is no terminal to ask questions on", "{label}");
                    assert_eq!(e.exit_code(), crate::error::EXIT_INPUT, "{label}");
                }
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_run_options_come_from_the_arguments() {
        let c = RunConfig::resolve(&args(true, true), false, true).unwrap();
        assert!(c.resume && !c.json);
        assert_eq!(c.vars, [("A".to_string(), "1".to_string())]);
        assert_eq!(c.options.from.as_deref(), Some("second"));
        assert_eq!(c.options.until, None);
        assert_eq!(c.options.verify.timeout_override, Some(Duration::from_secs(90)));
        assert_eq!(c.options.watch_interval, Duration::from_secs(5));
        assert!(!c.options.rebuild, "decided once progress is loaded");
    }

    #[test]
    fn where_a_run_begins() {
        let corrupt = || Loaded::Corrupt { backup: "/s/progress.json.bad".into(), reason: "EOF".into() };
        assert_eq!(beginning(Loaded::Found(7), false, 0), Beginning::Continue(7));
        assert_eq!(beginning(Loaded::Found(7), true, 3), Beginning::Continue(7));
        assert_eq!(beginning(Loaded::<u8>::Missing, false, 3), Beginning::Fresh);
        assert_eq!(beginning(Loaded::<u8>::Missing, true, 0), Beginning::NothingHere);
        assert_eq!(
            beginning(Loaded::<u8>::Missing, true, 3),
            Beginning::Rebuild("there is no progress file, but the cleanup ledger lists 3 resource(s): progress is rebuilt by checking each step against the account; nothing is run again blindly.".into())
        );
        assert_eq!(
            beginning(corrupt(), false, 2),
            Beginning::<u8>::Rebuild("the progress file could not be read (EOF); it was kept as /s/progress.json.bad, and the cleanup ledger lists 2 resource(s), so progress is rebuilt by checking each step against the account; nothing is run again blindly.".into())
        );
        assert_eq!(
            beginning(corrupt(), true, 0),
            Beginning::<u8>::Restart("the progress file could not be read (EOF); it was kept as /s/progress.json.bad, and the lab starts from the beginning; the cleanup ledger is untouched.".into())
        );
    }

    #[test]
    fn the_account_is_confirmed_given_asked_or_refused() {
        let identity = Identity {
            account: "123456789012".into(),
            arn: "arn:aws:iam::123456789012:user/s".into(),
            region: "us-east-1".into(),
        };
        assert!(confirm_account(AccountCheck::Given, None, &identity).unwrap());
        let mut yes = crate::session::prompt::ScriptedPrompter::new(&["y"]);
        assert!(confirm_account(AccountCheck::Ask, Some(&mut yes), &identity).unwrap());
        assert_eq!(yes.asked, ["Work in this account and region?"]);
        let mut no = crate::session::prompt::ScriptedPrompter::new(&["n"]);
        assert!(!confirm_account(AccountCheck::Ask, Some(&mut no), &identity).unwrap());
        let refused = confirm_account(AccountCheck::Refuse, None, &identity).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "confirm the account first: labrunner would act in account 123456789012 in us-east-1"
        );
        assert_eq!(refused.hint().as_deref(), Some("pass --yes to confirm"));
    }
}
