//! The layout is the architecture (docs/architecture.md): each folder of `src/` may import only
//! the parts below it. This test reads the sources and fails on an import that crosses the
//! line — e.g. `decision/` reaching for `models/` or `store/` — and on a library file that has
//! grown past the size a reader can hold in their head.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Folder (or ground-level file) → the parts of the crate it may name. `error` (the code
/// catalogue), `config_file` (the TOML reader), `fnv` (a hash) and `wire` (strict JSON reading)
/// are ground level: anyone may use them.
const MAY_IMPORT: &[(&str, &[&str])] = &[
    ("journey", &[]),
    ("catalog", &["journey"]),
    ("features", &["journey", "catalog"]),
    ("stats", &[]),
    ("models", &["features", "stats", "catalog", "journey"]),
    (
        "training",
        &["features", "models", "stats", "catalog", "journey"],
    ),
    ("simulator", &["journey", "catalog", "features"]),
    ("decision", &["catalog", "stats", "journey"]),
    ("experiment", &["journey", "stats"]),
    ("store", &["journey", "experiment"]),
    // Journey analytics read the event log and use pure statistics; customer lifetime value
    // fits BG/NBD (training/bgnbd.rs) beside Gamma-Gamma; the served models score customer text
    // (sentiment, aspects) and estimate incremental conversions (the conversion model).
    (
        "analytics",
        &["journey", "stats", "features", "training", "models"],
    ),
    (
        "engine",
        &[
            "decision",
            "models",
            "features",
            "store",
            "catalog",
            "journey",
            "experiment",
        ],
    ),
    (
        "evaluation",
        &[
            "engine", "decision", "models", "features", "store", "catalog", "journey", "stats",
        ],
    ),
    // Segment scoring: the engine's offline decisions over files; never the store or HTTP.
    (
        "batch",
        &[
            "engine", "features", "models", "decision", "catalog", "journey",
        ],
    ),
];

const GROUND: &[&str] = &["error", "fnv", "config_file", "wire"];

/// Library files longer than this (before their tests) are split by concept.
const MAX_LINES: usize = 700;

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

/// The code of a file before its unit tests, without comments.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect()
}

/// The top-level parts of the crate a file names (`crate::models::…` → `models`), including
/// grouped imports (`use crate::{models::X, store::Y};`, over several lines too).
fn named_parts(lines: &[&str]) -> BTreeSet<String> {
    let code = lines.join("\n");
    let mut parts = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                // The group's top-level items, each led by the part it names.
                let mut depth = 0usize;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_ascii_alphanumeric() || c == '_') => {
                            item_start = false;
                            parts.insert(leading_name(&group[i..]));
                        }
                        _ => {}
                    }
                }
            }
            None => {
                let name = leading_name(after);
                if !name.is_empty() {
                    parts.insert(name);
                }
            }
        }
        rest = after;
    }
    parts
}

fn leading_name(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn grouped_imports_are_seen() {
    let code = [
        "use crate::{",
        "    models::{ModelSet, Scorer},",
        "    store::Store, journey,",
        "};",
        "let x = crate::stats::auc(&a, &b);",
    ];
    let named: Vec<String> = named_parts(&code).into_iter().collect();
    assert_eq!(named, ["journey", "models", "stats", "store"]);
}

/// Which part a source file belongs to: its folder under `src/`, or its own name.
fn part_of(path: &Path) -> String {
    let relative = path.strip_prefix("src").unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

#[test]
fn every_part_imports_only_what_lies_below_it() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let part = part_of(file);
        let Some((_, allowed)) = MAY_IMPORT.iter().find(|(name, _)| *name == part) else {
            continue; // server, cli, main, lib: the surfaces may use everything
        };
        let text = std::fs::read_to_string(file).unwrap();
        for named in named_parts(&code_lines(&text)) {
            let fine = named == part
                || allowed.contains(&named.as_str())
                || GROUND.contains(&named.as_str());
            if !fine {
                violations.push(format!("{} names crate::{named}", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_pure_decision_library_stays_pure() {
    // The rule above, spelled out for the part that matters most: policies never load a model,
    // read a store or know about HTTP.
    let mut files = Vec::new();
    sources(Path::new("src/decision"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let named = named_parts(&code_lines(&text));
        for forbidden in ["models", "store", "engine", "server"] {
            assert!(
                !named.contains(forbidden),
                "{} names crate::{forbidden}",
                file.display()
            );
        }
    }
}

#[test]
fn library_files_stay_readable() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let lines = text
                .lines()
                .take_while(|line| !line.starts_with("#[cfg(test)]"))
                .count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concept: {long:#?}");
}

#[test]
fn no_string_errors_in_the_library() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with("src/cli") && !file.ends_with("main.rs"))
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            code_lines(&text)
                .into_iter()
                .filter(|line| {
                    let compact: String = line.split_whitespace().collect();
                    compact.contains(",String>") && compact.contains("Result<")
                })
                .map(|line| format!("{}: {}", file.display(), line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(offenders.is_empty(), "use a typed error: {offenders:#?}");
}
