//! `labrunner validate`: check many student accounts read-only and report who reached which
//! checkpoint (or, with `--preflight`, who is ready to start); with `--watch`, keep the report
//! up to date in rounds until Ctrl-C.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::aws::{load_config, whoami, Clients};
use crate::cli::{ReportFormat, ValidateArgs};
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK};
use crate::ui::Ui;
use crate::validate::watch::{self, RoundEnd, Watch, WatchSettings};
use crate::validate::{accounts, report, rfc3339, time_of_day, Access, Mode, Report, Student, Validation};
use crate::verify::VerifySettings;
use crate::{err, out};

/// The report format: `--format`, or the `--output` file's extension.
fn format_of(args: &ValidateArgs) -> Result<Option<ReportFormat>, Error> {
    if args.format.is_some() {
        return Ok(args.format);
    }
    let Some(path) = &args.output else { return Ok(None) };
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("json") => Ok(Some(ReportFormat::Json)),
        Some("csv") => Ok(Some(ReportFormat::Csv)),
        Some("xml") => Ok(Some(ReportFormat::Junit)),
        Some("html" | "htm") => Ok(Some(ReportFormat::Html)),
        _ => Err(Error::usage(
            format!("cannot tell the report format of {}", path.display()),
            "pass --format json, csv, junit or html",
        )),
    }
}

/// The students named by `--profiles`, each once.
fn profile_students(profiles: &[String]) -> Result<Vec<Student>, Error> {
    let mut seen = std::collections::BTreeSet::new();
    let mut students = Vec::new();
    for p in profiles.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if !seen.insert(p.to_string()) {
            return Err(Error::usage(format!("profile `{p}` is listed twice"), "list each profile once"));
        }
        students.push(Student::from_profile(p));
    }
    if students.is_empty() {
        return Err(Error::usage("no accounts to validate", "pass --accounts FILE or --profiles a,b,c"));
    }
    Ok(students)
}

/// Runs `labrunner validate`.
pub async fn cmd_validate(ui: &mut Ui, ctx: &Context, args: &ValidateArgs) -> Result<u8, Error> {
    if args.concurrency == 0 {
        return Err(Error::usage("--concurrency must be at least 1", "the default is 8"));
    }
    let format = format_of(args)?;
    if let Some(interval) = args.watch {
        if interval < Duration::from_secs(1) {
            return Err(Error::usage("--watch needs an interval of at least 1s", "for example --watch 30s"));
        }
        if format.is_some() && args.output.is_none() {
            return Err(Error::usage(
                "--watch rewrites its report after every round, so it needs a file",
                "add --output FILE (the matrix stays on the terminal)",
            ));
        }
    }
    let lab = Arc::new(ctx.load_lab(&args.lab)?);
    let students = match &args.accounts {
        Some(path) => accounts::read(path)?,
        None => profile_students(&args.profiles)?,
    };
    // Every account's clients share one HTTP client (one connection pool, roots parsed once).
    let base = load_config(&ctx.aws).await?;
    let access = if args.accounts.is_some() {
        // The instructor's own credentials must work before any account is tried (exit 3).
        let clients = Clients::new(base.clone());
        whoami(&clients).await?;
        Access::Role {
            sts: clients.sts.clone(),
            role_name: args.role_name.clone(),
            external_id: args.external_id.clone(),
        }
    } else {
        Access::Profiles { options: ctx.aws.clone() }
    };
    let mode = if args.preflight { Mode::Preflight } else { Mode::Checkpoints };
    let settings = VerifySettings {
        timeout_override: args.checks.timeout,
        dns_server: args.checks.dns_server,
        ..VerifySettings::default()
    };
    let how = match &access {
        Access::Role { role_name, .. } => {
            format!("as role {role_name} with a session policy that denies every write")
        }
        Access::Profiles { .. } => "with each profile's own credentials (read calls only)".to_string(),
    };
    let dim = ui.err_styles().dim;
    err!(
        ui,
        "{} {} account{} for {} ({}), {} at a time, {how}",
        dim.apply_to("validating"),
        students.len(),
        if students.len() == 1 { "" } else { "s" },
        lab.id(),
        if args.preflight { "readiness" } else { "checkpoints" },
        args.concurrency
    );
    let validation = Validation {
        lab,
        mode,
        base,
        access,
        settings,
        concurrency: args.concurrency,
        backoff: Duration::from_millis(300),
        attempts: 5,
        clock: crate::validate::WallClock::system(),
        sessions: Default::default(),
        http: crate::verify::http_client(),
    };
    if let Some(interval) = args.watch {
        return watch(ui, args, format, validation, students, interval).await;
    }
    let result = validation.run(students).await;
    let rendered = format.map(|f| render(f, &result));
    match (&rendered, &args.output) {
        (Some(text), None) => {
            // The file format owns stdout; the matrix goes to stderr.
            let table = report::matrix(&result, &ui.err_styles(), ui.width, args.verbose);
            let _ = write!(ui.err(), "{table}");
            let _ = write!(ui.out(), "{text}");
        }
        (Some(text), Some(path)) => {
            write_file(path, text)?;
            let table = report::matrix(&result, &ui.styles(), ui.width, args.verbose);
            let _ = write!(ui.out(), "{table}");
            err!(ui, "report written to {}", path.display());
        }
        (None, _) => {
            let table = report::matrix(&result, &ui.styles(), ui.width, args.verbose);
            let _ = write!(ui.out(), "{table}");
        }
    }
    if result.all_passed() {
        Ok(EXIT_OK)
    } else {
        out!(ui, "");
        Ok(EXIT_FINDINGS)
    }
}

