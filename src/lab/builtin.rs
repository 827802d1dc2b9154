//! The labs shipped inside the binary (see `build.rs`). They are written out once, by content
//! hash, to the user's cache directory and loaded from there like any lab; a lab of the same
//! id in `./labs` (or `--labs-dir`) wins.

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/builtin_labs.rs"));

/// The ids of the built-in labs, sorted.
pub fn ids() -> Vec<String> {
    let mut ids: Vec<String> = FILES
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("labs/"))
        .filter_map(|name| name.strip_suffix(".yaml").or_else(|| name.strip_suffix(".yml")))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

/// Where the built-in labs are written: `<cache>/labrunner/labs-<hash>`.
fn home() -> PathBuf {
    let cache = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
    cache.join("labrunner").join(format!("labs-{HASH}"))
}

/// The built-in labs' `labs/` directory, written out first if needed. Written to a temporary
/// directory and renamed into place, so a half-written copy is never used.
pub fn labs_dir() -> std::io::Result<PathBuf> {
    let home = home();
    if home.join("labs").is_dir() {
        return Ok(home.join("labs"));
    }
    let parent = home.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new().prefix(".labs-").tempdir_in(parent)?;
    for (rel, bytes) in FILES {
        let path = staging.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes)?;
    }
    match std::fs::rename(staging.path(), &home) {
        Ok(()) => {
            // The directory now lives at `home`; nothing is left to remove.
            let _ = staging.keep();
        }
        // Another labrunner wrote it first: theirs is the same content.
        Err(_) if home.join("labs").is_dir() => {}
        Err(e) => return Err(e),
    }
    Ok(home.join("labs"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_labs_are_built_in() {
        let ids = super::ids();
        assert!(ids.contains(&"flask-inventory".to_string()), "{ids:?}");
        assert!(super::FILES.iter().any(|(p, _)| p.starts_with("content/flask-inventory/")));
    }
}
