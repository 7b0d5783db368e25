//! Request parsing helpers: JSON bodies with Docker-style errors, and query booleans.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON request body. Malformed JSON is a 400 naming the problem (not axum's default text).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("failed to read request body: {e}")))?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::bad_request(
                "bad parameter: request body is empty",
            ));
        }
        parse_object(&bytes).map(JsonBody)
    }
}

/// Every Engine API body is a JSON object. serde would also fill a struct from an array of
/// its fields in order (`["name", {}]` as a `SecretSpec`), which Go's decoder refuses: refuse
/// any non-object the way Docker words it.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let kind = match first {
        Some(b'[') => Some("array"),
        Some(b'"') => Some("string"),
        Some(b'0'..=b'9' | b'-') => Some("number"),
        Some(b't' | b'f') => Some("bool"),
        _ => None,
    };
    if let Some(kind) = kind {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {kind} into Go value of type {}",
            go_type_name::<T>()
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The Go type Docker's message names for `T` (`swarm.SecretSpec` for our `SecretSpec`), or
/// a map for free-form bodies.
fn go_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    match base.rsplit("::").next().unwrap_or(base) {
        "Value" => "map[string]interface {}".to_string(),
        "SwarmSpec" => "swarm.Spec".to_string(),
        "SwarmUnlockRequest" => "swarm.UnlockRequest".to_string(),
        "NetworkCreateRequest" => "types.NetworkCreateRequest".to_string(),
        name => format!("swarm.{name}"),
    }
}

/// An optional JSON body: empty means `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("failed to read request body: {e}")))?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJson(T::default()));
        }
        parse_object(&bytes).map(OptionalJson)
    }
}

/// moby's `BoolValue`: "", "0", "no", "false", "none" are false; anything else is true.
pub fn query_bool(v: Option<&String>) -> bool {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        None => false,
        Some(s) => !matches!(s.as_str(), "" | "0" | "no" | "false" | "none"),
    }
}

/// Parses a required `version` query parameter.
pub fn query_version(v: Option<&String>) -> Result<u64, ApiError> {
    let raw = v.ok_or_else(|| ApiError::bad_request("invalid version: version is required"))?;
    raw.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid version '{raw}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct SecretSpec {
        #[serde(rename = "Name")]
        _name: String,
    }

    #[test]
    fn arrays_and_scalars_are_refused_where_an_object_is_expected() {
        let e = parse_object::<SecretSpec>(br#" ["name", {}]"#).expect_err("array refused");
        assert_eq!(
            e.message,
            "json: cannot unmarshal array into Go value of type swarm.SecretSpec"
        );
        let e = parse_object::<serde_json::Value>(b"42").expect_err("number refused");
        assert_eq!(
            e.message,
            "json: cannot unmarshal number into Go value of type map[string]interface {}"
        );
        assert!(parse_object::<SecretSpec>(br#"{"Name":"s"}"#).is_ok());
    }

    #[test]
    fn booleans_follow_moby() {
        for f in ["", "0", "no", "false", "none", "FALSE"] {
            assert!(!query_bool(Some(&f.to_string())), "{f}");
        }
        for t in ["1", "true", "yes", "x"] {
            assert!(query_bool(Some(&t.to_string())), "{t}");
        }
        assert!(!query_bool(None));
    }
}
