//! The permission matrix: every endpoint × every kind of caller → the expected status.
//! The list of endpoints is checked against the generated OpenAPI document, so a new
//! endpoint without a row here fails the test.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// The callers, in the order of the expectation arrays.
const CALLERS: [&str; 11] = [
    "no token",
    "malformed token",
    "bad checksum",
    "expired",
    "revoked",
    "deleted user",
    "disabled user",
    "pinned to another workspace",
    "member",
    "workspace admin",
    "superadmin",
];

/// One request of a cell: method, path, JSON body.
pub(crate) type Req = (&'static str, String, Option<Value>);

/// What one cell sends: requests the superadmin makes first, then the request under test.
pub(crate) struct Cell {
    pub(crate) prep: Vec<Req>,
    pub(crate) req: Req,
}

/// How a row answers the invalid callers.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Every invalid caller gets 401.
    Authed,
    /// No authentication: every caller gets the same answer.
    Public,
    /// Logout: no token is 401, any token (valid or not) is logged out.
    Logout,
}

pub(crate) struct Row {
    pub(crate) method: &'static str,
    pub(crate) template: &'static str,
    pub(crate) kind: Kind,
    /// Member, workspace admin, superadmin.
    pub(crate) valid: [u16; 3],
    /// Builds the cell for caller index `n` whose token is the second argument.
    pub(crate) make: fn(usize, &str) -> Cell,
}

fn simple(method: &'static str, path: &str, body: Option<Value>) -> Cell {
    Cell {
        prep: vec![],
        req: (method, path.to_string(), body),
    }
}

fn create_user(email: &str) -> Req {
    (
        "POST",
        "/api/users/create".into(),
        Some(json!({"email": email, "password": PASSWORD, "super_admin": false})),
    )
}

fn add_member(email: &str) -> Req {
    (
        "POST",
        "/api/w/ws/workspaces/add_user".into(),
        Some(json!({"email": email, "is_admin": false, "operator": false})),
    )
}

fn create_instance_group(name: &str) -> Req {
    (
        "POST",
        "/api/groups/create".into(),
        Some(json!({"name": name})),
    )
}

fn create_group(name: &str) -> Req {
    (
        "POST",
        "/api/w/ws/groups/create".into(),
        Some(json!({"name": name})),
    )
}

