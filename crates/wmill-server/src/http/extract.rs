//! Extractors: the token (header, cookie, query), the authenticated caller on instance and
//! workspace routes, and JSON/query/path wrappers whose rejections are our text errors.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::Error;
use crate::service::{Caller, Member};

/// The token of a request: `Authorization: Bearer`, then cookie `token`, then `?token=`.
pub fn token_of(parts: &Parts) -> Option<String> {
    if let Some(t) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer "))
    {
        return Some(t.trim().to_string());
    }
    for header in parts.headers.get_all(COOKIE) {
        let Ok(s) = header.to_str() else { continue };
        for pair in s.split(';') {
            if let Some(t) = pair.trim().strip_prefix("token=") {
                return Some(t.to_string());
            }
        }
    }
    let query = axum::extract::Query::<HashMap<String, String>>::try_from_uri(&parts.uri).ok()?;
    query.0.get("token").cloned()
}

/// The client's address, for login throttling.
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip())
}

/// A caller on an instance route (`/api/...`).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let raw = token_of(parts).ok_or(Error::NoToken)?;
        Ok(Authed(state.svc.instance_caller(&raw).await?))
    }
}

/// A caller on a workspace route (`/api/w/{workspace}/...`).
pub struct InWorkspace(pub Member);

impl FromRequestParts<AppState> for InWorkspace {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let raw = token_of(parts).ok_or(Error::NoToken)?;
        let params =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|e| Error::BadRequest(e.body_text()))?;
        let ws = params
            .get("workspace")
            .ok_or_else(|| Error::internal("workspace route without {workspace}"))?;
        Ok(InWorkspace(state.svc.workspace_member(&raw, ws).await?))
    }
}

/// A JSON body; rejections become text errors (415, 400, 422, 413).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(r: JsonRejection) -> Error {
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge(format!(
            "the request body is larger than {} KiB",
            super::MAX_BODY_BYTES / 1024
        )),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType(
            "expected a request with `Content-Type: application/json`".into(),
        ),
        StatusCode::UNPROCESSABLE_ENTITY => Error::Unprocessable(r.body_text()),
        _ => Error::BadRequest(r.body_text()),
    }
}

/// Query parameters; a malformed query is a 400 naming the parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| Error::BadRequest(e.body_text()))
    }
}

/// Path parameters; undecodable ones are a 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| Error::BadRequest(e.body_text()))
    }
}

/// The client address as an extractor.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// The raw token, for logout.
pub struct RawToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        token_of(parts).map(RawToken).ok_or(Error::NoToken)
    }
}
