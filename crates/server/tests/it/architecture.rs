//! The shape the code keeps (see `ARCHITECTURE.md`): a capability uses another only
//! through what that capability's root module offers, never its internals; the shared
//! HTTP plumbing and runtime use no capability; capabilities depend on each other
//! without a cycle; and no source file grows past the size one reads in a sitting.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The server's capability modules.
const CAPABILITIES: [&str; 11] = [
    "auth",
    "connectors",
    "credits",
    "delivery",
    "health",
    "intake",
    "keys",
    "messaging",
    "payments",
    "providers",
    "storage",
];
/// Shared modules below the capabilities.
const SHARED: [&str; 2] = ["http", "runtime"];
const MAX_LINES: usize = 600;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn server_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module a source file belongs to: `intake` for `src/intake/...`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(server_src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::<module>::…` path in `text`, as `(module, rest)`, with `use` groups
/// (`crate::m::{a, b::c}`) split into one path per item.
fn crate_paths(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let module: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let tail = &after[module.len()..];
        if let Some(group) = tail.strip_prefix("::{") {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.push((module.clone(), item.split_whitespace().collect::<String>()));
            }
        } else if let Some(path) = tail.strip_prefix("::") {
            let item: String = path
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push((module.clone(), item));
        }
        rest = &after[module.len()..];
    }
    out
}

#[test]
fn capabilities_meet_only_through_their_root_modules() {
    let mut files = Vec::new();
    sources(&server_src(), &mut files);
    let mut depends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let from = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        for (to, item) in crate_paths(&text) {
            if to == from || !CAPABILITIES.contains(&to.as_str()) {
                continue;
            }
            let name = file.strip_prefix(server_src()).unwrap().display();
            if SHARED.contains(&from.as_str()) {
                problems.push(format!(
                    "{name}: shared code uses the {to} capability (crate::{to}::{item})"
                ));
            } else if CAPABILITIES.contains(&from.as_str()) {
                if item.contains("::") {
                    problems.push(format!(
                        "{name}: reaches into {to}'s internals: crate::{to}::{item}"
                    ));
                }
                depends.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // No capability depends on itself through others.
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        target: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(from).into_iter().flatten() {
            if next == target || (seen.insert(next.clone()) && reaches(graph, next, target, seen)) {
                return true;
            }
        }
        false
    }
    for capability in depends.keys() {
        assert!(
            !reaches(&depends, capability, capability, &mut BTreeSet::new()),
            "{capability} depends on itself: {depends:?}"
        );
    }
}

#[test]
fn no_source_file_is_longer_than_a_sitting() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "bench"] {
        sources(&root.join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn paths_are_read_with_their_groups() {
    let found = crate_paths(
        "use crate::intake::{Publisher, kinds::Kind};\nlet x = crate::http::extract::ApiJson;",
    );
    assert_eq!(
        found,
        [
            ("intake".to_string(), "Publisher".to_string()),
            ("intake".to_string(), "kinds::Kind".to_string()),
            ("http".to_string(), "extract::ApiJson".to_string()),
        ]
    );
}
