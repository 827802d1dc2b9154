//! `labrunner list`: the labs found, with their module and step counts: those of the labs
//! directory, then the ones built into labrunner (unless a labs directory was given).

use std::path::PathBuf;

use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::lab::{list_labs, load_lab};
use crate::out;
use crate::ui::Ui;

/// One row: id, title, modules, steps, whether it failed to load.
type Row = (String, String, String, String, bool);

/// Lists the labs.
pub fn cmd_list(ui: &mut Ui, ctx: &Context) -> Result<u8, Error> {
    let local = list_labs(&ctx.dirs);
    let builtin: Vec<PathBuf> = ctx
        .builtin_dirs()
        .map(|dirs| list_labs(&dirs))
        .unwrap_or_default()
        .into_iter()
        // A lab of the same id in the labs directory wins.
        .filter(|p| !local.iter().any(|l| l.file_stem() == p.file_stem()))
        .collect();
    if ctx.labs_dir_given && !ctx.dirs.labs.is_dir() {
        return Err(Error::usage(
            format!("no labs directory at {}", ctx.dirs.labs.display()),
            "pass --labs-dir DIR (or set LABRUNNER_LABS) to a directory of lab manifests",
        ));
    }
    let s = ui.styles();
    if local.is_empty() && builtin.is_empty() {
        out!(ui, "No labs in {}.", ctx.dirs.labs.display());
        return Ok(EXIT_OK);
    }
    let local_rows = rows(&local);
    let builtin_rows = rows(&builtin);
    if !local_rows.is_empty() {
        table(ui, &local_rows);
    }
    if !builtin_rows.is_empty() {
        if !local_rows.is_empty() {
            out!(ui, "");
            out!(ui, "{}", s.dim.apply_to(format!("Built into labrunner {}:", env!("CARGO_PKG_VERSION"))));
        }
        table(ui, &builtin_rows);
    }
    Ok(EXIT_OK)
}

fn table(ui: &mut Ui, rows: &[Row]) {
    let s = ui.styles();
    let w_id = rows.iter().map(|r| r.0.len()).max().unwrap_or(2).max(3);
    let w_title = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(5).max(5);
    out!(
        ui,
        "{}",
        s.bold.apply_to(format!("{:<w_id$}  {:<w_title$}  {:>7}  {:>5}", "LAB", "TITLE", "MODULES", "STEPS"))
    );
    for (id, title, modules, steps, broken) in rows {
        let title = format!("{title:<w_title$}");
        let title = if *broken { s.warn.apply_to(title).to_string() } else { title };
        out!(ui, "{id:<w_id$}  {title}  {modules:>7}  {steps:>5}");
    }
}

fn rows(manifests: &[PathBuf]) -> Vec<Row> {
    manifests
        .iter()
        .map(|path| {
            let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
            match load_lab(path) {
                Ok(lab) => (
                    id,
                    lab.manifest.title.clone(),
                    lab.modules.len().to_string(),
                    lab.step_count().to_string(),
                    false,
                ),
                Err(errors) => (
                    id.clone(),
                    format!("(cannot be loaded: {} error(s); run `labrunner lint {id}`)", errors.len()),
                    "-".into(),
                    "-".into(),
                    true,
                ),
            }
        })
        .collect()
}