pub(crate) fn rows() -> Vec<Row> {
    use Kind::*;
    let r = |method, template, kind, valid, make| Row {
        method,
        template,
        kind,
        valid,
        make,
    };
    vec![
        r("POST", "/api/auth/login", Public, [200; 3], |_, _| {
            simple(
                "POST",
                "/api/auth/login",
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            )
        }),
        r("POST", "/api/auth/logout", Logout, [200; 3], |_, _| {
            simple("POST", "/api/auth/logout", None)
        }),
        r("GET", "/api/auth/logout", Logout, [200; 3], |_, _| {
            simple("GET", "/api/auth/logout", None)
        }),
        r("GET", "/api/users/whoami", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/whoami", None)
        }),
        r(
            "GET",
            "/api/w/{workspace}/users/whoami",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/whoami", None),
        ),
        r("GET", "/api/users/email", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/email", None)
        }),
        r(
            "POST",
            "/api/users/setpassword",
            Authed,
            [200; 3],
            |_, _| {
                simple(
                    "POST",
                    "/api/users/setpassword",
                    Some(json!({"password": PASSWORD})),
                )
            },
        ),
        r(
            "POST",
            "/api/users/create",
            Authed,
            [401, 401, 201],
            |n, _| Cell {
                prep: vec![],
                req: create_user(&format!("new{n}@example.com")),
            },
        ),
        r(
            "DELETE",
            "/api/users/delete/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "DELETE",
                    format!("/api/users/delete/victim{n}@example.com"),
                    None,
                ),
            },
        ),
        r(
            "POST",
            "/api/users/update/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/users/update/victim{n}@example.com"),
                    Some(json!({"name": "V"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/users/list_as_super_admin",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/users/list_as_super_admin", None),
        ),
        r(
            "POST",
            "/api/users/set_password_of/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/users/set_password_of/victim{n}@example.com"),
                    Some(json!({"password": "another one"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/users/exists/{email}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/users/exists/mem@example.com", None),
        ),
        r(
            "POST",
            "/api/users/tokens/create",
            Authed,
            [201; 3],
            |_, _| simple("POST", "/api/users/tokens/create", Some(json!({}))),
        ),
        r("GET", "/api/users/tokens/list", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/tokens/list", None)
        }),
        r(
            "DELETE",
            "/api/users/tokens/delete/{prefix_or_token}",
            Authed,
            [200; 3],
            |_, token| simple("DELETE", &format!("/api/users/tokens/delete/{token}"), None),
        ),
        r(
            "POST",
            "/api/users/tokens/impersonate",
            Authed,
            [401, 401, 201],
            |_, _| {
                simple(
                    "POST",
                    "/api/users/tokens/impersonate",
                    Some(json!({"impersonate_email": "mem@example.com"})),
                )
            },
        ),
        r(
            "POST",
            "/api/workspaces/create",
            Authed,
            [401, 401, 200],
            |n, _| {
                simple(
                    "POST",
                    "/api/workspaces/create",
                    Some(json!({"id": format!("new{n}"), "name": "N"})),
                )
            },
        ),
        r("GET", "/api/workspaces/list", Authed, [200; 3], |_, _| {
            simple("GET", "/api/workspaces/list", None)
        }),
        r(
            "GET",
            "/api/workspaces/list_as_superadmin",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/workspaces/list_as_superadmin", None),
        ),
        r(
            "POST",
            "/api/workspaces/exists",
            Authed,
            [200; 3],
            |_, _| simple("POST", "/api/workspaces/exists", Some(json!({"id": "ws"}))),
        ),
        r("GET", "/api/workspaces/users", Authed, [200; 3], |_, _| {
            simple("GET", "/api/workspaces/users", None)
        }),
        r(
            "GET",
            "/api/settings/global/automate_username_creation",
            Authed,
            [200; 3],
            |_, _| {
                simple(
                    "GET",
                    "/api/settings/global/automate_username_creation",
                    None,
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/add_user",
            Authed,
            [403, 201, 201],
            |n, _| Cell {
                prep: vec![],
                req: add_member(&format!("new{n}@example.com")),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/list",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/list", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/list_usernames",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/list_usernames", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/get/{username}",
            Authed,
            [403, 200, 200],
            |_, _| simple("GET", "/api/w/ws/users/get/mem", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/users/update/{username}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![add_member(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/w/ws/users/update/victim{n}"),
                    Some(json!({"operator": true})),
                ),
            },
        ),
        r(
            "DELETE",
            "/api/w/{workspace}/users/delete/{username}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![add_member(&format!("victim{n}@example.com"))],
                req: ("DELETE", format!("/api/w/ws/users/delete/victim{n}"), None),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups/list",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/groups/list", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups/listnames",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/groups/listnames", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups/get/{name}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/groups/get/all", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/create",
            Authed,
            [200; 3],
            |n, _| Cell {
                prep: vec![],
                req: create_group(&format!("g{n}")),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/update/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/groups/update/g{n}"),
                    Some(json!({"summary": "s"})),
                ),
            },
        ),
        r(
            "DELETE",
            "/api/w/{workspace}/groups/delete/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: ("DELETE", format!("/api/w/ws/groups/delete/g{n}"), None),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/adduser/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/groups/adduser/g{n}"),
                    Some(json!({"username": "mem"})),
                ),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/removeuser/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/groups/removeuser/g{n}"),
                    Some(json!({"username": "admin"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/audit/list",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/audit/list", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/audit/export",
            Authed,
            [403, 200, 200],
            |_, _| simple("GET", "/api/w/ws/audit/export", None),
        ),
        // Entry 1 is the bootstrap's, by `system`: outside a plain member's view.
        r(
            "GET",
            "/api/w/{workspace}/audit/get/{id}",
            Authed,
            [404, 404, 200],
            |_, _| simple("GET", "/api/w/ws/audit/get/1", None),
        ),
        r(
            "POST",
            "/api/users/tokens/update_label/{token_prefix}",
            Authed,
            [200; 3],
            |_, token| {
                let prefix: String = token.chars().take(10).collect();
                simple(
                    "POST",
                    &format!("/api/users/tokens/update_label/{prefix}"),
                    Some(json!({"label": "renamed"})),
                )
            },
        ),
        r(
            "POST",
            "/api/users/tokens/update_scopes/{token_prefix}",
            Authed,
            [200; 3],
            |_, token| {
                let prefix: String = token.chars().take(10).collect();
                simple(
                    "POST",
                    &format!("/api/users/tokens/update_scopes/{prefix}"),
                    Some(json!({"scopes": ["groups:read"]})),
                )
            },
        ),
        r(
            "GET",
            "/api/tokens/list/scopes",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/tokens/list/scopes", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/create_service_account",
            Authed,
            [403, 201, 201],
            |n, _| {
                simple(
                    "POST",
                    "/api/w/ws/workspaces/create_service_account",
                    Some(json!({"username": format!("bot{n}")})),
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/users/impersonate_service_account",
            Authed,
            [403, 201, 201],
            |n, _| Cell {
                prep: vec![(
                    "POST",
                    "/api/w/ws/workspaces/create_service_account".into(),
                    Some(json!({"username": format!("bot{n}")})),
                )],
                req: (
                    "POST",
                    "/api/w/ws/users/impersonate_service_account".into(),
                    Some(json!({"username": format!("bot{n}")})),
                ),
            },
        ),
        // ----- instance groups, export and overwrite, instance-wide user routes -----
        r("GET", "/api/groups/list", Authed, [200; 3], |_, _| {
            simple("GET", "/api/groups/list", None)
        }),
        r(
            "GET",
            "/api/groups/list_with_workspaces",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/groups/list_with_workspaces", None),
        ),
        r("GET", "/api/groups/get/{name}", Authed, [200; 3], |n, _| {
            Cell {
                prep: vec![create_instance_group(&format!("ig{n}"))],
                req: ("GET", format!("/api/groups/get/ig{n}"), None),
            }
        }),
        r(
            "POST",
            "/api/scim_tokens/create",
            Authed,
            [401, 401, 201],
            |n, _| Cell {
                prep: vec![],
                req: (
                    "POST",
                    "/api/scim_tokens/create".into(),
                    Some(json!({"label": format!("idp{n}")})),
                ),
            },
        ),
        r(
            "GET",
            "/api/scim_tokens/list",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/scim_tokens/list", None),
        ),
        r(
            "DELETE",
            "/api/scim_tokens/delete/{label}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![(
                    "POST",
                    "/api/scim_tokens/create".into(),
                    Some(json!({"label": format!("idp{n}")})),
                )],
                req: ("DELETE", format!("/api/scim_tokens/delete/idp{n}"), None),
            },
        ),
        r(
            "POST",
            "/api/groups/create",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![],
                req: create_instance_group(&format!("ig{n}")),
            },
        ),
        r(
            "POST",
            "/api/groups/update/{name}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_instance_group(&format!("ig{n}"))],
                req: (
                    "POST",
                    format!("/api/groups/update/ig{n}"),
                    Some(json!({"new_summary": "s"})),
                ),
            },
        ),
        r(
            "DELETE",
            "/api/groups/delete/{name}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_instance_group(&format!("ig{n}"))],
                req: ("DELETE", format!("/api/groups/delete/ig{n}"), None),
            },
        ),
        r(
            "POST",
            "/api/groups/adduser/{name}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_instance_group(&format!("ig{n}"))],
                req: (
                    "POST",
                    format!("/api/groups/adduser/ig{n}"),
                    Some(json!({"email": "mem@example.com"})),
                ),
            },
        ),
        r(
            "POST",
            "/api/groups/removeuser/{name}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![
                    create_instance_group(&format!("ig{n}")),
                    (
                        "POST",
                        format!("/api/groups/adduser/ig{n}"),
                        Some(json!({"email": "mem@example.com"})),
                    ),
                ],
                req: (
                    "POST",
                    format!("/api/groups/removeuser/ig{n}"),
                    Some(json!({"email": "mem@example.com"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/groups/export",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/groups/export", None),
        ),
        r(
            "POST",
            "/api/groups/overwrite",
            Authed,
            [401, 401, 200],
            |n, _| {
                simple(
                    "POST",
                    "/api/groups/overwrite",
                    Some(json!([{"name": format!("ig{n}"), "emails": ["mem@example.com"]}])),
                )
            },
        ),
        r(
            "GET",
            "/api/users/export",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/users/export", None),
        ),
        // A dry run: the cell must not delete the callers' accounts.
        r(
            "POST",
            "/api/users/overwrite",
            Authed,
            [401, 401, 200],
            |_, _| {
                simple(
                    "POST",
                    "/api/users/overwrite?dry_run=true",
                    Some(
                        json!([{"email": ADMIN_EMAIL, "super_admin": true, "verified": true, "first_time_user": false}]),
                    ),
                )
            },
        ),
        r(
            "POST",
            "/api/users/rename/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![
                    create_user(&format!("victim{n}@example.com")),
                    add_member(&format!("victim{n}@example.com")),
                ],
                req: (
                    "POST",
                    format!("/api/users/rename/victim{n}@example.com"),
                    Some(json!({"new_username": format!("renamed{n}")})),
                ),
            },
        ),
        r(
            "POST",
            "/api/users/change_email/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/users/change_email/victim{n}@example.com"),
                    Some(json!({"new_email": format!("moved{n}@example.com")})),
                ),
            },
        ),
        r(
            "GET",
            "/api/users/username_info/{email}",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/users/username_info/mem@example.com", None),
        ),
        r("GET", "/api/users/usage", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/usage", None)
        }),
        // ----- group owners, group history -----
        r(
            "GET",
            "/api/w/{workspace}/acls/get/{kind}/{path}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/acls/get/group_/all", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/acls/add/{kind}/{path}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/acls/add/group_/g{n}"),
                    Some(json!({"owner": "u/mem", "write": true})),
                ),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/acls/remove/{kind}/{path}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![
                    create_group(&format!("g{n}")),
                    (
                        "POST",
                        format!("/api/w/ws/acls/add/group_/g{n}"),
                        Some(json!({"owner": "g/all", "write": false})),
                    ),
                ],
                req: (
                    "POST",
                    format!("/api/w/ws/acls/remove/group_/g{n}"),
                    Some(json!({"owner": "g/all"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups_history/get/{name}",
            Authed,
            [403, 200, 200],
            |_, _| simple("GET", "/api/w/ws/groups_history/get/all", None),
        ),
        // ----- workspace settings and lifecycle -----
        r(
            "GET",
            "/api/w/{workspace}/workspaces/get_settings",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/workspaces/get_settings", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/edit_auto_invite",
            Authed,
            [403, 200, 200],
            |_, _| {
                simple(
                    "POST",
                    "/api/w/ws/workspaces/edit_auto_invite",
                    Some(json!({"operator": false, "invite_all": true, "auto_add": false})),
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/edit_instance_groups",
            Authed,
            [403, 200, 200],
            |_, _| {
                simple(
                    "POST",
                    "/api/w/ws/workspaces/edit_instance_groups",
                    Some(json!({"groups": []})),
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/operator_settings",
            Authed,
            [403, 200, 200],
            |_, _| {
                simple(
                    "POST",
                    "/api/w/ws/workspaces/operator_settings",
                    Some(json!({"runs": true, "groups": true})),
                )
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/workspaces/get_workspace_name",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/workspaces/get_workspace_name", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/change_workspace_name",
            Authed,
            [403, 200, 200],
            |n, _| {
                simple(
                    "POST",
                    "/api/w/ws/workspaces/change_workspace_name",
                    Some(json!({"new_name": format!("W{n}")})),
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/archive",
            Authed,
            [403, 200, 200],
            |_, _| simple("POST", "/api/w/ws/workspaces/archive", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/unarchive",
            Authed,
            [403, 200, 200],
            |_, _| simple("POST", "/api/w/ws/workspaces/unarchive", None),
        ),
        r(
            "DELETE",
            "/api/workspaces/delete/{workspace}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![(
                    "POST",
                    "/api/workspaces/create".into(),
                    Some(json!({"id": format!("del{n}"), "name": "D"})),
                )],
                req: ("DELETE", format!("/api/workspaces/delete/del{n}"), None),
            },
        ),
        // A workspace of the superadmin's own, with another admin, for each cell: the
        // superadmin can leave it; the other callers are not members of it.
        r(
            "POST",
            "/api/w/{workspace}/workspaces/leave",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![
                    (
                        "POST",
                        "/api/workspaces/create".into(),
                        Some(json!({"id": format!("lv{n}"), "name": "L"})),
                    ),
                    (
                        "POST",
                        format!("/api/w/lv{n}/workspaces/add_user"),
                        Some(
                            json!({"email": format!("other{n}@example.com"), "is_admin": true, "operator": false}),
                        ),
                    ),
                ],
                req: ("POST", format!("/api/w/lv{n}/workspaces/leave"), None),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/workspaces/tarball",
            Authed,
            [403, 200, 200],
            |_, _| {
                simple(
                    "GET",
                    "/api/w/ws/workspaces/tarball?archive_type=zip&include_users=true&include_groups=true",
                    None,
                )
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/workspaces/list_ws_specific",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/workspaces/list_ws_specific", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/whois/{username}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/whois/mem", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/username_to_email/{username}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/username_to_email/mem", None),
        ),
        r(
            "POST",
            "/api/workspaces/exists_username",
            Authed,
            [200; 3],
            |_, _| {
                simple(
                    "POST",
                    "/api/workspaces/exists_username",
                    Some(json!({"id": "ws", "username": "mem"})),
                )
            },
        ),
        r(
            "GET",
            "/api/auth/is_password_login_disabled",
            Public,
            [200; 3],
            |_, _| simple("GET", "/api/auth/is_password_login_disabled", None),
        ),
        r(
            "GET",
            "/api/auth/is_smtp_configured",
            Public,
            [200; 3],
            |_, _| simple("GET", "/api/auth/is_smtp_configured", None),
        ),
        r("GET", "/api/version", Public, [200; 3], |_, _| {
            simple("GET", "/api/version", None)
        }),
        r("GET", "/api/audit/public_key", Public, [200; 3], |_, _| {
            simple("GET", "/api/audit/public_key", None)
        }),
        r(
            "GET",
            "/api/audit/verify",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/audit/verify", None),
        ),
        r("GET", "/api/health/status", Public, [200; 3], |_, _| {
            simple("GET", "/api/health/status", None)
        }),
        r("GET", "/api/health/live", Public, [200; 3], |_, _| {
            simple("GET", "/api/health/live", None)
        }),
        r("GET", "/api/health/ready", Public, [200; 3], |_, _| {
            simple("GET", "/api/health/ready", None)
        }),
        r("GET", "/api/openapi.json", Public, [200; 3], |_, _| {
            simple("GET", "/api/openapi.json", None)
        }),
    ]
}

/// A fresh token for each caller kind, on an app with workspaces `ws` and `other`.
pub(crate) async fn callers(app: &TestApp) -> Vec<Option<String>> {
    app.create_workspace("ws").await;
    app.create_workspace("other").await;
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let expired = app.mint(&app.admin, json!({"expiration": soon})).await;
    let revoked = app.mint(&app.admin, json!({})).await;
    app.delete(&format!("/api/users/tokens/delete/{revoked}"), &app.admin)
        .await
        .assert_status(200);
    app.create_user("gone@example.com", true).await;
    let deleted = app.login("gone@example.com", PASSWORD).await;
    app.delete("/api/users/delete/gone@example.com", &app.admin)
        .await
        .assert_status(200);
    app.create_user("off@example.com", true).await;
    let disabled = app.login("off@example.com", PASSWORD).await;
    app.post(
        "/api/users/update/off@example.com",
        &app.admin,
        json!({"disabled": true}),
    )
    .await
    .assert_status(200);
    let pinned = app.mint(&app.admin, json!({"workspace_id": "other"})).await;
    let member = app.member_token("ws", "mem@example.com", false).await;
    let admin = app.member_token("ws", "wsa@example.com", true).await;
    let mut bad_checksum = app.mint(&app.admin, json!({})).await.into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    app.clock.advance(Duration::from_secs(3600));
    vec![
        None,
        Some("not-a-token".into()),
        Some(String::from_utf8(bad_checksum).unwrap()),
        Some(expired),
        Some(revoked),
        Some(deleted),
        Some(disabled),
        Some(pinned),
        Some(member),
        Some(admin),
        Some(app.admin.clone()),
    ]
}

fn expected(row: &Row) -> [u16; 11] {
    let mut e = [401u16; 11];
    match row.kind {
        Kind::Authed => {}
        Kind::Public => e = [row.valid[0]; 11],
        Kind::Logout => e[1..].fill(200),
    }
    e[8..].copy_from_slice(&row.valid);
    e
}

db_test!(
    async fn every_endpoint_for_every_caller(app) {
        let mut failures = Vec::new();
        for (i, row) in rows().iter().enumerate() {
            // A fresh app per row, so that one row's cells cannot disturb another's.
            let _ = i;
            let app = app.sibling(wmill_server::config::Settings::for_tests()).await;
            let tokens = callers(&app).await;
            let want = expected(row);
            for (n, token) in tokens.iter().enumerate() {
                let cell = (row.make)(n, token.as_deref().unwrap_or("absent"));
                for (m, p, b) in cell.prep {
                    let r = app.call(m, &p, Some(&app.admin), b).await;
                    assert!(r.status.is_success(), "prep {m} {p} for {}: {r:?}", row.template);
                }
                let (m, p, b) = cell.req;
                let before = app.fingerprint().await;
                let r = app.call(m, &p, token.as_deref(), b).await;
                if r.status.as_u16() != want[n] {
                    failures.push(format!("{m} {p} as {}: want {}, got {} {:?}", CALLERS[n], want[n], r.status.as_u16(), r.body));
                }
                // A refusal changes nothing, not even the audit log.
                if !r.status.is_success() && app.fingerprint().await != before {
                    failures.push(format!("{m} {p} as {}: refused with {} but the data changed", CALLERS[n], r.status.as_u16()));
                }
            }
        }
        assert!(failures.is_empty(), "{} cells differ:\n{}", failures.len(), failures.join("\n"));
    }
);

#[test]
fn the_matrix_covers_every_documented_endpoint() {
    let doc = wmill_server::http::openapi_doc(&wmill_server::config::Settings::for_tests());
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let covered: BTreeSet<String> = rows()
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let extra: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the permission matrix: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "rows for endpoints that do not exist: {extra:?}"
    );
    assert!(documented.len() >= 40, "{documented:?}");
}