/// The report in a file format.
fn render(format: ReportFormat, report: &Report) -> String {
    match format {
        ReportFormat::Json => report::json(report),
        ReportFormat::Csv => report::csv(report),
        ReportFormat::Junit => report::junit(report),
        ReportFormat::Html => report::html(report),
    }
}

/// `--watch`: rounds until Ctrl-C or SIGTERM. After each round the matrix is redrawn (in place
/// on a terminal, appended with the round's time otherwise) and `--output` is rewritten
/// atomically, so the file always holds a whole report (a round cut short by Ctrl-C writes what
/// it checked).
async fn watch(
    ui: &mut Ui,
    args: &ValidateArgs,
    format: Option<ReportFormat>,
    validation: Validation,
    students: Vec<Student>,
    interval: Duration,
) -> Result<u8, Error> {
    let clock = validation.clock.clone();
    let total = students.len();
    let mut state = Watch::new(
        validation.lab.id(),
        validation.mode,
        validation.columns(),
        students,
        WatchSettings::new(interval),
        clock.now(),
    );
    let stop = CancellationToken::new();
    spawn_stop_on_signals(stop.clone());
    let (ask, mut asked) = tokio::sync::mpsc::unbounded_channel();
    spawn_ask_on_sigusr1(ask.clone());
    let keys = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if keys {
        spawn_ask_on_enter(ask);
    } else {
        drop(ask);
    }
    let redraw = ui.out_terminal;
    let hint = if keys { "Enter re-checks every account, Ctrl-C ends" } else { "Ctrl-C ends" };
    let mut last: Option<Report> = None;
    let mut on_round = |end: &RoundEnd, report: &Report| -> Result<(), Error> {
        if let (Some(format), Some(path)) = (format, &args.output) {
            write_file(path, &render(format, report))?;
        }
        let line = round_line(end, total, report);
        let table = report::matrix(report, &ui.styles(), ui.width, args.verbose);
        let dim = ui.styles().dim;
        if redraw {
            // Home and clear, like watch(1): the newest matrix replaces the last one.
            let _ = write!(ui.out(), "\x1b[H\x1b[2J{}\n{table}", dim.apply_to(format!("{line} · {hint}")));
        } else {
            let _ = write!(ui.out(), "{}\n{table}\n", dim.apply_to(format!("== {line}")));
        }
        let _ = ui.out().flush();
        last = Some(report.clone());
        Ok(())
    };
    watch::run(&mut state, &validation, &clock, &stop, &mut asked, &mut on_round).await?;
    let Some(report) = last else { return Ok(EXIT_FINDINGS) };
    let rounds = report.round.unwrap_or(0);
    match &args.output {
        Some(path) if format.is_some() => {
            err!(ui, "watch ended after round {rounds}; the last report is in {}", path.display())
        }
        _ => err!(ui, "watch ended after round {rounds}"),
    }
    Ok(if report.accounts.len() == total && report.all_passed() { EXIT_OK } else { EXIT_FINDINGS })
}

/// "round 3 at 2026-11-22T14:02:11Z: checked 12 of 40 accounts (25 complete, not due; 3 backing
/// off); 4 checkpoints reached; 28/40 accounts complete; next round at 14:02:41Z".
fn round_line(end: &RoundEnd, total: usize, report: &Report) -> String {
    let at = report.checked_at.map(rfc3339).unwrap_or_default();
    let mut line = format!(
        "round {} at {at}: checked {} of {total} account{}",
        end.number,
        end.checked,
        if total == 1 { "" } else { "s" }
    );
    if end.checked < end.due {
        line.push_str(&format!(" (stopped; {} not checked)", end.due - end.checked));
    }
    let mut skipped = Vec::new();
    if end.resting > 0 {
        skipped.push(format!("{} complete, not due", end.resting));
    }
    if end.backing_off > 0 {
        skipped.push(format!("{} backing off after errors", end.backing_off));
    }
    if !skipped.is_empty() {
        line.push_str(&format!(" ({})", skipped.join("; ")));
    }
    if report.mode == Mode::Checkpoints {
        line.push_str(&format!(
            "; {} checkpoint{} reached",
            end.reached,
            if end.reached == 1 { "" } else { "s" }
        ));
    }
    if let Some(next) = end.next {
        line.push_str(&format!("; next round at {}", time_of_day(next)));
    }
    line
}

/// Ctrl-C and SIGTERM stop the watch (the report of the last round is already written).
fn spawn_stop_on_signals(stop: CancellationToken) {
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
        stop.cancel();
    });
}

/// SIGUSR1 asks for a full round now (`kill -USR1 <pid>` when no terminal is attached).
fn spawn_ask_on_sigusr1(ask: UnboundedSender<()>) {
    tokio::spawn(async move {
        let Ok(mut usr1) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        else {
            return;
        };
        while usr1.recv().await.is_some() {
            if ask.send(()).is_err() {
                return;
            }
        }
    });
}

/// Enter on the terminal asks for a full round now. The reader polls, so it gives up once the
/// watch is over instead of holding a read that would swallow the shell's next line.
fn spawn_ask_on_enter(ask: UnboundedSender<()>) {
    std::thread::spawn(move || {
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        while !ask.is_closed() {
            let mut fds = [nix::poll::PollFd::new(stdin.as_fd(), nix::poll::PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)) {
                Ok(0) => continue,
                Ok(_) => {
                    let mut line = String::new();
                    match std::io::stdin().read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if ask.send(()).is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    });
}

/// Writes a report atomically: a temporary file beside it, then a rename, so a reader (or a
/// kill) never sees half a file. An existing file keeps its permissions.
fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let io =
        |e: std::io::Error| Error::Io { action: "write", path: path.to_path_buf(), detail: e.to_string() };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
    let mut tmp = tempfile::Builder::new().prefix(".labrunner-report").tempfile_in(dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
