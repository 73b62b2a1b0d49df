//! The one error type of the service layer, and its translation to HTTP: status code and
//! Windmill's `text/plain` `<Kind>: <message>` body. Internal causes are logged with an id
//! and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in a request, as the client is allowed to see it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// No token was presented at all.
    #[error("Unauthorized")]
    NoToken,
    #[error("Not authorized: {0}")]
    NotAuthorized(String),
    /// A workspace admin check failed for this username.
    #[error("Require Admin privileges for {0}")]
    RequireAdmin(String),
    #[error("Permission denied: {0}")]
    PermissionDenied(String),
    /// The token's scopes or read-only flag refuse the request (403, Windmill's wording).
    #[error("Not authorized: {0}")]
    ScopeRefused(String),
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("Conflict: {0}")]
    Conflict(String),
    #[error("Payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("Unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("Unprocessable entity: {0}")]
    Unprocessable(String),
    #[error("Too many requests: {0}")]
    TooManyRequests(String),
    #[error("Service unavailable: {0}")]
    Unavailable(String),
    /// The server is too busy to take this request now (answered with `Retry-After`).
    #[error("Service unavailable: {0}")]
    Busy(String),
    /// A statement ran past its time limit.
    #[error("Service unavailable: {0}")]
    Timeout(String),
    /// The client did not send its request body in time.
    #[error("Request timeout: {0}")]
    RequestTimeout(String),
    /// A fault of ours; the text is logged, not sent.
    #[error("Internal: {0}")]
    Internal(String),
}

/// Result of the service layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The token was not accepted (unknown, expired, revoked, disabled, wrong workspace).
    pub fn unauthorized() -> Self {
        Error::NotAuthorized("Unauthorized".into())
    }

    /// The sentence of this error without its kind (for wrapping it in another one).
    pub fn message(&self) -> String {
        match self {
            Error::BadRequest(m)
            | Error::NotAuthorized(m)
            | Error::PermissionDenied(m)
            | Error::ScopeRefused(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::PayloadTooLarge(m)
            | Error::UnsupportedMediaType(m)
            | Error::Unprocessable(m)
            | Error::TooManyRequests(m)
            | Error::Unavailable(m)
            | Error::Busy(m)
            | Error::Timeout(m)
            | Error::RequestTimeout(m) => m.clone(),
            other => other.to_string(),
        }
    }

    /// Wraps an internal fault.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NoToken | Error::NotAuthorized(_) => StatusCode::UNAUTHORIZED,
            Error::RequireAdmin(_) | Error::PermissionDenied(_) | Error::ScopeRefused(_) => {
                StatusCode::FORBIDDEN
            }
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) | Error::Busy(_) | Error::Timeout(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

tokio::task_local! {
    /// The id of the request being answered (see `http::around`), for incident ids.
    pub static REQUEST_ID: String;
}

/// The id that ties an error answer to its log line: the request's id (echoed in its
/// `x-request-id` header), or a short random one outside a request.
fn incident_id() -> String {
    if let Ok(id) = REQUEST_ID.try_with(Clone::clone) {
        return id;
    }
    random_id()
}

/// 12 random hex characters ("unknown" if the OS has no randomness to give).
pub fn random_id() -> String {
    let mut b = [0u8; 6];
    if getrandom::fill(&mut b).is_err() {
        return "unknown".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Error {
    /// The text answered for this error: for faults of ours, a sentence with an incident id
    /// (the cause is logged with it, never sent).
    pub fn public_text(&self) -> String {
        match self {
            Error::Internal(cause) => {
                let id = incident_id();
                tracing::error!(incident = %id, "internal error: {cause}");
                format!("Internal: something went wrong on the server (incident {id})")
            }
            Error::Unavailable(cause) => {
                let id = incident_id();
                tracing::error!(incident = %id, "unavailable: {cause}");
                format!("Service unavailable: the database cannot be reached (incident {id})")
            }
            Error::Timeout(cause) => {
                let id = incident_id();
                tracing::warn!(incident = %id, "cancelled: {cause}");
                format!(
                    "Service unavailable: the request took longer than the server allows; \
                     narrow it and try again (incident {id})"
                )
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.public_text();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if matches!(self, Error::Busy(_)) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: Error) -> String {
        let res = e.into_response();
        let bytes = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn an_incident_id_is_the_requests_id() {
        let inside = REQUEST_ID
            .scope("req-1".to_string(), body(Error::internal("boom")))
            .await;
        assert_eq!(
            inside,
            "Internal: something went wrong on the server (incident req-1)"
        );
        let outside = body(Error::internal("boom")).await;
        assert!(!outside.contains("req-1") && outside.contains("(incident "));
        assert!(!outside.contains("boom") && !inside.contains("boom"));
    }
}
