//! SCIM 2.0 over HTTP: `/api/scim/v2/…` and Windmill's `/api/scim/…`, for the holder of a
//! SCIM token; and `/api/scim_tokens/…`, where superadmins mint and revoke those tokens.
//!
//! The SCIM routes speak SCIM, not this API's dialect: `application/scim+json` answers (and
//! `application/json` or `application/scim+json` bodies), RFC error bodies, `ETag`s and
//! `Location`s. They are not in the OpenAPI document (SCIM describes itself through
//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`), and take only a SCIM token,
//! only in the `Authorization` header: no cookie, no query token, no user token.

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_TYPE, ETAG, HOST, IF_MATCH, IF_NONE_MATCH, LOCATION, WWW_AUTHENTICATE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{NewScimToken, ScimToken};

use super::extract::{Json, Path, Superadmin};
use super::{AppState, Text};
use crate::error::Result;
use crate::scim::resource::{self, attribute_list};
use crate::scim::{LIST_SCHEMA, MAX_BODY_BYTES, MAX_RESULTS, ScimError, ScimResult, discovery};
use crate::service::ScimCaller;

/// The prefixes SCIM is served under.
const PREFIXES: [&str; 2] = ["/api/scim/v2", "/api/scim"];

const SCIM_JSON: &str = "application/scim+json";

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.body().to_string()).into_response();
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"wmill SCIM\""),
            );
        }
        res
    }
}

/// A SCIM answer: a JSON body, its status, and its `ETag`/`Location` when it is a resource.
struct Scim {
    status: StatusCode,
    body: Value,
    location: bool,
}

impl Scim {
    fn ok(body: Value) -> Self {
        Scim {
            status: StatusCode::OK,
            body,
            location: false,
        }
    }

    fn created(body: Value) -> Self {
        Scim {
            status: StatusCode::CREATED,
            body,
            location: true,
        }
    }
}

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let tag = resource::etag(&self.body).map(str::to_string);
        let location = self
            .body
            .get("meta")
            .and_then(|m| m.get("location"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut res = (self.status, self.body.to_string()).into_response();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if let Some(t) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            h.insert(ETAG, t);
        }
        if self.location
            && let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok())
        {
            h.insert(LOCATION, l);
        }
        res
    }
}

/// The holder of a SCIM token, and the SCIM root its request came in under.
struct Provider {
    who: ScimCaller,
    base: String,
}

impl FromRequestParts<AppState> for Provider {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ScimResult<Self> {
        let raw = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|s| {
                let (scheme, rest) = s.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(|| {
                ScimError::unauthorized(
                    "a SCIM token is required: Authorization: Bearer <token from wmill scim token create>",
                )
            })?;
        let who = state.svc.scim_authenticate(raw).await?;
        Ok(Provider {
            who,
            base: base_url(parts, state),
        })
    }
}

/// The absolute SCIM root of this request (`meta.location`s start with it): the public URL
/// when one is configured, else the request's own host.
fn base_url(parts: &Parts, state: &AppState) -> String {
    let path = parts.uri.path();
    let prefix = if path.starts_with("/api/scim/v2/") || path == "/api/scim/v2" {
        PREFIXES[0]
    } else {
        PREFIXES[1]
    };
    let settings = state.svc.settings();
    if let Some(public) = &settings.public_url {
        return format!("{}{prefix}", public.trim_end_matches('/'));
    }
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
    match host {
        Some(h) => {
            let scheme = if super::extract::over_https(parts, settings) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{h}{prefix}")
        }
        None => prefix.to_string(),
    }
}

/// The SCIM routes, under both prefixes.
pub fn router() -> Router<AppState> {
    let mut r = Router::new();
    for p in PREFIXES {
        r = r
            .route(
                &format!("{p}/ServiceProviderConfig"),
                get(service_provider_config),
            )
            .route(&format!("{p}/ResourceTypes"), get(resource_types))
            .route(&format!("{p}/ResourceTypes/{{id}}"), get(resource_type))
            .route(&format!("{p}/Schemas"), get(schemas))
            .route(&format!("{p}/Schemas/{{id}}"), get(schema))
            .route(&format!("{p}/.search"), axum::routing::post(search_all))
            .route(
                &format!("{p}/Users/.search"),
                axum::routing::post(search_users),
            )
            .route(
                &format!("{p}/Groups/.search"),
                axum::routing::post(search_groups),
            )
            .route(&format!("{p}/Users"), get(list_users).post(create_user))
            .route(
                &format!("{p}/Users/{{id}}"),
                get(get_user)
                    .put(replace_user)
                    .patch(patch_user)
                    .delete(delete_user),
            )
            .route(&format!("{p}/Groups"), get(list_groups).post(create_group))
            .route(
                &format!("{p}/Groups/{{id}}"),
                get(get_group)
                    .put(replace_group)
                    .patch(patch_group)
                    .delete(delete_group),
            );
    }
    r.route("/api/scim/{*rest}", axum::routing::any(no_such_endpoint))
}

async fn no_such_endpoint(uri: Uri) -> ScimError {
    let path: String = uri.path().chars().take(200).collect();
    ScimError::not_found(format!("no SCIM endpoint at {path}"))
}

/// The JSON body of a SCIM request (at most [`MAX_BODY_BYTES`]).
async fn body(req: Request, state: &AppState) -> ScimResult<Value> {
    super::extract::json_value(req, state, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let mut s = ScimError::from(e);
            if s.status == StatusCode::BAD_REQUEST {
                s.scim_type = Some("invalidSyntax");
            }
            s
        })
}

