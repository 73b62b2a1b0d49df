//! The superadmin's console: instance users and workspaces.
//!
//! Every change goes through the service as the API's does (the service refuses
//! non-superadmins too); these pages also refuse to show anything to someone who is not a
//! superadmin (403). A password the server generates (a new user's, a reset one) is shown
//! once, on the answer to the form that made it, never again.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use wmill_api::{CreateUser, CreateWorkspace, UpdateInstanceUser};

use super::{PageError, Post, Session, alert, encode_component, notice, see_other};
use crate::domain::{Email, WorkspaceId};
use crate::error::Error;
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users).post(add_user))
        .route("/admin/users/disable", post(disable_user))
        .route("/admin/users/superadmin", post(superadmin_user))
        .route("/admin/users/password", post(reset_password))
        .route("/admin/users/remove", post(remove_user))
        .route("/admin/workspaces", get(workspaces).post(create_workspace))
        .route("/admin/workspaces/archive", post(archive_workspace))
        .route("/admin/workspaces/delete", post(delete_workspace))
}

/// Length of a generated password: 24 characters of 62 ≈ 143 bits (as `wmill user add`).
const GENERATED_LEN: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Rows per page of the lists.
const PER_PAGE: i64 = 200;
/// Users a page: each row carries four small forms (about 1.6 kB), so that a page stays well
/// under 100 kB.
const USERS_PER_PAGE: i64 = 40;

/// A strong password from the OS's random source, every character equally likely.
fn generate_password() -> Result<String, PageError> {
    // 248 = 4 × 62: bytes at or above it are dropped so that `% 62` is unbiased.
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(GENERATED_LEN);
    let mut buf = [0u8; 64];
    while out.len() < GENERATED_LEN {
        getrandom::fill(&mut buf).map_err(|e| {
            PageError::from(Error::internal(format!(
                "cannot get random bytes from the OS: {e}"
            )))
        })?;
        for &b in buf.iter().filter(|&&b| b < LIMIT) {
            if out.len() == GENERATED_LEN {
                break;
            }
            if let Some(&c) = ALPHABET.get(usize::from(b) % ALPHABET.len()) {
                out.push(c as char);
            }
        }
    }
    Ok(out)
}

/// These pages are for superadmins only: anyone else gets a 403 page, and nothing else.
fn superadmin(session: &Session) -> Result<(), PageError> {
    if session.caller.super_admin {
        Ok(())
    } else {
        Err(PageError::Refused(
            StatusCode::FORBIDDEN,
            "Only superadmins may see or change the instance's users and workspaces.".into(),
        ))
    }
}

/// An answer that must not be kept by the browser or a proxy (it shows a password).
fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Deserialize, Default)]
struct ListQuery {
    page: Option<String>,
    done: Option<String>,
    who: Option<String>,
}

impl ListQuery {
    fn page(&self) -> i64 {
        self.page
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 1_000_000)
    }
}

