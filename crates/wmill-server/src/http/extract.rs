//! Extractors: the token (header, cookie, query), the authenticated caller on instance and
//! workspace routes, the client's address (through trusted proxies only), and
//! JSON/query/path wrappers whose rejections are our text errors.
//!
//! A token that came in a cookie is what a browser attaches to any request, including one
//! a page of another site makes it send: such a request that changes something must come
//! from the server's own origin (`Origin`, or `Referer` when there is none).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::config::{Settings, origin_of};
use crate::error::Error;
use crate::service::{Caller, Member, Required};

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Cookie,
    Query,
}

/// The token of a request: `Authorization: Bearer`, then cookie `token`, then `?token=`.
pub fn token_of(parts: &Parts) -> Option<(String, TokenSource)> {
    if let Some(t) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer "))
    {
        return Some((t.trim().to_string(), TokenSource::Header));
    }
    for header in parts.headers.get_all(COOKIE) {
        let Ok(s) = header.to_str() else { continue };
        for pair in s.split(';') {
            if let Some(t) = pair.trim().strip_prefix("token=") {
                return Some((t.to_string(), TokenSource::Cookie));
            }
        }
    }
    let query = axum::extract::Query::<HashMap<String, String>>::try_from_uri(&parts.uri).ok()?;
    query
        .0
        .get("token")
        .map(|t| (t.clone(), TokenSource::Query))
}

/// The token of a request that may use it: a cookie-borne token on a request that changes
/// something must come with the server's own origin.
fn usable_token(parts: &Parts, settings: &Settings) -> Result<String, Error> {
    let (raw, source) = token_of(parts).ok_or(Error::NoToken)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if source == TokenSource::Cookie && !safe && !same_origin(parts, settings) {
        return Err(Error::PermissionDenied(
            "a request authenticated by a cookie must come from this server's own pages \
             (its Origin header does not match); send the token in an Authorization header"
                .into(),
        ));
    }
    Ok(raw)
}

/// Whether the request's `Origin` (or, without one, `Referer`) is the server's: the public
/// URL's origin when one is configured, else the request's own `Host`.
pub fn same_origin(parts: &Parts, settings: &Settings) -> bool {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header(ORIGIN)
        .or_else(|| header(REFERER))
        .and_then(origin_of)
    else {
        return false;
    };
    match &settings.public_origin {
        Some(public) => origin == *public,
        None => {
            let Some(host) = header(HOST) else {
                return false;
            };
            let authority = |o: &str| {
                let a = o
                    .split_once("://")
                    .map_or(o, |(_, a)| a)
                    .to_ascii_lowercase();
                a.strip_suffix(":80")
                    .or_else(|| a.strip_suffix(":443"))
                    .map(str::to_string)
                    .unwrap_or(a)
            };
            authority(&origin) == authority(host)
        }
    }
}

/// The TCP peer's address.
fn peer(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip())
}

/// Whether `ip` is one of the trusted proxies.
fn trusted(ip: &IpAddr, settings: &Settings) -> bool {
    settings.trusted_proxies.iter().any(|n| n.contains(ip))
}

/// The addresses a request went through, nearest last, as the proxies recorded them
/// (`X-Forwarded-For`, else `Forwarded`'s `for=`). An entry that is not an address is
/// `None`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    if !xff.is_empty() {
        return xff.iter().map(|s| parse_node(s.trim())).collect();
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(v.trim()))
            })
        })
        .collect()
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `"[2001:db8::1]:443"`, `::1`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
/// address in its forwarding headers that is not a trusted proxy itself (the left-most when
/// all are). An unreadable entry ends the walk at the last trusted hop.
pub fn client_ip(parts: &Parts, settings: &Settings) -> IpAddr {
    let mut ip = peer(parts);
    if !trusted(&ip, settings) {
        return ip;
    }
    for hop in forwarded_chain(&parts.headers).into_iter().rev() {
        let Some(hop) = hop else { break };
        ip = hop;
        if !trusted(&hop, settings) {
            break;
        }
    }
    ip
}

/// Whether the client reached the server over https: through a trusted proxy that says so
/// (`X-Forwarded-Proto`, `Forwarded: proto=`). The server itself speaks plain HTTP.
pub fn over_https(parts: &Parts, settings: &Settings) -> bool {
    if !trusted(&peer(parts), settings) {
        return false;
    }
    let h = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(p) = h("x-forwarded-proto") {
        return p
            .split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    }
    h("forwarded").is_some_and(|f| {
        f.split(',').next().is_some_and(|el| {
            el.split(';').any(|pair| {
                pair.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            })
        })
    })
}

