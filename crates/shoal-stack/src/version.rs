//! The `version:` key of a compose file, checked and normalised as `docker stack` does.
//!
//! docker 28 reads compose format 3 only: `version` must be a string (an unquoted `3.10` is a
//! YAML float, `3.1`, and is refused rather than misread), `"3.0"` … `"3.13"` are kept as
//! written, and no version, `""` or `"3"` mean the newest, [`LATEST`]. Format 1 and 2 files
//! (`version: "2.4"`, where `build:` alone gives no image) are refused. Every file of a
//! multi-file project must normalise to the same version.

use crate::error::LoadError;
use crate::yaml::{Node, Value};

/// The newest compose format 3 schema docker 28 knows; printed by `stack config` when the
/// files give none.
pub const LATEST: &str = "3.13";

/// The highest minor version of format 3.
const LATEST_MINOR: u32 = 13;

/// The normalised version of one parsed file (before interpolation, as docker reads it).
pub fn file_version(root: &Node, file: &str) -> Result<String, LoadError> {
    let entry = root
        .as_map()
        .and_then(|entries| entries.iter().find(|e| e.key == "version"));
    let Some(entry) = entry else {
        return Ok(LATEST.to_string());
    };
    let text = match &entry.value.value {
        Value::Null => return Ok(LATEST.to_string()),
        Value::Str(s) => s.as_str(),
        _ => {
            return Err(LoadError::VersionNotString {
                file: file.to_string(),
                line: entry.value.pos.line,
                column: entry.value.pos.column,
            });
        }
    };
    normalise(text).ok_or_else(|| LoadError::UnsupportedVersion {
        file: file.to_string(),
        version: text.to_string(),
    })
}

/// `""`/`"3"` → the latest; `"3.N"` with N ≤ 13 kept; anything else `None`.
fn normalise(text: &str) -> Option<String> {
    match text {
        "" | "3" => Some(LATEST.to_string()),
        _ => {
            let minor = text.strip_prefix("3.")?;
            let valid = !minor.is_empty()
                && minor.bytes().all(|b| b.is_ascii_digit())
                && minor.parse::<u32>().is_ok_and(|m| m <= LATEST_MINOR);
            valid.then(|| text.to_string())
        }
    }
}

/// The one version of all files, or docker's mismatch error.
pub fn project_version(first: &str, next: &str) -> Result<(), LoadError> {
    if first == next {
        Ok(())
    } else {
        Err(LoadError::VersionMismatch {
            first: first.to_string(),
            second: next.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn version_of(text: &str) -> Result<String, String> {
        let root = parse(text, "v.yml").map_err(|e| e.to_string())?;
        file_version(&root, "v.yml").map_err(|e| e.to_string())
    }

    #[test]
    fn format_3_versions_are_normalised_as_docker_does() {
        assert_eq!(version_of("services: {}\n").unwrap(), "3.13");
        assert_eq!(version_of("version: \"3\"\n").unwrap(), "3.13");
        assert_eq!(version_of("version: \"\"\n").unwrap(), "3.13");
        assert_eq!(version_of("version: \"3.0\"\n").unwrap(), "3.0");
        assert_eq!(version_of("version: '3.8'\n").unwrap(), "3.8");
        assert_eq!(version_of("version: \"3.13\"\n").unwrap(), "3.13");
    }

    #[test]
    fn unquoted_numbers_and_other_formats_are_refused() {
        assert_eq!(
            version_of("version: 3.10\n").unwrap_err(),
            "v.yml:1:10: version must be a string (quote it: an unquoted 3.10 is the number 3.1)"
        );
        for v in ["2.4", "2", "1", "3.14", "4", "3.x", "3.", "3.+1"] {
            assert_eq!(
                version_of(&format!("version: \"{v}\"\n")).unwrap_err(),
                format!(
                    "v.yml: unsupported Compose file version: {v} (docker stack reads format 3.0 to 3.13)"
                )
            );
        }
    }

    #[test]
    fn files_must_agree_on_the_version() {
        assert!(project_version("3.8", "3.8").is_ok());
        assert_eq!(
            project_version("3.8", "3.13").unwrap_err().to_string(),
            "version mismatched between two composefiles : 3.8 and 3.13"
        );
    }
}
