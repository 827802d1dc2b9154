//! Parses one Markdown module into steps, keeping exact positions for every error.
//!
//! A step starts at an HTML comment `<!-- labrunner:step ... -->` holding YAML metadata and
//! runs until the next step, an `<!-- labrunner:end -->` marker or the end of the page. A page
//! with no metadata at all still loads: each shell block becomes a show-only step.

use std::path::Path;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde::Deserialize;

use super::check::OneKeyMap;
use super::model::{Check, Hint, Location, MetaSource, Module, ResourceSpec, ShellBlock, Step, StepMode};
use super::source::{prepare, LineIndex};
use super::vars;
use super::yaml::{self, Origin};
use super::LabError;

/// The pulldown-cmark extensions labrunner reads Markdown with (one place for all of them).
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
}

/// Languages whose fenced blocks are shell commands.
pub(crate) const SHELL_LANGUAGES: &[&str] = &["bash", "sh", "shell", "zsh"];

/// The metadata of one step, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepMeta {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    mode: StepMode,
    #[serde(default)]
    checks: Vec<Check>,
    #[serde(default)]
    creates: Vec<OneKeyMap<ResourceSpec>>,
    #[serde(default)]
    aws_creates: Vec<OneKeyMap<ResourceSpec>>,
    #[serde(default)]
    hints: Vec<Hint>,
    #[serde(default)]
    idempotent: bool,
}

/// A `labrunner:` comment found in the page.
enum Marker {
    Step(Box<StepMeta>, MetaSource),
    End,
}

struct FoundMarker {
    start: usize,
    end: usize,
    marker: Marker,
}

struct FoundCode {
    start: usize,
    end: usize,
    lang: String,
    show_only: bool,
    code: String,
    location: Location,
}

/// Parses `page` (the contents of `file`) into a module; steps synthesised from plain
/// Markdown are named after the file's stem.
pub fn parse_module(file: &Path, page: &str) -> Result<Module, Vec<LabError>> {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("module");
    parse_module_keyed(file, page, &slugify(stem))
}

