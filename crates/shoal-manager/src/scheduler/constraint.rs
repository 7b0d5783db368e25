//! Placement constraints (`node.labels.zone==east`), parsed and matched as SwarmKit's
//! `manager/constraint` does: `==` and `!=`, case-insensitive keys and values, label names
//! case-sensitive, unknown keys never match.

use shoal_types::api::NodeSpecRoleEnum;
use shoal_types::{Node, ValidationError};

/// Prefix of user-defined node label keys.
pub const NODE_LABEL_PREFIX: &str = "node.labels.";
/// Prefix of engine label keys.
pub const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

/// The operators, in the order SwarmKit tries them.
const OPERATORS: [(&str, Operator); 2] = [("==", Operator::Eq), ("!=", Operator::NotEq)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    NotEq,
}

/// One parsed constraint expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    pub operator: Operator,
    pub value: String,
}

/// Parses one expression; the error texts are SwarmKit's, which the control API returns.
pub fn parse(expr: &str) -> Result<Constraint, ValidationError> {
    for (op, operator) in OPERATORS {
        let Some((key, value)) = expr.split_once(op) else {
            continue;
        };
        let key = key.trim();
        if !valid_key(key) {
            return Err(ValidationError::new(format!("key '{key}' is invalid")));
        }
        let value = value.trim();
        if !valid_value(value) {
            return Err(ValidationError::new(format!("value '{value}' is invalid")));
        }
        return Ok(Constraint {
            key: key.to_string(),
            operator,
            value: value.to_string(),
        });
    }
    Err(ValidationError::new(
        "constraint expected one operator from ==, !=",
    ))
}

/// Parses every expression of a placement, failing on the first bad one.
pub fn parse_all(exprs: &[String]) -> Result<Vec<Constraint>, ValidationError> {
    exprs.iter().map(|e| parse(e)).collect()
}

