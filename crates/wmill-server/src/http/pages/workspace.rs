//! The workspace admin's pages: members (add, role, disable, remove) and groups (create,
//! summary, members, owners, delete).
//!
//! Every change goes through the same service methods as the API's handlers
//! (`http/workspaces.rs`, `http/groups.rs`, the group owners of `http/settings.rs`): the
//! same permissions, refusals and audit entries. A refusal re-renders the page with the
//! server's sentence next to the form it concerns, what was typed kept, and the refusal's
//! status; a success is a 303 back to the page with a short notice.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use wmill_api::{AddUser, CreateGroup, EditWorkspaceUser};

use super::{PageError, Post, Session, alert, encode_component, notice, see_other};
use crate::error::Error;
use crate::http::AppState;
use crate::service::Member;

/// Members shown per page: each row carries three small forms, and a page stays well under
/// 100 KB however large the workspace.
/// Usernames offered as suggestions on a group page.
const USERNAME_SUGGESTIONS: i64 = 200;
const MEMBERS_PER_PAGE: i64 = 50;

/// The roles a member may have, as the select offers them.
const ROLES: [&str; 3] = ["developer", "admin", "operator"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/w/{w}/members", get(members).post(add_member))
        .route("/w/{w}/members/role", post(set_role))
        .route("/w/{w}/members/disable", post(disable_member))
        .route("/w/{w}/members/enable", post(enable_member))
        .route("/w/{w}/members/remove", post(remove_member))
        .route("/w/{w}/groups", get(groups).post(create_group))
        .route("/w/{w}/groups/{name}", get(group))
        .route("/w/{w}/groups/{name}/summary", post(save_summary))
        .route("/w/{w}/groups/{name}/members/add", post(add_group_member))
        .route(
            "/w/{w}/groups/{name}/members/remove",
            post(remove_group_member),
        )
        .route("/w/{w}/groups/{name}/owners/add", post(add_owner))
        .route("/w/{w}/groups/{name}/owners/remove", post(remove_owner))
        .route("/w/{w}/groups/{name}/delete", post(delete_group))
}

// ---------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------

/// What the address says just happened (`?done=…&who=…`), and the page of a list.
#[derive(Deserialize, Default)]
struct Shown {
    done: Option<String>,
    who: Option<String>,
    page: Option<String>,
}

impl Shown {
    /// `who` when it looks like a name or an address (a link cannot put a sentence of its
    /// own on the page).
    fn who(&self) -> Option<&str> {
        self.who.as_deref().filter(|w| {
            !w.is_empty()
                && w.len() <= 100
                && w.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b'+')
                })
        })
    }

    fn page(&self) -> i64 {
        self.page
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| (1..=1_000_000).contains(p))
            .unwrap_or(1)
    }
}

/// A refusal as the page says it: the service's status and sentence (a failure of the
/// server itself is logged and said in general terms, as `PageError` does).
fn refusal(e: Error) -> (StatusCode, String) {
    match PageError::from(e) {
        PageError::Refused(status, message) => (status, message),
        PageError::SignIn(_) => (
            StatusCode::UNAUTHORIZED,
            "Your session has ended; sign in again.".into(),
        ),
    }
}

/// Where a 303 goes after a success: `path?done=…&who=…`.
fn done_at(path: &str, done: &str, who: &str) -> Response {
    see_other(&format!("{path}?done={done}&who={}", encode_component(who)))
}

/// The workspace's name for headings (its id when the caller is not a member).
fn ws_name<'a>(session: &'a Session, m: &'a Member) -> &'a str {
    session
        .workspaces
        .iter()
        .find(|w| w.id == m.workspace.as_str())
        .map_or(m.workspace.as_str(), |w| w.name.as_str())
}

/// The role's flags: `(is_admin, operator)`.
fn role_flags(role: &str) -> Option<(bool, bool)> {
    match role {
        "developer" => Some((false, false)),
        "admin" => Some((true, false)),
        "operator" => Some((false, true)),
        _ => None,
    }
}