/// A pager for lists read `PER_PAGE` at a time.
fn pager(base: &str, page: i64, full: bool) -> Markup {
    html! {
        @if page > 1 || full {
            nav class="pager" aria-label="Pages" {
                @if page > 1 {
                    a href={ (base) "?page=" (page - 1) } rel="prev" { "Previous page" }
                }
                @if full {
                    a href={ (base) "?page=" (page + 1) } rel="next" { "Next page" }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

/// What the users page says above its table.
#[derive(Default)]
struct UsersView<'a> {
    page: i64,
    /// What just happened.
    done: Option<String>,
    /// A generated password, shown this once: (whose, password, what else to know).
    minted: Option<(&'a str, &'a str, &'static str)>,
    /// The server's refusal.
    error: Option<String>,
    /// What the add form held.
    email: &'a str,
    name: &'a str,
    superadmin: bool,
}

async fn users(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    superadmin(&session)?;
    // Only an email from the link: a link cannot put a sentence of its own on the page.
    let who = q
        .who
        .as_deref()
        .and_then(|w| Email::parse(w).ok())
        .map_or_else(|| "The user".to_owned(), |e| e.to_string());
    let done = q.done.as_deref().and_then(|d| {
        Some(match d {
            "disabled" => format!("{who} was disabled."),
            "enabled" => format!("{who} was enabled."),
            "superadmin" => format!("{who} is now a superadmin."),
            "not-superadmin" => format!("{who} is no longer a superadmin."),
            "removed" => format!("{who} was removed."),
            _ => return None,
        })
    });
    let view = UsersView {
        page: q.page(),
        done,
        ..Default::default()
    };
    users_page(&s, &session, view, StatusCode::OK).await
}

async fn users_page(
    s: &AppState,
    session: &Session,
    v: UsersView<'_>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page = v.page.max(1);
    let list = s
        .svc
        .list_users(&session.caller, Some(page), Some(USERS_PER_PAGE))
        .await?;
    let me = session.caller.email.as_str();
    let body = html! {
        h1 { "Users of this instance" }
        (notice(v.done.as_deref()))
        @if let Some((whose, password, then)) = v.minted {
            div class="card minted" role="status" {
                p { strong { "The password of " (whose) "." } " Copy it now and give it to them: it will not be shown again. " (then) }
                p class="token-line" {
                    code id="new-password" { (password) }
                    button type="button" data-copy="new-password" { "Copy" }
                }
            }
        }
        (alert(v.error.as_deref()))
        div class="table-wrap" {
            table id="users" {
                caption class="visually-hidden" { "Instance users" }
                thead {
                    tr {
                        th scope="col" { "Email" }
                        th scope="col" { "Username" }
                        th scope="col" { "Name" }
                        th scope="col" { "Superadmin" }
                        th scope="col" { "Disabled" }
                        th scope="col" { span class="visually-hidden" { "Actions" } }
                    }
                }
                tbody {
                    @for u in &list {
                        tr data-email=(u.email) {
                            th scope="row" { (u.email) @if u.email == me { " " span class="muted" { "(you)" } } }
                            td { (u.username.as_deref().unwrap_or("—")) }
                            td { (u.name.as_deref().unwrap_or("—")) }
                            td { @if u.super_admin { "yes" } @else { "no" } }
                            td { @if u.disabled { "yes" } @else { "no" } }
                            td {
                                div class="actions" {
                                    form class="inline" method="post" action="/admin/users/disable" {
                                        (session.csrf_field())
                                        input type="hidden" name="email" value=(u.email);
                                        @if u.disabled {
                                            input type="hidden" name="disabled" value="false";
                                            button type="submit" class="secondary" aria-label={ "Enable " (u.email) } { "Enable" }
                                        } @else {
                                            input type="hidden" name="disabled" value="true";
                                            button type="submit" class="secondary" aria-label={ "Disable " (u.email) } { "Disable" }
                                        }
                                    }
                                    form class="inline" method="post" action="/admin/users/superadmin" {
                                        (session.csrf_field())
                                        input type="hidden" name="email" value=(u.email);
                                        @if u.super_admin {
                                            input type="hidden" name="super_admin" value="false";
                                            button type="submit" class="secondary" aria-label={ "Remove superadmin from " (u.email) } { "Remove superadmin" }
                                        } @else {
                                            input type="hidden" name="super_admin" value="true";
                                            button type="submit" class="secondary" aria-label={ "Make " (u.email) " superadmin" } { "Make superadmin" }
                                        }
                                    }
                                    @if u.login_type != "service_account" {
                                        form class="inline" method="post" action="/admin/users/password" {
                                            (session.csrf_field())
                                            input type="hidden" name="email" value=(u.email);
                                            button type="submit" class="secondary" aria-label={ "Reset password of " (u.email) } { "Reset password" }
                                        }
                                    }
                                    form class="inline" method="post" action="/admin/users/remove"
                                        data-confirm={ "Remove " (u.email) "? Their memberships and tokens go with them." } {
                                        (session.csrf_field())
                                        input type="hidden" name="email" value=(u.email);
                                        button type="submit" class="danger" aria-label={ "Remove " (u.email) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pager("/admin/users", page, list.len() as i64 >= USERS_PER_PAGE))
        h2 id="add-user-title" { "Add a user" }
        form id="add-user" method="post" action="/admin/users" class="card" aria-labelledby="add-user-title" {
            (session.csrf_field())
            label for="add-email" { "Email" }
            input id="add-email" name="email" type="email" autocomplete="off" required value=(v.email);
            label for="add-name" { "Name (optional)" }
            input id="add-name" name="name" type="text" maxlength="255" autocomplete="off" value=(v.name);
            label class="check" {
                input type="checkbox" name="superadmin" value="true" checked[v.superadmin];
                " Superadmin"
            }
            p class="muted" { "The server generates a strong password and shows it once." }
            button type="submit" { "Add user" }
        }
    };
    let res = (status, session.page("Users", body)).into_response();
    Ok(if v.minted.is_some() {
        no_store(res)
    } else {
        res
    })
}

#[derive(Deserialize)]
struct AddUserForm {
    email: Option<String>,
    name: Option<String>,
    superadmin: Option<String>,
}

async fn add_user(
    State(s): State<AppState>,
    post: Post<AddUserForm>,
) -> Result<Response, PageError> {
    let session = post.session;
    superadmin(&session)?;
    let f = post.form;
    let email = f.email.unwrap_or_default().trim().to_owned();
    let name = f.name.unwrap_or_default();
    let is_super = f.superadmin.is_some();
    let password = generate_password()?;
    let req = CreateUser {
        email: email.clone(),
        password: password.clone(),
        super_admin: is_super,
        name: (!name.trim().is_empty()).then(|| name.clone()),
        company: None,
    };
    match s.svc.create_user(&session.caller, req).await {
        Ok(_) => {
            let view = UsersView {
                page: 1,
                done: Some(format!("{email} was added.")),
                minted: Some((
                    &email,
                    &password,
                    "They will be asked to choose their own when they first sign in.",
                )),
                ..Default::default()
            };
            users_page(&s, &session, view, StatusCode::OK).await
        }
        Err(e) => {
            let e = refusal(e)?;
            let view = UsersView {
                page: 1,
                error: Some(e.message()),
                email: &email,
                name: &name,
                superadmin: is_super,
                ..Default::default()
            };
            users_page(&s, &session, view, e.status()).await
        }
    }
}

/// A refusal to show next to the form; a failure of the server is a page of its own (with
/// its incident logged), not a sentence to read.
fn refusal(e: Error) -> Result<Error, PageError> {
    if e.status().is_server_error() {
        Err(e.into())
    } else {
        Ok(e)
    }
}

/// A refusal of a row's action: the list again with the server's sentence.
async fn user_refused(s: &AppState, session: &Session, e: Error) -> Result<Response, PageError> {
    let e = refusal(e)?;
    let view = UsersView {
        page: 1,
        error: Some(e.message()),
        ..Default::default()
    };
    users_page(s, session, view, e.status()).await
}

fn users_done(done: &str, who: &str) -> Response {
    see_other(&format!(
        "/admin/users?done={done}&who={}",
        encode_component(who)
    ))
}

#[derive(Deserialize)]
struct DisableForm {
    email: String,
    disabled: String,
}

async fn disable_user(
    State(s): State<AppState>,
    post: Post<DisableForm>,
) -> Result<Response, PageError> {
    superadmin(&post.session)?;
    let disabled = post.form.disabled == "true";
    let req = UpdateInstanceUser {
        disabled: Some(disabled),
        ..Default::default()
    };
    match s
        .svc
        .update_user(&post.session.caller, &post.form.email, req)
        .await
    {
        Ok(_) => Ok(users_done(
            if disabled { "disabled" } else { "enabled" },
            &post.form.email,
        )),
        Err(e) => user_refused(&s, &post.session, e).await,
    }
}

#[derive(Deserialize)]
struct SuperadminForm {
    email: String,
    super_admin: String,
}

async fn superadmin_user(
    State(s): State<AppState>,
    post: Post<SuperadminForm>,
) -> Result<Response, PageError> {
    superadmin(&post.session)?;
    let make = post.form.super_admin == "true";
    let req = UpdateInstanceUser {
        is_super_admin: Some(make),
        ..Default::default()
    };
    match s
        .svc
        .update_user(&post.session.caller, &post.form.email, req)
        .await
    {
        Ok(_) => Ok(users_done(
            if make { "superadmin" } else { "not-superadmin" },
            &post.form.email,
        )),
        Err(e) => user_refused(&s, &post.session, e).await,
    }
}

#[derive(Deserialize)]
struct EmailForm {
    email: String,
}

async fn reset_password(
    State(s): State<AppState>,
    post: Post<EmailForm>,
) -> Result<Response, PageError> {
    superadmin(&post.session)?;
    let email = post.form.email.trim().to_owned();
    let password = generate_password()?;
    match s
        .svc
        .set_password_of(&post.session.caller, &email, password.clone(), false)
        .await
    {
        Ok(_) => {
            let view = UsersView {
                page: 1,
                done: Some(format!("The password of {email} was reset.")),
                minted: Some((&email, &password, "Their sign-in sessions were ended.")),
                ..Default::default()
            };
            users_page(&s, &post.session, view, StatusCode::OK).await
        }
        Err(e) => user_refused(&s, &post.session, e).await,
    }
}

async fn remove_user(
    State(s): State<AppState>,
    post: Post<EmailForm>,
) -> Result<Response, PageError> {
    superadmin(&post.session)?;
    match s
        .svc
        .delete_user(&post.session.caller, &post.form.email)
        .await
    {
        Ok(_) => Ok(users_done("removed", &post.form.email)),
        Err(e) => user_refused(&s, &post.session, e).await,
    }
}

// ---------------------------------------------------------------------------------------
// Workspaces
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct WorkspacesView<'a> {
    page: i64,
    done: Option<String>,
    error: Option<String>,
    id: &'a str,
    name: &'a str,
}

async fn workspaces(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    superadmin(&session)?;
    // Only a workspace id from the link: a link cannot put a sentence on the page.
    let who = q
        .who
        .as_deref()
        .and_then(|w| WorkspaceId::parse(w).ok())
        .map_or_else(|| "The workspace".to_owned(), |w| format!("Workspace {w}"));
    let done = q.done.as_deref().and_then(|d| {
        Some(match d {
            "created" => format!("{who} was created."),
            "archived" => format!("{who} was archived."),
            "unarchived" => format!("{who} was brought back from the archive."),
            "deleted" => format!("{who} was deleted."),
            _ => return None,
        })
    });
    let view = WorkspacesView {
        page: q.page(),
        done,
        ..Default::default()
    };
    workspaces_page(&s, &session, view, StatusCode::OK).await
}

async fn workspaces_page(
    s: &AppState,
    session: &Session,
    v: WorkspacesView<'_>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page = v.page.max(1);
    let list = s
        .svc
        .list_all_workspaces(&session.caller, Some(page), Some(PER_PAGE))
        .await?;
    let rows: Vec<_> = list
        .into_iter()
        .map(|w| {
            let a = Some(w.deleted);
            (w, a)
        })
        .collect();
    let full = rows.len() as i64 >= PER_PAGE;
    let body = html! {
        h1 { "Workspaces of this instance" }
        (notice(v.done.as_deref()))
        (alert(v.error.as_deref()))
        div class="table-wrap" {
            table id="workspaces" {
                caption class="visually-hidden" { "Workspaces" }
                thead {
                    tr {
                        th scope="col" { "Id" }
                        th scope="col" { "Name" }
                        th scope="col" { "Owner" }
                        th scope="col" { "Archived" }
                        th scope="col" { span class="visually-hidden" { "Actions" } }
                    }
                }
                tbody {
                    @for (w, a) in &rows {
                        tr data-id=(w.id) {
                            th scope="row" { code { (w.id) } }
                            td { (w.name) }
                            td { (w.owner) }
                            td { @match a { Some(true) => "yes", Some(false) => "no", None => "—" } }
                            td {
                                div class="actions" {
                                    a href={ "/w/" (w.id) "/audit" } aria-label={ "Audit log of " (w.id) } { "Audit log" }
                                    @if let Some(a) = a {
                                        form class="inline" method="post" action="/admin/workspaces/archive" {
                                            (session.csrf_field())
                                            input type="hidden" name="id" value=(w.id);
                                            @if *a {
                                                input type="hidden" name="archived" value="false";
                                                button type="submit" class="secondary" aria-label={ "Unarchive " (w.id) } { "Unarchive" }
                                            } @else {
                                                input type="hidden" name="archived" value="true";
                                                button type="submit" class="secondary" aria-label={ "Archive " (w.id) } { "Archive" }
                                            }
                                        }
                                    }
                                    @if w.id != "admins" {
                                        form class="inline" method="post" action="/admin/workspaces/delete"
                                            data-confirm={ "Delete workspace " (w.id) "? Its members, groups and the tokens limited to it are deleted; its audit entries stay." } {
                                            (session.csrf_field())
                                            input type="hidden" name="id" value=(w.id);
                                            button type="submit" class="danger" aria-label={ "Delete " (w.id) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pager("/admin/workspaces", page, full))
        h2 id="new-workspace-title" { "Create a workspace" }
        form id="new-workspace" method="post" action="/admin/workspaces" class="card" aria-labelledby="new-workspace-title" {
            (session.csrf_field())
            label for="ws-id" { "Id" }
            input id="ws-id" name="id" type="text" required autocomplete="off" value=(v.id) placeholder="my-team";
            label for="ws-name" { "Name" }
            input id="ws-name" name="name" type="text" required autocomplete="off" value=(v.name);
            p class="muted" { "You become its first admin." }
            button type="submit" { "Create workspace" }
        }
    };
    Ok((status, session.page("Workspaces", body)).into_response())
}

fn workspaces_done(done: &str, id: &str) -> Response {
    see_other(&format!(
        "/admin/workspaces?done={done}&who={}",
        encode_component(id)
    ))
}

async fn workspace_refused(
    s: &AppState,
    session: &Session,
    e: Error,
) -> Result<Response, PageError> {
    let e = refusal(e)?;
    let view = WorkspacesView {
        page: 1,
        error: Some(e.message()),
        ..Default::default()
    };
    workspaces_page(s, session, view, e.status()).await
}

#[derive(Deserialize)]
struct NewWorkspaceForm {
    id: Option<String>,
    name: Option<String>,
}

async fn create_workspace(
    State(s): State<AppState>,
    post: Post<NewWorkspaceForm>,
) -> Result<Response, PageError> {
    let session = post.session;
    superadmin(&session)?;
    let id = post.form.id.unwrap_or_default().trim().to_owned();
    let name = post.form.name.unwrap_or_default();
    let req = CreateWorkspace {
        id: id.clone(),
        name: name.clone(),
        username: None,
    };
    match s.svc.create_workspace(&session.caller, req).await {
        Ok(_) => Ok(workspaces_done("created", &id)),
        Err(e) => {
            let e = refusal(e)?;
            let view = WorkspacesView {
                page: 1,
                error: Some(e.message()),
                id: &id,
                name: &name,
                ..Default::default()
            };
            workspaces_page(&s, &session, view, e.status()).await
        }
    }
}

#[derive(Deserialize)]
struct ArchiveForm {
    id: String,
    archived: String,
}

async fn archive_workspace(
    State(s): State<AppState>,
    post: Post<ArchiveForm>,
) -> Result<Response, PageError> {
    superadmin(&post.session)?;
    let archive = post.form.archived == "true";
    let m = match s
        .svc
        .workspace_member(&post.session.raw, &post.form.id)
        .await
    {
        Ok(m) => m,
        Err(e) => return workspace_refused(&s, &post.session, e).await,
    };
    match s.svc.archive_workspace(&m, archive).await {
        Ok(_) => Ok(workspaces_done(
            if archive { "archived" } else { "unarchived" },
            &post.form.id,
        )),
        Err(e) => workspace_refused(&s, &post.session, e).await,
    }
}

#[derive(Deserialize)]
struct IdForm {
    id: String,
}

async fn delete_workspace(
    State(s): State<AppState>,
    post: Post<IdForm>,
) -> Result<Response, PageError> {
    superadmin(&post.session)?;
    match s
        .svc
        .delete_workspace(&post.session.caller, &post.form.id)
        .await
    {
        Ok(_) => Ok(workspaces_done("deleted", &post.form.id)),
        Err(e) => workspace_refused(&s, &post.session, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_names_an_account_or_a_workspace_and_nothing_else() {
        assert!(Email::parse("a.b+c@example.com").is_ok());
        assert!(Email::parse("call 555 now").is_err());
        assert!(WorkspaceId::parse("team-1").is_ok());
        assert!(WorkspaceId::parse("call 555 now").is_err());
    }

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), GENERATED_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
