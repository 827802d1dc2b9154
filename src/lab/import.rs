//! `labrunner import`: plain workshop pages made into a lab, by reading their commands.
//!
//! The pages are copied byte for byte. The only change is one `<!-- labrunner:step ... -->`
//! comment (on lines of its own, a blank line around it) at the start of each section that
//! holds shell commands: where [`parse`](super::parse) draws a plain page's steps, at the
//! heading that opens the section (with a heading directly above it, when the section
//! carries one). Hugo does not render HTML comments, so the site reads as before.
//!
//! - Text before a page's first step is its introduction. Sections without commands after it
//!   belong to the step before them (their text is instructions or explanation for it). Only
//!   sections that tell the student to work in the AWS console become steps of their own,
//!   `mode: console` and without checks, so an unattended run shows them instead of passing
//!   them by silently.
//! - For each step, [`infer`] reads the `aws` commands: what they create (`creates`), a check
//!   that proves the step worked, and whether they are harmless to run twice (`idempotent`).
//! - Variables the commands use become declarations in the manifest: `from: step` for ids a
//!   block exports (with a `lookup` where the id is of a resource the lab creates), `from:
//!   prompt` with the page's value as default for names set by hand, `from: account` and
//!   `from: region` for the identity and place.
//! - The result is parsed and linted like any lab before anything is written; whatever could
//!   not be inferred comes back as findings in lint's format, at their place in the written
//!   pages.
//!
//! Pure: the caller reads the pages and writes what this returns.

mod infer;
mod shell;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::lint::{self, Finding};
use super::manifest::parse_manifest;
use super::model::{Lab, Location, Module, ShellBlock, Step, StepMode};

use super::parse::{parse_module_keyed, slugify, SHELL_LANGUAGES};
use super::site::module_key;
use super::{yaml, Check, CheckSpec, LabError, ResourceSpec};
use infer::{BlockIn, Knowledge, StepPlan, VarValue};

/// A page to import: where it is in the source tree, its text as read, and how it parsed.
#[derive(Debug, Clone)]
pub struct SourcePage {
    /// Path relative to the source root (`20-setup/_index.md`); the same path in the lab.
    pub rel: PathBuf,
    /// The page, exactly as read.
    pub text: String,
    /// The page as labrunner parses it (plain steps at its sections).
    pub module: Module,
}

/// What to make of the pages.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The new lab's id.
    pub id: String,
    /// How to name the source in the manifest's summary.
    pub source: String,
    /// Where the manifest will be written (`<out>/labs/<id>.yaml`).
    pub manifest_path: PathBuf,
    /// Where the pages will be written (`<out>/content/<id>`).
    pub content_dir: PathBuf,
}

/// The lab to write, and what the author should look at.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The manifest's text.
    pub manifest: String,
    /// Each page: where to write it and its annotated text.
    pub pages: Vec<(PathBuf, String)>,
    /// The steps annotated, in lab order.
    pub steps: Vec<ImportedStep>,
    /// The variables declared, in manifest order.
    pub variables: Vec<String>,
    /// What could not be inferred, in lint's format, at places in the written files.
    pub findings: Vec<Finding>,
}

/// One annotated step, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedStep {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Where its metadata comment stands in the written page.
    pub location: Location,
    /// Command line or console.
    pub mode: StepMode,
    /// Check kinds, in order.
    pub checks: Vec<String>,
    /// Resources declared, described.
    pub creates: Vec<String>,
    /// Marked idempotent.
    pub idempotent: bool,
    /// labrunner runs some of its blocks (a command-line step with blocks tagged as shell).
    pub runs: bool,
    /// Why it is shown rather than run, when it is.
    pub note: Option<String>,
}

/// Why a section became a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// It has shell commands.
    Commands,
    /// It tells the student to work in the console.
    ConsoleText,
}

/// A section to annotate.
#[derive(Debug, Clone)]
struct Planned {
    page: usize,
    title: String,
    id: String,
    /// The source line the comment goes before.
    line: usize,
    kind: Kind,
    /// Shell blocks labrunner reads (blocks marked `{labrunner=show}` left out).
    blocks: Vec<ShellBlock>,
    /// Blocks marked `{labrunner=show}`: read only for the values they set by hand.
    shown: Vec<ShellBlock>,
    /// The blocks run unattended once annotated (tagged, not show-only).
    runnable: usize,
    /// The section shows alternatives in tabs.
    tabs: bool,
    /// Its text tells the student to work in the AWS console.
    console_prose: bool,
    plan: StepPlan,
    mode: StepMode,
    idempotent: bool,
    note: Option<String>,
    /// Findings about the step as a whole: (rule, message), placed at its comment.
    notes: Vec<(&'static str, String)>,
}

/// How a page is written.
#[derive(Debug, Clone)]
enum PagePlan {
    /// It already has step metadata: copied unchanged.
    Verbatim,
    /// No section to annotate, or one that cannot be annotated without changing how the page
    /// renders: copied unchanged (its steps are shown, not run).
    Plain,
    /// Annotated at these sections.
    Annotated,
}

/// A variable declaration of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decl {
    name: String,
    description: String,
    from: &'static str,
    default: Option<String>,
    lookup: Option<(ResourceSpec, &'static str)>,
}

/// Imports `pages` (in reading order) as the lab `opts.id`.
///
/// Fails only when the result would not load as a lab (a bug, or a page this importer
/// cannot annotate safely); every other problem is a finding.
pub fn import_pages(opts: &ImportOptions, pages: &[SourcePage]) -> Result<Imported, Vec<LabError>> {
    let mut findings: Vec<Finding> = Vec::new();
    let mut used_ids: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.module.steps.iter().filter(|s| s.declared).map(|s| s.id.clone()))
        .collect();

