//! Property tests of the parsers: whatever an author (or a bad merge) puts in a page or a
//! manifest, parsing returns a module or errors, never panics, and every error points at a
//! real position of the text it came from.
//!
//! Three kinds of input: arbitrary strings; pages and manifests assembled from the pieces
//! the parsers care about (front matter fences, `<!-- labrunner:step`, `-->`, YAML fragments,
//! code fences with options, Hugo shortcodes, `${`, tabs, CRLF, non-ASCII); and valid
//! documents with random edits (insertions of those pieces, deletions) at random places.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::manifest::parse_manifest;
use super::parse::parse_module;
use super::vars::{interpolate, is_valid_name, references};
use super::LabError;

/// 512 cases per property (`PROPTEST_CASES=100000` for a deep run); no regression files
/// written into the source tree.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const PAGE_PIECES: &[&str] = &[
    "---\n",
    "+++\n",
    "title: Deploy\n",
    "weight: 3\n",
    "title = \"T\"\n",
    "pre: \"<b>1.</b>\"\n",
    "<!-- labrunner:step\n",
    "<!-- labrunner:step ",
    "<!-- labrunner:end -->\n",
    "<!-- labrunner:end\n",
    "<!-- labrunner:stpe\n",
    "<!-- labrunner: ",
    "<!-- labrunner:step",
    "<!-- labrunner:",
    "<!-- note -->\n",
    "<!--",
    "-->\n",
    "-->",
    " --> ",
    "id: x\n",
    "id: make-cluster\n",
    "id: Bad_Id\n",
    "id: \n",
    "title: A step\n",
    "mode: console\n",
    "mode: gui\n",
    "checks:\n",
    "checks: []\n",
    "  - http: {url: ",
    "  - http: { url: \"https://example.com/\", status: 200 }\n",
    "  - cluster_active: { cluster: \"${CLUSTER}\" }\n",
    "  - service_desired_count: { cluster: c, service: s, count: two }\n",
    "  - cluster_active: { cluster: c }\n    http: { url: x }\n",
    "    timeout: 5m\n",
    "    timeout: soon\n",
    "    label: Custom\n",
    "creates:\n",
    "  - ecs_cluster: { cluster: c1 }\n",
    "  - ecs_service: {}\n",
    "  - {}\n",
    "hints:\n",
    "  - when: \"(\"\n    text: t\n",
    "  - text: Wait a minute.\n",
    "chekcs: []\n",
    "  ",
    "\t",
    "${",
    "${A}",
    "${}",
    "${a-b}",
    "$$",
    "}",
    "{",
    "[",
    "\"",
    "'",
    ": ",
    "- ",
    "&a ",
    "*a ",
    "```bash\n",
    "```bash {labrunner=show}\n",
    "```sh {labrunner=run linenos=table}\n",
    "```bash {labrunner=skip}\n",
    "```bash {labrunner=\n",
    "```json\n",
    "```\n",
    "~~~\n",
    "````\n",
    "aws ecs create-cluster --cluster-name \"$CLUSTER\"\n",
    "export VPC_ID=$(aws ec2 describe-vpcs)\n",
    "cat <<EOF\n",
    "EOF\n",
    "{{% notice info %}}\n",
    "{{% /notice %}}\n",
    "{{< tabs >}}\n",
    "{{< tab \"Linux\" >}}\n",
    "{{< /tab >}}\n",
    "{{% children %}}",
    "# Heading\n",
    "## Sub heading\n",
    "#### Deep\n",
    "1. Open the console\n",
    "| a | b |\n|---|---|\n",
    "![img](/x.png)\n",
    "    indented code\n",
    "> quote\n",
    "\n",
    "\r\n",
    "\r",
    "text ",
    "é",
    "日本語",
    "🦀",
    "\u{200b}",
    "\u{feff}",
    "\0",
];

