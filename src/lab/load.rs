//! Finding labs on disk and loading one: manifest, then every module, then lab-wide checks.
//!
//! Loading gathers every error it can find (one per broken block or field) rather than
//! stopping at the first, so an author fixes a lab in one pass.

use std::path::{Path, PathBuf};

use super::manifest::{locate_in, parse_manifest};
use super::model::{Lab, Location, Module};
use super::parse::{duplicate_id, parse_module_keyed};
use super::LabError;

/// Where labs live: manifests in `labs`, pages in `content/<id>/`.
#[derive(Debug, Clone)]
pub struct LabDirs {
    /// The directory of manifests (`labs/`).
    pub labs: PathBuf,
}

impl LabDirs {
    /// Labs under `labs`, with content beside it.
    pub fn new(labs: impl Into<PathBuf>) -> Self {
        LabDirs { labs: labs.into() }
    }

    /// The content directory of a lab whose manifest is `manifest`: `<manifest dir>/../content/<id>`.
    pub fn content_dir(manifest: &Path, id: &str) -> PathBuf {
        let labs = manifest.parent().unwrap_or(Path::new(""));
        match labs.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.join("content").join(id),
            _ if labs.as_os_str().is_empty() || labs == Path::new(".") => {
                Path::new("..").join("content").join(id)
            }
            _ => Path::new("content").join(id),
        }
    }
}

/// Why a lab could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// What was asked for.
    pub wanted: String,
    /// Where it was looked for.
    pub dir: PathBuf,
    /// The lab ids that do exist there.
    pub available: Vec<String>,
}

/// Where a lab comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabSource {
    /// A manifest (`labs/<id>.yaml`) with its pages under `content/<id>/`.
    Manifest(PathBuf),
    /// Plain pages: one Markdown page, a directory of pages or a Hugo site.
    Pages(PathBuf),
}

impl LabSource {
    /// Loads the lab, with every error found.
    pub fn load(&self) -> Result<Lab, Vec<LabError>> {
        match self {
            LabSource::Manifest(path) => load_lab(path),
            LabSource::Pages(path) => super::site::load_pages(path),
        }
    }

    /// The path given.
    pub fn path(&self) -> &Path {
        match self {
            LabSource::Manifest(p) | LabSource::Pages(p) => p,
        }
    }

    fn of_path(path: &Path) -> Option<LabSource> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_dir() || (path.is_file() && matches!(ext, "md" | "markdown")) {
            Some(LabSource::Pages(path.to_path_buf()))
        } else if path.is_file() {
            Some(LabSource::Manifest(path.to_path_buf()))
        } else {
            None
        }
    }
}

/// Resolves a lab argument: a lab id under `dirs.labs`, a manifest, a Markdown page, or a
/// directory of pages (a Hugo site or content tree).
pub fn find_lab(dirs: &LabDirs, wanted: &str) -> Result<LabSource, NotFound> {
    let as_path = Path::new(wanted);
    let looks_like_path = [".yaml", ".yml", ".md", ".markdown"].iter().any(|e| wanted.ends_with(e))
        || wanted.contains('/')
        || wanted.contains(std::path::MAIN_SEPARATOR)
        || matches!(wanted, "." | "..");
    if looks_like_path {
        if let Some(source) = LabSource::of_path(as_path) {
            return Ok(source);
        }
    }
    for ext in ["yaml", "yml"] {
        let candidate = dirs.labs.join(format!("{wanted}.{ext}"));
        if candidate.is_file() {
            return Ok(LabSource::Manifest(candidate));
        }
    }
    if let Some(source) = LabSource::of_path(as_path) {
        return Ok(source);
    }
    Err(NotFound {
        wanted: wanted.to_string(),
        dir: dirs.labs.clone(),
        available: list_labs(dirs).iter().filter_map(|p| stem(p)).collect(),
    })
}

fn stem(p: &Path) -> Option<String> {
    p.file_stem().and_then(|s| s.to_str()).map(str::to_string)
}

/// The manifests under `dirs.labs`, sorted by file name.
pub fn list_labs(dirs: &LabDirs) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&dirs.labs) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    found.sort();
    found
}

