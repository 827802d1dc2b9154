//! Plain workshop pages and Hugo sites as labs, without a manifest: `show`, `lint` and `start`
//! take a page, a directory of pages or a Hugo site as they are. The corpus is in
//! `tests/fixtures/pages/` (YAML and TOML front matter, a BOM and CRLF, shortcodes, tabs,
//! `<details>`, lists with code, untagged commands, pages without commands, a leaf bundle).
//!
//! Whole-output snapshots live in `tests/fixtures/pages/snapshots/`; after an intended change,
//! `UPDATE_SNAPSHOTS=1 cargo test --test it pages` rewrites them (review the diff).

use std::path::{Path, PathBuf};

use crate::runner::Sandboxed;
use crate::support::{fixtures, LabTree, Test};

fn corpus() -> PathBuf {
    fixtures().join("pages")
}

/// Compares `actual` with the snapshot `name`, or rewrites it under `UPDATE_SNAPSHOTS=1`.
fn snapshot(name: &str, actual: &str) {
    let path = corpus().join("snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("snapshot {} missing ({e}); run with UPDATE_SNAPSHOTS=1", path.display()));
    if want != actual {
        let line = want.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "snapshot {name} differs at line {}:\n  want: {:?}\n  got:  {:?}\n--- got in full:\n{actual}",
            line + 1,
            want.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn show(args: &[&str], columns: &str) -> String {
    let out = Test::new().args(args).current_dir(corpus()).env("COLUMNS", columns).run();
    out.code(0).stderr_empty();
    out.stdout.clone()
}

#[test]
fn a_hugo_site_shows_as_it_reads_at_80_and_70_columns() {
    let wide = show(&["show", "ecs-site"], "80");
    snapshot("ecs-site-80.txt", &wide);
    // Hugo syntax never leaks; what shortcodes stand for is kept.
    for leak in ["{{", "}}", "+++", "<details", "<summary", "\ntitle:", "\u{feff}", "\r"] {
        assert!(!wide.contains(leak), "{leak:?} leaked:\n{wide}");
    }
    for kept in [
        "[video: https://www.youtube.com/watch?v=dQw4w9WgXcQ]",
        "[image: Architecture of the workshop] (/images/architecture.png)\nThe service runs",
        "Fargate pricing\n(https://aws.amazon.com/fargate/pricing/)",
        "▸ Why is the cluster empty?",
        "▸ What does desired count mean?",
        "    aws ecs create-cluster --cluster-name workshop-cluster",
        "Shown, not verified: labrunner runs and checks nothing here.",
    ] {
        assert!(wide.contains(kept), "{kept:?} missing:\n{wide}");
    }
    assert!(
        !wide.contains("notes.md") && !wide.contains("leaf bundle"),
        "a bundle's resources are not pages"
    );
    let narrow = show(&["show", "ecs-site"], "70");
    snapshot("ecs-site-70.txt", &narrow);
    // Prose wraps at 70 columns; code is never wrapped (it is copied) and a URL never cut.
    let code: Vec<&str> = narrow.lines().filter(|l| l.starts_with("    ")).collect();
    for line in narrow.lines().filter(|l| !l.starts_with("    ")) {
        let long_word = line.split_whitespace().any(|w| w.chars().count() > 50);
        assert!(line.chars().count() <= 70 || long_word, "line wider than 70 columns: {line:?}");
    }
    assert!(code.iter().any(|l| l.chars().count() > 70), "a long command is kept whole on its line");
}

#[test]
fn one_page_shows_and_lints_like_the_same_page_in_its_site() {
    let page = "ecs-site/content/20-setup/_index.md";
    let out = show(&["show", page], "80");
    assert!(
        out.contains("Step 1/2 · Choose a Region") && out.contains("Step 2/2 · Create the cluster"),
        "{out}"
    );
    // The untagged block of commands is a lint note at its exact position, alone as in the site.
    let want_note = format!(
        "{page}:12:1: warning[untagged-shell]: this code block has no language but reads as shell commands: labrunner shows it as commands to copy and never runs it; tag it ```bash (to run it in an annotated step) or ```text (if it is output)\n"
    );
    Test::new()
        .args(["lint", page])
        .current_dir(corpus())
        .run()
        .code(1)
        .stdout(&format!("{want_note}{page}: 1 finding\n"));
    let site = Test::new().args(["lint", "ecs-site"]).current_dir(corpus()).run();
    site.code(1).stdout_contains(&want_note.replace(page, "ecs-site/content/20-setup/_index.md"));
}

#[test]
fn every_page_of_the_corpus_opens_and_lints_without_a_load_error() {
    let mut pages = Vec::new();
    collect_pages(&corpus(), &mut pages);
    assert!(pages.len() >= 8, "{pages:?}"); // the site, two single pages, a bundle's resource
    for page in pages {
        let rel = page.strip_prefix(corpus()).unwrap().to_string_lossy().into_owned();
        Test::new().args(["show", &rel]).current_dir(corpus()).run().code(0);
        let lint = Test::new().args(["lint", &rel]).current_dir(corpus()).run();
        assert!(matches!(lint.code, 0 | 1), "lint {rel} exited {}:\n{}", lint.code, lint.stdout);
    }
}

fn collect_pages(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("snapshots") {
            collect_pages(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out.sort();
}

#[test]
fn what_authors_break_is_named_at_its_place() {
    let tree = LabTree::new()
        .file("fence.md", "# Deploy\n\nRun it:\n\n```bash\naws ecs create-cluster\n\n## Next\n\nMore text.\n")
        .file("front.md", "---\ntitle: Deploy\nweight: 2\n\n# Deploy\n")
        .file("bom.md", "\u{feff}---\ntitle: With a BOM\n---\n\nText.\n");
    std::fs::write(tree.path().join("binary.md"), b"# Logo\n\x89PNG\r\n\x1a\n\x00\x00").unwrap();
    let lint = |file: &str| Test::new().args(["lint", file]).current_dir(&tree).run();
    lint("fence.md").code(2).stdout_contains(
        "fence.md:5:1: error: code fence ``` is never closed: everything after it, step metadata included, would be read as code\n  hint: close the block with ``` on a line of its own\n",
    );
    lint("front.md").code(2).stdout_contains(
        "front.md:1:1: error: front matter is never closed: the `---` (or `+++`) on this line has no closing line\n",
    );
    lint("binary.md").code(2).stdout_contains("binary.md:2:1: error: the page is not UTF-8 text");
    lint("bom.md").code(0).stdout("bom.md: clean (1 step, 0 checks)\n");
}

#[test]
fn an_unannotated_site_runs_as_reading_steps_honestly_reported() {
    let lab = Sandboxed::fixture();
    let site = corpus().join("ecs-site");
    let site = site.to_str().unwrap();
    let run = lab.run(&["start", site, "--auto", "--yes"]);
    run.code(0)
        .stdout_contains("Module · Before you begin")
        .stdout_contains("step 20-setup-1 shown, not verified")
        .stdout_contains("lab read to its end: 0 of 8 steps done, 8 shown but not verified, 0 skipped")
        .stdout_lacks("step 20-setup-1 done");
    // Nothing ran: the commands of plain pages are only shown.
    let clusters = lab.acct.aws_json(["ecs", "list-clusters", "--query", "clusterArns"]);
    assert_eq!(clusters, serde_json::json!([]));
    let progress = lab.progress("ecs-site");
    assert!(progress["finished"].as_array().unwrap().iter().all(|r| r["outcome"] == "shown"), "{progress}");
    // `status` from anywhere finds the lab through the source its progress recorded.
    lab.run(&["status", "ecs-site"])
        .code(0)
        .stdout_contains("steps: 0 done, 8 shown but not verified, 0 skipped, of 8")
        .stdout_contains("every step was shown; none was verified");
    let json = lab.run(&["start", site, "--auto", "--yes", "--json"]);
    json.code(0);
    assert!(json.stdout.contains("\"shown\":8"), "{}", json.stdout);
}