const MANIFEST_PIECES: &[&str] = &[
    "format: 1\n",
    "format: 2\n",
    "format: 0\n",
    "format: one\n",
    "format: -1\n",
    "format: 99999999999999999999999\n",
    "id: demo\n",
    "id: Demo_Lab\n",
    "id: other\n",
    "title: T\n",
    "summary: S\n",
    "audience: everyone\n",
    "estimated_time: 1h\n",
    "modules:\n",
    "modules: []\n",
    "  - 01.md\n",
    "  - \"\"\n",
    "variables:\n",
    "  - name: CLUSTER\n",
    "  - name: bad-name\n",
    "    from: prompt\n",
    "    from: command\n",
    "    from: account\n",
    "    from: nowhere\n",
    "    command: aws sts get-caller-identity\n",
    "    default: \"${CLUSTER}\"\n",
    "    default: \"${LATER}-x\"\n",
    "    default: \"${\"\n",
    "    pattern: \"[\"\n",
    "    pattern: \"[a-z]+\"\n",
    "    secret: yes\n",
    "prerequisites:\n",
    "  - An account\n",
    "unknown: 1\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "? ",
    "&anchor ",
    "*anchor",
    "<<: *anchor\n",
    "!!str ",
    "!custom ",
    "|\n",
    ">-\n",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    ": ",
    "- ",
    "#",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\u{2028}",
    "é",
    "🦀",
    "\u{feff}",
    "\0",
];

const VALID_PAGE: &str = "---\ntitle: Deploy\nweight: 3\n---\nIntro text.\n\n<!-- labrunner:step\nid: make-cluster\nchecks:\n  - cluster_active: { cluster: \"${CLUSTER}\" }\n    timeout: 2m\ncreates:\n  - ecs_cluster: { cluster: \"${CLUSTER}\" }\nhints:\n  - when: \"ClusterNotFound\"\n    text: Wait.\n-->\n## Create the cluster\n\n{{% notice info %}}\nCareful.\n{{% /notice %}}\n\n```bash\naws ecs create-cluster --cluster-name \"$CLUSTER\"\n```\n\n```bash {labrunner=show}\naws logs tail x --follow\n```\n<!-- labrunner:end -->\nOutro.\n\n<!-- labrunner:step\nid: open-site\nmode: console\nchecks:\n  - http: { url: \"http://${SITE}/\", status: 200 }\n-->\nOpen it.\n";

const PLAIN_PAGE: &str = "+++\ntitle = \"Plain\"\nweight = 2\n+++\n# Title\n\n{{< tabs >}}\n{{< tab \"Linux\" >}}\n```bash\necho 1\n```\n{{< /tab >}}\n{{< /tabs >}}\n\n## Two\n\n```sh\necho $HOME\n```\n\n```json\n{}\n```\n";

const VALID_MANIFEST: &str = "format: 1\nid: demo\ntitle: Demo\nsummary: A demo.\nmodules:\n  - 01.md\n  - 02.md\nvariables:\n  - name: CLUSTER\n    description: The cluster\n    from: prompt\n    default: demo\n    pattern: \"[a-z-]+\"\n  - name: SERVICE\n    from: prompt\n    default: \"${CLUSTER}-web\"\n  - name: VPC_ID\n    from: command\n    command: aws ec2 describe-vpcs --output text\nprerequisites:\n  - An account\n";

fn assembled(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => proptest::sample::select(pieces).prop_map(str::to_string),
        1 => "[a-zA-Z0-9:{}\\[\\]\"' _$-]{1,8}",
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..max).prop_map(|parts| parts.concat())
}

/// An edit of a valid document: at a fraction of its length, delete some characters, then
/// insert a piece.
fn edited(bases: &'static [&'static str], pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    let edit = (0.0..1.0f64, 0usize..6, proptest::option::of(proptest::sample::select(pieces)));
    (proptest::sample::select(bases), proptest::collection::vec(edit, 1..6)).prop_map(|(base, edits)| {
        let mut text = base.to_string();
        for (at, delete, insert) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let index = ((boundaries.len() - 1) as f64 * at) as usize;
            let start = boundaries[index];
            let end = boundaries[(index + delete).min(boundaries.len() - 1)];
            text.replace_range(start..end, insert.unwrap_or(""));
        }
        text
    })
}

