//! Self-service: my profile and workspaces, my password, my tokens.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{SecondsFormat, Utc};
use maud::html;
use serde::Deserialize;
use wmill_api::NewToken;

use super::{PageError, Post, Session, alert, all_of, notice, see_other};
use crate::http::AppState;
use crate::http::extract::Client;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/profile", get(profile))
        .route("/user/password", post(change_password))
        .route("/user/tokens", get(tokens).post(create_token))
        .route("/user/tokens/revoke", post(revoke_token))
}

#[derive(Deserialize, Default)]
struct ProfileQuery {
    first: Option<String>,
    done: Option<String>,
    next: Option<String>,
}

async fn profile(session: Session, Query(q): Query<ProfileQuery>) -> Response {
    let first = q.first.is_some();
    let done = q.done.as_deref().map(|_| "Your password was changed.");
    profile_page(
        &session,
        first,
        q.next.as_deref(),
        done,
        None,
        StatusCode::OK,
    )
}

fn profile_page(
    s: &Session,
    first: bool,
    next: Option<&str>,
    done: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let c = &s.caller;
    let body = html! {
        h1 { "Your profile" }
        (notice(done))
        @if first {
            p role="status" class="notice" {
                "This is your first sign-in: your password was chosen by someone else. Choose your own below."
                @if let Some(n) = next {
                    " " a href=(n) { "Skip for now" }
                }
            }
        }
        dl class="card" {
            dt { "Email" } dd { (c.email) }
            dt { "Name" } dd { (c.name.as_deref().unwrap_or("—")) }
            dt { "Company" } dd { (c.company.as_deref().unwrap_or("—")) }
            dt { "Superadmin" } dd { @if c.super_admin { "yes" } @else { "no" } }
        }
        h2 { "Your workspaces" }
        @if s.workspaces.is_empty() {
            p { "You are not a member of any workspace yet." }
        } @else {
            ul class="plain" {
                @for w in &s.workspaces {
                    li { (w.name) " (" code { (w.id) } ") as " (w.username) @if w.disabled { " — disabled" } }
                }
            }
        }
        h2 id="password-title" { "Change your password" }
        (alert(error))
        form id="password" method="post" action="/user/password" class="card" aria-labelledby="password-title" {
            (s.csrf_field())
            @if let Some(n) = next { input type="hidden" name="next" value=(n); }
            label for="current" { "Current password" }
            input id="current" name="current" type="password" autocomplete="current-password" required;
            label for="new-password" { "New password" }
            input id="new-password" name="password" type="password" autocomplete="new-password" required;
            label for="confirm" { "New password, again" }
            input id="confirm" name="confirm" type="password" autocomplete="new-password" required;
            label class="check" {
                input type="checkbox" name="revoke_tokens" value="true";
                " Also revoke my API tokens"
            }
            button type="submit" { "Change password" }
        }
    };
    (status, s.page("Your profile", body)).into_response()
}

#[derive(Deserialize)]
struct PasswordForm {
    current: Option<String>,
    password: Option<String>,
    confirm: Option<String>,
    revoke_tokens: Option<String>,
    next: Option<String>,
}

async fn change_password(
    State(s): State<AppState>,
    client: Client,
    post: Post<PasswordForm>,
) -> Result<Response, PageError> {
    let f = post.form;
    let session = post.session;
    let refuse = |msg: &str| {
        profile_page(
            &session,
            false,
            f.next.as_deref(),
            None,
            Some(msg),
            StatusCode::BAD_REQUEST,
        )
    };
    let password = f.password.clone().unwrap_or_default();
    if f.confirm.as_deref().unwrap_or_default() != password {
        return Ok(refuse("The two new passwords are not the same."));
    }
    if let Err(e) = s
        .svc
        .check_own_password(
            &session.caller,
            f.current.clone().unwrap_or_default(),
            client.ip,
        )
        .await
    {
        return Ok(refuse(&e.message()));
    }
    let revoke = f.revoke_tokens.is_some();
    if let Err(e) = s
        .svc
        .set_own_password(&session.caller, password, revoke)
        .await
    {
        return Ok(refuse(&e.message()));
    }
    // The same rule as after sign-in: only a path on this server.
    let to = match f.next.as_deref() {
        Some(_) => super::auth::safe_next(f.next.as_deref()),
        None => "/user/profile?done=1".to_owned(),
    };
    Ok(see_other(&to))
}

async fn tokens(State(s): State<AppState>, session: Session) -> Result<Response, PageError> {
    tokens_page(&s, &session, None, None, StatusCode::OK).await
}

