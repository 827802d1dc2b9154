//! Plain workshop pages as labs: one Markdown page, a directory of pages, or a Hugo site.
//!
//! No manifest is needed. The pages are found and ordered the way Hugo orders them (a
//! section's `_index.md` first, then its pages and subsections by `weight`, then by path; a
//! directory with an `index.md` is one page, a leaf bundle), and the lab is made from them:
//! its id from the directory or file name, each module keyed by its path so two `_index.md`
//! files never give the same step ids.

use std::path::{Path, PathBuf};

use super::model::{Lab, Location, Manifest, FORMAT_VERSION};
use super::parse::{parse_module_keyed, slugify};
use super::source::prepare;
use super::LabError;

/// Hugo's site configuration files: a directory holding one is a site whose pages are in
/// `content/`.
const SITE_CONFIGS: &[&str] =
    &["hugo.toml", "hugo.yaml", "hugo.json", "config.toml", "config.yaml", "config.json"];

/// Whether `path` is a Hugo site configuration file (not a lab manifest).
pub fn is_site_config(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| SITE_CONFIGS.contains(&n))
}

/// Directories of a content tree that never hold pages.
fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "node_modules" | "static" | "assets" | "layouts" | "themes")
}

/// The pages of `path` in reading order, as paths relative to the returned root.
pub fn discover(path: &Path) -> Result<(PathBuf, Vec<PathBuf>), LabError> {
    if path.is_file() {
        let root = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        return Ok((root, vec![name]));
    }
    let root = content_root(path);
    let mut pages = Vec::new();
    walk(&root, Path::new(""), &mut pages)
        .map_err(|e| LabError::new(Location::new(&root, 1, 1), format!("cannot read the directory: {e}")))?;
    if pages.is_empty() {
        return Err(LabError::new(
            Location::new(path, 1, 1),
            "no Markdown pages (.md) here: expected a page, a directory of pages or a Hugo site".into(),
        )
        .with_hint("name a lab id, a manifest (.yaml), a page (.md) or a directory that holds pages"));
    }
    Ok((root, pages))
}

/// A Hugo site's `content/` directory, or the directory itself.
fn content_root(dir: &Path) -> PathBuf {
    let content = dir.join("content");
    let is_site = SITE_CONFIGS.iter().any(|c| dir.join(c).is_file()) || dir.join("config/_default").is_dir();
    if content.is_dir() && (is_site || !has_pages_at_top(dir)) {
        content
    } else {
        dir.to_path_buf()
    }
}

fn has_pages_at_top(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| entries.filter_map(Result::ok).any(|e| is_page(&e.path())))
}

fn is_page(path: &Path) -> bool {
    path.is_file() && matches!(path.extension().and_then(|e| e.to_str()), Some("md" | "markdown"))
}

/// The section or bundle page of a directory: `_index.md`, else `index.md` (a leaf bundle).
fn index_page(dir: &Path) -> Option<(PathBuf, bool)> {
    for (name, leaf) in [("_index.md", false), ("index.md", true)] {
        let p = dir.join(name);
        if p.is_file() {
            return Some((p, leaf));
        }
    }
    None
}

/// Hugo's order key of a page: its `weight` (pages without one come after those with one),
/// then its path.
fn order_key(page: &Path) -> (i64, PathBuf) {
    let weight = std::fs::read(page)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| front_matter_weight(&text))
        .filter(|w| *w != 0);
    (weight.unwrap_or(i64::MAX), page.to_path_buf())
}

fn front_matter_weight(text: &str) -> Option<i64> {
    let prepared = prepare(text);
    if let Some((_, w)) = prepared.toml_front_matter {
        return w;
    }
    let (body, line) = prepared.yaml_front_matter?;
    super::yaml::front_matter(&body, super::yaml::Origin { line, column: 1 }).ok()?.1
}

fn walk(root: &Path, rel: &Path, pages: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let dir = root.join(rel);
    if let Some((index, leaf)) = index_page(&dir) {
        pages.push(rel.join(index.file_name().unwrap_or_default()));
        if leaf {
            return Ok(()); // A leaf bundle's other files are its resources, not pages.
        }
    }
    let mut children: Vec<((i64, PathBuf), PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if path.is_dir() {
            if skipped_dir(&name) {
                continue;
            }
            let key =
                index_page(&path).map_or((i64::MAX, path.clone()), |(p, _)| (order_key(&p).0, path.clone()));
            children.push((key, rel.join(&name), true));
        } else if is_page(&path) && name != "_index.md" && name != "index.md" {
            children.push((order_key(&path), rel.join(&name), false));
        }
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, child, is_dir) in children {
        if is_dir {
            walk(root, &child, pages)?;
        } else {
            pages.push(child);
        }
    }
    Ok(())
}

/// The module key of a page: its path in the lab as a slug (`2-service/_index.md` →
/// `2-service`, `2-service/2.1-task.md` → `2-service-2-1-task`).
pub fn module_key(rel: &Path, lab_id: &str) -> String {
    let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let base = if matches!(stem, "_index" | "index") {
        rel.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        rel.with_extension("")
    };
    let text = base.to_string_lossy().replace(['/', '\\'], "-");
    if text.is_empty() {
        lab_id.to_string()
    } else {
        slugify(&text)
    }
}