/// Parses `page` into a module whose synthesised step ids start with `key` (a slug of the
/// page's path in its lab, so Hugo's `_index.md` files never collide).
pub fn parse_module_keyed(file: &Path, page: &str, key: &str) -> Result<Module, Vec<LabError>> {
    let prepared = prepare(page);
    let text = prepared.text.as_str();
    let index = LineIndex::new(text);
    let at = |offset: usize| {
        let (line, column) = index.position(text, offset);
        Location::new(file, line, column)
    };
    let mut errors = Vec::new();
    if let Some(line) = prepared.unclosed_front_matter {
        errors.push(
            LabError::new(
                Location::new(file, line, 1),
                "front matter is never closed: the `---` (or `+++`) on this line has no closing line".into(),
            )
            .with_hint("end the front matter with the same `---` (or `+++`) on a line of its own"),
        );
    }
    if let Some((line, column, ref fence)) = prepared.unclosed_fence {
        errors.push(
            LabError::new(
                Location::new(file, line, column),
                format!(
                    "code fence {fence} is never closed: everything after it, step metadata included, would be read as code"
                ),
            )
            .with_hint(&format!("close the block with {fence} on a line of its own")),
        );
    }

    let (mut title, mut weight) = (None, None);
    if let Some((body, line)) = &prepared.yaml_front_matter {
        match yaml::front_matter(body, Origin { line: *line, column: 1 }) {
            Ok((t, w)) => (title, weight) = (t, w),
            Err(e) => errors.push(LabError::new(
                Location::new(file, e.line, e.column),
                format!("front matter is not valid YAML: {}", e.message),
            )),
        }
    } else if let Some((t, w)) = &prepared.toml_front_matter {
        (title, weight) = (t.clone(), *w);
    }

    let mut markers = Vec::new();
    let mut codes = Vec::new();
    let mut headings: Vec<Heading> = Vec::new();
    let mut heading: Option<Heading> = None;
    let mut code: Option<FoundCode> = None;
    let mut html_block = false;

    for (event, range) in Parser::new_ext(text, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::HtmlBlock) => {
                html_block = true;
                let raw = &text[range.clone()];
                match read_marker(raw, range.start, &at) {
                    Ok(Some(marker)) => {
                        markers.push(FoundMarker { start: range.start, end: range.end, marker })
                    }
                    Ok(None) => {}
                    Err(e) => errors.push(e),
                }
            }
            Event::End(TagEnd::HtmlBlock) => html_block = false,
            Event::InlineHtml(html) | Event::Html(html) if !html_block && html.contains("labrunner:") => {
                errors.push(
                    LabError::new(at(range.start), "a labrunner metadata comment must start on a line of its own".into())
                        .with_hint("put a blank line before `<!-- labrunner:step` and start it at the beginning of the line"),
                );
            }
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some(Heading {
                    start: range.start,
                    end: range.end,
                    level: level as usize,
                    text: String::new(),
                })
            }
            Event::End(TagEnd::Heading(_)) => headings.extend(heading.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.text.push_str(&t);
                }
                if let Some(c) = code.as_mut() {
                    c.code.push_str(&t);
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let info = match &kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                match parse_info(&info) {
                    Ok((lang, show_only)) => {
                        code = Some(FoundCode {
                            start: range.start,
                            end: range.end,
                            lang,
                            show_only,
                            code: String::new(),
                            location: at(range.start),
                        })
                    }
                    Err(message) => {
                        errors.push(LabError::new(at(range.start), message).with_hint(
                            "mark a block that must not be run with {labrunner=show}, or remove the option",
                        ));
                    }
                }
            }
            Event::End(TagEnd::CodeBlock) => codes.extend(code.take()),
            _ => {}
        }
    }

    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("module");
    let title = title
        .or_else(|| headings.first().map(|h| h.text.trim().to_string()))
        .unwrap_or_else(|| stem.to_string());

    let has_steps = markers.iter().any(|m| matches!(m.marker, Marker::Step(..)));
    let (intro, steps) = if has_steps {
        declared_steps(text, markers, &codes, &headings)
    } else {
        plain_steps(file, key, &title, text, &codes, &headings)
    };

    let mut seen: Vec<&str> = Vec::new();
    for step in &steps {
        if seen.contains(&step.id.as_str()) {
            errors.push(duplicate_id(step));
        }
        seen.push(&step.id);
    }

    if errors.is_empty() {
        Ok(Module { path: file.to_path_buf(), title, weight, intro, steps })
    } else {
        Err(errors)
    }
}

/// The error for a step whose id was already used.
pub(crate) fn duplicate_id(step: &Step) -> LabError {
    let location = match &step.meta {
        Some(meta) => meta.locate(&format!("id: {}", step.id)),
        None => step.location.clone(),
    };
    LabError::new(location, format!("duplicate step id `{}`", step.id))
        .with_hint("step ids must be unique across the whole lab; rename one of them")
}

/// A heading of the page: where it stands, its level (1–6) and its text.
struct Heading {
    start: usize,
    end: usize,
    level: usize,
    text: String,
}

