//! The two `KEY=VALUE` file formats compose uses.
//!
//! - [`parse_dotenv`]: the `.env` file beside the first compose file, a source of
//!   interpolation variables. Docker Compose's dotenv dialect: `#` comments, optional
//!   `export `, values in single quotes (literal) or double quotes (`\n`, `\"`, `\\`
//!   escapes), and ` #` comments after unquoted values.
//! - [`parse_env_file`]: a service's `env_file`, read as docker/cli `opts.ParseEnvFile`
//!   does: the value is taken verbatim after the first `=`, and a bare `KEY` takes its value
//!   from the environment or is left out.

use std::collections::BTreeMap;

use crate::error::LoadError;
use crate::interpolate::Lookup;

/// Parses a `.env` file. `file` names it in errors.
pub fn parse_dotenv(text: &str, file: &str) -> Result<BTreeMap<String, String>, LoadError> {
    let mut vars = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            return Err(LoadError::EnvFile {
                file: file.to_string(),
                line: i + 1,
                message: format!("expected KEY=VALUE, found {line:?}"),
            });
        };
        let key = key.trim();
        check_key(key, file, i + 1)?;
        vars.insert(key.to_string(), dotenv_value(value.trim()));
    }
    Ok(vars)
}

fn dotenv_value(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].to_string();
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let mut out = String::new();
        let mut chars = v[1..v.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        return out;
    }
    match v.find(" #") {
        Some(i) => v[..i].trim_end().to_string(),
        None => v.to_string(),
    }
}

fn check_key(key: &str, file: &str, line: usize) -> Result<(), LoadError> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(LoadError::EnvFile {
            file: file.to_string(),
            line,
            message: format!("variable {key:?} is empty or contains whitespaces"),
        });
    }
    Ok(())
}

/// Parses an `env_file` into `KEY=VALUE` pairs in file order.
pub fn parse_env_file(
    text: &str,
    file: &str,
    lookup: Lookup<'_>,
) -> Result<Vec<(String, String)>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) => {
                check_key(key, file, i + 1)?;
                vars.push((key.to_string(), value.to_string()));
            }
            None => {
                let key = line.trim_end();
                check_key(key, file, i + 1)?;
                if let Some(value) = lookup(key) {
                    vars.push((key.to_string(), value));
                }
            }
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_handles_comments_quotes_and_export() {
        let text = "# c\nA=1\nexport B = two \nC='x # y'\nD=\"l1\\nl2\"\nE=v # note\n\n";
        let vars = parse_dotenv(text, ".env").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two");
        assert_eq!(vars["C"], "x # y");
        assert_eq!(vars["D"], "l1\nl2");
        assert_eq!(vars["E"], "v");
    }

    #[test]
    fn dotenv_rejects_lines_without_equals() {
        let err = parse_dotenv("A=1\nnonsense here\n", "/p/.env").unwrap_err();
        assert!(err.to_string().starts_with("/p/.env:2:"), "{err}");
    }

    #[test]
    fn env_file_keeps_values_verbatim_and_looks_up_bare_keys() {
        let env = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let vars = parse_env_file("A=\"q\" x\n# c\nHOME\nMISSING\n", "e", &env).unwrap();
        assert_eq!(
            vars,
            vec![
                ("A".to_string(), "\"q\" x".to_string()),
                ("HOME".to_string(), "/root".to_string())
            ]
        );
    }
}
