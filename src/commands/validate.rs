//! `labrunner validate`: check many student accounts read-only and report who reached which
//! checkpoint (or, with `--preflight`, who is ready to start).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Context;
use crate::aws::{load_config, whoami, Clients};
use crate::cli::{ReportFormat, ValidateArgs};
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK};
use crate::ui::Ui;
use crate::validate::{accounts, report, Access, Mode, Student, Validation};
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
        _ => Err(Error::usage(
            format!("cannot tell the report format of {}", path.display()),
            "pass --format json, csv or junit",
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
    let lab = Arc::new(ctx.load_lab(&args.lab)?);
    let students = match &args.accounts {
        Some(path) => accounts::read(path)?,
        None => profile_students(&args.profiles)?,
    };
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
    };
    let result = validation.run(students).await;
    let rendered = format.map(|f| match f {
        ReportFormat::Json => report::json(&result),
        ReportFormat::Csv => report::csv(&result),
        ReportFormat::Junit => report::junit(&result),
    });
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

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::Io {
        action: "write",
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}
