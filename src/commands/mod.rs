//! One module per subcommand, all dispatched from one exhaustive `match`.
//!
//! A command takes the UI and its resolved context, does its work and returns an exit code
//! (0 or 1) or an [`Error`] that `run` renders.

mod cleanup;
mod env;
mod help;
mod import;
mod lint;
mod list;
mod preflight;
mod reset;
mod show;
mod start;
mod status;
mod validate;
mod verify;

use std::path::PathBuf;

use crate::aws::{AwsOptions, Clients};
use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::Error;
use crate::lab::{find_lab, Lab, LabDirs, LabSource};
use crate::ui::Ui;

/// What every command may need, resolved from the global options.
pub struct Context {
    /// Where labs are: `--labs-dir`, or `./labs`.
    pub dirs: LabDirs,
    /// Whether the labs directory was given (`--labs-dir`, `LABRUNNER_LABS`): then only its
    /// labs are used; otherwise the built-in labs come after `./labs`.
    pub labs_dir_given: bool,
    /// `--state-dir`, if given (resolved lazily: most commands never need it).
    pub state_dir: Option<PathBuf>,
    /// AWS options.
    pub aws: AwsOptions,
}

impl Context {
    /// The context for these global options.
    pub fn new(global: &GlobalArgs) -> Self {
        Context {
            dirs: LabDirs::new(global.labs_dir.clone().unwrap_or_else(|| PathBuf::from("labs"))),
            labs_dir_given: global.labs_dir.is_some(),
            state_dir: global.state_dir.clone(),
            aws: AwsOptions {
                profile: global.profile.clone(),
                region: global.region.clone(),
                endpoint_url: global.endpoint_url.clone(),
            },
        }
    }

    /// Finds and loads a lab by id, manifest, page or directory of pages; a lab id that is
    /// not found there is looked up where an earlier run of it recorded its source.
    pub fn load_lab(&self, wanted: &str) -> Result<Lab, Error> {
        Ok(self.find_lab(wanted)?.load()?)
    }

    /// Resolves a lab argument (see [`Context::load_lab`]): the labs directory, then the
    /// built-in labs (unless a labs directory was given), then where an earlier run of it
    /// recorded its source.
    pub fn find_lab(&self, wanted: &str) -> Result<LabSource, Error> {
        let mut not_found = match find_lab(&self.dirs, wanted) {
            Ok(source) => return Ok(source),
            Err(not_found) => not_found,
        };
        if let Some(builtin) = self.builtin_dirs() {
            match find_lab(&builtin, wanted) {
                Ok(source) => return Ok(source),
                Err(other) => {
                    for id in other.available {
                        if !not_found.available.contains(&id) {
                            not_found.available.push(id);
                        }
                    }
                }
            }
        }
        self.recorded_source(wanted).ok_or_else(|| not_found.into())
    }

    /// The built-in labs, written out to the cache, when they are in use (no labs directory
    /// was given) and can be written.
    pub fn builtin_dirs(&self) -> Option<LabDirs> {
        if self.labs_dir_given {
            return None;
        }
        crate::lab::builtin::labs_dir().ok().map(LabDirs::new)
    }

    /// The source an earlier run of lab `id` recorded in its progress, if it still exists.
    fn recorded_source(&self, id: &str) -> Option<LabSource> {
        let state_dir = self.state_dir().ok()?;
        crate::state::RunDir::all_for_lab(&state_dir, id).iter().find_map(|run| {
            let source = crate::state::progress::Progress::peek(run).ok()??.source?;
            find_lab(&self.dirs, &source).ok().filter(|s| s.path().exists())
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> Result<PathBuf, Error> {
        crate::state::state_dir(self.state_dir.as_deref())
    }

    /// AWS clients from the options and the standard chain.
    pub async fn clients(&self) -> Result<Clients, Error> {
        Ok(Clients::new(crate::aws::load_config(&self.aws).await?).with_profile(self.aws.profile.clone()))
    }
}

/// Runs the command `cli` names. Commands that only read local files run without an async
/// runtime (no threads to start for `list`); those that talk to AWS get one.
pub fn dispatch(cli: &Cli, ui: &mut Ui) -> Result<u8, Error> {
    let ctx = Context::new(&cli.global);
    match &cli.command {
        Command::List => list::cmd_list(ui, &ctx),
        Command::Show(args) => show::cmd_show(ui, &ctx, args),
        Command::Import(args) => import::cmd_import(ui, args),
        Command::Lint(args) => lint::cmd_lint(ui, &ctx, args),
        Command::Status(args) => status::cmd_status(ui, &ctx, args),
        Command::Reset(args) => reset::cmd_reset(ui, &ctx, args),
        Command::Validate(args) => block_on(validate::cmd_validate(ui, &ctx, args)),
        Command::Preflight(args) => block_on(preflight::cmd_preflight(ui, &ctx, args)),
        Command::Start(args) => block_on(start::cmd_start(ui, &ctx, args, false)),
        Command::Resume(args) => block_on(start::cmd_start(ui, &ctx, args, true)),
        Command::Cleanup(args) => block_on(cleanup::cmd_cleanup(ui, &ctx, args)),
        Command::Verify(args) => block_on(verify::cmd_verify(ui, &ctx, args)),
        Command::Env(args) => env::cmd_env(ui, &ctx, args),
        Command::Completions(args) => help::cmd_completions(ui, args),
        Command::Man => help::cmd_man(ui),
    }
}

/// Runs an AWS command on a multi-threaded runtime.
fn block_on(command: impl std::future::Future<Output = Result<u8, Error>>) -> Result<u8, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        Error::Io { action: "start", path: "the async runtime".into(), detail: e.to_string() }
    })?;
    runtime.block_on(command)
}

/// A token that Ctrl-C or SIGTERM cancels: the command then stops what is running, saves what it
/// must (progress, the ledger, a report) and returns. Needs a tokio runtime.
pub(crate) fn cancel_on_signals() -> tokio_util::sync::CancellationToken {
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
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
        on_signal.cancel();
    });
    cancel
}