/// What the matched route needs of its caller's token, as its OpenAPI description declares
/// (`openapi::route_requirements`); a route without a declaration is refused: a forgotten
/// declaration fails closed.
fn requirement(parts: &Parts, state: &AppState) -> Result<Required, Error> {
    // HEAD is served by the GET route.
    let method = if parts.method == Method::HEAD {
        &Method::GET
    } else {
        &parts.method
    };
    parts
        .extensions
        .get::<MatchedPath>()
        .and_then(|p| state.requirements.get(p.as_str()))
        .and_then(|by_method| by_method.iter().find(|(m, _)| m == method))
        .map(|(_, r)| *r)
        .ok_or_else(|| Error::internal(format!("the route {} declares no scope", parts.uri.path())))
}

/// A caller on an instance route (`/api/...`).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let raw = usable_token(parts, state.svc.settings())?;
        let caller = state.svc.instance_caller(&raw).await?;
        caller.authorize(requirement(parts, state)?, &parts.method)?;
        Ok(Authed(caller))
    }
}

/// A caller on a workspace route (`/api/w/{workspace}/...`).
pub struct InWorkspace(pub Member);

impl FromRequestParts<AppState> for InWorkspace {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let raw = usable_token(parts, state.svc.settings())?;
        let params =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|e| Error::BadRequest(e.body_text()))?;
        let ws = params
            .get("workspace")
            .ok_or_else(|| Error::internal("workspace route without {workspace}"))?;
        let member = state.svc.workspace_member(&raw, ws).await?;
        member
            .caller
            .authorize(requirement(parts, state)?, &parts.method)?;
        Ok(InWorkspace(member))
    }
}

/// A JSON body, read within the body timeout: `Content-Type: application/json` (415), at
/// most 64 KiB (413), JSON (400), an object (every body of this API is one: 422 otherwise,
/// where serde would take an array for a struct), with the fields the type needs (422).
pub struct Json<T>(pub T);

/// A JSON array body (the overwrite routes): as [`Json`], at most
/// [`MAX_LIST_BODY_BYTES`], and an array (422 otherwise).
pub struct JsonList<T>(pub Vec<T>);

/// Largest body of a [`JsonList`] route: an export of 10 000 users with their hashes is
/// about 2.5 MiB.
pub const MAX_LIST_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Reads a request body (see [`Json`]), at most `max` bytes.
async fn body_bytes(
    req: Request,
    state: &AppState,
    max: usize,
) -> Result<axum::body::Bytes, Error> {
    let json_type = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime_type::Essence>().ok())
        .is_some_and(|m| m.is_json());
    if !json_type {
        return Err(Error::UnsupportedMediaType(
            "expected a request with `Content-Type: application/json`".into(),
        ));
    }
    let limit = state.svc.settings().body_timeout;
    let read = axum::body::to_bytes(req.into_body(), max);
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let text = e.to_string();
            let inner = e.into_inner();
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
            let mut too_large = false;
            while let Some(c) = cause {
                too_large |= c.is::<http_body_util::LengthLimitError>();
                cause = c.source();
            }
            Err(if too_large {
                Error::PayloadTooLarge(format!(
                    "the request body is larger than {} KiB",
                    max / 1024
                ))
            } else {
                Error::BadRequest(format!("the request body could not be read: {text}"))
            })
        }
        Err(_) => Err(Error::RequestTimeout(format!(
            "the request body did not arrive within {} seconds",
            limit.as_secs()
        ))),
    }
}

/// Reads a request body as JSON (see [`Json`]), at most `max` bytes.
pub(crate) async fn json_value(
    req: Request,
    state: &AppState,
    max: usize,
) -> Result<serde_json::Value, Error> {
    let bytes = body_bytes(req, state, max).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadRequest(format!("the request body is not valid JSON: {e}")))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let value = json_value(req, state, super::MAX_BODY_BYTES).await?;
        if !value.is_object() {
            return Err(Error::Unprocessable(
                "the request body must be a JSON object".into(),
            ));
        }
        serde_json::from_value(value).map(Json).map_err(|e| {
            Error::Unprocessable(format!(
                "the request body is not what this endpoint takes: {e}"
            ))
        })
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonList<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let bytes = body_bytes(req, state, MAX_LIST_BODY_BYTES).await?;
        // Straight into the rows (no JSON tree of the whole body on the way).
        serde_json::from_slice::<Vec<T>>(&bytes)
            .map(JsonList)
            .map_err(|e| {
                if e.is_data() {
                    Error::Unprocessable(format!(
                        "the request body is not a JSON array of what this endpoint takes: {e}"
                    ))
                } else {
                    Error::BadRequest(format!("the request body is not valid JSON: {e}"))
                }
            })
    }
}

/// A superadmin on an instance route, checked before anything reads the request's body
/// (the routes that take large bodies read them only for a superadmin).
pub struct Superadmin(pub Caller);

