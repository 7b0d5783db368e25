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
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
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
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
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