fn header(h: &HeaderMap, name: axum::http::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The query of a list: `filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`.
struct ListQuery {
    filter: Option<String>,
    start_index: i64,
    count: i64,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

fn list_query(uri: &Uri) -> ScimResult<ListQuery> {
    let pairs: Vec<(String, String)> =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ScimError::bad("invalidValue", format!("the query is malformed: {e}")))?
            .0;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let int = |k: &str, default: i64| -> ScimResult<i64> {
        match get(k) {
            None | Some("") => Ok(default),
            Some(v) => v.trim().parse::<i64>().map_err(|_| {
                ScimError::bad("invalidValue", format!("{k} must be an integer, not {v:?}"))
            }),
        }
    };
    if get("sortBy").is_some() {
        return Err(ScimError::bad(
            "invalidValue",
            "sorting is not supported (ServiceProviderConfig sort.supported is false)",
        ));
    }
    Ok(ListQuery {
        filter: get("filter").map(str::to_string),
        // RFC 7644 §3.4.2.4: below 1 is 1; a negative count is 0.
        start_index: int("startIndex", 1)?.clamp(1, i64::MAX / 2),
        count: int("count", 100)?.clamp(0, MAX_RESULTS),
        attributes: attribute_list(get("attributes")),
        excluded: attribute_list(get("excludedAttributes")),
    })
}

const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A `POST …/.search` body (RFC 7644 §3.4.3) as a list query.
fn search_query(body: &Value) -> ScimResult<ListQuery> {
    let o = body
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let names_schema = o.get("schemas").and_then(Value::as_array).is_some_and(|l| {
        l.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_SCHEMA))
        })
    });
    if !names_schema {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("schemas must include {SEARCH_SCHEMA}"),
        ));
    }
    let get = |k: &str| {
        o.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let list = |k: &str| -> ScimResult<Vec<String>> {
        match get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ScimError::bad("invalidValue", format!("{k} must be an array of strings"))
                    })
                })
                .collect(),
            Some(Value::String(s)) => Ok(attribute_list(Some(s))),
            Some(_) => Err(ScimError::bad(
                "invalidValue",
                format!("{k} must be an array of strings"),
            )),
        }
    };
    let int = |k: &str, default: i64| -> ScimResult<i64> {
        match get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| ScimError::bad("invalidValue", format!("{k} must be an integer"))),
        }
    };
    if get("sortBy").is_some_and(|v| !v.is_null()) {
        return Err(ScimError::bad(
            "invalidValue",
            "sorting is not supported (ServiceProviderConfig sort.supported is false)",
        ));
    }
    let filter = match get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) => Some(f.clone()),
        Some(_) => return Err(ScimError::bad("invalidFilter", "filter must be a string")),
    };
    Ok(ListQuery {
        filter,
        start_index: int("startIndex", 1)?.clamp(1, i64::MAX / 2),
        count: int("count", 100)?.clamp(0, MAX_RESULTS),
        attributes: list("attributes")?,
        excluded: list("excludedAttributes")?,
    })
}

fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Scim {
    Scim::ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}

/// A resource's answer to a GET: 304 when `If-None-Match` names its version.
fn conditional(headers: &HeaderMap, v: Value, q: &ListQuery) -> Response {
    if let (Some(h), Some(tag)) = (header(headers, IF_NONE_MATCH), resource::etag(&v))
        && resource::tag_matches(h, tag)
    {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(t) = HeaderValue::from_str(tag) {
            res.headers_mut().insert(ETAG, t);
        }
        return res;
    }
    Scim::ok(resource::project(v, &q.attributes, &q.excluded)).into_response()
}

// -- discovery (a SCIM token is needed, as for everything under /api/scim) ---------------

async fn service_provider_config(p: Provider) -> Scim {
    Scim::ok(discovery::service_provider_config(&p.base))
}

async fn resource_types(p: Provider) -> Scim {
    let all = discovery::resource_types(&p.base);
    list_response(all.len() as i64, 1, all)
}

async fn resource_type(
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ScimResult<Scim> {
    discovery::resource_types(&p.base)
        .into_iter()
        .find(|t| t["id"].as_str() == Some(id.as_str()))
        .map(Scim::ok)
        .ok_or_else(|| ScimError::not_found(format!("no ResourceType {id:?}")))
}

async fn schemas(p: Provider) -> Scim {
    let all = discovery::schemas(&p.base);
    list_response(all.len() as i64, 1, all)
}

async fn schema(
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ScimResult<Scim> {
    discovery::schemas(&p.base)
        .into_iter()
        .find(|t| t["id"].as_str() == Some(id.as_str()))
        .map(Scim::ok)
        .ok_or_else(|| ScimError::not_found(format!("no Schema {id:?}")))
}

// -- searches ----------------------------------------------------------------------------

async fn users_page(s: &AppState, p: &Provider, q: &ListQuery) -> ScimResult<(i64, Vec<Value>)> {
    let page = s
        .svc
        .scim_list_users(q.filter.as_deref(), q.start_index, q.count)
        .await?;
    let rows = page
        .rows
        .iter()
        .map(|r| {
            resource::project(
                resource::render_user(r, &p.base),
                &q.attributes,
                &q.excluded,
            )
        })
        .collect();
    Ok((page.total, rows))
}

async fn groups_page(s: &AppState, p: &Provider, q: &ListQuery) -> ScimResult<(i64, Vec<Value>)> {
    let members = resource::wants_members(&q.attributes, &q.excluded);
    let page = s
        .svc
        .scim_list_groups(q.filter.as_deref(), q.start_index, q.count, members)
        .await?;
    let rows = page
        .rows
        .iter()
        .map(|r| {
            resource::project(
                resource::render_group(r, &p.base, members),
                &q.attributes,
                &q.excluded,
            )
        })
        .collect();
    Ok((page.total, rows))
}

async fn search_users(State(s): State<AppState>, p: Provider, req: Request) -> ScimResult<Scim> {
    let q = search_query(&body(req, &s).await?)?;
    let (total, rows) = users_page(&s, &p, &q).await?;
    Ok(list_response(total, q.start_index, rows))
}

async fn search_groups(State(s): State<AppState>, p: Provider, req: Request) -> ScimResult<Scim> {
    let q = search_query(&body(req, &s).await?)?;
    let (total, rows) = groups_page(&s, &p, &q).await?;
    Ok(list_response(total, q.start_index, rows))
}

/// `POST /.search`: Users, then Groups, paged as one list. A filter naming what one type
/// does not have matches none of that type; one that neither has is refused.
async fn search_all(State(s): State<AppState>, p: Provider, req: Request) -> ScimResult<Scim> {
    let q = search_query(&body(req, &s).await?)?;
    let head = |q: &ListQuery| ListQuery {
        filter: q.filter.clone(),
        start_index: 1,
        count: 0,
        attributes: Vec::new(),
        excluded: Vec::new(),
    };
    let unknown = |e: &ScimError| e.scim_type == Some("invalidFilter");
    let users_total = match users_page(&s, &p, &head(&q)).await {
        Ok((t, _)) => Some(t),
        Err(e) if unknown(&e) => None,
        Err(e) => return Err(e),
    };
    let groups_total = match groups_page(&s, &p, &head(&q)).await {
        Ok((t, _)) => Some(t),
        Err(e) if unknown(&e) && users_total.is_some() => None,
        Err(e) => return Err(e),
    };
    let (ut, gt) = (users_total.unwrap_or(0), groups_total.unwrap_or(0));
    let offset = q.start_index - 1;
    let mut rows = Vec::new();
    if offset < ut && q.count > 0 {
        let uq = ListQuery {
            filter: q.filter.clone(),
            start_index: q.start_index,
            count: q.count,
            attributes: q.attributes.clone(),
            excluded: q.excluded.clone(),
        };
        rows = users_page(&s, &p, &uq).await?.1;
    }
    let left = q.count - rows.len() as i64;
    if left > 0 && groups_total.is_some() {
        let gq = ListQuery {
            filter: q.filter.clone(),
            start_index: (offset - ut).max(0) + 1,
            count: left,
            attributes: q.attributes.clone(),
            excluded: q.excluded.clone(),
        };
        rows.extend(groups_page(&s, &p, &gq).await?.1);
    }
    Ok(list_response(ut + gt, q.start_index, rows))
}

// -- Users -------------------------------------------------------------------------------

async fn list_users(State(s): State<AppState>, p: Provider, uri: Uri) -> ScimResult<Scim> {
    let q = list_query(&uri)?;
    let page = s
        .svc
        .scim_list_users(q.filter.as_deref(), q.start_index, q.count)
        .await?;
    let resources = page
        .rows
        .iter()
        .map(|r| {
            resource::project(
                resource::render_user(r, &p.base),
                &q.attributes,
                &q.excluded,
            )
        })
        .collect();
    Ok(list_response(page.total, q.start_index, resources))
}

async fn get_user(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ScimResult<Response> {
    let q = list_query(&uri)?;
    let row = s.svc.scim_get_user(&id).await?;
    Ok(conditional(
        &headers,
        resource::render_user(&row, &p.base),
        &q,
    ))
}

async fn create_user(State(s): State<AppState>, p: Provider, req: Request) -> ScimResult<Scim> {
    let b = body(req, &s).await?;
    let row = s.svc.scim_create_user(&p.who, &b).await?;
    Ok(Scim::created(resource::render_user(&row, &p.base)))
}

async fn replace_user(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    req: Request,
) -> ScimResult<Scim> {
    let if_match = header(req.headers(), IF_MATCH).map(str::to_string);
    let b = body(req, &s).await?;
    let row = s
        .svc
        .scim_replace_user(&p.who, &id, if_match.as_deref(), &b)
        .await?;
    Ok(Scim::ok(resource::render_user(&row, &p.base)))
}

async fn patch_user(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    req: Request,
) -> ScimResult<Scim> {
    let if_match = header(req.headers(), IF_MATCH).map(str::to_string);
    let b = body(req, &s).await?;
    let row = s
        .svc
        .scim_patch_user(&p.who, &id, if_match.as_deref(), &b)
        .await?;
    Ok(Scim::ok(resource::render_user(&row, &p.base)))
}

async fn delete_user(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> ScimResult<StatusCode> {
    s.svc
        .scim_delete_user(&p.who, &id, header(&headers, IF_MATCH))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// -- Groups ------------------------------------------------------------------------------

async fn list_groups(State(s): State<AppState>, p: Provider, uri: Uri) -> ScimResult<Scim> {
    let q = list_query(&uri)?;
    let (total, rows) = groups_page(&s, &p, &q).await?;
    Ok(list_response(total, q.start_index, rows))
}

async fn get_group(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ScimResult<Response> {
    let q = list_query(&uri)?;
    let row = s.svc.scim_get_group(&id).await?;
    Ok(conditional(
        &headers,
        resource::render_group(&row, &p.base, true),
        &q,
    ))
}

async fn create_group(State(s): State<AppState>, p: Provider, req: Request) -> ScimResult<Scim> {
    let b = body(req, &s).await?;
    let row = s.svc.scim_create_group(&p.who, &b).await?;
    Ok(Scim::created(resource::render_group(&row, &p.base, true)))
}

async fn replace_group(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    req: Request,
) -> ScimResult<Scim> {
    let if_match = header(req.headers(), IF_MATCH).map(str::to_string);
    let b = body(req, &s).await?;
    let row = s
        .svc
        .scim_replace_group(&p.who, &id, if_match.as_deref(), &b)
        .await?;
    Ok(Scim::ok(resource::render_group(&row, &p.base, true)))
}

async fn patch_group(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    req: Request,
) -> ScimResult<Scim> {
    let if_match = header(req.headers(), IF_MATCH).map(str::to_string);
    let b = body(req, &s).await?;
    let row = s
        .svc
        .scim_patch_group(&p.who, &id, if_match.as_deref(), &b)
        .await?;
    Ok(Scim::ok(resource::render_group(&row, &p.base, true)))
}

async fn delete_group(
    State(s): State<AppState>,
    p: Provider,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> ScimResult<StatusCode> {
    s.svc
        .scim_delete_group(&p.who, &id, header(&headers, IF_MATCH))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// -- SCIM tokens (this API's dialect, in the OpenAPI document) ---------------------------

/// The SCIM token routes.
pub fn token_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token))
        .routes(routes!(list_tokens))
        .routes(routes!(delete_token))
}

/// Mints a SCIM token for an identity provider (superadmins): the token, shown once. It is
/// accepted on `/api/scim` only.
#[utoipa::path(post, path = "/api/scim_tokens/create", tag = "scim", security(("bearer" = ["users:admin"])),
    request_body = NewScimToken,
    responses((status = 201, description = "The SCIM token", body = String, content_type = "text/plain"),
        (status = 409, description = "The label is taken", body = String, content_type = "text/plain")))]
async fn create_token(
    State(s): State<AppState>,
    Superadmin(c): Superadmin,
    Json(req): Json<NewScimToken>,
) -> Result<(StatusCode, Text)> {
    Ok((
        StatusCode::CREATED,
        Text(s.svc.create_scim_token(&c, &req.label).await?),
    ))
}

/// The SCIM tokens (superadmins): labels and prefixes, never the tokens.
#[utoipa::path(get, path = "/api/scim_tokens/list", tag = "scim", security(("bearer" = ["users:admin"])),
    responses((status = 200, body = Vec<ScimToken>)))]
async fn list_tokens(
    State(s): State<AppState>,
    Superadmin(c): Superadmin,
) -> Result<axum::Json<Vec<ScimToken>>> {
    Ok(axum::Json(s.svc.list_scim_tokens(&c).await?))
}

/// Deletes a SCIM token (superadmins): refused from its next request on.
#[utoipa::path(delete, path = "/api/scim_tokens/delete/{label}", tag = "scim", security(("bearer" = ["users:admin"])),
    params(("label" = String, Path)),
    responses((status = 200, description = "`Deleted SCIM token <label>`", body = String, content_type = "text/plain")))]
async fn delete_token(
    State(s): State<AppState>,
    Superadmin(c): Superadmin,
    Path(label): Path<String>,
) -> Result<Text> {
    Ok(Text(s.svc.delete_scim_token(&c, &label).await?))
}