/// `^(?i)[a-z_][a-z0-9\-_.]+$`
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest: Vec<char> = chars.collect();
    (first.is_ascii_alphabetic() || first == '_')
        && !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$`: no operators such as `<`, `>`, `~`.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c.is_whitespace()
                || matches!(
                    c,
                    ':' | '-'
                        | '_'
                        | '.'
                        | '*'
                        | '('
                        | ')'
                        | '?'
                        | '+'
                        | '['
                        | ']'
                        | '\\'
                        | '^'
                        | '$'
                        | '|'
                        | '/'
                )
        })
}

impl Constraint {
    /// Whether `what` satisfies the expression (case-insensitive full match, as SwarmKit).
    fn matches(&self, what: &str) -> bool {
        let equal = self.value.eq_ignore_ascii_case(what);
        match self.operator {
            Operator::Eq => equal,
            Operator::NotEq => !equal,
        }
    }

    /// Whether `node` satisfies this constraint. A missing attribute counts as the empty
    /// string, so `!=` matches it and `==` does not.
    pub fn matches_node(&self, node: &Node) -> bool {
        let key = self.key.as_str();
        let desc = &node.description;
        if key.eq_ignore_ascii_case("node.id") {
            self.matches(node.id.as_str())
        } else if key.eq_ignore_ascii_case("node.hostname") {
            self.matches(desc.hostname.as_deref().unwrap_or_default())
        } else if key.eq_ignore_ascii_case("node.role") {
            self.matches(role_name(node))
        } else if key.eq_ignore_ascii_case("node.platform.os") {
            self.matches(
                desc.platform
                    .as_ref()
                    .and_then(|p| p.os.as_deref())
                    .unwrap_or_default(),
            )
        } else if key.eq_ignore_ascii_case("node.platform.arch") {
            self.matches(
                desc.platform
                    .as_ref()
                    .and_then(|p| p.architecture.as_deref())
                    .unwrap_or_default(),
            )
        } else if let Some(label) = strip_prefix_ci(key, NODE_LABEL_PREFIX) {
            self.matches(node_label(node, label).unwrap_or_default())
        } else if let Some(label) = strip_prefix_ci(key, ENGINE_LABEL_PREFIX) {
            self.matches(engine_label(node, label).unwrap_or_default())
        } else {
            false
        }
    }
}

/// Whether `node` satisfies every constraint (AND).
pub fn node_matches(constraints: &[Constraint], node: &Node) -> bool {
    constraints.iter().all(|c| c.matches_node(node))
}

/// `key` without `prefix` (compared case-insensitively), when something follows the prefix.
pub fn strip_prefix_ci<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    if key.len() > prefix.len()
        && key.is_char_boundary(prefix.len())
        && key[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&key[prefix.len()..])
    } else {
        None
    }
}

/// A user-defined node label (label names are case-sensitive).
pub fn node_label<'a>(node: &'a Node, label: &str) -> Option<&'a str> {
    node.spec
        .labels
        .as_ref()
        .and_then(|l| l.get(label))
        .map(String::as_str)
}

/// An engine label reported by the node.
pub fn engine_label<'a>(node: &'a Node, label: &str) -> Option<&'a str> {
    node.description
        .engine
        .as_ref()
        .and_then(|e| e.labels.as_ref())
        .and_then(|l| l.get(label))
        .map(String::as_str)
}

fn role_name(node: &Node) -> &'static str {
    match node.spec.role {
        Some(NodeSpecRoleEnum::MANAGER) => "manager",
        _ => "worker",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{EngineDescription, NodeDescription, NodeSpec, Platform};

    fn node() -> Node {
        Node {
            id: "node1".into(),
            spec: NodeSpec {
                labels: Some([("zone".to_string(), "East".to_string())].into()),
                role: Some(NodeSpecRoleEnum::MANAGER),
                ..Default::default()
            },
            description: NodeDescription {
                hostname: Some("host-1".into()),
                platform: Some(Platform {
                    architecture: Some("x86_64".into()),
                    os: Some("linux".into()),
                }),
                engine: Some(EngineDescription {
                    labels: Some([("storage".to_string(), "ssd".to_string())].into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn holds(expr: &str) -> bool {
        parse(expr)
            .map(|c| c.matches_node(&node()))
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    #[test]
    fn every_documented_key_matches_its_attribute() {
        assert!(holds("node.id==node1"));
        assert!(holds("node.hostname==host-1"));
        assert!(holds("node.hostname!=host-2"));
        assert!(holds("node.role==manager"));
        assert!(holds("node.platform.os==linux"));
        assert!(holds("node.platform.arch==x86_64"));
        assert!(
            holds("node.labels.zone==east"),
            "values compare case-insensitively"
        );
        assert!(holds("engine.labels.storage==ssd"));
        assert!(
            holds(" node.role != worker "),
            "spaces around the parts are trimmed"
        );
    }

    #[test]
    fn a_missing_label_equals_the_empty_string() {
        assert!(!holds("node.labels.rack==r1"));
        assert!(holds("node.labels.rack!=r1"));
        assert!(
            !holds("node.labels.ZONE==east"),
            "label names are case-sensitive"
        );
    }

    #[test]
    fn unknown_keys_never_match() {
        assert!(!holds("node.colour==red"));
        assert!(!holds("node.colour!=red"));
    }

    #[test]
    fn malformed_expressions_get_swarmkits_errors() {
        let err = |e: &str| parse(e).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            err("node.role=manager"),
            "constraint expected one operator from ==, !="
        );
        assert_eq!(
            err("node.role>=manager"),
            "constraint expected one operator from ==, !="
        );
        assert_eq!(err("node.role>==manager"), "key 'node.role>' is invalid");
        assert_eq!(err("==manager"), "key '' is invalid");
        assert_eq!(err("node.role==man<ager"), "value 'man<ager' is invalid");
        assert_eq!(err("node.role=="), "value '' is invalid");
    }

    #[test]
    fn all_constraints_must_hold() {
        let cs =
            parse_all(&["node.role==manager".into(), "node.labels.zone==west".into()]).unwrap();
        assert!(!node_matches(&cs, &node()));
        assert!(node_matches(&cs[..1], &node()));
    }
}