/// Loads the lab whose manifest is `manifest`, with every error found.
pub fn load_lab(manifest_path: &Path) -> Result<Lab, Vec<LabError>> {
    let text = std::fs::read_to_string(manifest_path).map_err(|e| {
        vec![LabError::new(Location::new(manifest_path, 1, 1), format!("cannot read the manifest: {e}"))]
    })?;
    let manifest = parse_manifest(manifest_path, &text)?;
    let content = LabDirs::content_dir(manifest_path, &manifest.id);
    // The modules are read and parsed on a few threads (they do not depend on each other until
    // the lab-wide checks below); the results come in the manifest's order.
    let results: Vec<Result<Module, Vec<LabError>>> =
        crate::concurrent::map_on_threads(&manifest.modules, |name| {
            load_module(manifest_path, &text, &content, &manifest.id, name)
        });
    let mut errors = Vec::new();
    let mut modules: Vec<Module> = Vec::new();
    for result in results {
        match result {
            Ok(m) => modules.push(m),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let lab = Lab { manifest, manifest_path: manifest_path.to_path_buf(), modules };
    errors.extend(lab_wide_errors(&lab));
    if errors.is_empty() {
        Ok(lab)
    } else {
        Err(errors)
    }
}

/// Module `name` of the lab whose manifest (`manifest_text`) is at `manifest_path`.
fn load_module(
    manifest_path: &Path,
    manifest_text: &str,
    content: &Path,
    lab_id: &str,
    name: &str,
) -> Result<Module, Vec<LabError>> {
    let path = content.join(name);
    if let Err(e) = std::fs::File::open(&path) {
        return Err(vec![LabError::new(
            locate_in(manifest_path, manifest_text, name),
            format!("module `{name}` cannot be read at {}: {e}", path.display()),
        )
        .with_hint("module paths are relative to content/<lab id>/")]);
    }
    let page = super::site::read_page(&path).map_err(|e| vec![e])?;
    parse_module_keyed(&path, &page, &super::site::module_key(Path::new(name), lab_id))
}

/// Errors that need the whole lab: duplicate ids across modules, undeclared variables.
pub(crate) fn lab_wide_errors(lab: &Lab) -> Vec<LabError> {
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (_, step) in lab.steps() {
        if seen.contains(&step.id.as_str()) && !module_local_duplicate(lab, &step.id) {
            let first = lab.steps().map(|(_, s)| s).find(|s| s.id == step.id).map(|s| s.location.to_string());
            let mut error = duplicate_id(step);
            if let Some(first) = first {
                error.hint = Some(format!(
                    "step ids must be unique across the whole lab; `{}` is first used at {first}",
                    step.id
                ));
            }
            errors.push(error);
        }
        seen.push(&step.id);
        let mut names: Vec<String> = step.checks.iter().flat_map(|c| c.variables()).collect();
        names.extend(step.creates.iter().chain(&step.aws_creates).flat_map(|r| r.variables()));
        for name in names {
            if lab.variable(&name).is_none() {
                let location = match &step.meta {
                    Some(meta) => meta.locate(&format!("${{{name}}}")),
                    None => step.location.clone(),
                };
                errors.push(
                    LabError::new(
                        location,
                        format!("variable `{name}` is used but not declared in the manifest"),
                    )
                    .with_hint(&format!("declare it under `variables:` in {}", lab.manifest_path.display())),
                );
            }
        }
    }
    errors
}

/// Duplicates inside one module are already reported by the module parser.
fn module_local_duplicate(lab: &Lab, id: &str) -> bool {
    lab.modules.iter().any(|m| m.steps.iter().filter(|s| s.id == id).count() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_dir_sits_beside_the_labs_dir() {
        let cases = [
            ("labs/x.yaml", "content/x"),
            ("./labs/x.yaml", "./content/x"),
            ("/srv/w/labs/x.yaml", "/srv/w/content/x"),
            ("x.yaml", "../content/x"),
        ];
        for (manifest, want) in cases {
            assert_eq!(LabDirs::content_dir(Path::new(manifest), "x"), PathBuf::from(want), "{manifest}");
        }
    }
}
