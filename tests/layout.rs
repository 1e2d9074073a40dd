//! The workspace's layout rules that the compiler alone does not hold (docs/ARCHITECTURE.md):
//! the backup reader stays free of async, HTTP and cloud crates, only the commands that serve
//! the emulator use it, and no `mod.rs` comes back.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn dependency_names(manifest: &Path, table: &str) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    parsed
        .get(table)
        .and_then(|t| t.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_backup_reader_depends_on_no_runtime_http_or_cloud_crate() {
    let deps = dependency_names(
        &root().join("crates/mssql-backup/Cargo.toml"),
        "dependencies",
    );
    assert!(
        deps.contains(&"thiserror".to_owned()),
        "read the wrong table: {deps:?}"
    );
    let forbidden = [
        "tokio",
        "futures",
        "reqwest",
        "hyper",
        "hyper-util",
        "axum",
        "tower",
        "memmap2",
        "bak2rds",
        "bak2rds-cloud",
        "bak2rds-emulator",
    ];
    for name in forbidden {
        assert!(
            !deps.iter().any(|d| d == name),
            "mssql-backup must stay pure and synchronous, but depends on {name}"
        );
    }
}

#[test]
fn only_serve_and_demo_use_the_emulator() {
    let allowed = [
        root().join("src/cli/cmd/serve.rs"),
        root().join("src/cli/cmd/demo.rs"),
    ];
    let mut users = Vec::new();
    for crate_src in ["src", "crates/mssql-backup/src", "crates/cloud/src"] {
        for file in rust_files(&root().join(crate_src)) {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.contains("bak2rds_emulator") && !allowed.contains(&file) {
                users.push(file);
            }
        }
    }
    assert!(
        users.is_empty(),
        "only `serve` and `demo` may use the emulator crate; also used by {users:?}"
    );
    let manifest = root().join("crates/cloud/Cargo.toml");
    assert!(!dependency_names(&manifest, "dependencies").contains(&"bak2rds-emulator".into()));
}

#[test]
fn one_module_file_style_and_no_mod_rs() {
    let mut found = Vec::new();
    for dir in ["src", "crates", "tests", "benches", "fuzz/fuzz_targets"] {
        let dir = root().join(dir);
        if dir.is_dir() {
            found.extend(
                rust_files(&dir)
                    .into_iter()
                    .filter(|f| f.file_name().is_some_and(|n| n == "mod.rs")),
            );
        }
    }
    assert!(
        found.is_empty(),
        "modules are `name.rs` beside `name/`, never `mod.rs`: {found:?}"
    );
}
