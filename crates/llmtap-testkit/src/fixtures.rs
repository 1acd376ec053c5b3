//! The recorded payloads: the project's own copies (`tests/fixtures/`, always
//! there) and the shared folder beside the checkout (`../shared/fixtures/`,
//! present on CI and development machines, absent elsewhere).

use std::path::{Path, PathBuf};

/// The workspace root (where the top-level `Cargo.toml` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path relative to the workspace root, e.g. `schemas/slp.schema.json`.
pub fn at_root(relative: &str) -> PathBuf {
    workspace_root().join(relative)
}

/// The project's own fixtures: `tests/fixtures/`.
pub fn project_dir() -> PathBuf {
    at_root("tests/fixtures")
}

/// One of the project's fixtures by set and stem, e.g. `("litellm-1.106", "openai_embedding")`.
pub fn project_file(set: &str, stem: &str) -> PathBuf {
    project_dir().join(set).join(format!("{stem}.json"))
}

/// The shared fixtures beside the checkout, when that folder exists.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("../shared/fixtures");
    dir.exists().then_some(dir)
}

/// Every `.json` / `.jsonl` file under `dir`, recursively, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.retain(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonl"));
    files.sort();
    files
}

/// Every JSON document in `files`: a `.json` file is one, a `.jsonl` file one
/// per non-blank line. Each comes with a label (`path` or `path:line`).
pub fn documents(files: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if f.extension().is_some_and(|e| e == "jsonl") {
            for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if !line.trim_ascii().is_empty() {
                    out.push((format!("{}:{}", f.display(), i + 1), line.to_vec()));
                }
            }
        } else {
            out.push((f.display().to_string(), bytes));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}
