//! Embeds the shipped labs (`labs/` and `content/`) in the binary, so `labrunner list` and
//! `labrunner start flask-inventory` work from any directory after `cargo install`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=labs");
    println!("cargo:rerun-if-changed=content");
    let mut files = Vec::new();
    collect(&root.join("labs"), &mut files);
    collect(&root.join("content"), &mut files);
    files.sort();
    // FNV-1a over paths and contents: the extraction directory changes with the labs.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut code = String::from("/// The shipped labs' files: (path relative to the repository, contents).\npub static FILES: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let rel = file.strip_prefix(&root).expect("under the root").to_string_lossy().replace('\\', "/");
        feed(rel.as_bytes());
        feed(&std::fs::read(file).expect("readable lab file"));
        let _ = writeln!(code, "    ({rel:?}, include_bytes!({:?})),", file.display().to_string());
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// A hash of every path and byte of [`FILES`].\npub const HASH: &str = \"{hash:016x}\";"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin_labs.rs");
    std::fs::write(out, code).expect("write the embedded labs");
}