const BAD_ROLE: &str = "Choose a role: developer, admin or operator.";

/// A refusal shown on a page: the form it concerns, the service's status and sentence, and
/// what was typed in the forms.
struct Refused<'a, S, T> {
    spot: S,
    status: StatusCode,
    message: String,
    typed: &'a T,
}

impl<'a, S: PartialEq + Copy, T> Refused<'a, S, T> {
    fn new(spot: S, (status, message): (StatusCode, String), typed: &'a T) -> Self {
        Refused {
            spot,
            status,
            message,
            typed,
        }
    }
}

/// The server's sentence when it concerns `spot`.
fn said<'r, S: PartialEq + Copy, T>(
    refused: &'r Option<Refused<'_, S, T>>,
    spot: S,
) -> Option<&'r str> {
    match refused {
        Some(r) if r.spot == spot => Some(r.message.as_str()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

/// Which form a sentence of the members page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MSpot {
    /// The table's own forms (role, disable, enable, remove).
    Table,
    /// The add-member form.
    Add,
}

/// The add-member form's fields, kept as typed.
#[derive(Deserialize, Default)]
struct AddMemberForm {
    email: Option<String>,
    username: Option<String>,
    role: Option<String>,
}

/// A form about one member of the table.
#[derive(Deserialize)]
struct MemberForm {
    username: Option<String>,
    role: Option<String>,
}

async fn members(
    State(s): State<AppState>,
    session: Session,
    Path(ws): Path<String>,
    Query(q): Query<Shown>,
) -> Result<Response, PageError> {
    let m = session.member(&s, &ws).await?;
    let who = q.who().unwrap_or("The member");
    let done = q.done.as_deref().and_then(|d| match d {
        "added" => Some(format!("{who} was added to the workspace.")),
        "role" => Some(format!("{who}'s role was changed.")),
        "disabled" => Some(format!("{who} was disabled.")),
        "enabled" => Some(format!("{who} was enabled.")),
        "removed" => Some(format!("{who} was removed from the workspace.")),
        _ => None,
    });
    members_page(&s, &session, &m, q.page(), done.as_deref(), None).await
}

async fn members_page(
    s: &AppState,
    session: &Session,
    m: &Member,
    page: i64,
    done: Option<&str>,
    error: Option<Refused<'_, MSpot, AddMemberForm>>,
) -> Result<Response, PageError> {
    let blank = AddMemberForm::default();
    let (typed, status) = error
        .as_ref()
        .map_or((&blank, StatusCode::OK), |r| (r.typed, r.status));
    let list = s
        .svc
        .list_members(m, Some(page), Some(MEMBERS_PER_PAGE))
        .await?;
    let ws = m.workspace.as_str();
    let name = ws_name(session, m);
    let admin = m.is_admin;
    let typed_role = typed.role.as_deref().unwrap_or("developer");
    let body = html! {
        h1 { "Members of " (name) }
        (notice(done))
        (alert(said(&error, MSpot::Table)))
        @if list.is_empty() {
            p { @if page > 1 { "No members on this page." } @else { "This workspace has no members." } }
        } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Members of " (name) }
                    thead {
                        tr {
                            th scope="col" { "Username" }
                            th scope="col" { "Email" }
                            th scope="col" { "Role" }
                            th scope="col" { "Disabled" }
                            @if admin { th scope="col" { "Actions" } }
                        }
                    }
                    tbody {
                        @for (i, u) in list.iter().enumerate() {
                            @let role = u.role.as_deref().unwrap_or("developer");
                            tr data-username=(u.username) {
                                td {
                                    (u.username)
                                    @if u.username == m.username { " " span class="muted" { "(you)" } }
                                    @if u.is_service_account { " " span class="muted" { "(service account)" } }
                                }
                                td { (u.email) }
                                td { (role) }
                                td { @if u.disabled { "yes" } @else { "no" } }
                                @if admin {
                                    td {
                                        div class="actions" {
                                            form class="row" method="post" action={ "/w/" (ws) "/members/role" } {
                                                (session.csrf_field())
                                                input type="hidden" name="username" value=(u.username);
                                                label class="visually-hidden" for={ "role-" (i) } { "Role of " (u.username) }
                                                select id={ "role-" (i) } name="role" {
                                                    @for r in ROLES {
                                                        option value=(r) selected[r == role] { (r) }
                                                    }
                                                }
                                                button type="submit" class="secondary" aria-label={ "Set role of " (u.username) } { "Set role" }
                                            }
                                            @if u.disabled {
                                                form class="inline" method="post" action={ "/w/" (ws) "/members/enable" } {
                                                    (session.csrf_field())
                                                    input type="hidden" name="username" value=(u.username);
                                                    button type="submit" class="secondary" aria-label={ "Enable " (u.username) } { "Enable" }
                                                }
                                            } @else {
                                                form class="inline" method="post" action={ "/w/" (ws) "/members/disable" } {
                                                    (session.csrf_field())
                                                    input type="hidden" name="username" value=(u.username);
                                                    button type="submit" class="secondary" aria-label={ "Disable " (u.username) } { "Disable" }
                                                }
                                            }
                                            form class="inline" method="post" action={ "/w/" (ws) "/members/remove" }
                                                data-confirm={ "Remove " (u.username) " from workspace " (name) "? Their groups here and their tokens for this workspace go with it." } {
                                                (session.csrf_field())
                                                input type="hidden" name="username" value=(u.username);
                                                button type="submit" class="danger" aria-label={ "Remove " (u.username) } { "Remove" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if page > 1 || list.len() as i64 == MEMBERS_PER_PAGE {
            nav class="pager" aria-label="Pages of members" {
                @if page > 1 {
                    a href={ "/w/" (ws) "/members?page=" (page - 1) } { "Previous page" }
                }
                @if list.len() as i64 == MEMBERS_PER_PAGE {
                    a href={ "/w/" (ws) "/members?page=" (page + 1) } { "Next page" }
                }
            }
        }
        h2 id="add-member-title" { "Add a member" }
        (alert(said(&error, MSpot::Add)))
        @if admin {
            form id="add-member" method="post" action={ "/w/" (ws) "/members" } class="card" aria-labelledby="add-member-title" {
                (session.csrf_field())
                label for="member-email" { "Email" }
                input id="member-email" name="email" type="email" required autocomplete="off"
                    value=(typed.email.as_deref().unwrap_or_default());
                label for="member-username" { "Username (optional; made from the email when empty)" }
                input id="member-username" name="username" type="text" maxlength="50" autocomplete="off"
                    value=(typed.username.as_deref().unwrap_or_default());
                label for="member-role" { "Role" }
                select id="member-role" name="role" {
                    @for r in ROLES {
                        option value=(r) selected[r == typed_role] { (r) }
                    }
                }
                button type="submit" { "Add member" }
            }
        } @else {
            p class="muted" { "Only the workspace's admins add, change or remove members." }
        }
    };
    Ok((status, session.page(&format!("Members of {name}"), body)).into_response())
}

async fn add_member(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    post: Post<AddMemberForm>,
) -> Result<Response, PageError> {
    let session = &post.session;
    let m = session.member(&s, &ws).await?;
    let f = &post.form;
    let email = f.email.clone().unwrap_or_default();
    let result = match role_flags(f.role.as_deref().unwrap_or("developer")) {
        Some((is_admin, operator)) => s
            .svc
            .add_user(
                &m,
                AddUser {
                    email: email.trim().to_owned(),
                    is_admin,
                    operator,
                    username: f.username.clone().map(|u| u.trim().to_owned()),
                },
            )
            .await
            .map_err(refusal),
        None => Err((StatusCode::BAD_REQUEST, BAD_ROLE.to_owned())),
    };
    match result {
        Ok(_) => Ok(done_at(
            &format!("/w/{}/members", m.workspace),
            "added",
            email.trim(),
        )),
        Err(refused) => {
            let refused = Refused::new(MSpot::Add, refused, f);
            members_page(&s, session, &m, 1, None, Some(refused)).await
        }
    }
}

/// A change of one member: `edit` as the API's `users/update` takes it.
async fn change_member(
    s: &AppState,
    ws: &str,
    post: &Post<MemberForm>,
    edit: Option<EditWorkspaceUser>,
    done: &str,
) -> Result<Response, PageError> {
    let session = &post.session;
    let m = session.member(s, ws).await?;
    let username = post.form.username.clone().unwrap_or_default();
    let result = match edit {
        Some(edit) => s.svc.update_member(&m, &username, edit).await,
        None => s.svc.remove_member(&m, &username).await,
    };
    match result {
        Ok(_) => Ok(done_at(
            &format!("/w/{}/members", m.workspace),
            done,
            &username,
        )),
        Err(e) => {
            let blank = AddMemberForm::default();
            let refused = Refused::new(MSpot::Table, refusal(e), &blank);
            members_page(s, session, &m, 1, None, Some(refused)).await
        }
    }
}

async fn set_role(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    post: Post<MemberForm>,
) -> Result<Response, PageError> {
    let Some((is_admin, operator)) = role_flags(post.form.role.as_deref().unwrap_or_default())
    else {
        // The permission comes first: a refusal of the caller says so before the role.
        let m = post.session.member(&s, &ws).await?;
        let said = match m.require_admin() {
            Err(e) => refusal(e),
            Ok(()) => (StatusCode::BAD_REQUEST, BAD_ROLE.to_owned()),
        };
        let blank = AddMemberForm::default();
        let refused = Refused::new(MSpot::Table, said, &blank);
        return members_page(&s, &post.session, &m, 1, None, Some(refused)).await;
    };
    let edit = EditWorkspaceUser {
        is_admin: Some(is_admin),
        operator: Some(operator),
        disabled: None,
    };
    change_member(&s, &ws, &post, Some(edit), "role").await
}

async fn disable_member(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    post: Post<MemberForm>,
) -> Result<Response, PageError> {
    let edit = EditWorkspaceUser {
        is_admin: None,
        operator: None,
        disabled: Some(true),
    };
    change_member(&s, &ws, &post, Some(edit), "disabled").await
}

async fn enable_member(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    post: Post<MemberForm>,
) -> Result<Response, PageError> {
    let edit = EditWorkspaceUser {
        is_admin: None,
        operator: None,
        disabled: Some(false),
    };
    change_member(&s, &ws, &post, Some(edit), "enabled").await
}

async fn remove_member(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    post: Post<MemberForm>,
) -> Result<Response, PageError> {
    change_member(&s, &ws, &post, None, "removed").await
}

// ---------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------

/// The new-group form's fields, kept as typed.
#[derive(Deserialize, Default)]
struct NewGroupForm {
    name: Option<String>,
    summary: Option<String>,
}

async fn groups(
    State(s): State<AppState>,
    session: Session,
    Path(ws): Path<String>,
    Query(q): Query<Shown>,
) -> Result<Response, PageError> {
    let m = session.member(&s, &ws).await?;
    let who = q.who().unwrap_or("the group");
    let done = q.done.as_deref().and_then(|d| match d {
        "created" => Some(format!("Group {who} was created.")),
        "deleted" => Some(format!("Group {who} was deleted.")),
        _ => None,
    });
    groups_page(
        &s,
        &session,
        &m,
        done.as_deref(),
        None,
        &NewGroupForm::default(),
        StatusCode::OK,
    )
    .await
}

async fn groups_page(
    s: &AppState,
    session: &Session,
    m: &Member,
    done: Option<&str>,
    error: Option<&str>,
    typed: &NewGroupForm,
    status: StatusCode,
) -> Result<Response, PageError> {
    let list = s.svc.list_groups(m, Some(1), Some(10_000)).await?;
    let ws = m.workspace.as_str();
    let name = ws_name(session, m);
    let body = html! {
        h1 { "Groups of " (name) }
        (notice(done))
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "Groups of " (name) }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Summary" }
                        th scope="col" { "Members" }
                    }
                }
                tbody {
                    @for g in &list {
                        tr data-group=(g.name) {
                            td { a href={ "/w/" (ws) "/groups/" (g.name) } { (g.name) } }
                            td { (g.summary.as_deref().unwrap_or("")) }
                            td { (g.members.len()) }
                        }
                    }
                }
            }
        }
        h2 id="new-group-title" { "Create a group" }
        (alert(error))
        form id="new-group" method="post" action={ "/w/" (ws) "/groups" } class="card" aria-labelledby="new-group-title" {
            (session.csrf_field())
            label for="group-name" { "Name (letters, digits, '_' or '-')" }
            input id="group-name" name="name" type="text" required maxlength="50" autocomplete="off"
                value=(typed.name.as_deref().unwrap_or_default());
            label for="group-summary" { "Summary (optional)" }
            input id="group-summary" name="summary" type="text" maxlength="1000" autocomplete="off"
                value=(typed.summary.as_deref().unwrap_or_default());
            button type="submit" { "Create group" }
        }
    };
    Ok((status, session.page(&format!("Groups of {name}"), body)).into_response())
}

async fn create_group(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    post: Post<NewGroupForm>,
) -> Result<Response, PageError> {
    let session = &post.session;
    let m = session.member(&s, &ws).await?;
    let f = &post.form;
    let name = f.name.clone().unwrap_or_default().trim().to_owned();
    let req = CreateGroup {
        name: name.clone(),
        summary: f.summary.clone(),
    };
    match s.svc.create_group(&m, req).await {
        Ok(_) => Ok(done_at(
            &format!("/w/{}/groups", m.workspace),
            "created",
            &name,
        )),
        Err(e) => {
            let (status, message) = refusal(e);
            groups_page(&s, session, &m, None, Some(&message), f, status).await
        }
    }
}

/// Which form a sentence of a group's page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GSpot {
    Summary,
    Members,
    Owners,
    Delete,
}

/// What was typed in a group's forms, kept after a refusal.
#[derive(Default)]
struct GroupTyped {
    summary: Option<String>,
    member: String,
    owner: String,
}

async fn group(
    State(s): State<AppState>,
    session: Session,
    Path((ws, name)): Path<(String, String)>,
    Query(q): Query<Shown>,
) -> Result<Response, PageError> {
    let m = session.member(&s, &ws).await?;
    let who = q.who().unwrap_or("The member");
    let done = q.done.as_deref().and_then(|d| match d {
        "summary" => Some("The summary was saved.".to_owned()),
        "added" => Some(format!("{who} was added to the group.")),
        "removed" => Some(format!("{who} was removed from the group.")),
        "owner" => Some(format!("{who} is now an owner of the group.")),
        "unowned" => Some(format!("{who} is no longer an owner of the group.")),
        _ => None,
    });
    group_page(&s, &session, &m, &name, done.as_deref(), None).await
}

/// How an owner reads on the page: `u/alice` → alice, `g/ops` → group ops.
fn owner_label(owner: &str) -> String {
    match owner.split_once('/') {
        Some(("u", u)) => u.to_owned(),
        Some(("g", g)) => format!("group {g}"),
        _ => owner.to_owned(),
    }
}

async fn group_page(
    s: &AppState,
    session: &Session,
    m: &Member,
    name: &str,
    done: Option<&str>,
    error: Option<Refused<'_, GSpot, GroupTyped>>,
) -> Result<Response, PageError> {
    let blank = GroupTyped::default();
    let (typed, status) = error
        .as_ref()
        .map_or((&blank, StatusCode::OK), |r| (r.typed, r.status));
    let g = s.svc.get_group(m, name).await?;
    let ws = m.workspace.as_str();
    let is_all = g.name == "all";
    let owners: Vec<&String> = g
        .extra_perms
        .iter()
        .filter(|(_, write)| **write)
        .map(|(k, _)| k)
        .collect();
    // Whether to offer the forms (the service decides all the same): admins and owners,
    // directly or through a group they belong to.
    let me = format!("u/{}", m.username);
    let mut may_manage = m.is_admin || owners.iter().any(|o| **o == me);
    if !may_manage && owners.iter().any(|o| o.starts_with("g/")) {
        let mine = s
            .svc
            .list_group_names(m, true, Some(1), Some(10_000))
            .await?;
        may_manage = owners.iter().any(|o| {
            o.strip_prefix("g/")
                .is_some_and(|g| mine.iter().any(|x| x == g))
        });
    }
    let may_manage = may_manage && !is_all;
    let usernames = if may_manage {
        // Suggestions only (any member's username may be typed): bounded, so that the page
        // stays small and quick in a large workspace.
        s.svc
            .list_usernames(m, Some(1), Some(USERNAME_SUGGESTIONS))
            .await?
    } else {
        Vec::new()
    };
    let base = format!("/w/{ws}/groups/{}", g.name);
    let summary_value = typed
        .summary
        .as_deref()
        .or(g.summary.as_deref())
        .unwrap_or_default();
    let body = html! {
        p { a href={ "/w/" (ws) "/groups" } { "All groups" } }
        h1 { "Group " (g.name) }
        (notice(done))
        @if is_all {
            p class="muted" { "Every member of the workspace is in this group: it follows the membership and has no owners to change." }
            (alert(said(&error, GSpot::Owners)))
            (alert(said(&error, GSpot::Delete)))
        }
        h2 id="summary-title" { "Summary" }
        (alert(said(&error, GSpot::Summary)))
        @if may_manage {
            form id="summary" method="post" action={ (base) "/summary" } class="card" aria-labelledby="summary-title" {
                (session.csrf_field())
                label for="summary-text" { "Summary" }
                input id="summary-text" name="summary" type="text" maxlength="1000" autocomplete="off" value=(summary_value);
                button type="submit" { "Save summary" }
            }
        } @else {
            p { @match g.summary.as_deref() { Some(t) if !t.is_empty() => { (t) }, _ => { span class="muted" { "No summary." } } } }
        }
        h2 id="members-title" { "Members (" (g.members.len()) ")" }
        (alert(said(&error, GSpot::Members)))
        @if g.members.is_empty() {
            p { "Nobody is in this group." }
        } @else {
            ul class="plain" aria-labelledby="members-title" {
                @for u in &g.members {
                    li data-member=(u) {
                        (u) " "
                        @if may_manage {
                            form class="inline" method="post" action={ (base) "/members/remove" } {
                                (session.csrf_field())
                                input type="hidden" name="username" value=(u);
                                button type="submit" class="danger" aria-label={ "Remove " (u) " from group " (g.name) } { "Remove" }
                            }
                        }
                    }
                }
            }
        }
        @if may_manage {
            @if !usernames.is_empty() {
                datalist id="workspace-usernames" {
                    @for u in &usernames { option value=(u) {} }
                }
            }
            form id="add-group-member" method="post" action={ (base) "/members/add" } class="card" aria-labelledby="add-group-member-title" {
                (session.csrf_field())
                h3 id="add-group-member-title" class="visually-hidden" { "Add a member to group " (g.name) }
                label for="add-member-username" { "Username of a member of the workspace" }
                input id="add-member-username" name="username" type="text" required autocomplete="off"
                    list="workspace-usernames" value=(typed.member);
                button type="submit" { "Add to group" }
            }
        }
        @if !is_all {
            h2 id="owners-title" { "Owners" }
            p class="muted" { "Owners change the group's summary, members and owners, and may delete it; so do the workspace's admins." }
            (alert(said(&error, GSpot::Owners)))
            @if owners.is_empty() {
                p { "This group has no owner: only the workspace's admins manage it." }
            } @else {
                ul class="plain" aria-labelledby="owners-title" {
                    @for o in &owners {
                        @let label = owner_label(o);
                        li data-owner=(o.strip_prefix("u/").unwrap_or(o)) {
                            (label) " "
                            @if may_manage {
                                form class="inline" method="post" action={ (base) "/owners/remove" } {
                                    (session.csrf_field())
                                    input type="hidden" name="owner" value=(o);
                                    button type="submit" class="danger" aria-label={ "Remove owner " (label) } { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            @if may_manage {
                form id="add-owner" method="post" action={ (base) "/owners/add" } class="card" aria-labelledby="add-owner-title" {
                    (session.csrf_field())
                    h3 id="add-owner-title" class="visually-hidden" { "Add an owner to group " (g.name) }
                    label for="add-owner-username" { "Username of the new owner" }
                    input id="add-owner-username" name="username" type="text" required autocomplete="off"
                        list="workspace-usernames" value=(typed.owner);
                    button type="submit" { "Add owner" }
                }
            }
            @if may_manage || said(&error, GSpot::Delete).is_some() {
                h2 id="delete-title" { "Delete this group" }
                (alert(said(&error, GSpot::Delete)))
            }
            @if may_manage {
                form id="delete-group" method="post" action={ (base) "/delete" } data-confirm={ "Delete group " (g.name) "?" } {
                    (session.csrf_field())
                    button type="submit" class="danger" { "Delete group" }
                }
            }
        }
        @if !may_manage && !is_all {
            p class="muted" { "Only the workspace's admins and the group's owners change this group." }
        }
    };
    Ok((status, session.page(&format!("Group {}", g.name), body)).into_response())
}

/// After a change of a group: 303 to its page, or the page again with the refusal next to
/// the form `spot`.
async fn after_group_change(
    s: &AppState,
    session: &Session,
    m: &Member,
    name: &str,
    result: Result<String, Error>,
    success: (&str, &str),
    on_refusal: (GSpot, GroupTyped),
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(done_at(
            &format!("/w/{}/groups/{name}", m.workspace),
            success.0,
            success.1,
        )),
        Err(e) => {
            let (spot, typed) = on_refusal;
            let refused = Refused::new(spot, refusal(e), &typed);
            group_page(s, session, m, name, None, Some(refused)).await
        }
    }
}

#[derive(Deserialize)]
struct SummaryForm {
    summary: Option<String>,
}

async fn save_summary(
    State(s): State<AppState>,
    Path((ws, name)): Path<(String, String)>,
    post: Post<SummaryForm>,
) -> Result<Response, PageError> {
    let m = post.session.member(&s, &ws).await?;
    let summary = post.form.summary.clone();
    let result = s.svc.update_group(&m, &name, summary.clone()).await;
    let typed = GroupTyped {
        summary: Some(summary.unwrap_or_default()),
        ..GroupTyped::default()
    };
    after_group_change(
        &s,
        &post.session,
        &m,
        &name,
        result,
        ("summary", ""),
        (GSpot::Summary, typed),
    )
    .await
}

#[derive(Deserialize)]
struct GroupUserForm {
    username: Option<String>,
    owner: Option<String>,
}

async fn add_group_member(
    State(s): State<AppState>,
    Path((ws, name)): Path<(String, String)>,
    post: Post<GroupUserForm>,
) -> Result<Response, PageError> {
    let m = post.session.member(&s, &ws).await?;
    let username = post.form.username.clone().unwrap_or_default();
    let result = s.svc.add_group_member(&m, &name, username.trim()).await;
    let typed = GroupTyped {
        member: username.clone(),
        ..GroupTyped::default()
    };
    after_group_change(
        &s,
        &post.session,
        &m,
        &name,
        result,
        ("added", username.trim()),
        (GSpot::Members, typed),
    )
    .await
}

async fn remove_group_member(
    State(s): State<AppState>,
    Path((ws, name)): Path<(String, String)>,
    post: Post<GroupUserForm>,
) -> Result<Response, PageError> {
    let m = post.session.member(&s, &ws).await?;
    let username = post.form.username.clone().unwrap_or_default();
    let result = s.svc.remove_group_member(&m, &name, &username).await;
    after_group_change(
        &s,
        &post.session,
        &m,
        &name,
        result,
        ("removed", &username),
        (GSpot::Members, GroupTyped::default()),
    )
    .await
}

async fn add_owner(
    State(s): State<AppState>,
    Path((ws, name)): Path<(String, String)>,
    post: Post<GroupUserForm>,
) -> Result<Response, PageError> {
    let m = post.session.member(&s, &ws).await?;
    let username = post.form.username.clone().unwrap_or_default();
    let result = s
        .svc
        .set_group_grant(&m, &name, &format!("u/{}", username.trim()), Some(true))
        .await;
    let typed = GroupTyped {
        owner: username.clone(),
        ..GroupTyped::default()
    };
    after_group_change(
        &s,
        &post.session,
        &m,
        &name,
        result,
        ("owner", username.trim()),
        (GSpot::Owners, typed),
    )
    .await
}

async fn remove_owner(
    State(s): State<AppState>,
    Path((ws, name)): Path<(String, String)>,
    post: Post<GroupUserForm>,
) -> Result<Response, PageError> {
    let m = post.session.member(&s, &ws).await?;
    // The page sends the grant as it is listed (`u/alice`, `g/ops`); a bare username is
    // a user's.
    let owner = match (&post.form.owner, &post.form.username) {
        (Some(o), _) => o.clone(),
        (None, Some(u)) => format!("u/{u}"),
        (None, None) => String::new(),
    };
    let result = s.svc.set_group_grant(&m, &name, &owner, None).await;
    let who = owner_label(&owner);
    let who = if owner.starts_with("u/") {
        who
    } else {
        String::new()
    };
    after_group_change(
        &s,
        &post.session,
        &m,
        &name,
        result,
        ("unowned", &who),
        (GSpot::Owners, GroupTyped::default()),
    )
    .await
}

async fn delete_group(
    State(s): State<AppState>,
    Path((ws, name)): Path<(String, String)>,
    post: Post<GroupUserForm>,
) -> Result<Response, PageError> {
    let m = post.session.member(&s, &ws).await?;
    match s.svc.delete_group(&m, &name).await {
        Ok(_) => Ok(done_at(
            &format!("/w/{}/groups", m.workspace),
            "deleted",
            &name,
        )),
        Err(e) => {
            let blank = GroupTyped::default();
            let refused = Refused::new(GSpot::Delete, refusal(e), &blank);
            group_page(&s, &post.session, &m, &name, None, Some(refused)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_the_apis_flags() {
        assert_eq!(role_flags("developer"), Some((false, false)));
        assert_eq!(role_flags("admin"), Some((true, false)));
        assert_eq!(role_flags("operator"), Some((false, true)));
        assert_eq!(role_flags("root"), None);
    }

    #[test]
    fn a_link_cannot_put_a_sentence_on_the_page() {
        let shown = |who: &str| Shown {
            who: Some(who.into()),
            ..Shown::default()
        };
        assert_eq!(shown("alice").who(), Some("alice"));
        assert_eq!(shown("a.b+c@example.com").who(), Some("a.b+c@example.com"));
        assert_eq!(shown("call 555 now").who(), None);
        assert_eq!(shown("<script>").who(), None);
    }

    #[test]
    fn owners_read_as_names() {
        assert_eq!(owner_label("u/alice"), "alice");
        assert_eq!(owner_label("g/ops"), "group ops");
    }
}
