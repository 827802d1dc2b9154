//! `labrunner import`: reads plain pages, has [`crate::lab::import`] annotate them, writes
//! `labs/<id>.yaml` and `content/<id>/`, and prints what it inferred and what it could not.
//!
//! Exit 0 when there is nothing to review, 1 with findings (the lab is written all the same),
//! 2 when the input cannot be used (nothing is written then).

use std::path::{Path, PathBuf};

use crate::cli::ImportArgs;
use crate::error::{Error, EXIT_FINDINGS, EXIT_OK};
use crate::lab::import::{import_pages, ImportOptions, Imported, SourcePage};
use crate::lab::model::StepMode;
use crate::lab::parse::is_valid_id;
use crate::lab::site;
use crate::out;
use crate::ui::page::plural;
use crate::ui::Ui;

/// Imports the pages at `args.source` as lab `args.id`.
pub fn cmd_import(ui: &mut Ui, args: &ImportArgs) -> Result<u8, Error> {
    let id = args.id.as_str();
    if !is_valid_id(id) {
        return Err(Error::usage(
            format!("invalid lab id `{id}`: expected lower-case letters, digits and dashes"),
            "choose an id such as `my-workshop`",
        ));
    }
    let source = args.source.as_path();
    if !source.exists() {
        return Err(Error::usage(
            format!("no such page or directory: {}", source.display()),
            "name a Markdown page, a directory of pages or a Hugo site",
        ));
    }
    let is_page = matches!(source.extension().and_then(|e| e.to_str()), Some("md" | "markdown"));
    if source.is_file() && !is_page {
        return Err(Error::usage(
            format!("{} is not a Markdown page: `labrunner import` reads pages, a directory of them or a Hugo site", source.display()),
            "a lab manifest is a lab already; copy labs/<id>.yaml and content/<id>/ to make another",
        ));
    }
    let out = args.out.clone().unwrap_or_default();
    let manifest_path = out.join("labs").join(format!("{id}.yaml"));
    let content_dir = out.join("content").join(id);
    refuse_overwrite(&manifest_path, &content_dir, source, args.force)?;

    let (root, rels) = site::discover(source).map_err(|e| Error::Lab { errors: vec![e] })?;
    let lab = site::load_pages(source)?;
    if lab.modules.len() != rels.len() {
        return Err(Error::usage(
            format!("the pages under {} changed while they were read", source.display()),
            "run the command again",
        ));
    }
    let mut pages = Vec::new();
    for (rel, module) in rels.into_iter().zip(lab.modules) {
        let text = site::read_page(&root.join(&rel)).map_err(|e| Error::Lab { errors: vec![e] })?;
        pages.push(SourcePage { rel, text, module });
    }
    let opts = ImportOptions {
        id: id.to_string(),
        source: source_name(source),
        manifest_path: manifest_path.clone(),
        content_dir: content_dir.clone(),
    };
    let imported = import_pages(&opts, &pages)?;
    write(&imported, &manifest_path)?;
    report(ui, &imported, &manifest_path, &content_dir, id);
    Ok(if imported.findings.is_empty() { EXIT_OK } else { EXIT_FINDINGS })
}

/// Refuses to overwrite an existing lab (unless forced), and always refuses to write over the
/// pages being read.
fn refuse_overwrite(manifest: &Path, content: &Path, source: &Path, force: bool) -> Result<(), Error> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if content.exists() && canonical(source).starts_with(canonical(content)) {
        return Err(Error::usage(
            format!("{} would be written over the pages being imported", content.display()),
            "import into another directory with --out DIR, or choose another --id",
        ));
    }
    let content_used = std::fs::read_dir(content).is_ok_and(|mut entries| entries.next().is_some());
    if !force && (manifest.exists() || content_used) {
        let what = if manifest.exists() { manifest } else { content };
        return Err(Error::usage(
            format!("a lab with this id already exists: {}", what.display()),
            "pass --force to overwrite it, or choose another --id",
        ));
    }
    Ok(())
}

/// The source as the manifest's summary names it: its directory or file name.
fn source_name(source: &Path) -> String {
    let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name(&canonical) {
        Some(n) if n == "content" => match canonical.parent().and_then(name) {
            Some(parent) => format!("{parent}/content"),
            None => n,
        },
        Some(n) => n,
        None => source.display().to_string(),
    }
}

fn write(imported: &Imported, manifest: &Path) -> Result<(), Error> {
    let write_file = |path: &Path, text: &str| -> Result<(), Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::state::io_error("create", dir, &e))?;
        }
        std::fs::write(path, text).map_err(|e| crate::state::io_error("write", path, &e))
    };
    for (path, text) in &imported.pages {
        write_file(path, text)?;
    }
    write_file(manifest, &imported.manifest)
}

fn report(ui: &mut Ui, imported: &Imported, manifest: &Path, content: &Path, id: &str) {
    let s = ui.styles();
    out!(
        ui,
        "Imported {} into {} and {}/",
        plural(imported.pages.len(), "page"),
        manifest.display(),
        content.display()
    );
    let mut page: Option<PathBuf> = None;
    for step in &imported.steps {
        if page.as_deref() != Some(step.location.file.as_path()) {
            page = Some(step.location.file.clone());
            out!(ui, "  {}", step.location.file.display());
        }
        let mode = match (step.mode, step.runs, step.idempotent) {
            (StepMode::Console, _, _) => "console",
            (StepMode::Cli, false, _) => "shown",
            (StepMode::Cli, true, true) => "runs, idempotent",
            (StepMode::Cli, true, false) => "runs",
        };
        let checks = if step.checks.is_empty() { "none".to_string() } else { step.checks.join(", ") };
        out!(ui, "    {} ({mode}) · checks: {checks}", s.bold.apply_to(&step.id));
        if !step.creates.is_empty() {
            out!(ui, "      creates: {}", step.creates.join(", "));
        }
        if let Some(note) = &step.note {
            out!(ui, "      {}", s.dim.apply_to(note));
        }
    }
    for f in &imported.findings {
        out!(ui, "{}: {} {}", f.location, s.warn.apply_to(format!("warning[{}]:", f.rule)), f.message);
    }
    let checks: usize = imported.steps.iter().map(|s| s.checks.len()).sum();
    let creates: usize = imported.steps.iter().map(|s| s.creates.len()).sum();
    let summary = format!(
        "{}: {}, {}, {}, {}",
        id,
        plural(imported.steps.len(), "step"),
        plural(checks, "check"),
        plural(creates, "resource"),
        plural(imported.variables.len(), "variable")
    );
    if imported.findings.is_empty() {
        out!(ui, "{}", s.ok.apply_to(format!("{summary}; nothing to review")));
    } else {
        out!(
            ui,
            "{}",
            s.warn.apply_to(format!(
                "{summary}; {} to review (the lab is written: fix what they say, then `labrunner lint {id}`)",
                plural(imported.findings.len(), "finding")
            ))
        );
    }
}
