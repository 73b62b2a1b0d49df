//! The OpenAPI document: generated from the handlers by utoipa, then completed here with
//! what every handler shares, so that it tells the truth about every answer:
//!
//! - how a caller authenticates (a bearer token; the cookie and `?token=` are described) and
//!   which operations need it;
//! - the error answers each operation can give, by what it takes: a token (401; 403 for a
//!   change made through a cookie from another origin), a workspace in its path (401, 403,
//!   404), other path parameters (404: what cannot exist is not found), query parameters
//!   (400), a JSON body (400, 408, 413, 415, 422), and the database (500, 503);
//! - the constraints the server enforces on parameters and bodies, from the same constants
//!   and settings the validation uses (`domain.rs`, [`Settings`]).
//!
//! The server's validation is written to accept exactly what is documented here, so that an
//! OpenAPI-driven fuzzer finds schema-valid requests accepted and invalid ones refused.

use serde_json::{Map, Value, json};

use crate::config::Settings;
use crate::domain::{
    EMAIL_MAX_CHARS, GROUP_NAME_PATTERN, OPTIONAL_USERNAME_PATTERN, PASSWORD_MAX_CHARS,
    TEXT_PATTERN, USERNAME_PATTERN, WORKSPACE_ID_PATTERN, WORKSPACE_NAME_PATTERN,
};
use crate::store::MAX_FILTER_LIST;

/// Operations anyone may call.
const PUBLIC: [(&str, &str); 9] = [
    ("get", "/api/version"),
    ("get", "/api/audit/public_key"),
    ("get", "/api/health/status"),
    ("get", "/api/health/live"),
    ("get", "/api/health/ready"),
    ("get", "/api/openapi.json"),
    ("post", "/api/auth/login"),
    ("get", "/api/auth/is_password_login_disabled"),
    ("get", "/api/auth/is_smtp_configured"),
];

/// Operations that take any token, valid or not (logout: an unknown token is already out).
const ANY_TOKEN: [(&str, &str); 2] = [("get", "/api/auth/logout"), ("post", "/api/auth/logout")];

/// Operations that cannot fail.
const INFALLIBLE: [(&str, &str); 6] = [
    ("get", "/api/version"),
    ("get", "/api/health/live"),
    ("get", "/api/audit/public_key"),
    ("get", "/api/openapi.json"),
    ("get", "/api/auth/is_password_login_disabled"),
    ("get", "/api/auth/is_smtp_configured"),
];

/// An argon2 PHC string as an import takes it (its costs are checked beyond what a pattern
/// says: see `password::check_imported`).
const PHC_PATTERN: &str = "^\\$argon2(id|i|d)\\$(v=(16|19)\\$)?m=[0-9]{1,6},t=[0-9]{1,2},p=[0-9]{1,2}\\$[A-Za-z0-9+/]{11,64}\\$[A-Za-z0-9+/]{16,128}$";

fn int64() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
}

fn email() -> Value {
    json!({"type": "string", "format": "idn-email", "maxLength": EMAIL_MAX_CHARS})
}

fn text(max: usize) -> Value {
    json!({"type": ["string", "null"], "maxLength": max, "pattern": TEXT_PATTERN})
}

fn password(min: usize) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": PASSWORD_MAX_CHARS})
}

/// A list of scopes: each one `*` or a known `<domain>:<action>`.
fn scopes(nullable: bool) -> Value {
    let mut values = vec!["*".to_string()];
    for (d, _) in crate::scope::DOMAINS {
        for (a, _) in crate::scope::ACTIONS {
            values.push(format!("{d}:{a}"));
        }
    }
    let kind = if nullable {
        json!(["array", "null"])
    } else {
        json!("array")
    };
    json!({"type": kind, "items": {"type": "string", "enum": values}})
}

fn workspace_id() -> Value {
    json!({"type": "string", "maxLength": 50, "pattern": WORKSPACE_ID_PATTERN})
}

/// The schema of a query or path parameter, by its name (`None`: as generated).
fn parameter(name: &str, location: &str) -> Option<Value> {
    Some(match (name, location) {
        ("workspace", "path") => workspace_id(),
        ("id", "path") | ("page", _) | ("per_page", _) | ("before_id", _) => int64(),
        ("before" | "after", "query") => json!({"type": "string", "format": "date-time"}),
        ("all_workspaces" | "only_member_of" | "exclude_ephemeral", "query") => {
            json!({"type": "boolean"})
        }
        ("action_kind", "query") => {
            json!({"type": "string", "pattern": wmill_api::ACTION_KIND_PATTERN})
        }
        ("label", "path") => {
            json!({"type": "string", "pattern": crate::service::SCIM_LABEL_PATTERN})
        }
        ("archive_type", "query") => json!({"type": "string", "enum": ["zip"]}),
        (
            "include_users"
            | "include_groups"
            | "include_settings"
            | "include_password_hash"
            | "dry_run",
            "query",
        ) => json!({"type": "boolean"}),
        ("operations" | "exclude_operations", "query") => json!({
            "type": "string",
            "pattern": format!("^[^,]*(,[^,]*){{0,{}}}$", MAX_FILTER_LIST - 1),
        }),
        _ => return None,
    })
}

