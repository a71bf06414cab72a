//! The invariants of ARCHITECTURE.md that a machine can check (as rust-analyzer's tidy tests
//! do): crate boundaries from `cargo metadata`, no module importing another that imports it
//! back, no long functions, and a training loop that never names an architecture or a dataset.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The `src/` folders of the workspace's crates (and xtask's).
fn source_dirs() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|e| e.expect("entry").path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(root.join("xtask").join("src"));
    dirs.sort();
    dirs
}

/// The lines of a file before its `#[cfg(test)]` module, without comment lines.
fn code_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .map(|l| match l.trim_start().starts_with("//") {
            true => String::new(),
            false => l.to_string(),
        })
        .collect()
}

/// The dependency graph of `cargo metadata`: package name → the names of its dependencies
/// (normal and build, not dev), resolved transitively.
fn transitive_dependencies(package: &str) -> BTreeSet<String> {
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve") {
        let id = node["id"].as_str().expect("id");
        let runtime = node["deps"].as_array().expect("deps").iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].as_str() != Some("dev")))
        });
        deps.insert(
            id,
            runtime.map(|d| d["pkg"].as_str().expect("pkg")).collect(),
        );
    }
    let start = name_of
        .iter()
        .find(|(_, n)| **n == package)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no package {package}"));
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        for dep in deps.get(id).into_iter().flatten() {
            if seen.insert(name_of[dep].to_string()) {
                stack.push(dep);
            }
        }
    }
    seen
}

#[test]
fn xtask_never_depends_on_tch_and_the_engine_has_no_command_line() {
    let xtask = transitive_dependencies("xtask");
    for forbidden in ["tch", "torch-sys"] {
        assert!(
            !xtask.contains(forbidden),
            "xtask depends on {forbidden}: it must build before libtorch is installed"
        );
    }
    let engine = transitive_dependencies("ganlab-train");
    assert!(
        !engine.contains("clap"),
        "ganlab-train depends on clap: research code must get the engine without the CLI"
    );
    assert!(engine.contains("tch") && engine.contains("ganlab-games"));
}

/// The top-level module of a crate that a source file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (!matches!(name.as_str(), "lib" | "main" | "bin")).then_some(name)
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut cycles = Vec::new();
    let mut all_edges = BTreeSet::new();
    for src in source_dirs() {
        let files = rust_files(&src);
        let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
        let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
        for file in &files {
            let Some(from) = module_of(&src, file) else {
                continue;
            };
            let text = std::fs::read_to_string(file).expect("source");
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + "crate::".len()..];
                    let ident: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let targets: Vec<String> = if let Some(braced) = rest.strip_prefix('{') {
                        // `use crate::{a, b::c}`: every top-level name in the braces.
                        let inner = braced.split('}').next().unwrap_or("");
                        inner
                            .split(',')
                            .map(|p| p.trim().split("::").next().unwrap_or("").to_string())
                            .collect()
                    } else {
                        vec![ident]
                    };
                    for to in targets {
                        if to != from && modules.contains(&to) {
                            edges.insert((from.clone(), to));
                        }
                    }
                }
            }
        }
        all_edges.extend(edges.iter().cloned());
        for (a, b) in &edges {
            if a < b && edges.contains(&(b.clone(), a.clone())) {
                cycles.push(format!("{}: {a} <-> {b}", src.display()));
            }
        }
    }
    // The scan sees imports: the loop uses evaluation, evaluation the driver's data module.
    for (a, b) in [("train", "eval"), ("eval", "data")] {
        assert!(
            all_edges.contains(&(a.to_string(), b.to_string())),
            "{a} -> {b} not seen"
        );
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other:\n{}",
        cycles.join("\n")
    );
}

/// Functions outside tests longer than this many lines are split (rust-analyzer's tidy keeps
/// a similar bound).
const MAX_FUNCTION_LINES: usize = 150;

#[test]
fn no_function_outside_tests_is_longer_than_150_lines() {
    let mut long = Vec::new();
    for src in source_dirs() {
        for file in rust_files(&src) {
            let lines = code_lines(&file);
            for (i, line) in lines.iter().enumerate() {
                let trimmed = line.trim_start();
                let signature = [
                    "fn ",
                    "pub fn ",
                    "pub(crate) fn ",
                    "const fn ",
                    "unsafe fn ",
                ]
                .iter()
                .any(|p| trimmed.starts_with(p));
                if !signature || trimmed.ends_with(';') {
                    continue;
                }
                let indent = &line[..line.len() - trimmed.len()];
                let closing = format!("{indent}}}");
                if let Some(end) = lines[i..].iter().position(|l| *l == closing) {
                    if end + 1 > MAX_FUNCTION_LINES {
                        long.push(format!("{}:{} ({} lines)", file.display(), i + 1, end + 1));
                    }
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions longer than {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_training_loop_never_names_an_architecture_or_a_dataset() {
    let root = workspace_root();
    let mut names: Vec<&str> = ganlab_train::arch::names();
    names.extend_from_slice(ganlab_data::DATASET_NAMES);
    names.extend_from_slice(ganlab_data::TOY_NAMES);
    for file in [
        "crates/ganlab-run/src/train.rs",
        "crates/ganlab-train/src/trainer.rs",
    ] {
        let code = code_lines(&root.join(file)).join("\n");
        for name in &names {
            assert!(
                !code.contains(&format!("\"{name}\"")),
                "{file} names `{name}`: the loop asks the registry and the data source instead"
            );
        }
    }
}
