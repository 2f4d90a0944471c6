//! The JSON bodies of admin calls: one parser, and one 400 for a body that does not parse.

use super::AdminError;
use crate::http::Request;
use serde::de::DeserializeOwned;

/// The request's body as `T`; a 400 naming the problem when it is not one.
pub(super) fn json<T: DeserializeOwned>(request: &Request) -> Result<T, AdminError> {
    serde_json::from_slice(&request.body)
        .map_err(|e| AdminError::bad_request(format!("invalid body: {e}")))
}

/// Like [`json`], but an empty body is `T::default()`: for bodies whose fields are all optional.
pub(super) fn json_or_default<T: DeserializeOwned + Default>(
    request: &Request,
) -> Result<T, AdminError> {
    if request.body.is_empty() {
        return Ok(T::default());
    }
    json(request)
}