impl FromRequestParts<AppState> for Superadmin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Authed(c) = Authed::from_request_parts(parts, state).await?;
        c.require_superadmin()?;
        Ok(Superadmin(c))
    }
}

/// The media type of a `Content-Type` value, without its parameters.
mod mime_type {
    /// `type/subtype`, lowercased.
    pub struct Essence(String);

    impl std::str::FromStr for Essence {
        type Err = ();

        fn from_str(s: &str) -> Result<Self, ()> {
            let essence = s
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if essence
                .split_once('/')
                .is_some_and(|(t, st)| !t.is_empty() && !st.is_empty())
            {
                Ok(Essence(essence))
            } else {
                Err(())
            }
        }
    }

    impl Essence {
        /// `application/json`, or any `+json` type (as axum's own extractor takes).
        pub fn is_json(&self) -> bool {
            self.0 == "application/json"
                || (self.0.starts_with("application/") && self.0.ends_with("+json"))
        }
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

/// The client's address (see [`client_ip`]) and whether it came over https.
pub struct Client {
    pub ip: IpAddr,
    pub https: bool,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let settings = state.svc.settings();
        Ok(Client {
            ip: client_ip(parts, settings),
            https: over_https(parts, settings),
        })
    }
}

/// The raw token, for logout (subject to the same origin rule as any other change).
pub struct RawToken(pub String);

impl FromRequestParts<AppState> for RawToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        usable_token(parts, state.svc.settings()).map(RawToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().uri("/api/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (mut p, _) = b.body(()).unwrap().into_parts();
        p.extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    fn settings(trusted: &[&str]) -> Settings {
        let mut s = Settings::for_tests();
        s.trusted_proxies = trusted
            .iter()
            .map(|t| crate::config::parse_net(t).unwrap())
            .collect();
        s
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let xff = [("x-forwarded-for", "6.6.6.6, 1.2.3.4")];
        // Untrusted peer: its headers are ignored.
        assert_eq!(
            client_ip(&parts("9.9.9.9:1", &xff), &settings(&[])),
            "9.9.9.9".parse::<IpAddr>().unwrap()
        );
        // Trusted peer: the right-most untrusted hop (not the client-written left-most).
        assert_eq!(
            client_ip(&parts("10.0.0.1:1", &xff), &settings(&["10.0.0.0/8"])),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // Several trusted hops are skipped.
        let chain = [("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.7")];
        assert_eq!(
            client_ip(&parts("10.0.0.1:1", &chain), &settings(&["10.0.0.0/8"])),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // RFC 7239, with ports and IPv6.
        let fwd = [(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https",
        )];
        assert_eq!(
            client_ip(&parts("[::1]:1", &fwd), &settings(&["::1"])),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the proxy.
        let junk = [("x-forwarded-for", "1.2.3.4, not-an-ip")];
        assert_eq!(
            client_ip(&parts("10.0.0.1:1", &junk), &settings(&["10.0.0.0/8"])),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let h = [("x-forwarded-proto", "https")];
        assert!(!over_https(&parts("9.9.9.9:1", &h), &settings(&[])));
        assert!(over_https(
            &parts("10.0.0.1:1", &h),
            &settings(&["10.0.0.1"])
        ));
        let f = [("forwarded", "for=1.2.3.4;proto=https")];
        assert!(over_https(
            &parts("10.0.0.1:1", &f),
            &settings(&["10.0.0.1"])
        ));
    }

    #[test]
    fn origins_are_compared_with_the_public_url_or_the_host() {
        let s = settings(&[]);
        let same = [
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000"),
        ];
        assert!(same_origin(&parts("1.1.1.1:1", &same), &s));
        let other = [
            ("host", "127.0.0.1:8000"),
            ("origin", "http://evil.example"),
        ];
        assert!(!same_origin(&parts("1.1.1.1:1", &other), &s));
        let referer = [
            ("host", "id.example.com"),
            ("referer", "https://id.example.com/user/x"),
        ];
        assert!(same_origin(&parts("1.1.1.1:1", &referer), &s));
        let none = [("host", "id.example.com")];
        assert!(!same_origin(&parts("1.1.1.1:1", &none), &s));
        let null = [("host", "id.example.com"), ("origin", "null")];
        assert!(!same_origin(&parts("1.1.1.1:1", &null), &s));
        let mut public = settings(&[]);
        public.public_origin = Some("https://id.example.com".into());
        let ok = [
            ("host", "internal:8000"),
            ("origin", "https://id.example.com"),
        ];
        assert!(same_origin(&parts("1.1.1.1:1", &ok), &public));
        let http = [
            ("host", "internal:8000"),
            ("origin", "http://id.example.com"),
        ];
        assert!(!same_origin(&parts("1.1.1.1:1", &http), &public));
    }
}
