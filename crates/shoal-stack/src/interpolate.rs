//! Variable substitution as docker/cli `cli/compose/template/template.go` does it.
//!
//! | form | value |
//! |---|---|
//! | `$$` | a literal `$` |
//! | `$VAR`, `${VAR}` | the value of VAR, or empty |
//! | `${VAR:-default}` | default if VAR is unset **or empty** |
//! | `${VAR-default}` | default if VAR is unset |
//! | `${VAR:?err}` | error `required variable VAR is missing a value: err` if unset or empty |
//! | `${VAR?err}` | the same error if unset |
//!
//! Names match `[_a-zA-Z][_a-zA-Z0-9]*`. There is no nesting: a braced form ends at the first
//! `}`, and defaults are not themselves interpolated. Any other `$` is invalid syntax. Only
//! string values are substituted, never mapping keys, and before typing (so `replicas:
//! ${N}` works).
//!
//! A substituted value at a key the compose schema types as a boolean (`read_only: ${RO}`,
//! `external: ${EXT}`, … the list docker/cli casts) becomes a boolean, spelled as docker's
//! `toBoolean` accepts (`true/yes/y/on`, `false/no/n/off`, any case). A value written without
//! a variable is never cast: `read_only: "yes"` stays text and typing refuses it, as docker does.

use std::fmt;

use crate::error::LoadError;
use crate::yaml::{Node, Value};

/// A lookup for variables: the environment, then the `.env` file.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why one string could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The text has a `$` that starts no valid form.
    Invalid { template: String },
    /// `${VAR:?msg}` or `${VAR?msg}` with VAR missing.
    Required { name: String, message: String },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Invalid { template } => write!(
                f,
                "invalid interpolation format {template:?}; you may need to escape any $ with another $"
            ),
            TemplateError::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
        }
    }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Substitutes every variable in `template`.
