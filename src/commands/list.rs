//! `labrunner list`: the labs found, with their module and step counts: those of the labs
//! directory, then the ones built into labrunner (unless a labs directory was given).

use std::path::{Path, PathBuf};

use crate::commands::Context;
use crate::error::{Error, EXIT_OK};
use crate::lab::{list_labs, load_lab};
use crate::out;
use crate::ui::Ui;

/// One row of the table.
struct Row {
    id: String,
    title: String,
    modules: String,
    steps: String,
    /// The estimated time, as the manifest writes it (without a parenthesis).
    time: String,
    /// The cost note's first sentence.
    cost: Option<String>,
    broken: bool,
}

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
    let w_id = rows.iter().map(|r| r.id.len()).max().unwrap_or(2).max(3);
    let w_title = rows.iter().map(|r| r.title.chars().count()).max().unwrap_or(5).max(5);
    out!(
        ui,
        "{}",
        s.bold.apply_to(format!(
            "{:<w_id$}  {:<w_title$}  {:>7}  {:>5}  TIME",
            "LAB", "TITLE", "MODULES", "STEPS"
        ))
    );
    for r in rows {
        let title = format!("{:<w_title$}", r.title);
        let title = if r.broken { s.warn.apply_to(title).to_string() } else { title };
        out!(ui, "{:<w_id$}  {title}  {:>7}  {:>5}  {}", r.id, r.modules, r.steps, r.time);
        if let Some(cost) = &r.cost {
            out!(ui, "{:<w_id$}  {}", "", s.dim.apply_to(format!("cost: {cost}")));
        }
    }
}

/// The start of a cost note: its first sentences, up to about 100 characters.
fn first_sentence(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut end = text.find(". ").map_or(text.len(), |i| i + 1);
    // "Not free tier." alone says little: the next sentence says what bills.
    if end < 40 {
        end = text[end..].find(". ").map_or(text.len(), |i| end + i + 1);
    }
    let sentence = &text[..end];
    if sentence.chars().count() > 100 {
        format!("{}…", sentence.chars().take(99).collect::<String>())
    } else {
        sentence.to_string()
    }
}

/// The rows of the labs, in the order given. The labs are read and parsed on a few threads:
/// loading the catalog is most of what `list` does, and the labs do not depend on each other.
fn rows(manifests: &[PathBuf]) -> Vec<Row> {
    crate::concurrent::map_on_threads(manifests, |path| row(path))
}

fn row(path: &Path) -> Row {
    let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
    match load_lab(path) {
        Ok(lab) => Row {
            id,
            title: lab.manifest.title.clone(),
            modules: lab.modules.len().to_string(),
            steps: lab.step_count().to_string(),
            time: lab
                .manifest
                .estimated_time
                .as_deref()
                .map_or("-".into(), |t| t.split(" (").next().unwrap_or(t).to_string()),
            cost: lab.manifest.cost.as_deref().map(first_sentence),
            broken: false,
        },
        Err(errors) => Row {
            title: format!("(cannot be loaded: {} error(s); run `labrunner lint {id}`)", errors.len()),
            id,
            modules: "-".into(),
            steps: "-".into(),
            time: "-".into(),
            cost: None,
            broken: true,
        },
    }
}
