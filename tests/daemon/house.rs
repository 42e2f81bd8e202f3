//! The house stays one-way: no two files of `src/` depend on each other, however
//! indirectly (the composition root `daemon.rs` above the HTTP side and the
//! actors, the pieces they share below them). A file depends on another when it
//! names it by a `crate::` or `super::` path; a module naming its own children is
//! how Rust modules are built and does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, by its module path (`["store", "poll"]`).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut inner = prefix.to_vec();
            inner.push(name);
            modules(&path, &inner, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            // main.rs is its own crate and names the library by its name.
            if name == "main" && prefix.is_empty() {
                continue;
            }
            if !["mod", "lib"].contains(&name.as_str()) {
                module.push(name);
            }
            out.insert(module, path);
        }
    }
}

/// The file a path names: its longest prefix that is a module.
fn resolve<'a>(parts: &[String], files: &'a BTreeMap<Vec<String>, PathBuf>) -> Option<&'a PathBuf> {
    (1..=parts.len()).rev().find_map(|n| files.get(&parts[..n]))
}

/// The paths a file names with `crate::` or `super::`, as module paths; each
/// name in a `{…}` group counts as its own path.
fn named(source: &str, me: &[String]) -> Vec<Vec<String>> {
    // Tests may reach anywhere.
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    // `super::` is the module above this one, whether it lives in `x.rs` or `x/mod.rs`.
    let above = me[..me.len().saturating_sub(1)].to_vec();
    let mut out = Vec::new();
    for (head, base) in [("crate::", Vec::new()), ("super::", above)] {
        for (at, _) in source.match_indices(head) {
            let before = source[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &source[at + head.len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts = base.clone();
            parts.extend(
                path.split("::")
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            );
            let after = &rest[path.len()..];
            if (path.is_empty() || path.ends_with("::")) && after.starts_with('{') {
                for item in top_level_items(&after[1..]) {
                    let first = item.trim().split("::").next().unwrap_or("").trim();
                    if !first.is_empty() && first != "self" {
                        let mut item_parts = parts.clone();
                        item_parts.push(first.to_string());
                        out.push(item_parts);
                    }
                }
            }
            out.push(parts);
        }
    }
    out
}

/// The comma-separated items of a `{…}` group whose opening brace is just
/// before `group`, nested groups kept whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..at]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items
}

#[test]
fn no_two_files_of_src_depend_on_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&src, &[], &mut files);
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (module, path) in &files {
        let source = std::fs::read_to_string(path).unwrap();
        for parts in named(&source, module) {
            if let Some(target) = resolve(&parts, &files).filter(|t| *t != path) {
                edges
                    .entry(path.clone())
                    .or_default()
                    .insert(target.clone());
            }
        }
    }
    // Which files reach which: a pair that reach each other is a circle.
    let reach = |from: &PathBuf| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(at) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&PathBuf, BTreeSet<PathBuf>> =
        files.values().map(|f| (f, reach(f))).collect();
    let mut circles = Vec::new();
    for (a, from_a) in &reached {
        for b in from_a.iter().filter(|b| *b > *a) {
            if reached.get(b).is_some_and(|from_b| from_b.contains(*a)) {
                let name = |p: &Path| p.strip_prefix(&src).unwrap_or(p).display().to_string();
                circles.push(format!("{} <-> {}", name(a), name(b)));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "files that depend on each other:\n{}",
        circles.join("\n")
    );
}