fn declared_steps(
    text: &str,
    markers: Vec<FoundMarker>,
    codes: &[FoundCode],
    headings: &[Heading],
) -> (String, Vec<Step>) {
    let first = markers.iter().position(|m| matches!(m.marker, Marker::Step(..))).unwrap_or(0);
    let intro = trim_blank_lines(&text[..markers[first].start]);
    let bounds: Vec<usize> = markers.iter().map(|m| m.start).collect();
    let mut steps = Vec::new();
    for (i, found) in markers.into_iter().enumerate() {
        let Marker::Step(meta, source) = found.marker else { continue };
        let meta = *meta;
        let end = bounds.get(i + 1).copied().unwrap_or(text.len());
        let body_range = found.end..end;
        let console = meta.mode == StepMode::Console;
        let shell = codes
            .iter()
            .filter(|c| c.start >= body_range.start && c.end <= body_range.end)
            .filter(|c| is_shell(c))
            .map(|c| {
                let untagged = !SHELL_LANGUAGES.contains(&c.lang.as_str());
                ShellBlock {
                    code: c.code.clone(),
                    // Only a block tagged as shell runs; one that merely reads like it is shown.
                    runnable: !c.show_only && !console && !untagged,
                    untagged: c.lang.is_empty(),
                    location: c.location.clone(),
                }
            })
            .collect();
        let title = meta
            .title
            .clone()
            .or_else(|| {
                headings.iter().find(|h| body_range.contains(&h.start)).map(|h| h.text.trim().to_string())
            })
            .unwrap_or_else(|| meta.id.clone());
        steps.push(Step {
            id: meta.id,
            title,
            mode: meta.mode,
            body: trim_blank_lines(&text[body_range]),
            shell,
            checks: meta.checks,
            creates: meta.creates.into_iter().map(|r| r.0).collect(),
            aws_creates: meta.aws_creates.into_iter().map(|r| r.0).collect(),
            hints: meta.hints,
            idempotent: meta.idempotent,
            declared: true,
            location: source.block.clone(),
            meta: Some(source),
        });
    }
    (intro, steps)
}

/// Steps of a page without metadata, where a reader would draw them: at its section
/// headings (its two highest levels in use, but not a lone title heading at the top). A command stays with its
/// output, the explanation after it and the rest of its list. Text before the first section
/// is the module's introduction; a page without sections is one step. Nothing runs: blocks
/// are shown to copy, and the steps are reported as shown, not verified.
fn plain_steps(
    file: &Path,
    key: &str,
    title: &str,
    text: &str,
    codes: &[FoundCode],
    headings: &[Heading],
) -> (String, Vec<Step>) {
    let h1s = headings.iter().filter(|h| h.level == 1).count();
    let lone_title = |i: usize, h: &Heading| i == 0 && h.level == 1 && h1s == 1;
    let candidates: Vec<&Heading> =
        headings.iter().enumerate().filter(|(i, h)| !lone_title(*i, h)).map(|(_, h)| h).collect();
    // Sections are the page's two highest heading levels in use, whichever they are: many
    // workshops write `####` for every task.
    let top = candidates.iter().map(|h| h.level).min().unwrap_or(1);
    let split: Vec<&Heading> = candidates.into_iter().filter(|h| h.level <= top + 1).collect();
    let shell_in = |range: std::ops::Range<usize>| -> Vec<ShellBlock> {
        codes
            .iter()
            .filter(|c| c.start >= range.start && c.end <= range.end && is_shell(c))
            .map(|c| ShellBlock {
                code: c.code.clone(),
                runnable: false,
                untagged: c.lang.is_empty(),
                location: c.location.clone(),
            })
            .collect()
    };
    let index = LineIndex::new(text);
    let located = |offset: usize| {
        let (line, column) = index.position(text, offset);
        Location::new(file, line, column)
    };
    // (title, where it starts, text shown above its body, body range)
    let mut sections: Vec<(String, usize, String, std::ops::Range<usize>)> = Vec::new();
    let first = split.first().map_or(text.len(), |h| h.start);
    let mut intro = trim_blank_lines(&text[..first]);
    if split.is_empty() || !shell_in(0..first).is_empty() {
        // No sections, or commands before the first one: the opening text is a step too.
        if !intro.is_empty() {
            let start = text[..first].find(|c: char| !c.is_whitespace()).unwrap_or(0);
            sections.push((title.to_string(), start, String::new(), 0..first));
        }
        intro = String::new();
    }
    let mut carried = String::new();
    for (i, h) in split.iter().enumerate() {
        let end = split.get(i + 1).map_or(text.len(), |n| n.start);
        let body = h.end.min(end)..end;
        if text[body.clone()].trim().is_empty() {
            // A heading directly followed by another introduces the next section.
            carried.push_str(text[h.start..h.end].trim());
            carried.push_str("\n\n");
            continue;
        }
        sections.push((h.text.trim().to_string(), h.start, std::mem::take(&mut carried), body));
    }
    let trailing = carried.trim().to_string();
    let mut steps: Vec<Step> = sections
        .into_iter()
        .enumerate()
        .map(|(n, (step_title, start, above, range))| Step {
            id: format!("{key}-{}", n + 1),
            title: if step_title.is_empty() { format!("Step {}", n + 1) } else { step_title },
            mode: StepMode::Cli,
            body: format!("{above}{}", trim_blank_lines(&text[range.clone()])),
            shell: shell_in(range),
            checks: Vec::new(),
            creates: Vec::new(),
            aws_creates: Vec::new(),
            hints: Vec::new(),
            idempotent: false,
            declared: false,
            location: located(start),
            meta: None,
        })
        .collect();
    if let Some(last) = steps.last_mut().filter(|_| !trailing.is_empty()) {
        // Headings with nothing under them at the end of the page are never lost.
        last.body = format!("{}\n\n{trailing}", last.body);
    }
    (intro, steps)
}