    // 1. Which sections become steps, and where their comments go.
    let mut page_plans: Vec<PagePlan> = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    for (pi, page) in pages.iter().enumerate() {
        if page.module.steps.iter().any(|s| s.declared) {
            page_plans.push(PagePlan::Verbatim);
            continue;
        }
        // Line numbers are the same without a byte order mark; headings are easier to see.
        let text = page.text.strip_prefix('\u{feff}').unwrap_or(&page.text);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut sections: Vec<Planned> = Vec::new();
        let mut problem: Option<(usize, String)> = None;
        for step in &page.module.steps {
            // Blocks marked {labrunner=show} are the author's alternatives: left out. Blocks that
            // will not run (no language, `console`) are read for what their commands do.
            let mut blocks: Vec<ShellBlock> = Vec::new();
            let mut shown: Vec<ShellBlock> = Vec::new();
            let mut runnable = 0;
            for block in &step.shell {
                let (lang, show_only) = fence(&lines, block.location.line);
                if show_only {
                    shown.push(block.clone());
                    continue;
                }
                let mut block = block.clone();
                if SHELL_LANGUAGES.contains(&lang.as_str()) {
                    runnable += 1;
                    block.untagged = false;
                } else {
                    block.untagged = lang.is_empty();
                    block.code = transcript_commands(&block.code);
                }
                block.runnable = SHELL_LANGUAGES.contains(&lang.as_str());
                blocks.push(block);
            }
            let console_text =
                step.shell.is_empty() && !sections.is_empty() && console_instructions(&step.body);
            if step.shell.is_empty() && !console_text {
                continue;
            }
            let line = match insertion_line(&lines, step) {
                Ok(line) => line,
                Err(why) => {
                    problem = Some((step.location.line, why));
                    break;
                }
            };
            sections.push(Planned {
                page: pi,
                title: step.title.clone(),
                id: String::new(),
                line,
                kind: if console_text { Kind::ConsoleText } else { Kind::Commands },
                tabs: step.body.contains("<!-- labrunner-tab "),
                console_prose: console_instructions(&step.body),
                blocks,
                shown,
                runnable,
                plan: StepPlan::default(),
                mode: StepMode::Cli,
                idempotent: false,
                note: None,
                notes: Vec::new(),
            });
        }
        match problem {
            Some((line, why)) => {
                findings.push(Finding {
                    location: Location::new(opts.content_dir.join(&page.rel), line, 1),
                    rule: "import-not-annotated",
                    message: format!("{why}; the page is copied without annotations, so its commands are shown, not run: move the heading out of the list or quote, then import again"),
                });
                page_plans.push(PagePlan::Plain);
            }
            None if sections.is_empty() => page_plans.push(PagePlan::Plain),
            None => {
                planned.extend(sections);
                page_plans.push(PagePlan::Annotated);
            }
        }
    }

    // 2. Ids: the section titles as slugs, unique in the lab.
    for step in &mut planned {
        step.id = unique_id(&step.title, &mut used_ids);
    }

    // 3. What each step's commands do, in lab order (files and variables carry forward).
    let mut k = Knowledge::default();
    let mut next = 0;
    for (pi, page) in pages.iter().enumerate() {
        match page_plans[pi] {
            PagePlan::Verbatim => {
                for step in page.module.steps.iter().filter(|s| s.declared) {
                    let blocks: Vec<BlockIn<'_>> = step
                        .runnable_blocks()
                        .map(|b| BlockIn { code: &b.code, at: b.location.clone() })
                        .collect();
                    let _ = infer::infer_step(&mut k, &step.id, &blocks);
                }
            }
            PagePlan::Plain => {}
            PagePlan::Annotated => {
                while next < planned.len() && planned[next].page == pi {
                    let step = &mut planned[next];
                    let blocks: Vec<BlockIn<'_>> = step
                        .blocks
                        .iter()
                        .map(|b| BlockIn { code: &b.code, at: b.location.clone() })
                        .collect();
                    step.plan = infer::infer_step(&mut k, &step.id, &blocks);
                    for block in &step.shown {
                        infer::shown_values(
                            &mut k,
                            &BlockIn { code: &block.code, at: block.location.clone() },
                        );
                    }
                    decide(step);
                    next += 1;
                }
            }
        }
    }

    // 4. The pages with their comments, and the manifest.
    let mut out_pages: Vec<(PathBuf, String)> = Vec::new();
    let mut shifts: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut markers: Vec<Location> = Vec::new();
    for (pi, page) in pages.iter().enumerate() {
        let path = opts.content_dir.join(&page.rel);
        let steps: Vec<&Planned> = planned.iter().filter(|s| s.page == pi).collect();
        let mut inserts = Vec::new();
        for step in &steps {
            let meta = step_metadata(step).map_err(|e| vec![internal(&path, &e)])?;
            inserts.push((step.line, meta));
        }
        let rendered = render_page(&page.text, &inserts);
        markers.extend(rendered.markers.iter().map(|line| Location::new(&path, *line, 1)));
        shifts.push(rendered.shifts);
        out_pages.push((path, rendered.text));
    }

    let meta_refs: BTreeSet<String> = planned
        .iter()
        .flat_map(|s| {
            s.plan
                .checks
                .iter()
                .flat_map(Check::variables)
                .chain(s.plan.creates.iter().flat_map(ResourceSpec::variables))
        })
        .chain(pages.iter().flat_map(|p| {
            p.module.steps.iter().flat_map(|s| {
                s.checks
                    .iter()
                    .flat_map(Check::variables)
                    .chain(s.creates.iter().flat_map(ResourceSpec::variables))
            })
        }))
        .collect();
    let mut decls = declarations(&k, &meta_refs, &mut findings, opts, pages, &shifts);
    for d in decls.iter().filter(|d| d.from == "prompt" && d.default.is_none()) {
        let uses = |s: &Planned| {
            s.plan.checks.iter().any(|c| c.variables().contains(&d.name))
                || s.plan.creates.iter().any(|r| r.variables().contains(&d.name))
        };
        let location = planned
            .iter()
            .position(uses)
            .and_then(|i| markers.get(i).cloned())
            .unwrap_or_else(|| Location::new(&opts.manifest_path, 1, 1));
        findings.push(Finding {
            location,
            rule: "import-unset-variable",
            message: unset_message(&d.name, opts),
        });
    }

    // 5. Parse and lint the result; declare what the blocks use unset, drop what nobody uses.
    let title = pages.first().map_or_else(|| opts.id.clone(), |p| p.module.title.clone());
    let modules: Vec<String> = pages.iter().map(|p| p.rel.to_string_lossy().replace('\\', "/")).collect();
    let mut manifest = String::new();
    let mut lab = None;
    for _ in 0..4 {
        order_declarations(&mut decls);
        manifest = render_manifest(opts, &title, &modules, &planned, pages.len(), &decls)
            .map_err(|e| vec![internal(&opts.manifest_path, &e)])?;
        let parsed = load_result(opts, pages, &out_pages, &manifest)?;
        let usage = lint::variable_usage(&parsed);
        let mut changed = false;
        for (name, location) in &usage.unset {
            if decls.iter().any(|d| d.name == *name) {
                continue;
            }
            let decl = unset_declaration(name);
            if decl.from == "prompt" {
                findings.push(Finding {
                    location: location.clone(),
                    rule: "import-unset-variable",
                    message: unset_message(name, opts),
                });
            }
            decls.push(decl);
            changed = true;
        }
        let before = decls.len();
        decls.retain(|d| !usage.unused.contains(&d.name) || meta_refs.contains(&d.name));
        changed |= decls.len() != before;
        lab = Some(parsed);
        if !changed {
            break;
        }
    }
    let Some(lab) = lab else { return Err(vec![internal(&opts.manifest_path, "no lab was built")]) };
    check_annotations(&lab, &planned, &out_pages)?;

