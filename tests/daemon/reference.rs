//! `docs/configuration.md` against the parser itself: every key the config accepts
//! is in the reference, every key the reference names is accepted, and each key,
//! given a value of the wrong shape, is named in the error. No list of keys is kept
//! here: the accepted keys are found by asking the parser (`Config::parse_all`) what
//! each table accepts, through the `unknown field` error that names them all.
//! The environment variables the parser reads are found the same way, and each must
//! be in the reference and in `config.toml`'s list.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use booking_monitor::config::Config;
use toml::{Table, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const REFERENCE: &str = "docs/configuration.md";
/// A key no table accepts: the parser's refusal lists what the table does accept.
const PROBE: &str = "zz_probe";

/// A valid config the probes are laid into; its one salon has its own sender, so
/// that the per-salon environment variables are asked for too.
const BASE: &str = r#"
[database]
url = "sqlite:///tmp/reference.db"
[yclients]
partner_token = "p"
user_token = "u"
[[companies]]
id = 1
[companies.whatsapp]
provider = "log"
[whatsapp]
provider = "log"
[http]
listen = "127.0.0.1:9187"
token = "h"
"#;

/// One step of a path into the config: a table's key, or an array's first table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    First,
}

type Path = Vec<Step>;

/// `companies[0].whatsapp.provider`: as the parser's errors name a key.
fn error_key(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::First => out.push_str("[0]"),
        }
    }
    out
}

/// `companies.whatsapp.provider`: as the reference names a key.
fn reference_key(path: &[Step]) -> String {
    path.iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::First => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The table at `path`, made (or made a table) where it is not one yet.
fn table_at<'a>(root: &'a mut Table, path: &[Step]) -> &'a mut Table {
    let mut table = root;
    let mut steps = path.iter().peekable();
    while let Some(step) = steps.next() {
        let Step::Key(key) = step else {
            unreachable!("an array's table is reached through its key")
        };
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        let value = if steps.peek() == Some(&&Step::First) {
            steps.next();
            if !matches!(entry, Value::Array(a) if matches!(a.first(), Some(Value::Table(_)))) {
                *entry = Value::Array(vec![Value::Table(Table::new())]);
            }
            let Value::Array(array) = entry else {
                unreachable!()
            };
            &mut array[0]
        } else {
            entry
        };
        if !value.is_table() {
            *value = Value::Table(Table::new());
        }
        table = value.as_table_mut().unwrap();
    }
    table
}

/// The config with `value` at `path` (a key's path: its last step is the key).
fn with(path: &[Step], value: Value) -> String {
    let mut root: Table = toml::from_str(BASE).unwrap();
    let (Step::Key(key), parent) = path.split_last().unwrap() else {
        panic!("a key's path ends in its name: {path:?}")
    };
    table_at(&mut root, parent).insert(key.clone(), value);
    toml::to_string(&root).unwrap()
}

/// The first problem the parser finds: (key, problem).
fn refusal(text: &str) -> (String, String) {
    let errors = Config::parse_all(text, &|_| None)
        .expect_err("the probe makes the config invalid")
        .first();
    (errors.key, errors.problem)
}

fn probe_table() -> Value {
    let mut t = Table::new();
    t.insert(PROBE.into(), Value::Integer(1));
    Value::Table(t)
}

/// What the table at `path` accepts, if it is a table: the names the parser's
/// `unknown field` refusal lists.
fn accepted_at(path: &[Step]) -> Option<Vec<String>> {
    let mut probe = path.to_vec();
    probe.push(Step::Key(PROBE.into()));
    let (_, problem) = refusal(&with(&probe, Value::Integer(1)));
    let rest = problem.strip_prefix(&format!("unknown field `{PROBE}`, "))?;
    Some(
        rest.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// A key the config accepts: a table of keys of its own, or a value, with the
/// parser's refusal of a table in its place (the key it blamed, and why).
enum Accepted {
    Table,
    Value { blamed: String, problem: String },
}

/// Every key the config accepts, found from the parser.
fn accepted() -> BTreeMap<Path, Accepted> {
    let mut keys = BTreeMap::new();
    let mut todo: Vec<Path> = vec![vec![]];
    while let Some(table) = todo.pop() {
        let names =
            accepted_at(&table).unwrap_or_else(|| panic!("{} is not a table", error_key(&table)));
        assert!(!names.is_empty(), "{} accepts nothing", error_key(&table));
        for name in names {
            let mut key = table.clone();
            key.push(Step::Key(name));
            // A table of keys, an array of tables, or a value.
            let mut element = key.clone();
            element.push(Step::First);
            if let Some(inner) = [key.clone(), element]
                .into_iter()
                .find(|p| accepted_at(p).is_some())
            {
                keys.insert(key, Accepted::Table);
                todo.push(inner);
                continue;
            }
            let (blamed, problem) = refusal(&with(&key, probe_table()));
            keys.insert(key, Accepted::Value { blamed, problem });
        }
    }
    keys
}

/// What `docs/configuration.md` names: each section (a heading `` ### `[name]` ``)
/// with the keys of its table's rows, and the sections that take another's keys
/// ("Any key of `[whatsapp]`").
struct Reference {
    keys: BTreeSet<String>,
    aliases: BTreeMap<String, String>,
}

fn reference(text: &str) -> Reference {
    let mut keys = BTreeSet::new();
    let mut aliases = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### `[") {
            let name = heading
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap()
                .to_string();
            keys.insert(name.clone());
            section = Some(name);
            continue;
        }
        if line.starts_with("## ") || line.starts_with("# ") {
            section = None;
        }
        let Some(section) = &section else { continue };
        if let Some(rest) = line.strip_prefix("Any key of `[") {
            let target = rest.split(']').next().unwrap();
            aliases.insert(section.clone(), target.to_string());
            continue;
        }
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let first_cell = row.split(" |").next().unwrap();
        for name in format!("`{first_cell}").split('`').skip(1).step_by(2) {
            keys.insert(format!("{section}.{name}"));
        }
    }
    Reference { keys, aliases }
}