/// `text` without its leading blank lines and trailing whitespace; the first line keeps its
/// indentation (an indented code block stays code).
fn trim_blank_lines(text: &str) -> String {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            break;
        }
        start += line.len();
    }
    text[start..].trim_end().to_string()
}

/// Whether a code block holds shell commands: tagged as a shell or `console`, or untagged
/// with lines that read as commands (`aws …`, `export …`, `$ …`).
fn is_shell(code: &FoundCode) -> bool {
    SHELL_LANGUAGES.contains(&code.lang.as_str())
        || code.lang == "console"
        || (code.lang.is_empty() && looks_like_shell(&code.code))
}

/// Whether untagged code reads as shell commands: its first meaningful line starts with a
/// prompt or a command a workshop types.
pub(crate) fn looks_like_shell(code: &str) -> bool {
    const COMMANDS: &[&str] = &[
        "aws",
        "export",
        "sudo",
        "curl",
        "docker",
        "kubectl",
        "cd",
        "git",
        "npm",
        "pip",
        "pip3",
        "echo",
        "cat",
        "chmod",
        "mkdir",
        "eksctl",
        "sam",
        "cdk",
        "copilot",
        "terraform",
        "python",
        "python3",
        "jq",
        "wget",
    ];
    let Some(first) = code.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')) else {
        return false;
    };
    let first = first.strip_prefix("$ ").unwrap_or(first);
    let word = first.split(|c: char| c.is_whitespace()).next().unwrap_or("");
    (code.trim_start().starts_with("$ ") || COMMANDS.contains(&word))
        && !first.starts_with('{')
        && !first.contains(": ") // YAML or JSON lines
}

/// A lower-case slug of `s`: letters and digits, runs of anything else as one dash.
pub(crate) fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "step".into()
    } else {
        out
    }
}

/// `bash {labrunner=show linenos=table}` → ("bash", true). Unknown labrunner options are errors.
fn parse_info(info: &str) -> Result<(String, bool), String> {
    let info = info.trim();
    let (lang, rest) = match info.find(|c: char| c.is_whitespace() || c == '{') {
        Some(i) => (&info[..i], &info[i..]),
        None => (info, ""),
    };
    let mut show_only = false;
    let attrs = rest.trim().trim_start_matches('{').trim_end_matches('}');
    for attr in attrs.split(|c: char| c.is_whitespace() || c == ',').filter(|a| !a.is_empty()) {
        let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
        if key != "labrunner" {
            continue; // Hugo's own options (linenos, hl_lines, ...) are not ours to judge.
        }
        match value.trim_matches(['"', '\'']) {
            "show" => show_only = true,
            "run" => show_only = false,
            other => {
                return Err(format!(
                "unknown code block option `labrunner={other}`: expected `labrunner=show` or `labrunner=run`"
            ))
            }
        }
    }
    Ok((lang.to_ascii_lowercase(), show_only))
}