    // 6. Findings: ours where they belong in the written pages, then lint's.
    let mut all: Vec<Finding> = Vec::new();
    for f in findings {
        all.push(f);
    }
    for step in &planned {
        for f in &step.plan.findings {
            all.push(Finding {
                location: map_location(&f.location, pages, opts, &shifts),
                rule: f.rule,
                message: f.message.clone(),
            });
        }
    }
    for (i, step) in planned.iter().enumerate() {
        for (rule, message) in &step.notes {
            if let Some(at) = markers.get(i) {
                all.push(Finding { location: at.clone(), rule, message: message.clone() });
            }
        }
    }
    for f in lint::lint_lab(&lab) {
        let ours_here =
            all.iter().any(|o| o.location.file == f.location.file && o.location.line == f.location.line);
        if f.rule == "undeclared-resource" && ours_here {
            continue; // Ours says why the resource could not be declared.
        }
        all.push(f);
    }
    let order = |f: &Finding| {
        let page = out_pages.iter().position(|(p, _)| *p == f.location.file).unwrap_or(usize::MAX);
        (page, f.location.line, f.location.column, f.rule)
    };
    all.sort_by_key(order);
    all.dedup_by(|a, b| a.location == b.location && a.rule == b.rule);

    let steps = planned
        .iter()
        .enumerate()
        .map(|(i, s)| ImportedStep {
            id: s.id.clone(),
            title: s.title.clone(),
            location: markers.get(i).cloned().unwrap_or_else(|| Location::new(&opts.content_dir, 1, 1)),
            mode: s.mode,
            checks: s.plan.checks.iter().map(|c| c.kind().to_string()).collect(),
            creates: s.plan.creates.iter().map(ResourceSpec::describe).collect(),
            idempotent: s.idempotent,
            runs: s.mode == StepMode::Cli && s.runnable > 0,
            note: s.note.clone(),
        })
        .collect();
    Ok(Imported {
        manifest,
        pages: out_pages,
        steps,
        variables: decls.iter().map(|d| d.name.clone()).collect(),
        findings: all,
    })
}

fn unset_message(name: &str, opts: &ImportOptions) -> String {
    format!(
        "`${name}` is used but no page sets it: labrunner asks for it when the lab runs; give it a `default` in {} so the lab can run unattended",
        opts.manifest_path.display()
    )
}

fn internal(path: &Path, message: &str) -> LabError {
    LabError::new(
        Location::new(path, 1, 1),
        format!("labrunner import could not write this safely: {message}"),
    )
    .with_hint("this is a bug in labrunner import; please report it with the page")
}

/// The step's mode, idempotence and notes, from what its commands do.
fn decide(step: &mut Planned) {
    let plan = &mut step.plan;
    let untagged_only = step.runnable == 0 && step.blocks.iter().any(|b| b.untagged);
    let transcript_only = step.runnable == 0 && !step.blocks.is_empty() && !untagged_only;
    let alternatives = step.tabs && step.runnable >= 2;
    if step.kind == Kind::ConsoleText {
        step.mode = StepMode::Console;
        step.note = Some("console instructions: shown, not run".into());
        step.notes.push((
            "import-console-text",
            "this section tells the student to work in the AWS console, which labrunner cannot do: it is a `mode: console` step without checks; add checks that prove the result (see docs/lab-format.md, Check catalog), so labrunner can verify it".into(),
        ));
        return;
    }
    if step.runnable > 0 && plan.reads_only && step.console_prose {
        step.mode = StepMode::Console;
        step.note = Some("console instructions, with commands that only read: shown, not run".into());
        step.notes.push((
            "import-console-text",
            "this section tells the student to work in the AWS console, and its commands only read, so it is a `mode: console` step: labrunner shows it and its checks watch for the result; replace the inferred check with one that proves what the console creates (see docs/lab-format.md, Check catalog)".into(),
        ));
        return;
    }
    if plan.cleanup_only {
        step.mode = StepMode::Console;
        step.note = Some("deletes what the lab made: shown, not run (`labrunner cleanup` does this)".into());
        plan.checks.clear();
        plan.creates.clear();
        return;
    }
    if untagged_only {
        step.mode = StepMode::Console;
        step.note = Some("commands in untagged code blocks: shown, not run".into());
        step.notes.push((
            "import-untagged",
            "the commands of this step are in code blocks without a language, which labrunner never runs, so the step is `mode: console`: tag the blocks ```bash and remove `mode: console` to let labrunner run them".into(),
        ));
    } else if alternatives {
        step.mode = StepMode::Console;
        step.note = Some("alternatives in tabs: shown, not run".into());
        step.notes.push((
            "import-alternatives",
            "this step shows its commands in tabs (alternatives for different systems), and labrunner would run every one of them: it is `mode: console`; mark all blocks but one ```bash {labrunner=show} and remove `mode: console`".into(),
        ));
    } else if transcript_only {
        // A terminal transcript (```console): shown as it is; checks, if any, watch for the
        // student's own run.
        if !plan.checks.is_empty() {
            step.mode = StepMode::Console;
        }
        step.note = Some("a terminal transcript: shown, not run".into());
    } else if let Some(reason) = &plan.unattended_blocker {
        step.mode = StepMode::Console;
        step.note = Some(format!("cannot run unattended: {reason}"));
    } else if step.runnable == 0 {
        step.note = Some("only blocks marked {labrunner=show}: shown, not run".into());
    }
    step.idempotent = step.mode == StepMode::Cli && step.runnable > 0 && plan.has_commands && plan.idempotent;
}

/// The language of the code block that opens on `line` (empty for none, or an indented
/// block), and whether its fence says `{labrunner=show}`.
fn fence(lines: &[&str], line: usize) -> (String, bool) {
    let Some(text) = line.checked_sub(1).and_then(|i| lines.get(i)) else { return (String::new(), false) };
    let trimmed = text.trim();
    let Some(marker) = trimmed.chars().next().filter(|c| *c == '`' || *c == '~') else {
        return (String::new(), false);
    };
    let info = trimmed.trim_start_matches(marker).trim();
    let lang: String = info.chars().take_while(|c| !c.is_whitespace() && *c != '{').collect();
    let compact = info.replace(' ', "");
    let show_only = compact.contains("labrunner=show") || compact.contains("labrunner=\"show\"");
    (lang.to_ascii_lowercase(), show_only)
}