/// `pattern` names `key`: segment by segment, `<…>` standing for any one.
fn names(pattern: &str, key: &str) -> bool {
    let (p, k): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), key.split('.').collect());
    p.len() == k.len()
        && p.iter()
            .zip(&k)
            .all(|(p, k)| p == k || (p.starts_with('<') && p.ends_with('>')))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_key_the_config_accepts_is_in_the_reference_and_every_key_there_is_accepted() {
    let walked = accepted();
    let all: BTreeSet<String> = walked.keys().map(|k| reference_key(k)).collect();
    let doc = reference(&read(REFERENCE));
    // A section that takes another's keys: the parser must accept the same there.
    let mut described = all.clone();
    for (alias, target) in &doc.aliases {
        let under = |prefix: &str| -> BTreeSet<String> {
            all.iter()
                .filter_map(|k| k.strip_prefix(&format!("{prefix}.")))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            under(alias),
            under(target),
            "{REFERENCE} says [{alias}] takes the keys of [{target}]; the parser differs"
        );
        described.retain(|k| !k.starts_with(&format!("{alias}.")));
    }
    let missing: Vec<&String> = described
        .iter()
        .filter(|k| !doc.keys.iter().any(|p| names(p, k)))
        .collect();
    assert!(
        missing.is_empty(),
        "{REFERENCE} lacks keys the config accepts: {missing:?}"
    );
    let unknown: Vec<&String> = doc
        .keys
        .iter()
        .filter(|p| !all.iter().any(|k| names(p, k)))
        .collect();
    assert!(
        unknown.is_empty(),
        "{REFERENCE} names keys the config refuses: {unknown:?}"
    );
    // docs/reliability.md's count of the keys tried wrong in turn.
    let leaves = walked
        .values()
        .filter(|k| matches!(k, Accepted::Value { .. }))
        .count();
    let claim = format!("each of the {leaves} config keys wrong in turn");
    assert!(
        read("docs/reliability.md").contains(&claim),
        "docs/reliability.md should say \"{claim}\""
    );
}

/// The variables the parser asks the environment for, as the reference writes
/// them (`NAME_<id>` for a salon's own).
fn variables() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    Config::parse_all(BASE, &|name| {
        asked.borrow_mut().insert(name.to_string());
        None
    })
    .expect("the base config is valid");
    asked
        .into_inner()
        .into_iter()
        .map(|name| match name.strip_suffix("_1") {
            Some(stem) => format!("{stem}_<id>"),
            None => name,
        })
        .collect()
}

#[test]
fn every_environment_variable_is_in_the_reference_and_in_the_shipped_config() {
    let variables = variables();
    assert!(
        variables.contains("YCLIENTS_WEBHOOK_TOKEN"),
        "{variables:?}"
    );
    let reference = read(REFERENCE);
    let shipped = read("config.toml");
    for name in &variables {
        assert!(
            reference.contains(&format!("`{name}`")),
            "{REFERENCE} lacks {name}"
        );
        let stem = name.trim_end_matches("_<id>");
        assert!(
            name.ends_with("_<id>") || shipped.contains(stem),
            "config.toml's list of environment variables lacks {name}"
        );
    }
}

/// Each key, given a value of the wrong shape, is named, and what it wants is said
/// in a person's words (not Rust's `expected u64`).
#[test]
fn each_key_wrong_in_turn_is_named_in_words() {
    let mut wrong = Vec::new();
    for (key, accepted) in accepted() {
        let Accepted::Value { blamed, problem } = accepted else {
            continue;
        };
        let key = error_key(&key);
        if blamed != key {
            wrong.push(format!("{key}: blamed on {blamed}: {problem}"));
        }
        let rust = ["u8", "u16", "u32", "u64", "i32", "i64", "f64", "usize"];
        if rust
            .iter()
            .any(|t| problem.contains(&format!("expected {t}")))
        {
            wrong.push(format!("{key}: {problem}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
