//! The `filters` query parameter: URL-encoded JSON, map form `{"k":{"v":true}}` or the legacy
//! list form `{"k":["v"]}`.

use crate::error::ApiError;
use std::collections::BTreeMap;

/// Parsed filters: key → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses `raw` (already URL-decoded) and rejects keys not in `allowed`
    /// (`invalid filter 'foo'`).
    pub fn parse(raw: Option<&String>, allowed: &[&str]) -> Result<Filters, ApiError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Filters::default());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filter: not a JSON object"))?;
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
            }
            let values: Vec<String> = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, b)| b.as_bool().unwrap_or(true))
                    .map(|(s, _)| s.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            };
            out.insert(k.clone(), values);
        }
        Ok(Filters(out))
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// True when no value is given for `key`, or `f` holds for one of them.
    pub fn any(&self, key: &str, f: impl Fn(&str) -> bool) -> bool {
        let vals = self.get(key);
        vals.is_empty() || vals.iter().any(|v| f(v))
    }

    /// Label filters: every `k` must exist and every `k=v` must match (AND).
    pub fn labels_match(
        &self,
        key: &str,
        labels: Option<&std::collections::HashMap<String, String>>,
    ) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.and_then(|l| l.get(k)).is_some_and(|have| have == v),
            None => labels.is_some_and(|l| l.contains_key(want.as_str())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_and_list_forms_parse() {
        let f = Filters::parse(
            Some(&r#"{"name":{"web":true},"id":["abc"]}"#.to_string()),
            &["name", "id"],
        )
        .unwrap();
        assert_eq!(f.get("name"), ["web"]);
        assert_eq!(f.get("id"), ["abc"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            Filters::parse(Some(&r#"{"foo":{"x":true}}"#.to_string()), &["name"]).unwrap_err();
        assert_eq!(err.message, "invalid filter 'foo'");
    }

    #[test]
    fn labels_are_anded() {
        let f = Filters::parse(
            Some(&r#"{"label":{"a":true,"b=2":true}}"#.to_string()),
            &["label"],
        )
        .unwrap();
        let labels: std::collections::HashMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert!(f.labels_match("label", Some(&labels)));
        let only_a: std::collections::HashMap<String, String> = [("a".into(), "1".into())].into();
        assert!(!f.labels_match("label", Some(&only_a)));
    }
}