/// The tokens page; `minted` is a token just created, shown this once.
async fn tokens_page(
    s: &AppState,
    session: &Session,
    minted: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let list = s
        .svc
        .list_tokens(&session.caller, Some(1), Some(1000))
        .await?;
    let scopes = s.svc.list_scopes();
    let body = html! {
        h1 { "Your tokens" }
        @if let Some(t) = minted {
            div class="card minted" role="status" {
                p { strong { "Your new token." } " Copy it now: it will not be shown again." }
                p class="token-line" {
                    code id="new-token-value" { (t) }
                    button type="button" id="copy-token" data-copy="new-token-value" { "Copy" }
                }
            }
        }
        @if list.is_empty() {
            p { "You have no tokens." }
        } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Your tokens" }
                    thead { tr { th scope="col" { "Token" } th scope="col" { "Label" } th scope="col" { "Expires" } th scope="col" { "Scopes" } th scope="col" { "Last used" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
                    tbody {
                        @for t in &list {
                            tr {
                                td { code { (t.token_prefix) "…" } }
                                td { (t.label.as_deref().unwrap_or("—")) }
                                td { (t.expiration.map(|e| e.to_rfc3339_opts(SecondsFormat::Secs, true)).unwrap_or_else(|| "never".into())) }
                                td {
                                    (t.scopes.as_ref().map(|s| s.join(" ")).unwrap_or_else(|| "all you may do".into()))
                                    @if t.read_only { " (read-only)" }
                                    @if let Some(w) = &t.workspace_id { " in " (w) }
                                }
                                td { (t.last_used_at.to_rfc3339_opts(SecondsFormat::Secs, true)) }
                                td {
                                    @if t.token_prefix == session.caller.token_prefix {
                                        "this session"
                                    } @else {
                                        form method="post" action="/user/tokens/revoke" {
                                            (session.csrf_field())
                                            input type="hidden" name="prefix" value=(t.token_prefix);
                                            button type="submit" class="danger" aria-label={ "Revoke token " (t.token_prefix) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="new-token-title" { "Create a token" }
        (alert(error))
        form id="new-token" method="post" action="/user/tokens" class="card" aria-labelledby="new-token-title" {
            (session.csrf_field())
            label for="label" { "Label" }
            input id="label" name="label" type="text" maxlength="1000" placeholder="what it is for";
            label for="expires" { "Expires after (days; empty: never)" }
            input id="expires" name="expires_in_days" type="number" min="1" max="36500";
            fieldset {
                legend { "Scopes (none ticked: all you may do)" }
                div class="scopes" {
                    @for d in &scopes {
                        @for sc in &d.scopes {
                            label class="check" {
                                input type="checkbox" name="scope" value=(sc.value);
                                " " code { (sc.value) }
                            }
                        }
                    }
                }
            }
            label class="check" {
                input type="checkbox" name="read_only" value="true";
                " Read-only (GET requests only)"
            }
            button type="submit" { "Create token" }
        }
    };
    Ok((status, session.page("Your tokens", body)).into_response())
}

#[derive(Deserialize)]
struct NewTokenForm {
    label: Option<String>,
    expires_in_days: Option<String>,
    read_only: Option<String>,
}

async fn create_token(
    State(s): State<AppState>,
    post: Post<NewTokenForm>,
) -> Result<Response, PageError> {
    let f = &post.form;
    let expiration = match f.expires_in_days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => match d.parse::<i64>().ok().filter(|d| (1..=36500).contains(d)) {
            Some(days) => Some(
                (Utc::now() + chrono::TimeDelta::days(days))
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            None => {
                return tokens_page(
                    &s,
                    &post.session,
                    None,
                    Some("Expires after: a whole number of days from 1 to 36500, or empty for never."),
                    StatusCode::BAD_REQUEST,
                )
                .await;
            }
        },
    };
    let scopes: Vec<String> = all_of(&post.pairs, "scope")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let req = NewToken {
        label: f.label.clone().filter(|l| !l.trim().is_empty()),
        expiration,
        scopes: (!scopes.is_empty()).then_some(scopes),
        workspace_id: None,
        read_only: f.read_only.is_some().then_some(true),
    };
    match s.svc.create_token(&post.session.caller, req).await {
        Ok(token) => tokens_page(&s, &post.session, Some(&token), None, StatusCode::OK).await,
        Err(e) => tokens_page(&s, &post.session, None, Some(&e.message()), e.status()).await,
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    prefix: String,
}

async fn revoke_token(
    State(s): State<AppState>,
    post: Post<RevokeForm>,
) -> Result<Response, PageError> {
    s.svc
        .delete_token(&post.session.caller, &post.form.prefix)
        .await?;
    Ok(see_other("/user/tokens"))
}