/// Reads a `<!-- labrunner:... -->` HTML block; `Ok(None)` for any other HTML.
fn read_marker(raw: &str, offset: usize, at: &dyn Fn(usize) -> Location) -> Result<Option<Marker>, LabError> {
    let Some(open) = raw.find("<!--") else { return Ok(None) };
    let after_open = &raw[open + 4..];
    let lead = after_open.len() - after_open.trim_start().len();
    let body = &after_open[lead..];
    let Some(rest) = body.strip_prefix("labrunner:") else { return Ok(None) };
    // A keyword is letters, digits, `_` and single dashes; it never swallows the `--` of `-->`.
    let keyword_len = keyword_end(rest);
    let keyword = &rest[..keyword_len];
    let marker_at = at(offset + open);
    let Some(close) = rest.find("-->") else {
        return Err(LabError::new(
            marker_at,
            format!("unterminated metadata block: `<!-- labrunner:{keyword}` is never closed"),
        )
        .with_hint("end the block with `-->` on a line of its own"));
    };
    let yaml_start = offset + open + 4 + lead + "labrunner:".len() + keyword_len;
    let yaml_text = &rest[keyword_len..close];
    match keyword {
        "end" => {
            if yaml_text.trim().is_empty() {
                Ok(Some(Marker::End))
            } else {
                Err(LabError::new(marker_at, "`<!-- labrunner:end -->` takes no metadata".into()))
            }
        }
        "step" => {
            let start = at(yaml_start);
            let source = MetaSource {
                file: start.file.clone(),
                yaml: yaml_text.to_string(),
                line: start.line,
                column: start.column,
                block: marker_at.clone(),
            };
            if yaml_text.trim().is_empty() {
                return Err(LabError::new(
                    marker_at,
                    "empty step metadata: a step needs at least an `id`".into(),
                )
                .with_hint("write `id: my-step` on the line after `<!-- labrunner:step`"));
            }
            let meta: StepMeta = yaml::from_str(yaml_text, Origin { line: start.line, column: start.column })
                .map_err(|e| {
                    LabError::new(Location::new(&start.file, e.line, e.column), domain_words(&e.message))
                })?;
            validate_meta(&meta, &source)?;
            Ok(Some(Marker::Step(Box::new(meta), source)))
        }
        other => Err(LabError::new(
            marker_at,
            format!(
                "unknown metadata block `labrunner:{other}`: expected `labrunner:step` or `labrunner:end`"
            ),
        )),
    }
}

/// serde says "variant"; authors think in check kinds and resource types.
fn domain_words(message: &str) -> String {
    // `checks[0].exists: ...` names a resource: the path has a dot after the index.
    let in_exists = message.starts_with("checks[")
        && message.split_once("].").is_some_and(|(_, rest)| rest.starts_with("exists"));
    let what = if in_exists {
        "resource type"
    } else if message.starts_with("checks[") {
        "check kind"
    } else if message.starts_with("creates[") || message.starts_with("aws_creates[") {
        "resource type"
    } else {
        return message.to_string();
    };
    message.replace("unknown variant", &format!("unknown {what}"))
}

