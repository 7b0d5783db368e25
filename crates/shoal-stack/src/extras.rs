//! What `stack config` prints but the typed model does not hold: `x-*` extension fields (top
//! level and inside services; docker drops those of networks, volumes, …) and the service keys
//! Swarm ignores at deploy (`build`, `depends_on`, `container_name`, `expose`, …). Compose
//! users rely on them (`docker compose` reads the printed file back), so `docker stack config`
//! keeps them; only `stack deploy` drops them, with the "Ignoring unsupported options" warning.
//!
//! They are kept as interpolated YAML nodes, normalised where docker prints a long form
//! (`build: .` → `build: {context: .}`, `expose: [80]` → `["80"]`).

use std::collections::BTreeMap;

use crate::yaml::{Entry, Node, Value};

/// Kept entries, by where they go back when printing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// Top-level `x-*` entries, in file order. Like docker, only the first file's are kept.
    pub top: Vec<Entry>,
    /// Entries of one definition, keyed by section (`services`, `networks`, …) and name.
    pub definitions: BTreeMap<(String, String), Vec<Entry>>,
}

impl Extras {
    /// Folds a later file's extras in: a definition's entries replace those of the same key;
    /// top-level extension fields stay the first file's (docker drops a later file's).
    pub fn merge(&mut self, over: Extras) {
        for (at, entries) in over.definitions {
            let kept = self.definitions.entry(at).or_default();
            for entry in entries {
                match kept.iter_mut().find(|e| e.key == entry.key) {
                    Some(old) => *old = entry,
                    None => kept.push(entry),
                }
            }
        }
    }

    /// Records an entry removed from definition `name` of `section`.
    pub fn keep(&mut self, section: &str, name: &str, mut entry: Entry) {
        normalise(section, &mut entry);
        self.definitions
            .entry((section.to_string(), name.to_string()))
            .or_default()
            .push(entry);
    }

    /// Puts the kept entries back into `root`, the printed project as a YAML tree.
    pub fn restore(&self, root: &mut Node) {
        let Some(top) = root.as_map_mut() else {
            return;
        };
        for ((section, name), entries) in &self.definitions {
            let section_node = child_map(top, section);
            let Some(definitions) = section_node.as_map_mut() else {
                continue;
            };
            let definition = child_map(definitions, name);
            let Some(keys) = definition.as_map_mut() else {
                continue;
            };
            for entry in entries {
                match keys.iter_mut().find(|e| e.key == entry.key) {
                    Some(old) => *old = entry.clone(),
                    None => keys.push(entry.clone()),
                }
            }
        }
        top.extend(self.top.iter().cloned());
    }
}

/// The value of `key` in `entries` as a mapping, created (or a `null` turned into `{}`) when
/// missing.
fn child_map<'a>(entries: &'a mut Vec<Entry>, key: &str) -> &'a mut Node {
    let index = match entries.iter().position(|e| e.key == key) {
        Some(i) => i,
        None => {
            entries.push(Entry {
                key: key.to_string(),
                key_pos: Default::default(),
                value: Node::new(Value::Null, Default::default()),
            });
            entries.len() - 1
        }
    };
    let node = &mut entries[index].value;
    if node.value == Value::Null {
        node.value = Value::Map(Vec::new());
    }
    node
}

/// docker's printed form of a kept service key.
fn normalise(section: &str, entry: &mut Entry) {
    if section != "services" {
        return;
    }
    let node = &mut entry.value;
    match (entry.key.as_str(), &mut node.value) {
        ("build", Value::Str(context)) => {
            let context = std::mem::take(context);
            node.value = Value::Map(vec![Entry {
                key: "context".into(),
                key_pos: node.pos,
                value: Node::new(Value::Str(context), node.pos),
            }]);
        }
        ("expose", Value::Seq(items)) => {
            for item in items {
                match item.value {
                    Value::Int(i) => item.value = Value::Str(i.to_string()),
                    Value::Float(f) => item.value = Value::Str(f.to_string()),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn entry(text: &str) -> Entry {
        parse(text, "t").unwrap().as_map().unwrap()[0].clone()
    }

    #[test]
    fn kept_keys_go_back_normalised_and_later_files_replace_them() {
        let mut extras = Extras::default();
        extras.top.push(entry("x-a: 1\n"));
        extras.keep("services", "web", entry("build: .\n"));
        extras.keep("services", "web", entry("expose: [80, \"443\"]\n"));
        extras.keep("services", "web", entry("x-owner: base\n"));
        let mut over = Extras::default();
        over.top.push(entry("x-b: 2\n"));
        over.keep("services", "web", entry("x-owner: over\n"));
        over.keep("networks", "n", entry("x-meta: m\n"));
        extras.merge(over);

        let mut root = parse("services:\n  web:\n    image: a\nnetworks:\n  n:\n", "t").unwrap();
        extras.restore(&mut root);
        let want = parse(
            "services:\n  web:\n    image: a\n    build: {context: .}\n    expose: [\"80\", \"443\"]\n    x-owner: over\nnetworks:\n  n: {x-meta: m}\nx-a: 1\n",
            "t",
        )
        .unwrap();
        assert_eq!(strip(&root), strip(&want));
    }

    /// The tree without positions.
    fn strip(node: &Node) -> Node {
        let value = match &node.value {
            Value::Seq(items) => Value::Seq(items.iter().map(strip).collect()),
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_pos: Default::default(),
                        value: strip(&e.value),
                    })
                    .collect(),
            ),
            other => other.clone(),
        };
        Node::new(value, Default::default())
    }
}