/// The commands of a block that is not run: in a terminal transcript (`$ aws ...` lines
/// among their output), only the prompted lines, without the prompt; other lines blanked so
/// positions stay where they are.
fn transcript_commands(code: &str) -> String {
    if !code.lines().any(|l| l.trim_start().starts_with("$ ")) {
        return code.to_string();
    }
    code.lines()
        .map(|l| match l.trim_start().strip_prefix("$ ") {
            Some(command) => format!("{}{command}", " ".repeat(l.len() - l.trim_start().len() + 2)),
            None => String::new(),
        })
        .map(|l| l + "\n")
        .collect()
}

/// Whether a section without commands tells the student to do something in the console.
fn console_instructions(body: &str) -> bool {
    let text = body.to_ascii_lowercase();
    text.contains("console")
        && ["click", "choose ", "select ", "navigate to", "open the", "sign in"]
            .iter()
            .any(|w| text.contains(w))
}

/// `^ {0,3}#{1,6}( |$)`.
fn is_atx_heading(line: &str) -> bool {
    let trimmed = line.trim_end_matches(['\n', '\r']);
    let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
    let rest = &trimmed[indent..];
    let hashes = rest.chars().take_while(|c| *c == '#').count();
    indent <= 3
        && (1..=6).contains(&hashes)
        && rest[hashes..].chars().next().is_none_or(|c| c == ' ' || c == '\t')
}

/// The source line the step's comment goes before: the line its section starts on, or the
/// first of the headings directly above it that the section carries.
fn insertion_line(lines: &[&str], step: &Step) -> Result<usize, String> {
    let line = step.location.line;
    let Some(text) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return Err(format!("the section \"{}\" starts outside the page", step.title));
    };
    let setext = lines.get(line).is_some_and(|next| {
        let n = next.trim();
        !n.is_empty() && (n.chars().all(|c| c == '=') || n.chars().all(|c| c == '-'))
    });
    let heading = is_atx_heading(text) || setext;
    let starts_block = step.location.column <= 4 && !text.trim_start().starts_with('>');
    if !heading {
        // No heading: the page's opening text, where the first block of the page starts.
        if !starts_block
            || text.trim_start().starts_with(['-', '*', '+']) && line > 1 && !prev_blank(lines, line)
        {
            return Err(format!("the section \"{}\" does not start at the beginning of a line", step.title));
        }
        return Ok(line);
    }
    // An indented heading may belong to a list item; a comment before it would end the list.
    if step.location.column != 1 || text.starts_with(' ') {
        return Err(format!("the heading \"{}\" stands inside a list or a quote", step.title));
    }
    // Headings directly above, with nothing but blank lines between, that the section carries.
    let mut candidates: Vec<(usize, String)> = Vec::new();
    let mut i = line - 1;
    while i >= 1 {
        let l = lines[i - 1];
        if l.trim().is_empty() {
            i -= 1;
            continue;
        }
        if is_atx_heading(l) {
            candidates.push((i, l.trim().to_string()));
            i -= 1;
            continue;
        }
        break;
    }
    candidates.reverse();
    for take in (1..=candidates.len()).rev() {
        let carried = &candidates[candidates.len() - take..];
        let prefix: String = carried.iter().map(|(_, h)| format!("{h}\n\n")).collect();
        if step.body.starts_with(&prefix) {
            return Ok(carried[0].0);
        }
    }
    Ok(line)
}

fn prev_blank(lines: &[&str], line: usize) -> bool {
    line < 2 || lines.get(line - 2).is_none_or(|l| l.trim().is_empty())
}

/// A step id from a title: its slug (at most 48 characters, cut at a dash), unique in the lab.
fn unique_id(title: &str, used: &mut BTreeSet<String>) -> String {
    let mut base = slugify(title);
    if base.len() > 48 {
        let cut = base[..48].rfind('-').unwrap_or(48);
        base.truncate(cut.max(1));
        base = base.trim_end_matches('-').to_string();
    }
    let mut id = base.clone();
    let mut n = 2;
    while used.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    used.insert(id.clone());
    id
}

/// The YAML of a step's comment.
fn step_metadata(step: &Planned) -> Result<String, String> {
    let mut y = String::new();
    y.push_str(&format!("id: {}\n", step.id));
    y.push_str(&format!("title: {}\n", yaml::scalar(&step.title)));
    if step.mode == StepMode::Console {
        y.push_str("mode: console\n");
    }
    if step.idempotent {
        y.push_str("idempotent: true\n");
    }
    if !step.plan.checks.is_empty() {
        y.push_str("checks:\n");
        for check in &step.plan.checks {
            y.push_str(&check_yaml(check)?);
        }
    }
    if !step.plan.creates.is_empty() {
        y.push_str("creates:\n");
        for resource in &step.plan.creates {
            let (kind, fields) = yaml::to_tagged_flow(resource)?;
            y.push_str(&format!("  - {kind}: {fields}\n"));
        }
    }
    Ok(y)
}

/// One check as a list item: flow style, except `command`, whose script reads better alone.
fn check_yaml(check: &Check) -> Result<String, String> {
    let mut y = match &check.spec {
        CheckSpec::Command(c) => {
            let mut y = format!("  - command:\n      run: {}\n", yaml::scalar(&c.run));
            if let Some(want) = &c.output_contains {
                y.push_str(&format!("      output_contains: {}\n", yaml::scalar(want)));
            }
            y
        }
        spec => {
            let (kind, fields) = yaml::to_tagged_flow(spec)?;
            format!("  - {kind}: {fields}\n")
        }
    };
    if let Some(label) = &check.label {
        y.push_str(&format!("    label: {}\n", yaml::scalar(label)));
    }
    Ok(y)
}

/// A page with comments inserted.
struct Rendered {
    text: String,
    /// (source line, lines inserted before it), in order.
    shifts: Vec<(usize, usize)>,
    /// The written line of each comment's `<!--`.
    markers: Vec<usize>,
}