/// The lab id for pages at `path`: the directory's (or the page's) name as a slug.
fn lab_id(path: &Path) -> String {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut name = if canonical.is_file() {
        canonical.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string()
    } else {
        canonical.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string()
    };
    if matches!(name.as_str(), "_index" | "index" | "content") {
        name = canonical
            .parent()
            .and_then(|p| if name == "content" { Some(p) } else { p.file_name().map(|_| p) })
            .and_then(|p| p.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or("workshop")
            .to_string();
    }
    let id = slugify(&name);
    let id = if id == "step" { "workshop".to_string() } else { id };
    // A directory named like a built-in lab must not share its progress and ledger.
    if super::builtin::ids().contains(&id) {
        format!("{id}-pages")
    } else {
        id
    }
}

/// Loads the page or the pages under `path` as a lab, with every error found.
pub fn load_pages(path: &Path) -> Result<Lab, Vec<LabError>> {
    let (root, pages) = discover(path).map_err(|e| vec![e])?;
    let id = lab_id(path);
    let mut modules = Vec::new();
    let mut errors = Vec::new();
    for rel in &pages {
        let file = root.join(rel);
        let text = match read_page(&file) {
            Ok(text) => text,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match parse_module_keyed(&file, &text, &module_key(rel, &id)) {
            Ok(m) => modules.push(m),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let title = modules.first().map(|m| m.title.clone()).unwrap_or_else(|| id.clone());
    let manifest = Manifest {
        format: FORMAT_VERSION,
        id: id.clone(),
        title,
        summary: format!(
            "{} read from {} (plain pages: shown, not verified, until annotated)",
            super::super::ui::page::plural(pages.len(), "page"),
            path.display()
        ),
        modules: pages.iter().map(|p| p.to_string_lossy().into_owned()).collect(),
        ..Manifest::default()
    };
    let mut lab = Lab { manifest, manifest_path: path.to_path_buf(), modules };
    lab.manifest.variables = implied_variables(&lab);
    errors.extend(super::load::lab_wide_errors(&lab));
    if errors.is_empty() {
        Ok(lab)
    } else {
        Err(errors)
    }
}

/// Pages have no manifest to declare variables in: those their metadata uses are declared
/// from their names (`AWS_REGION` is the region, `*ACCOUNT_ID` the account), as exported by a
/// step when a block exports them, else asked for.
fn implied_variables(lab: &Lab) -> Vec<super::model::Variable> {
    use super::model::{Variable, VariableSource};
    let mut names: Vec<(String, Location)> = Vec::new();
    for (_, step) in lab.steps() {
        let used = step
            .checks
            .iter()
            .flat_map(|c| c.variables())
            .chain(step.creates.iter().chain(&step.aws_creates).flat_map(|r| r.variables()));
        for name in used {
            if !names.iter().any(|(n, _)| *n == name) {
                names.push((name, step.location.clone()));
            }
        }
    }
    names
        .into_iter()
        .map(|(name, location)| {
            let exported =
                lab.steps().any(|(_, s)| s.shell.iter().any(|b| b.code.contains(&format!("export {name}="))));
            let source = match name.as_str() {
                "AWS_REGION" | "AWS_DEFAULT_REGION" => VariableSource::Region,
                n if n.ends_with("ACCOUNT_ID") => VariableSource::Account,
                _ if exported => VariableSource::Step,
                _ => VariableSource::Prompt,
            };
            Variable {
                description: format!("used by the page at {location}"),
                name,
                source,
                default: None,
                pattern: None,
                secret: false,
                lookup: None,
                location,
            }
        })
        .collect()
}

/// Reads a page as UTF-8 text; a binary or otherwise non-UTF-8 file is an error that says so.
pub fn read_page(file: &Path) -> Result<String, LabError> {
    let bytes = std::fs::read(file)
        .map_err(|e| LabError::new(Location::new(file, 1, 1), format!("cannot read the page: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        let line = text.matches('\n').count() + 1;
        let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let what = if e.as_bytes().contains(&0) { "a binary file" } else { "text in another encoding" };
        LabError::new(
            Location::new(file, line, column),
            format!("the page is not UTF-8 text (byte {valid} looks like {what})"),
        )
        .with_hint("save the page as UTF-8; images and other binary files do not belong in a lab's pages")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_keys_come_from_the_path() {
        let cases = [
            ("_index.md", "ecs"),
            ("2-service/_index.md", "2-service"),
            ("2-service/index.md", "2-service"),
            ("2-service/2.1-task-definition.md", "2-service-2-1-task-definition"),
            ("intro.md", "intro"),
        ];
        for (rel, want) in cases {
            assert_eq!(module_key(Path::new(rel), "ecs"), want, "{rel}");
        }
    }

    #[test]
    fn a_hugo_tree_is_read_in_weight_then_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("hugo.toml", "title = 'x'\n");
        write("content/_index.md", "---\ntitle: Home\n---\nWelcome\n");
        write("content/b-second/_index.md", "+++\ntitle = \"B\"\nweight = 2\n+++\nB\n");
        write("content/a-first/_index.md", "---\ntitle: A\nweight: 1\n---\nA\n");
        write("content/a-first/z.md", "---\nweight: 1\n---\nz\n");
        write("content/a-first/y.md", "---\nweight: 2\n---\ny\n");
        write("content/a-first/unweighted.md", "u\n");
        write("content/bundle/index.md", "---\nweight: 3\n---\nbundle\n");
        write("content/bundle/resource.md", "not a page\n");
        let (root, pages) = discover(dir.path()).unwrap();
        assert_eq!(root, dir.path().join("content"));
        let pages: Vec<String> = pages.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(
            pages,
            [
                "_index.md",
                "a-first/_index.md",
                "a-first/z.md",
                "a-first/y.md",
                "a-first/unweighted.md",
                "b-second/_index.md",
                "bundle/index.md"
            ]
        );
    }

    #[test]
    fn a_binary_page_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.md");
        std::fs::write(&p, b"ok\n\x89PNG\x00\x00").unwrap();
        let e = read_page(&p).unwrap_err();
        assert_eq!((e.location.line, e.location.column), (2, 1));
        assert!(e.message.contains("not UTF-8") && e.message.contains("binary"), "{}", e.message);
    }
}