/// The schema of a property of a request body, by the body's schema name and the property.
fn property(schema: &str, name: &str, s: &Settings) -> Option<Value> {
    Some(match (schema, name) {
        ("CreateUser" | "AddUser" | "ImpersonateToken", "email" | "impersonate_email") => email(),
        ("NewScimToken", "label") => {
            json!({"type": "string", "pattern": crate::service::SCIM_LABEL_PATTERN})
        }
        ("CreateUser", "password") => password(s.initial_password_min_chars),
        ("SetPassword", "password") => password(s.password_min_chars),
        ("CreateUser" | "UpdateInstanceUser", "name" | "company") => text(255),
        ("NewToken" | "ImpersonateToken" | "ServiceAccountToken", "label") => text(1000),
        ("TokenLabel", "label") => {
            json!({"type": "string", "maxLength": 1000, "pattern": TEXT_PATTERN})
        }
        ("NewToken" | "ImpersonateToken" | "ServiceAccountToken", "expiration") => {
            json!({"type": ["string", "null"], "format": "date-time"})
        }
        ("NewToken" | "ServiceAccountToken", "scopes") => scopes(true),
        ("TokenScopes", "scopes") => scopes(false),
        ("CreateServiceAccount", "username") => json!({
            "type": "string",
            "maxLength": 50,
            "pattern": USERNAME_PATTERN,
        }),
        ("NewToken", "workspace_id") => {
            json!({"type": ["string", "null"], "maxLength": 50, "pattern": WORKSPACE_ID_PATTERN})
        }
        ("CreateWorkspace", "id") => workspace_id(),
        ("CreateWorkspace", "name") => {
            json!({"type": "string", "maxLength": 100, "pattern": WORKSPACE_NAME_PATTERN})
        }
        ("CreateWorkspace" | "AddUser", "username") => {
            json!({"type": ["string", "null"], "maxLength": 50, "pattern": OPTIONAL_USERNAME_PATTERN})
        }
        ("CreateGroup", "name") => {
            json!({"type": "string", "maxLength": 50, "pattern": GROUP_NAME_PATTERN})
        }
        ("CreateGroup" | "EditGroup", "summary") => text(1000),
        ("CreateInstanceGroup" | "ExportedInstanceGroup", "name") => {
            json!({"type": "string", "maxLength": 50, "pattern": GROUP_NAME_PATTERN})
        }
        ("CreateInstanceGroup" | "ExportedInstanceGroup", "summary") => text(1000),
        ("UpdateInstanceGroup", "new_summary") => {
            json!({"type": "string", "maxLength": 1000, "pattern": TEXT_PATTERN})
        }
        ("UpdateInstanceGroup" | "ExportedInstanceGroup", "instance_role") => json!({
            "type": ["string", "null"],
            "enum": ["superadmin", "devops", "user", "", null],
        }),
        ("ExportedInstanceGroup", "emails") => {
            json!({"type": ["array", "null"], "items": email(), "maxItems": 10_000})
        }
        ("ExportedInstanceGroup", "id" | "scim_display_name" | "external_id") => text(255),
        ("InstanceGroupMember" | "ExportedUser", "email") => email(),
        ("ChangeEmail", "new_email") => email(),
        ("ExportedUser", "password_hash") => json!({
            "type": ["string", "null"],
            "pattern": PHC_PATTERN,
        }),
        ("ExportedUser", "name" | "company") => text(255),
        ("ExportedUser", "username") => {
            json!({"type": ["string", "null"], "maxLength": 60, "pattern": "^[A-Za-z0-9_]*$"})
        }
        ("RenameUser", "new_username") => json!({
            "type": "string",
            "maxLength": 50,
            "pattern": USERNAME_PATTERN,
        }),
        ("ChangeWorkspaceName", "new_name") => {
            json!({"type": "string", "maxLength": 100, "pattern": WORKSPACE_NAME_PATTERN})
        }
        ("EditInstanceGroups", "groups") => json!({
            "type": ["array", "null"],
            "items": {"type": "string", "maxLength": 50, "pattern": GROUP_NAME_PATTERN},
        }),
        ("EditInstanceGroups", "roles") => json!({
            "type": ["object", "null"],
            "additionalProperties": {"type": "string", "enum": ["admin", "developer", "operator"]},
        }),
        ("AddAcl" | "RemoveAcl", "owner") => json!({
            "type": "string",
            "pattern": "^(u/[A-Za-z0-9_]{1,60}|g/[A-Za-z0-9_-]{1,50})$",
        }),
        ("ExistsUsername", "id") => json!({"type": "string"}),
        _ => return None,
    })
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"text/plain": {"schema": {"type": "string"}}},
    })
}

/// Adds `status` to `responses` unless the handler documented it already.
fn add(responses: &mut Map<String, Value>, status: u16, description: &str) {
    responses
        .entry(status.to_string())
        .or_insert_with(|| error(description));
}

/// Sets `key` of the JSON object `v` (nothing when `v` is not an object).
fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}