pub fn substitute(template: &str, lookup: Lookup<'_>) -> Result<String, TemplateError> {
    let invalid = || TemplateError::Invalid {
        template: template.to_string(),
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let next = after.chars().next();
        match next {
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('{') => {
                let close = after.find('}').ok_or_else(invalid)?;
                let inner = &after[1..close];
                out.push_str(&braced(inner, lookup).ok_or_else(invalid)??);
                rest = &after[close + 1..];
            }
            Some(c) if is_name_start(c) => {
                let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
                out.push_str(&lookup(&after[..end]).unwrap_or_default());
                rest = &after[end..];
            }
            _ => return Err(invalid()),
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `${…}` body; `None` when its syntax is invalid.
fn braced(inner: &str, lookup: Lookup<'_>) -> Option<Result<String, TemplateError>> {
    let mut chars = inner.chars();
    if !chars.next().is_some_and(is_name_start) {
        return None;
    }
    let end = inner.find(|c| !is_name_char(c)).unwrap_or(inner.len());
    let (name, op) = inner.split_at(end);
    let value = lookup(name);
    let required = |message: &str| {
        Err(TemplateError::Required {
            name: name.to_string(),
            message: message.to_string(),
        })
    };
    let result = if op.is_empty() {
        Ok(value.unwrap_or_default())
    } else if let Some(default) = op.strip_prefix(":-") {
        Ok(value
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string()))
    } else if let Some(default) = op.strip_prefix('-') {
        Ok(value.unwrap_or_else(|| default.to_string()))
    } else if let Some(message) = op.strip_prefix(":?") {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => Ok(v),
            None => required(message),
        }
    } else if let Some(message) = op.strip_prefix('?') {
        match value {
            Some(v) => Ok(v),
            None => required(message),
        }
    } else {
        return None;
    };
    Some(result)
}

/// Substitutes every string value below `root` (keys are left alone). Errors name the file,
/// the position and the dotted path of the value.
pub fn interpolate_tree(root: &mut Node, file: &str, lookup: Lookup<'_>) -> Result<(), LoadError> {
    walk(root, "", file, lookup)
}

fn walk(node: &mut Node, path: &str, file: &str, lookup: Lookup<'_>) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Str(s) => {
            if s.contains('$') {
                let error = |message: String| LoadError::Interpolation {
                    file: file.to_string(),
                    line: node.pos.line,
                    column: node.pos.column,
                    path: path.to_string(),
                    message,
                };
                let new = substitute(s, lookup).map_err(|e| error(e.to_string()))?;
                if new != *s && is_boolean_path(path) {
                    let b = to_boolean(&new).ok_or_else(|| {
                        error(format!(
                            "failed to cast to expected type: invalid boolean: {new}"
                        ))
                    })?;
                    node.value = Value::Bool(b);
                } else {
                    *s = new;
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &format!("{path}[{i}]"), file, lookup)?;
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                let child = if path.is_empty() {
                    entry.key.clone()
                } else {
                    format!("{path}.{}", entry.key)
                };
                walk(&mut entry.value, &child, file, lookup)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
    }
    Ok(())
}

/// docker/cli's `toBoolean`, for substituted values at boolean keys.
pub fn to_boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "on" => Some(true),
        "n" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Service keys typed as booleans whose substituted values docker/cli casts.
const SERVICE_BOOLEANS: &[&str] = &["privileged", "read_only", "stdin_open", "tty"];

/// Whether the dotted `path` (as [`walk`] builds it) is one of the boolean keys docker/cli
/// casts after interpolation.
fn is_boolean_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('.').collect();
    let is_list_item = |part: &str, name: &str| {
        part.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('[') && rest.ends_with(']'))
    };
    match parts.as_slice() {
        ["services", _, key] => SERVICE_BOOLEANS.contains(key),
        ["services", _, "healthcheck", "disable"] => true,
        ["services", _, volume, "read_only"] => is_list_item(volume, "volumes"),
        ["services", _, volume, "volume", "nocopy"] => is_list_item(volume, "volumes"),
        ["networks", _, "external" | "internal" | "attachable"] => true,
        ["volumes" | "secrets" | "configs", _, "external"] => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "lower_1" => Some("low".into()),
            _ => None,
        }
    }

    fn sub(t: &str) -> Result<String, TemplateError> {
        substitute(t, &env)
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(sub("a $SET b").unwrap(), "a value b");
        assert_eq!(sub("${SET}x").unwrap(), "valuex");
        assert_eq!(sub("$SET.x").unwrap(), "value.x");
        assert_eq!(sub("$lower_1").unwrap(), "low");
        assert_eq!(sub("[$UNSET]").unwrap(), "[]");
        assert_eq!(sub("${UNSET}").unwrap(), "");
    }

    #[test]
    fn substituted_values_at_boolean_keys_become_booleans_and_others_stay_text() {
        let vars = |name: &str| match name {
            "ON" => Some("on".to_string()),
            "NO" => Some("No".to_string()),
            "BAD" => Some("maybe".to_string()),
            _ => None,
        };
        let text = "services:\n  web:\n    read_only: ${ON}\n    tty: \"yes\"\n    environment: {A: $ON}\n    volumes:\n      - {type: bind, source: /a, target: /a, read_only: $NO}\nnetworks:\n  n: {external: \"${ON}\"}\n";
        let mut root = parse(text, "f").unwrap();
        interpolate_tree(&mut root, "f", &vars).unwrap();
        let services = &root.as_map().unwrap()[0].value;
        let web = services.as_map().unwrap()[0].value.as_map().unwrap();
        let value = |key: &str| {
            web.iter()
                .find(|e| e.key == key)
                .unwrap()
                .value
                .value
                .clone()
        };
        assert_eq!(value("read_only"), Value::Bool(true));
        assert_eq!(
            value("tty"),
            Value::Str("yes".into()),
            "not substituted: not cast"
        );
        let env = value("environment");
        let Value::Map(env) = env else { panic!() };
        assert_eq!(env[0].value.value, Value::Str("on".into()));
        let Value::Seq(volumes) = value("volumes") else {
            panic!()
        };
        let ro = &volumes[0].as_map().unwrap()[3];
        assert_eq!(
            (ro.key.as_str(), &ro.value.value),
            ("read_only", &Value::Bool(false))
        );
        let net = &root.as_map().unwrap()[1].value.as_map().unwrap()[0].value;
        assert_eq!(net.as_map().unwrap()[0].value.value, Value::Bool(true));

        let mut bad = parse("services:\n  w:\n    tty: $BAD\n", "f").unwrap();
        let err = interpolate_tree(&mut bad, "f", &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid boolean: maybe"), "{err}");
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(sub("cost $$5 $${SET}").unwrap(), "cost $5 ${SET}");
    }

    #[test]
    fn colon_dash_default_applies_when_unset_or_empty() {
        assert_eq!(sub("${UNSET:-d}").unwrap(), "d");
        assert_eq!(sub("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(sub("${SET:-d}").unwrap(), "value");
        assert_eq!(sub("${UNSET:-a-b:c}").unwrap(), "a-b:c");
    }

    #[test]
    fn dash_default_applies_only_when_unset() {
        assert_eq!(sub("${UNSET-d}").unwrap(), "d");
        assert_eq!(sub("${EMPTY-d}").unwrap(), "");
        assert_eq!(sub("${SET-d}").unwrap(), "value");
    }

    #[test]
    fn colon_question_requires_a_non_empty_value() {
        assert_eq!(sub("${SET:?boom}").unwrap(), "value");
        let err = sub("${EMPTY:?set it}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "required variable EMPTY is missing a value: set it"
        );
        let err = sub("${UNSET:?boom}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "required variable UNSET is missing a value: boom"
        );
    }

    #[test]
    fn question_requires_the_variable_to_be_set() {
        assert_eq!(sub("${EMPTY?boom}").unwrap(), "");
        let err = sub("${UNSET?boom}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "required variable UNSET is missing a value: boom"
        );
    }

    #[test]
    fn invalid_syntax_names_the_text() {
        for bad in [
            "${",
            "${}",
            "${1X}",
            "${SET:+x}",
            "a $ b",
            "end $",
            "$1",
            "${SET",
        ] {
            let err = sub(bad).unwrap_err();
            assert_eq!(
                err,
                TemplateError::Invalid {
                    template: bad.to_string()
                },
                "{bad}"
            );
            assert!(err.to_string().contains(&format!("{bad:?}")));
        }
    }

    #[test]
    fn tree_substitutes_values_not_keys_and_locates_errors() {
        let mut root = parse("services:\n  $SET:\n    image: \"${SET}:1\"\n", "f.yml").unwrap();
        interpolate_tree(&mut root, "f.yml", &env).unwrap();
        let services = root.as_map().unwrap()[0].value.as_map().unwrap();
        assert_eq!(services[0].key, "$SET");
        let image = &services[0].value.as_map().unwrap()[0].value.value;
        assert_eq!(image, &Value::Str("value:1".into()));

        let mut root = parse("services:\n  web:\n    image: ${IMG:?no image}\n", "f.yml").unwrap();
        let err = interpolate_tree(&mut root, "f.yml", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.yml:3:12: services.web.image: required variable IMG is missing a value: no image"
        );
    }
}