/// Every error points into `text`: line 1 up to one past the last line, column 1 up to one
/// past the end of that line, in the file that was parsed.
///
/// Lines are counted at `\n`, as the parser does. YAML also breaks lines at a lone `\r`,
/// U+0085, U+2028 and U+2029, so a position inside YAML may be counted that way instead;
/// either count is accepted (see the report on YAML positions after such characters).
fn check_errors(file: &Path, text: &str, errors: &[LabError]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "an Err carries at least one error");
    let yaml_text = text.replace("\r\n", "\n").replace(['\r', '\u{85}', '\u{2028}', '\u{2029}'], "\n");
    for e in errors {
        let at = &e.location;
        prop_assert_eq!(at.file.as_path(), file);
        prop_assert!(at.line >= 1 && at.column >= 1, "{} for {:?}", e, text);
        prop_assert!(!e.message.trim().is_empty(), "an empty message at {}", at);
        let inside = |text: &str| {
            let lines: Vec<&str> = text.lines().collect();
            at.line <= lines.len() + 1
                && lines.get(at.line - 1).is_none_or(|line| at.column <= line.chars().count() + 1)
        };
        prop_assert!(inside(text) || inside(&yaml_text), "{} is outside the text {:?}", e, text);
    }
    Ok(())
}

fn check_page(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("content/demo/01-page.md");
    match parse_module(file, text) {
        Err(errors) => check_errors(file, text, &errors),
        Ok(module) => {
            let lines = text.lines().count();
            prop_assert_eq!(module.path.as_path(), file);
            let mut ids: Vec<&str> = Vec::new();
            for step in &module.steps {
                prop_assert!(!ids.contains(&step.id.as_str()), "duplicate id {} accepted", step.id);
                ids.push(&step.id);
                prop_assert!(super::parse::is_valid_id(&step.id), "invalid id {:?} accepted", step.id);
                for at in std::iter::once(&step.location).chain(step.shell.iter().map(|b| &b.location)) {
                    prop_assert!(
                        at.line >= 1 && at.column >= 1 && at.line <= lines + 1,
                        "{} in {:?}",
                        at,
                        text
                    );
                }
                if !step.declared {
                    prop_assert!(step.checks.is_empty() && step.shell.iter().all(|b| !b.runnable));
                }
            }
            Ok(())
        }
    }
}

fn check_manifest(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("labs/demo.yaml");
    match parse_manifest(file, text) {
        Err(errors) => check_errors(file, text, &errors),
        Ok(manifest) => {
            prop_assert_eq!(manifest.id.as_str(), "demo", "the id matches the file name");
            prop_assert_eq!(manifest.format, super::FORMAT_VERSION);
            prop_assert!(!manifest.modules.is_empty());
            for v in &manifest.variables {
                prop_assert!(is_valid_name(&v.name), "invalid variable name {:?} accepted", v.name);
            }
            Ok(())
        }
    }
}

/// One part of a text with references, and what interpolation must make of it.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Reference(String),
    Dollar,
}

fn value_of(name: &str) -> String {
    format!("<{}>", name.to_lowercase())
}

