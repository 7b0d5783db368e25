//! Resolving `{id}` path inputs: full id, exact name, then unique id prefix (moby
//! `daemon/cluster/helpers.go`).

use super::ControlError;

/// Picks the object for `input` among `items`, where `id` and `name` read an item's id and
/// name. `noun` names the kind in errors (`service web not found`).
pub fn resolve<'a, T>(
    items: impl Iterator<Item = &'a T>,
    input: &str,
    noun: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> Option<&str>,
) -> Result<&'a T, ControlError> {
    let items: Vec<&'a T> = items.collect();
    if input.is_empty() {
        return Err(ControlError::NotFound(format!("{noun} {input} not found")));
    }
    if let Some(found) = items.iter().copied().find(|t| id(t) == input) {
        return Ok(found);
    }
    let by_name: Vec<&T> = items
        .iter()
        .copied()
        .filter(|t| name(t) == Some(input))
        .collect();
    match by_name.len() {
        1 => return Ok(by_name[0]),
        n if n > 1 => {
            return Err(ControlError::Invalid(format!(
                "{noun} {input} is ambiguous ({n} matches found)"
            )));
        }
        _ => {}
    }
    let by_prefix: Vec<&T> = items
        .iter()
        .copied()
        .filter(|t| id(t).starts_with(input))
        .collect();
    match by_prefix.len() {
        0 => Err(ControlError::NotFound(format!("{noun} {input} not found"))),
        1 => Ok(by_prefix[0]),
        n => Err(ControlError::Invalid(format!(
            "{noun} {input} is ambiguous ({n} matches found)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick<'a>(items: &'a [(&'a str, &'a str)], input: &str) -> Result<&'a str, ControlError> {
        resolve(items.iter(), input, "service", |t| t.0, |t| Some(t.1)).map(|t| t.0)
    }

    #[test]
    fn full_id_then_name_then_prefix() {
        let items = [("abc123", "web"), ("abd456", "abc123x"), ("zzz", "abc")];
        assert_eq!(pick(&items, "abc123").unwrap(), "abc123");
        assert_eq!(pick(&items, "web").unwrap(), "abc123");
        assert_eq!(
            pick(&items, "abc").unwrap(),
            "zzz",
            "exact name beats prefix"
        );
        assert_eq!(pick(&items, "abd").unwrap(), "abd456");
        assert_eq!(
            pick(&items, "ab").unwrap_err().to_string(),
            "service ab is ambiguous (2 matches found)"
        );
        assert_eq!(
            pick(&items, "nope").unwrap_err().to_string(),
            "service nope not found"
        );
    }
}