/// Inserts each `(line, yaml)` comment before its source line, with blank lines around it,
/// in the page's own line endings. Everything else is copied byte for byte.
fn render_page(text: &str, inserts: &[(usize, String)]) -> Rendered {
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len() + inserts.len() * 200);
    let mut shifts = Vec::new();
    let mut markers = Vec::new();
    let mut written_lines = 0usize;
    for (i, line) in lines.iter().enumerate() {
        let number = i + 1;
        let mut line: &str = line;
        for (_, yaml) in inserts.iter().filter(|(l, _)| *l == number) {
            if i == 0 {
                if let Some(rest) = line.strip_prefix('\u{feff}') {
                    out.push('\u{feff}');
                    line = rest;
                }
            }
            let mut block = String::new();
            if i > 0 && !lines[i - 1].trim().is_empty() {
                block.push_str(nl);
            }
            let marker_line = written_lines + block.matches('\n').count() + 1;
            block.push_str("<!-- labrunner:step");
            block.push_str(nl);
            for l in yaml.lines() {
                block.push_str(l);
                block.push_str(nl);
            }
            block.push_str("-->");
            block.push_str(nl);
            block.push_str(nl);
            let added = block.matches('\n').count();
            shifts.push((number, added));
            markers.push(marker_line);
            written_lines += added;
            out.push_str(&block);
        }
        out.push_str(line);
        written_lines += line.matches('\n').count();
    }
    Rendered { text: out, shifts, markers }
}

/// A location in a source page, moved to the same place in the written page.
fn map_location(
    at: &Location,
    pages: &[SourcePage],
    opts: &ImportOptions,
    shifts: &[Vec<(usize, usize)>],
) -> Location {
    let Some(pi) = pages.iter().position(|p| p.module.path == at.file) else { return at.clone() };
    let added: usize = shifts[pi].iter().filter(|(line, _)| *line <= at.line).map(|(_, n)| n).sum();
    Location::new(opts.content_dir.join(&pages[pi].rel), at.line + added, at.column)
}