/// Checks of one step's metadata that serde cannot express.
fn validate_meta(meta: &StepMeta, source: &MetaSource) -> Result<(), LabError> {
    if !is_valid_id(&meta.id) {
        return Err(LabError::new(
            source.locate("id:"),
            format!("invalid step id `{}`: expected lower-case letters, digits and dashes, such as `create-service`", meta.id),
        ));
    }
    let mut strings = Vec::new();
    for check in &meta.checks {
        strings.extend(vars::value_strings(&check.spec));
        strings.extend(check.label.clone());
    }
    for resource in meta.creates.iter().chain(&meta.aws_creates) {
        strings.extend(vars::value_strings(&resource.0));
    }
    for s in &strings {
        if let Err(bad) = vars::references(s) {
            let fragment: String = s[bad.offset..].chars().take(12).collect();
            return Err(LabError::new(source.locate(&fragment), bad.message));
        }
    }
    for hint in &meta.hints {
        if let Some(when) = &hint.when {
            // Parsed, not compiled: compiling every hint's pattern was most of the time it
            // took to load the catalog (`labrunner list`); a pattern is compiled (matching
            // case-insensitively) when matched. Case folding cannot make a valid pattern
            // invalid, and it is the costly part of parsing, so it is left to that moment.
            if let Err(e) = regex_syntax::Parser::new().parse(when) {
                return Err(LabError::new(
                    source.locate(when),
                    format!(
                        "hint `when` is not a valid regular expression: {}",
                        regex_problem(&e.to_string())
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The useful line of a `regex` error (its last), without the crate's "error:" prefix.
pub(crate) fn regex_problem(s: &str) -> String {
    let line = s.lines().last().unwrap_or(s).trim();
    line.strip_prefix("error:").unwrap_or(line).trim().to_string()
}

/// Length of the `labrunner:` keyword at the start of `rest`.
fn keyword_end(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let dash_pair = c == b'-' && bytes.get(i + 1) == Some(&b'-');
        if dash_pair || !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
            break;
        }
        i += 1;
    }
    i
}

/// Step and lab ids: lower-case letters, digits, dashes; starting with a letter or digit.
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(page: &str) -> Result<Module, Vec<LabError>> {
        parse_module(Path::new("m.md"), page)
    }

    fn first_error(page: &str) -> String {
        let errs = parse(page).expect_err("expected an error");
        errs[0].to_string()
    }

    const STEP: &str = "---\ntitle: Deploy\nweight: 3\n---\nIntro text.\n\n<!-- labrunner:step\nid: make-cluster\nchecks:\n  - cluster_active: { cluster: c1 }\n    timeout: 2m\ncreates:\n  - ecs_cluster: { cluster: c1 }\n-->\n## Create the cluster\n\nRun this:\n\n```bash\naws ecs create-cluster --cluster-name c1\n```\n\n```bash {labrunner=show}\naws logs tail x --follow\n```\n<!-- labrunner:end -->\nOutro.\n";

    #[test]
    fn a_declared_step_has_everything() {
        let m = parse(STEP).unwrap();
        assert_eq!(m.title, "Deploy");
        assert_eq!(m.weight, Some(3));
        assert_eq!(m.intro, "Intro text.");
        assert_eq!(m.steps.len(), 1);
        let s = &m.steps[0];
        assert_eq!(s.id, "make-cluster");
        assert_eq!(s.title, "Create the cluster");
        assert_eq!(s.checks.len(), 1);
        assert_eq!(s.checks[0].kind(), "cluster_active");
        assert_eq!(s.checks[0].timeout, Some(std::time::Duration::from_secs(120)));
        assert_eq!(s.creates, vec![ResourceSpec::EcsCluster { cluster: "c1".into() }]);
        assert_eq!(s.shell.len(), 2);
        assert!(s.shell[0].runnable);
        assert!(!s.shell[1].runnable);
        assert_eq!(s.shell[0].code, "aws ecs create-cluster --cluster-name c1\n");
        assert_eq!((s.shell[0].location.line, s.shell[0].location.column), (19, 1));
        assert_eq!((s.location.line, s.location.column), (7, 1));
        assert!(!s.body.contains("Outro"), "the end marker closes the step");
        assert!(s.declared);
    }

    #[test]
    fn an_exists_check_names_a_resource_as_creates_does() {
        let page = "<!-- labrunner:step\nid: a\nchecks:\n  - exists: { capacity_provider: { name: cp, cluster: \"${C}\" } }\n  - exists: { ecr_repository: { name: lab/auth } }\n-->\n";
        let m = parse(page).unwrap();
        let checks = &m.steps[0].checks;
        assert_eq!(checks[0].kind(), "exists");
        assert_eq!(checks[0].describe(), "capacity_provider cp (cluster ${C}) exists");
        assert_eq!(checks[0].variables(), ["C"]);
        assert_eq!(checks[1].describe(), "ecr_repository lab/auth exists");
        let resolved = checks[0].resolve(&|_| Some("main".into())).unwrap();
        assert_eq!(resolved.describe(), "capacity_provider cp (cluster main) exists");
        for (bad, want) in [
            ("{ ecr_repo: { name: x } }", "m.md:4:13: checks[0].exists: unknown resource type `ecr_repo`, expected one of `ecs_cluster`"),
            ("{ ecr_repository: { name: x, tag: y } }", "unknown field `tag`"),
            ("{ ecr_repository: { name: x }, ssm_parameter: { name: y } }", "found `ecr_repository` and `ssm_parameter`"),
        ] {
            let page = format!("<!-- labrunner:step\nid: a\nchecks:\n  - exists: {bad}\n-->\n");
            let error = first_error(&page);
            assert!(error.contains(want), "{error}");
        }
    }

    #[test]
    fn errors_carry_exact_positions() {
        let cases: &[(&str, &str)] = &[
            (
                "<!-- labrunner:step\nid: a\nchecks:\n  - cluster_activ: { cluster: c }\n-->\n",
                "m.md:4:5: checks[0]: unknown check kind `cluster_activ`, expected one of `caller_identity`",
            ),
            ("<!-- labrunner:step\nid: a\nchekcs: []\n-->\n", "m.md:3:1: unknown field `chekcs`"),
            (
                "<!-- labrunner:step\nid: a\nchecks:\n  - cluster_active: { cluster: c, colour: red }\n-->\n",
                "m.md:4:35: checks[0].cluster_active: unknown field `colour`, expected `cluster`",
            ),
            ("text\n\n<!-- labrunner:step\nid: a\n", "m.md:3:1: unterminated metadata block"),
            ("<!-- labrunner:stpe\nid: a\n-->\n", "m.md:1:1: unknown metadata block `labrunner:stpe`"),
            (
                "<!-- labrunner:step\nid: a\ncreates:\n  - log_group: { name: \"${GROUP\" }\n-->\n",
                "m.md:4:25: unterminated variable reference",
            ),
            (
                "<!-- labrunner:step\nid: a\n-->\n<!-- labrunner:step\nid: a\n-->\n",
                "m.md:5:1: duplicate step id `a`",
            ),
            ("<!-- labrunner:step\nid: Bad_Id\n-->\n", "m.md:2:1: invalid step id `Bad_Id`"),
            ("<!-- labrunner:step\n-->\n", "m.md:1:1: empty step metadata"),
            (
                "<!-- labrunner:step\nid: a\n-->\n```bash {labrunner=skip}\nls\n```\n",
                "m.md:4:1: unknown code block option `labrunner=skip`",
            ),
        ];
        for (page, want) in cases {
            let got = first_error(page);
            assert!(got.starts_with(want), "page:\n{page}\nwant prefix: {want}\ngot: {got}");
        }
    }

    #[test]
    fn plain_markdown_becomes_show_only_steps() {
        let page = "# Title\n\n{{% notice note %}}\nHello\n{{% /notice %}}\n\n## One\n\n```bash\necho 1\n```\n\n## Two\n\n```sh\necho 2\n```\n\n```json\n{}\n```\n";
        let m = parse_module(Path::new("content/x/Plain Page.md"), page).unwrap();
        assert_eq!(m.title, "Title");
        let ids: Vec<_> = m.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["plain-page-1", "plain-page-2"]);
        assert_eq!(m.steps[1].title, "Two");
        assert!(m.steps.iter().all(|s| !s.declared && s.checks.is_empty() && !s.shell[0].runnable));
        assert!(
            m.intro.contains("labrunner-callout note"),
            "text before the first section introduces the module"
        );
        assert!(m.steps[1].body.contains("```json"), "output stays with its command");
    }

    #[test]
    fn plain_steps_are_drawn_at_headings_where_a_reader_would() {
        let page = "\u{feff}---\r\ntitle: Deploy\r\nweight: 3\r\n---\r\n\nIntro.\n\n## Register\n\n1. Run:\n\n   ```\n   aws ecs register-task-definition --cli-input-json file://td.json\n   ```\n\n2. The output:\n\n   ```\n   {\"taskDefinition\": {}}\n   ```\n\n   This is the revision.\n\n## Verify\n### In the console\n\nOpen the console.\n\n## Clean up later\n";
        let m = parse_module_keyed(Path::new("w/2-deploy/_index.md"), page, "2-deploy").unwrap();
        assert_eq!((m.title.as_str(), m.weight), ("Deploy", Some(3)), "BOM and CRLF front matter");
        assert_eq!(m.intro, "Intro.");
        let steps: Vec<(&str, &str, usize)> =
            m.steps.iter().map(|s| (s.id.as_str(), s.title.as_str(), s.shell.len())).collect();
        assert_eq!(steps, [("2-deploy-1", "Register", 1), ("2-deploy-2", "In the console", 0)]);
        assert!(m.steps[1].body.ends_with("## Clean up later"), "a trailing heading is kept");
        let register = &m.steps[0];
        assert!(
            register.shell[0].code.starts_with("aws ecs register-task-definition"),
            "an untagged fence of commands is shell"
        );
        assert!(register.body.contains("This is the revision."), "the explanation after the output stays");
        assert!(m.steps[1].body.starts_with("## Verify"), "an empty section introduces the next");
    }

    #[test]
    fn a_page_without_headings_or_commands_is_one_reading_step() {
        let m = parse_module(Path::new("cost.md"), "+++\ntitle = \"Cost\"\n+++\nThis lab costs about $1.\n")
            .unwrap();
        assert_eq!(m.steps.len(), 1);
        assert_eq!((m.steps[0].title.as_str(), m.steps[0].shell.len()), ("Cost", 0));
        assert!(parse_module(Path::new("empty.md"), "---\ntitle: x\n---\n").unwrap().steps.is_empty());
    }

    #[test]
    fn unclosed_fences_and_front_matter_are_errors_where_they_open() {
        let fence = first_error("Text\n\n  ```bash\necho hi\n<!-- labrunner:step\nid: a\n-->\n");
        assert!(fence.starts_with("m.md:3:3: code fence ``` is never closed"), "{fence}");
        let front = first_error("---\ntitle: x\nweight: 1\n\nBody\n");
        assert!(front.starts_with("m.md:1:1: front matter is never closed"), "{front}");
        // A page that opens with a thematic break is not front matter.
        assert!(parse("---\n\nJust a rule.\n").is_ok());
    }

    #[test]
    fn shell_is_recognised_in_untagged_fences_only_when_it_reads_as_commands() {
        assert!(looks_like_shell("aws ecs list-clusters\n"));
        assert!(looks_like_shell("$ export X=1\n"));
        assert!(!looks_like_shell("{\"a\": 1}\n"));
        assert!(!looks_like_shell("name: web\nimage: nginx\n"));
        assert!(!looks_like_shell("Hello world\n"));
    }

    #[test]
    fn console_steps_run_nothing() {
        let page = "<!-- labrunner:step\nid: a\nmode: console\n-->\n```bash\necho hi\n```\n";
        let m = parse(page).unwrap();
        assert!(!m.steps[0].shell[0].runnable);
    }
}