/// Completes `doc` (see the module documentation).
pub fn complete(doc: &mut Value, settings: &Settings) {
    if let Some(root) = doc.as_object_mut() {
        let components = root
            .entry("components")
            .or_insert_with(|| Value::Object(Map::new()));
        set(components, "securitySchemes", security_schemes());
    }
    complete_schemas(doc, settings);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            complete_operation(path, method, op);
        }
    }
}

fn security_schemes() -> Value {
    json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/auth/login or POST /api/users/tokens/create. \
                The same token is also accepted in the cookie `token` (then a change must come \
                from the server's own origin) and in the query parameter `token`.",
        }
    })
}

/// Puts the enforced constraints on the request bodies' properties.
fn complete_schemas(doc: &mut Value, settings: &Settings) {
    // (`get_mut`, not indexing: indexing a JSON object mutably inserts what is missing.)
    if let Some(schemas) = doc
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if name == "CreateServiceAccount" {
                // Not both admin and operator.
                set(
                    schema,
                    "not",
                    json!({
                        "required": ["is_admin", "operator"],
                        "properties": {"is_admin": {"const": true}, "operator": {"const": true}},
                    }),
                );
            }
            let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            for (prop, value) in props.iter_mut() {
                if let Some(v) = property(name, prop, settings) {
                    *value = v;
                }
            }
        }
    }
}

fn complete_operation(path: &str, method: &str, op: &mut Value) {
    let key = (method, path);
    let public = PUBLIC.contains(&key);
    // Every other operation declares its scope next to its handler (`security(...)`).
    if public {
        set(op, "security", json!([]));
    } else if ANY_TOKEN.contains(&key) {
        set(op, "security", json!([{}, {"bearer": []}]));
    }
    let mut path_params = false;
    let mut query_params = false;
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (name, location) = (field("name"), field("in"));
            path_params |= location == "path";
            query_params |= location == "query";
            if let Some(schema) = parameter(&name, &location) {
                set(p, "schema", schema);
            }
        }
    }
    if key == ("post", "/api/w/{workspace}/workspaces/operator_settings")
        && let Some(body) = op.pointer_mut("/requestBody/content/application~1json")
    {
        set(
            body,
            "schema",
            json!({
                "type": "object",
                "maxProperties": 32,
                "propertyNames": {"pattern": "^[a-z_]{1,64}$"},
                "additionalProperties": {"type": "boolean"},
            }),
        );
    }
    let body = op.get("requestBody").is_some();
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if INFALLIBLE.contains(&key) {
        return;
    }
    if !public {
        add(
            responses,
            401,
            "No token (`Unauthorized`), or one that is unknown, expired, revoked, of a disabled \
             account, or not valid here (`Not authorized: …`)",
        );
    }
    if !public {
        add(
            responses,
            403,
            "`Not authorized: this token lacks the scope …` or `… is read-only`, or \
             `Permission denied: …` (among others: a change authenticated by a cookie from \
             another origin)",
        );
    }
    if path.contains("{workspace}") {
        add(
            responses,
            403,
            "`Require Admin privileges for <username>` or `Permission denied: …`",
        );
        add(
            responses,
            404,
            "`Not found: …` (the workspace, for a superadmin)",
        );
    }
    if path_params {
        add(responses, 404, "`Not found: …`: nothing of that name or id");
    }
    if query_params {
        add(
            responses,
            400,
            "`Bad request: …` naming the query parameter",
        );
    }
    if body {
        add(
            responses,
            400,
            "`Bad request: …`: the body is not JSON, or a field is not valid",
        );
        add(
            responses,
            408,
            "`Request timeout: …`: the body did not arrive in time",
        );
        add(
            responses,
            413,
            "`Payload too large: …`: the body is over 64 KiB",
        );
        add(
            responses,
            415,
            "`Unsupported media type: …`: the body is not `application/json`",
        );
        add(
            responses,
            422,
            "`Unprocessable entity: …`: a field is missing or of the wrong type",
        );
    }
    add(
        responses,
        500,
        "`Internal: …` with an incident id in the server's log",
    );
    add(
        responses,
        503,
        "`Service unavailable: …`: the database cannot be reached, or a statement ran past its \
         time limit",
    );
}

/// What each route needs of its caller's token, by route template, then method.
pub type Requirements =
    std::collections::HashMap<String, Vec<(axum::http::Method, crate::service::Required)>>;

/// What each route needs of its caller's token, read from the completed document: the first
/// scope of its `bearer` security requirement, or any valid token when it lists none. Public
/// routes are not in the map.
pub fn route_requirements(doc: &Value) -> Requirements {
    use crate::service::Required;
    let mut out = Requirements::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let Ok(m) = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            else {
                continue;
            };
            let Some(reqs) = op.get("security").and_then(Value::as_array) else {
                continue;
            };
            let Some(bearer) = reqs.iter().find_map(|r| r.get("bearer")) else {
                continue;
            };
            let scope = bearer
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .and_then(|s| crate::scope::Scope::parse(s).ok());
            let required = scope.map_or(Required::AnyToken, Required::Scope);
            out.entry(path.clone()).or_default().push((m, required));
        }
    }
    out
}