/// The variables the manifest declares, from what the blocks set and the metadata uses.
fn declarations(
    k: &Knowledge,
    meta_refs: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
    opts: &ImportOptions,
    pages: &[SourcePage],
    shifts: &[Vec<(usize, usize)>],
) -> Vec<Decl> {
    let mut decls: Vec<Decl> = Vec::new();
    for v in &k.vars {
        let referenced = meta_refs.contains(&v.name);
        if !v.exported && !referenced {
            continue; // A variable of its own block.
        }
        if !v.exported {
            findings.push(Finding {
                location: map_location(&v.location, pages, opts, shifts),
                rule: "import-not-exported",
                message: format!("`{}` is set without `export`, but the step's checks or `creates` use it: labrunner keeps only exported variables; write `export {}=...`", v.name, v.name),
            });
        }
        let decl = match (v.name.as_str(), &v.value) {
            ("AWS_REGION" | "AWS_DEFAULT_REGION", _) => region_decl(&v.name),
            (n, _) if n.ends_with("ACCOUNT_ID") => account_decl(&v.name),
            (_, VarValue::Literal(Ok(value))) => Decl {
                name: v.name.clone(),
                description: format!(
                    "The page sets it by hand (`export {}={}`); labrunner offers that value.",
                    v.name,
                    value.replace("$$", "$")
                ),
                from: "prompt",
                default: Some(value.clone()),
                lookup: None,
            },
            _ => {
                let lookup = v
                    .origin
                    .as_ref()
                    .filter(|_| !v.ambiguous)
                    .and_then(|o| Some((o.created.clone().or_else(|| o.described.clone())?, o.field?)));
                let description = match &lookup {
                    Some((resource, field)) => format!(
                        "The {} of {}, exported by step `{}`.",
                        match *field {
                            "arn" => "ARN",
                            "dns_name" => "DNS name",
                            _ => "id",
                        },
                        resource.describe().replace("$$", "$"),
                        v.step
                    ),
                    None => match &v.origin {
                        Some(o) => format!("Exported by step `{}` (output of `{}`).", v.step, o.call.name()),
                        None => format!("Exported by step `{}`.", v.step),
                    },
                };
                Decl { name: v.name.clone(), description, from: "step", default: None, lookup }
            }
        };
        decls.push(decl);
    }
    // Values shown for readers who follow by hand: the defaults of what no running block sets.
    for (name, value, _) in &k.shown_values {
        if decls.iter().any(|d| d.name == *name) || k.var(name).is_some() {
            continue;
        }
        let decl = match unset_declaration(name) {
            d if d.from == "prompt" => Decl {
                description: format!(
                    "Shown on the page for readers who follow it by hand (`export {name}={}`); labrunner offers that value.",
                    value.replace("$$", "$")
                ),
                default: Some(value.clone()),
                ..d
            },
            d => d,
        };
        decls.push(decl);
    }
    for name in meta_refs {
        if !decls.iter().any(|d| d.name == *name) {
            decls.push(unset_declaration(name));
        }
    }
    // Defaults may use other variables: declare those too.
    let mut i = 0;
    while i < decls.len() {
        let refs: Vec<String> = decls[i]
            .default
            .as_deref()
            .and_then(|d| super::vars::references(d).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect();
        for name in refs {
            if !decls.iter().any(|d| d.name == name) {
                decls.push(unset_declaration(&name));
            }
        }
        i += 1;
    }
    decls
}

fn region_decl(name: &str) -> Decl {
    Decl {
        name: name.to_string(),
        description: "The region the lab runs in.".into(),
        from: "region",
        default: None,
        lookup: None,
    }
}

fn account_decl(name: &str) -> Decl {
    Decl {
        name: name.to_string(),
        description: "The AWS account the lab runs in (from your credentials).".into(),
        from: "account",
        default: None,
        lookup: None,
    }
}

/// A variable the pages use but never set: the identity and place by name, else asked.
fn unset_declaration(name: &str) -> Decl {
    match name {
        "AWS_REGION" | "AWS_DEFAULT_REGION" => region_decl(name),
        n if n.ends_with("ACCOUNT_ID") => account_decl(name),
        _ => Decl {
            name: name.to_string(),
            description: "Used by the pages, which never set it: give it a default here.".into(),
            from: "prompt",
            default: None,
            lookup: None,
        },
    }
}

/// Identity and place first, then values asked for, then values steps export; a default
/// only after the variables it uses (a default that cannot be ordered is dropped).
fn order_declarations(decls: &mut Vec<Decl>) {
    let rank = |d: &Decl| match d.from {
        "account" | "caller_arn" => 0,
        "region" => 1,
        "prompt" => 2,
        _ => 3,
    };
    decls.sort_by_key(rank);
    let mut ordered: Vec<Decl> = Vec::new();
    let mut rest = std::mem::take(decls);
    while !rest.is_empty() {
        let ready = |d: &Decl, done: &[Decl]| {
            d.default
                .as_deref()
                .and_then(|t| super::vars::references(t).ok())
                .unwrap_or_default()
                .iter()
                .all(|r| done.iter().any(|o| o.name == r.name))
        };
        let pick = rest.iter().position(|d| ready(d, &ordered)).unwrap_or(0);
        let mut decl = rest.remove(pick);
        if !ready(&decl, &ordered) {
            decl.default = None;
        }
        ordered.push(decl);
    }
    *decls = ordered;
}

/// The manifest's text.
fn render_manifest(
    opts: &ImportOptions,
    title: &str,
    modules: &[String],
    planned: &[Planned],
    page_count: usize,
    decls: &[Decl],
) -> Result<String, String> {
    let checked = planned.iter().filter(|s| !s.plan.checks.is_empty()).count();
    let mut types: Vec<&str> = Vec::new();
    for r in planned.iter().flat_map(|s| s.plan.creates.iter()) {
        if !types.contains(&r.kind()) {
            types.push(r.kind());
        }
    }
    let summary = format!(
        "Imported by `labrunner import` from {}: {} on {}, {} of them verified by checks. Review each step's checks and `creates`, then replace this summary with what the student builds and learns.",
        opts.source,
        crate::ui::page::plural(planned.len(), "step"),
        crate::ui::page::plural(page_count, "page"),
        checked
    );
    let mut y = String::new();
    y.push_str("format: 1\n");
    y.push_str(&format!("id: {}\n", opts.id));
    y.push_str(&format!("title: {}\n", yaml::scalar(title)));
    y.push_str(&format!("summary: {}\n", yaml::scalar(&summary)));
    if !types.is_empty() {
        let cost = format!(
            "The steps create resources of these types: {}. Check which of them bill in your account, and run `labrunner cleanup {}` when you finish: it deletes everything the steps recorded.",
            types.join(", "),
            opts.id
        );
        y.push_str(&format!("cost: {}\n", yaml::scalar(&cost)));
    }
    y.push_str("modules:\n");
    for m in modules {
        y.push_str(&format!("  - {}\n", yaml::scalar(m)));
    }
    if !decls.is_empty() {
        y.push_str("variables:\n");
        for d in decls {
            y.push_str(&format!("  - name: {}\n", d.name));
            y.push_str(&format!("    description: {}\n", yaml::scalar(&d.description)));
            y.push_str(&format!("    from: {}\n", d.from));
            if let Some(default) = &d.default {
                y.push_str(&format!("    default: {}\n", yaml::scalar(default)));
            }
            if let Some((resource, field)) = &d.lookup {
                let (kind, fields) = yaml::to_tagged_flow(resource)?;
                y.push_str(&format!("    lookup: {{ {kind}: {fields}, field: {field} }}\n"));
            }
        }
    }
    Ok(y)
}

/// The written lab, parsed as `labrunner` will load it.
fn load_result(
    opts: &ImportOptions,
    pages: &[SourcePage],
    out_pages: &[(PathBuf, String)],
    manifest: &str,
) -> Result<Lab, Vec<LabError>> {
    let parsed_manifest = parse_manifest(&opts.manifest_path, manifest)?;
    let mut modules = Vec::new();
    let mut errors = Vec::new();
    for (page, (path, text)) in pages.iter().zip(out_pages) {
        match parse_module_keyed(path, text, &module_key(&page.rel, &opts.id)) {
            Ok(m) => modules.push(m),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let lab = Lab { manifest: parsed_manifest, manifest_path: opts.manifest_path.clone(), modules };
    errors.extend(super::load::lab_wide_errors(&lab));
    if errors.is_empty() {
        Ok(lab)
    } else {
        Err(errors)
    }
}

/// The written pages read back as the steps planned: the same ids, with their blocks.
fn check_annotations(
    lab: &Lab,
    planned: &[Planned],
    out_pages: &[(PathBuf, String)],
) -> Result<(), Vec<LabError>> {
    for (pi, module) in lab.modules.iter().enumerate() {
        let want: Vec<&Planned> = planned.iter().filter(|s| s.page == pi).collect();
        if want.is_empty() {
            continue;
        }
        let ids_match = module.steps.iter().map(|s| s.id.as_str()).eq(want.iter().map(|s| s.id.as_str()));
        let blocks_match = want.iter().zip(&module.steps).all(|(w, got)| got.shell.len() >= w.blocks.len());
        if !(ids_match && blocks_match) {
            let path = out_pages.get(pi).map_or_else(PathBuf::new, |(p, _)| p.clone());
            return Err(vec![internal(&path, "the annotated page does not read back as the steps planned")]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_one(page: &str) -> Imported {
        let module = parse_module_keyed(Path::new("src/p.md"), page, "p").expect("source parses");
        let opts = ImportOptions {
            id: "demo".into(),
            source: "src".into(),
            manifest_path: PathBuf::from("out/labs/demo.yaml"),
            content_dir: PathBuf::from("out/content/demo"),
        };
        import_pages(&opts, &[SourcePage { rel: PathBuf::from("p.md"), text: page.into(), module }])
            .expect("imports")
    }

    #[test]
    fn comments_are_the_only_change() {
        let page = "---\ntitle: Cluster\nweight: 1\n---\n\nIntro text.\n\n## Create the cluster\nRun:\n\n```bash\naws ecs create-cluster --cluster-name demo\n```\n\n## Why clusters\n\nJust reading.\n";
        let imported = import_one(page);
        let (path, text) = &imported.pages[0];
        assert_eq!(path, Path::new("out/content/demo/p.md"));
        let want = "---\ntitle: Cluster\nweight: 1\n---\n\nIntro text.\n\n<!-- labrunner:step\nid: create-the-cluster\ntitle: Create the cluster\nidempotent: true\nchecks:\n  - cluster_active: { cluster: demo }\ncreates:\n  - ecs_cluster: { cluster: demo }\n-->\n\n## Create the cluster\nRun:\n\n```bash\naws ecs create-cluster --cluster-name demo\n```\n\n## Why clusters\n\nJust reading.\n";
        assert_eq!(text, want);
        assert!(imported.findings.is_empty(), "{:?}", imported.findings);
        let without: String = text.replace(
            "<!-- labrunner:step\nid: create-the-cluster\ntitle: Create the cluster\nidempotent: true\nchecks:\n  - cluster_active: { cluster: demo }\ncreates:\n  - ecs_cluster: { cluster: demo }\n-->\n\n",
            "",
        );
        assert_eq!(without, page, "byte for byte apart from the comment");
    }

    #[test]
    fn crlf_bom_and_carried_headings_keep_their_bytes() {
        let page = "\u{feff}## Deploy\r\n### Register\r\n\r\n```sh\r\naws logs create-log-group --log-group-name /x\r\n```\r\n";
        let imported = import_one(page);
        let text = &imported.pages[0].1;
        assert!(text.starts_with("\u{feff}<!-- labrunner:step\r\nid: register\r\n"), "{text:?}");
        assert!(text.contains("-->\r\n\r\n## Deploy\r\n### Register\r\n"), "{text:?}");
        assert_eq!(imported.steps[0].location.line, 1);
    }

    #[test]
    fn variables_are_declared_where_they_come_from() {
        let page = "# Net\n\n## Names\n\n```bash\nexport PREFIX=orders\n```\n\n## VPC\n\n```bash\nexport VPC_ID=$(aws ec2 create-vpc --cidr-block 10.1.0.0/16 \\\n  --tag-specifications \"ResourceType=vpc,Tags=[{Key=Name,Value=$PREFIX-vpc}]\" \\\n  --query Vpc.VpcId --output text)\naws ec2 create-subnet --vpc-id \"$VPC_ID\" --cidr-block 10.1.1.0/24 --availability-zone \"${AWS_REGION}a\"\n```\n";
        let imported = import_one(page);
        let m = &imported.manifest;
        assert!(m.contains("  - name: PREFIX\n    description: The page sets it by hand (`export PREFIX=orders`); labrunner offers that value.\n    from: prompt\n    default: orders\n"), "{m}");
        assert!(m.contains("  - name: VPC_ID\n    description: \"The id of vpc ${PREFIX}-vpc, exported by step `vpc`.\"\n    from: step\n    lookup: { vpc: { name: \"${PREFIX}-vpc\" }, field: id }\n"), "{m}");
        assert_eq!(imported.variables, ["PREFIX", "VPC_ID"]);
        assert!(imported.findings.is_empty(), "{:?}", imported.findings);
    }

    #[test]
    fn what_cannot_be_inferred_is_a_finding_at_its_place() {
        let page = "## Build\n\n```bash\ndocker push $IMAGE\n```\n\n## Network\n\n```bash\naws ec2 create-vpc --cidr-block 10.0.0.0/16\n```\n";
        let imported = import_one(page);
        let got: Vec<String> =
            imported.findings.iter().map(|f| format!("{}:{}", f.location.line, f.rule)).collect();
        // `docker push` on written line 10 (a comment above it); the second comment on line 13
        // (a step lint finds without a check); the unnamed VPC on line 21.
        assert_eq!(
            got,
            [
                "10:import-unattended",
                "10:import-unset-variable",
                "13:step-without-checks",
                "21:import-no-name"
            ],
            "{:#?}",
            imported.findings
        );
        assert_eq!(imported.steps[0].mode, StepMode::Console);
        assert!(imported.pages[0].1.lines().nth(9).unwrap().starts_with("docker push"));
    }

    #[test]
    fn clean_up_sections_and_console_text_are_shown() {
        let page = "## Make\n\n```bash\naws logs create-log-group --log-group-name /x\n```\n\n## Look in the console\n\nOpen the CloudWatch console and choose Log groups.\n\n## Clean up\n\n```bash\naws logs delete-log-group --log-group-name /x\n```\n";
        let imported = import_one(page);
        let modes: Vec<(&str, StepMode, usize)> =
            imported.steps.iter().map(|s| (s.id.as_str(), s.mode, s.checks.len())).collect();
        assert_eq!(
            modes,
            [
                ("make", StepMode::Cli, 1),
                ("look-in-the-console", StepMode::Console, 0),
                ("clean-up", StepMode::Console, 0)
            ]
        );
        let rules: Vec<&str> = imported.findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["import-console-text"]);
    }

    #[test]
    fn transcripts_values_shown_by_hand_and_console_work() {
        let page = "## Names\n\n```bash {labrunner=show}\nexport CLUSTER=demo\n```\n\n## Cluster\n\n```console\n$ aws ecs create-cluster --cluster-name \"$CLUSTER\"\n{ \"cluster\": {} }\n```\n\n## Check it in the console\n\nOpen the ECS console and choose the cluster.\n\n```bash\naws ecs describe-clusters --clusters \"$CLUSTER\"\n```\n";
        let imported = import_one(page);
        let steps: Vec<(&str, StepMode, bool, Vec<String>)> =
            imported.steps.iter().map(|s| (s.id.as_str(), s.mode, s.runs, s.checks.clone())).collect();
        assert_eq!(
            steps,
            [
                ("names", StepMode::Cli, false, vec![]),
                ("cluster", StepMode::Console, false, vec!["cluster_active".to_string()]),
                ("check-it-in-the-console", StepMode::Console, false, vec!["command".to_string()]),
            ]
        );
        assert!(imported.manifest.contains("  - name: CLUSTER\n    description: Shown on the page for readers who follow it by hand (`export CLUSTER=demo`); labrunner offers that value.\n    from: prompt\n    default: demo\n"), "{}", imported.manifest);
        let rules: Vec<&str> = imported.findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["import-console-text"], "{:#?}", imported.findings);
    }

    #[test]
    fn headings_inside_lists_leave_the_page_as_it_is() {
        let page = "Intro.\n\n## One\n\n```bash\naws ecs create-cluster --cluster-name a\n```\n\n- item\n  ## Two\n\n  ```bash\n  aws ecs create-cluster --cluster-name b\n  ```\n";
        let imported = import_one(page);
        assert_eq!(imported.pages[0].1, page);
        assert!(imported.steps.is_empty());
        assert_eq!(imported.findings[0].rule, "import-not-annotated");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const PIECES: &[&str] = &[
            "---\n",
            "title: T\n",
            "# Title\n",
            "## Create it\n",
            "### Then\n",
            "Heading\n=====\n",
            "Text with é and `code`.\n",
            "Open the console and click Create.\n",
            "\n",
            "\r\n",
            "\u{feff}",
            "```bash\n",
            "```sh {labrunner=show}\n",
            "```console\n",
            "```\n",
            "~~~\n",
            "    indented\n",
            "- item\n",
            "  ## nested\n",
            "> quoted\n",
            "1. step\n",
            "{{% notice info %}}\n",
            "{{% /notice %}}\n",
            "{{< tabs >}}\n",
            "{{< tab \"Linux\" >}}\n",
            "<!-- a comment -->\n",
            "-->\n",
            "export CLUSTER=demo\n",
            "export VPC_ID=$(aws ec2 create-vpc --cidr-block 10.0.0.0/16 --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=v}]' --query Vpc.VpcId --output text)\n",
            "aws ec2 create-subnet --vpc-id \"$VPC_ID\" --cidr-block 10.0.1.0/24\n",
            "aws ecs create-service --cluster \"$CLUSTER\" --service-name s --task-definition $TD\n",
            "aws logs create-log-group --log-group-name \"/x/${NAME}\" \\\n",
            "aws logs tail g --follow\n",
            "aws ecs delete-service --cluster c --service s\n",
            "$ aws sts get-caller-identity\n",
            "cat > td.json <<EOF\n",
            "{\"family\": \"$F\", \"cpu\": 256}\n",
            "EOF\n",
            "for g in a b; do\n",
            "done\n",
            "if aws iam get-role --role-name r; then\n",
            "fi\n",
            "$(",
            "${",
            "'",
            "\"",
            "`",
            "--> ",
            "vim x\n",
        ];

        const HEADINGS: &[&str] = &[
            "## Create it\n\n",
            "### Then this\n\n",
            "## Build\n### The VPC\n\n",
            "Setext\n------\n\n",
            "## Créer l'élément\n\n",
        ];
        const TEXTS: &[&str] = &[
            "Run:\n\n",
            "Open the console and choose Create, then check:\n\n",
            "{{% notice tip %}}\nA tip.\n{{% /notice %}}\n\n",
            "",
        ];
        const FENCES: &[&str] =
            &["```bash\n", "```sh\n", "```\n", "```console\n", "```bash {labrunner=show}\n", "```text\n"];
        const COMMANDS: &[&str] = &[
            "export CLUSTER=demo\n",
            "aws ecs create-cluster --cluster-name \"$CLUSTER\"\n",
            "export VPC_ID=$(aws ec2 create-vpc --cidr-block 10.0.0.0/16 --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=v}]' --query Vpc.VpcId --output text)\n",
            "aws ec2 create-subnet --vpc-id \"$VPC_ID\" --cidr-block 10.0.1.0/24 \\\n  --query Subnet.SubnetId --output text\n",
            "aws logs create-log-group --log-group-name /x/$CLUSTER || true\n",
            "aws ecs describe-clusters --clusters \"$CLUSTER\"\n",
            "aws logs tail /x --follow\n",
            "aws ecs delete-cluster --cluster \"$CLUSTER\"\n",
            "cat > td.json <<'EOF'\n{\"family\": \"web\"}\nEOF\n",
            "aws ecs register-task-definition --cli-input-json file://td.json\n",
            "$ aws sts get-caller-identity\n",
            "for g in /a /b; do aws logs create-log-group --log-group-name \"$g\"; done\n",
            "echo \"${UNSET_THING}\"\n",
            "docker push x\n",
        ];

        fn config() -> ProptestConfig {
            let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
            ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
        }

        proptest! {
            #![proptest_config(config())]

            /// Pages made of sections (a heading, text, a closed block of commands) import
            /// into as many steps, and read back as those steps.
            #[test]
            fn sectioned_pages_import_step_by_step(
                sections in proptest::collection::vec(
                    (0..HEADINGS.len(), 0..TEXTS.len(), 0..FENCES.len(), proptest::collection::vec(0..COMMANDS.len(), 0..6)),
                    1..8,
                )
            ) {
                let mut page = String::from("---\ntitle: Fuzz\n---\n\nIntro.\n\n");
                for (h, t, f, commands) in &sections {
                    page.push_str(HEADINGS[*h]);
                    page.push_str(TEXTS[*t]);
                    page.push_str(FENCES[*f]);
                    for c in commands {
                        page.push_str(COMMANDS[*c]);
                    }
                    page.push_str("```\n\n");
                }
                let module = parse_module_keyed(Path::new("src/p.md"), &page, "p").expect("a well-formed page parses");
                let opts = ImportOptions {
                    id: "demo".into(),
                    source: "src".into(),
                    manifest_path: PathBuf::from("out/labs/demo.yaml"),
                    content_dir: PathBuf::from("out/content/demo"),
                };
                let sections_with_commands = module.steps.iter().filter(|s| !s.shell.is_empty()).count();
                let pages = [SourcePage { rel: PathBuf::from("p.md"), text: page.clone(), module }];
                let imported = import_pages(&opts, &pages);
                prop_assert!(imported.is_ok(), "{page}\n=> {imported:?}");
                if let Ok(imported) = imported {
                    prop_assert!(imported.steps.len() >= sections_with_commands, "{page}\n=> {:?}", imported.steps);
                }
            }

            /// Whatever the page, import returns a lab or errors, never panics, and the lab's
            /// page holds every line of the source, in order, only with lines added.
            #[test]
            fn import_only_inserts_lines(picks in proptest::collection::vec(0..PIECES.len(), 0..40)) {
                let page: String = picks.iter().map(|i| PIECES[*i]).collect();
                let Ok(module) = parse_module_keyed(Path::new("src/p.md"), &page, "p") else { return Ok(()) };
                let opts = ImportOptions {
                    id: "demo".into(),
                    source: "src".into(),
                    manifest_path: PathBuf::from("out/labs/demo.yaml"),
                    content_dir: PathBuf::from("out/content/demo"),
                };
                let pages = [SourcePage { rel: PathBuf::from("p.md"), text: page.clone(), module }];
                if let Ok(imported) = import_pages(&opts, &pages) {
                    let out = &imported.pages[0].1;
                    let mut source = page.strip_prefix('\u{feff}').unwrap_or(&page).split_inclusive('\n').peekable();
                    for line in out.strip_prefix('\u{feff}').unwrap_or(out).split_inclusive('\n') {
                        if source.peek() == Some(&line) {
                            source.next();
                        }
                    }
                    prop_assert!(source.next().is_none(), "lines lost:\n{page:?}\n=>\n{out:?}");
                    prop_assert_eq!(page.starts_with('\u{feff}'), out.starts_with('\u{feff}'));
                }
            }
        }
    }

    #[test]
    fn ids_are_slugs_unique_in_the_lab() {
        let mut used = BTreeSet::from(["setup".to_string()]);
        assert_eq!(unique_id("Setup", &mut used), "setup-2");
        assert_eq!(unique_id("Setup", &mut used), "setup-3");
        assert_eq!(unique_id("Créer le cluster", &mut used), "cr-er-le-cluster");
        let long =
            unique_id("A very long title that goes on and on well past any reasonable step id", &mut used);
        assert!(long.len() <= 48 && !long.ends_with('-'), "{long}");
    }
}