fn parts() -> impl Strategy<Value = Vec<Part>> {
    let part = prop_oneof![
        "[^$]{0,6}".prop_map(Part::Literal),
        "[A-Za-z_][A-Za-z0-9_]{0,8}".prop_map(Part::Reference),
        Just(Part::Dollar),
    ];
    proptest::collection::vec(part, 0..12)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_module_never_panics_on_arbitrary_text(text in any::<String>()) {
        check_page(&text)?;
    }

    #[test]
    fn parse_module_never_panics_on_assembled_pages(text in assembled(PAGE_PIECES, 48)) {
        check_page(&text)?;
    }

    #[test]
    fn parse_module_never_panics_on_edited_pages(text in edited(&[VALID_PAGE, PLAIN_PAGE], PAGE_PIECES)) {
        check_page(&text)?;
    }

    #[test]
    fn parse_manifest_never_panics_on_arbitrary_text(text in any::<String>()) {
        check_manifest(&text)?;
    }

    #[test]
    fn parse_manifest_never_panics_on_assembled_manifests(text in assembled(MANIFEST_PIECES, 40)) {
        check_manifest(&text)?;
    }

    #[test]
    fn parse_manifest_never_panics_on_edited_manifests(text in edited(&[VALID_MANIFEST], MANIFEST_PIECES)) {
        check_manifest(&text)?;
    }

    #[test]
    fn references_point_at_what_they_name(text in prop_oneof![any::<String>(), "[A-Z_${}a-z -]{0,24}"]) {
        match references(&text) {
            Ok(refs) => {
                let mut last = None;
                for r in &refs {
                    prop_assert!(is_valid_name(&r.name));
                    let written = format!("${{{}}}", r.name);
                    prop_assert!(text[r.offset..].starts_with(&written), "{:?} at {} in {:?}", r, r.offset, text);
                    prop_assert!(last.is_none_or(|l| l < r.offset), "offsets increase");
                    last = Some(r.offset);
                }
            }
            Err(bad) => {
                prop_assert!(text.is_char_boundary(bad.offset));
                prop_assert!(text[bad.offset..].starts_with("${"), "{:?} in {:?}", bad, text);
                prop_assert!(!bad.message.is_empty());
            }
        }
        let known = interpolate(&text, &|name| Some(value_of(name)));
        prop_assert_eq!(known.is_ok(), references(&text).is_ok());
        let unknown = interpolate(&text, &|_| None);
        prop_assert_eq!(unknown.is_ok(), references(&text).is_ok_and(|r| r.is_empty()));
        if !text.contains('$') {
            prop_assert_eq!(known.as_deref(), Ok(text.as_str()));
        }
    }

    #[test]
    fn interpolate_replaces_references_and_unescapes_dollars(parts in parts()) {
        let mut text = String::new();
        let mut want = String::new();
        let mut names = Vec::new();
        for part in &parts {
            match part {
                Part::Literal(s) => {
                    text.push_str(s);
                    want.push_str(s);
                }
                Part::Reference(name) => {
                    text.push_str(&format!("${{{name}}}"));
                    want.push_str(&value_of(name));
                    names.push(name.clone());
                }
                Part::Dollar => {
                    text.push_str("$$");
                    want.push('$');
                }
            }
        }
        let found: Vec<String> = references(&text).expect("well-formed").into_iter().map(|r| r.name).collect();
        prop_assert_eq!(found, names);
        prop_assert_eq!(interpolate(&text, &|name| Some(value_of(name))), Ok(want));
    }
}

/// Regression: a keyword glued to the closing `-->` (`<!-- labrunner:step-->`) used to make
/// the keyword scan swallow the `--` and slice backwards (a panic, exit 101).
#[test]
fn keyword_glued_to_the_closing_marker() {
    let end = parse_module(Path::new("m.md"), "<!-- labrunner:end-->\n");
    assert!(end.is_ok(), "an end marker glued to --> is fine: {end:?}");
    let step = parse_module(Path::new("m.md"), "<!-- labrunner:step-->\n").unwrap_err();
    assert_eq!(step[0].to_string(), "m.md:1:1: empty step metadata: a step needs at least an `id`");
    let unknown = parse_module(Path::new("m.md"), "x\n\n<!-- labrunner:ste-->\n").unwrap_err();
    assert!(
        unknown[0].to_string().starts_with("m.md:3:1: unknown metadata block `labrunner:ste`"),
        "{}",
        unknown[0]
    );
}
