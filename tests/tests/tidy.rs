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
    let run = transitive_dependencies("ganlab-run");
    for forbidden in ["clap", "plotters"] {
        assert!(
            !run.contains(forbidden),
            "ganlab-run depends on {forbidden}: the run library has no command line and draws no \
             plots (ganlab-cli and ganlab-report do)"
        );
    }
    assert!(run.contains("ganlab-train") && run.contains("ganlab-metrics"));
}

/// The features `cargo tree -p PACKAGE` resolves for `ganlab-dist` when PACKAGE is built alone
/// (as a research crate depending on it would be).
fn dist_features_under(package: &str) -> String {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "-f",
            "{p} [{f}]",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("ganlab-dist "))
        .unwrap_or_else(|| panic!("{package} does not depend on ganlab-dist:\n{text}"))
        .to_string()
}

#[test]
fn research_code_gets_the_engine_and_the_run_without_the_c10d_shim() {
    for library in ["ganlab-train", "ganlab-run"] {
        let line = dist_features_under(library);
        assert!(
            !line.contains("c10d"),
            "{library} alone builds ganlab-dist with the c10d shim: {line}"
        );
    }
    let line = dist_features_under("ganlab-cli");
    assert!(
        line.contains("c10d"),
        "the gan binary needs the shim: {line}"
    );
}

/// The module path of a source file below its crate's `src/` (`study/page.rs` → `study::page`,
/// `study/mod.rs` → `study`); empty for the crate root and binaries.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return Vec::new();
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
        parts.clear();
    }
    parts
}

/// The modules a line of `from` names through `crate::…` or `super::…` paths (braced groups
/// included), each as the longest prefix of the path that is one of `modules`.
fn named_modules(line: &str, from: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (anchor, base) in [
        ("crate::", Vec::new()),
        ("super::", from[..from.len().saturating_sub(1)].to_vec()),
    ] {
        for (i, _) in line.match_indices(anchor) {
            // `crate::` inside a longer word (`ganlab_crate::`) or `super::super::` chains:
            // only the first anchor of a path counts.
            if line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &line[i + anchor.len()..];
            let mut base = base.clone();
            let mut rest = rest;
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            let paths: Vec<String> = match rest.strip_prefix('{') {
                Some(braced) => braced
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .collect(),
                None => vec![rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect()],
            };
            for path in paths {
                let mut target = base.clone();
                let mut best = base.clone();
                for segment in path.split("::").filter(|s| !s.is_empty()) {
                    target.push(segment.to_string());
                    if modules.contains(&target) {
                        best = target.clone();
                    }
                }
                found.push(best);
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut cycles = Vec::new();
    let mut all_edges = BTreeSet::new();
    for src in source_dirs() {
        let files = rust_files(&src);
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
        // Edges between siblings: an import from `a::x` of `a::y::z` is an edge x → y under `a`.
        // A module and its own parent or child are not a cycle (a parent declares its children,
        // which may use its items).
        let mut edges: BTreeSet<(Vec<String>, Vec<String>)> = BTreeSet::new();
        for file in &files {
            let from = module_path(&src, file);
            if from.is_empty() {
                continue;
            }
            for line in code_lines(file) {
                for to in named_modules(&line, &from, &modules) {
                    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                    if common < from.len() && common < to.len() {
                        edges.insert((from[..=common].to_vec(), to[..=common].to_vec()));
                    }
                }
            }
        }
        all_edges.extend(edges.iter().map(|(a, b)| (a.join("::"), b.join("::"))));
        for (a, b) in &edges {
            if a < b && edges.contains(&(b.clone(), a.clone())) {
                cycles.push(format!(
                    "{}: {} <-> {}",
                    src.display(),
                    a.join("::"),
                    b.join("::")
                ));
            }
        }
    }
    // The scan sees imports: the run uses evaluation, evaluation the run's data module, and
    // sibling modules through `super::`.
    for (a, b) in [
        ("train", "eval"),
        ("eval", "data"),
        ("study::page", "study::results"),
    ] {
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
