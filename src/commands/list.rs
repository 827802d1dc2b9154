//! `labrunner list`: the labs found, with their module and step counts.

use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::lab::{list_labs, load_lab};
use crate::out;
use crate::ui::Ui;

/// Lists the labs under the labs directory.
pub fn cmd_list(ui: &mut Ui, ctx: &Context) -> Result<u8, Error> {
    if !ctx.dirs.labs.is_dir() {
        return Err(Error::usage(
            format!("no labs directory at {}", ctx.dirs.labs.display()),
            "run labrunner where a labs/ directory is, or pass --labs-dir DIR (or set LABRUNNER_LABS)",
        ));
    }
    let manifests = list_labs(&ctx.dirs);
    let s = ui.styles();
    if manifests.is_empty() {
        out!(ui, "No labs in {}.", ctx.dirs.labs.display());
        return Ok(EXIT_OK);
    }
    let mut rows = Vec::new();
    for path in &manifests {
        let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        match load_lab(path) {
            Ok(lab) => rows.push((
                id,
                lab.manifest.title.clone(),
                lab.modules.len().to_string(),
                lab.step_count().to_string(),
                None,
            )),
            Err(errors) => rows.push((
                id.clone(),
                format!("(cannot be loaded: {} error(s); run `labrunner lint {id}`)", errors.len()),
                "-".into(),
                "-".into(),
                Some(()),
            )),
        }
    }
    let w_id = rows.iter().map(|r| r.0.len()).max().unwrap_or(2).max(2);
    let w_title = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(5).max(5);
    out!(
        ui,
        "{}",
        s.bold.apply_to(format!("{:<w_id$}  {:<w_title$}  {:>7}  {:>5}", "LAB", "TITLE", "MODULES", "STEPS"))
    );
    for (id, title, modules, steps, broken) in rows {
        let title = format!("{title:<w_title$}");
        let title = if broken.is_some() { s.warn.apply_to(title).to_string() } else { title };
        out!(ui, "{id:<w_id$}  {title}  {modules:>7}  {steps:>5}");
    }
    Ok(EXIT_OK)
}
