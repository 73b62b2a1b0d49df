//! Sign-in, sign-out, and the page a command-line client sends a person to for a token
//! (`/user/cli?port=N`, then `http://localhost:N/?token=…`, then `/user/cli-success`).

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use wmill_api::NewToken;

use super::{
    CSP, PageError, Post, Session, alert, bare_page, cookie, form_pairs, parse_pairs, see_other,
};
use crate::error::Error;
use crate::http::AppState;
use crate::http::auth::{CLEAR_SESSION_COOKIE, session_cookie};
use crate::http::extract::{Client, same_origin};

/// Label of the token a browser login gives a command-line client.
pub const CLI_TOKEN_LABEL: &str = "wmill CLI (browser login)";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/login", get(login_page).post(login))
        .route("/user/logout", axum::routing::post(logout))
        .route("/user/cli", get(cli_page).post(cli_decide))
        .route("/user/cli-success", get(cli_success))
}

#[derive(Deserialize, Default)]
struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path on this server, never another site
/// (`//host`, `/\host` and schemes are refused).
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_owned()
        }
        _ => "/user/profile".to_owned(),
    }
}

/// What the sign-in page offers besides the password form: the single sign-on providers,
/// and whether passwords are for superadmins only.
struct Offer {
    providers: Vec<String>,
    password_for_superadmins_only: bool,
}

impl Offer {
    fn of(s: &AppState) -> Offer {
        Offer {
            providers: s.svc.oidc().iter().map(|p| p.spec.name.clone()).collect(),
            password_for_superadmins_only: s.svc.settings().password_login_disabled,
        }
    }
}

fn login_form(csrf: &str, next: &str, email: &str, error: Option<&str>, offer: &Offer) -> Markup {
    html! {
        h1 { "Sign in" }
        (alert(error))
        @if !offer.providers.is_empty() {
            ul id="sso" class="card actions" aria-label="Single sign-on" {
                @for p in &offer.providers {
                    li {
                        a class="button" href={ "/api/oauth/login/" (p) "?next=" (super::encode_component(next)) } {
                            "Sign in with " (p)
                        }
                    }
                }
            }
        }
        @if offer.password_for_superadmins_only {
            p { "Signing in with a password is for instance administrators only." }
        }
        form id="login" method="post" action="/user/login" class="card" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label for="email" { "Email" }
            input id="email" name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { "Password" }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
    }
}

/// The sign-in page (with a fresh double-submit value) with `status`.
fn login_response(
    s: &AppState,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let csrf = super::random_hex();
    let offer = Offer::of(s);
    let mut res = (
        status,
        bare_page("Sign in", login_form(&csrf, next, email, error, &offer)),
    )
        .into_response();
    let cookie = format!("login_csrf={csrf}; HttpOnly; SameSite=Strict; Path=/user/login");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}

async fn login_page(
    State(s): State<AppState>,
    session: Option<Session>,
    Query(q): Query<Next>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if session.is_some() {
        return see_other(&next);
    }
    login_response(&s, StatusCode::OK, &next, "", None)
}

#[derive(Deserialize)]
struct LoginForm {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

async fn login(State(s): State<AppState>, client: Client, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let from_here = same_origin(&parts, s.svc.settings());
    let expected = cookie(&parts, "login_csrf");
    let pairs = match form_pairs(Request::from_parts(parts, body), &s).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let given = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.clone());
    let form: LoginForm = match parse_pairs(&pairs) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(form.next.as_deref());
    let email = form.email.unwrap_or_default();
    if !from_here || expected.is_none() || given != expected {
        return login_response(
            &s,
            StatusCode::FORBIDDEN,
            &next,
            &email,
            Some("This sign-in form is out of date or came from another site: try again."),
        );
    }
    let password = form.password.unwrap_or_default();
    match s.svc.login(&email, password, client.ip).await {
        Ok(out) => {
            let secure = s.svc.settings().secure_cookies || client.https;
            let to = if out.first_login {
                format!(
                    "/user/profile?first=1&next={}",
                    super::encode_component(&next)
                )
            } else {
                next
            };
            let mut res = see_other(&to);
            if let Ok(v) =
                HeaderValue::from_str(&session_cookie(&out.token, out.expires_at, secure))
            {
                res.headers_mut().append(SET_COOKIE, v);
            }
            res.headers_mut().append(
                SET_COOKIE,
                HeaderValue::from_static(
                    "login_csrf=; HttpOnly; SameSite=Strict; Path=/user/login; Max-Age=0",
                ),
            );
            res
        }
        Err(e) => {
            // One sentence for every refusal: it never tells which part was wrong.
            let (status, sentence) = match &e {
                Error::TooManyRequests(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts: wait a few minutes and try again.",
                ),
                Error::BadRequest(m) if m == crate::service::PASSWORD_LOGIN_DISABLED => (
                    StatusCode::FORBIDDEN,
                    "Signing in with a password is for instance administrators only: use single sign-on.",
                ),
                Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "Wrong email or password."),
                Error::Busy(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The server is busy checking passwords: try again in a moment.",
                ),
                _ => return PageError::from(e).into_response(),
            };
            login_response(&s, status, &next, &email, Some(sentence))
        }
    }
}

async fn logout(State(s): State<AppState>, post: Post<serde_json::Value>) -> Response {
    // A session that is already gone has nothing left to end.
    let _ = s.svc.logout(&post.session.raw).await;
    let mut res = see_other("/user/login");
    res.headers_mut()
        .append(SET_COOKIE, HeaderValue::from_static(CLEAR_SESSION_COOKIE));
    res
}

#[derive(Deserialize)]
struct CliQuery {
    port: Option<String>,
}

/// The loopback port a client listens on: 1 to 65535, digits only.
fn cli_port(port: Option<&str>) -> Result<u16, PageError> {
    port.filter(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            PageError::Refused(
                StatusCode::BAD_REQUEST,
                "The command-line client gave no valid port (a number from 1 to 65535): start the login again from the terminal.".into(),
            )
        })
}

async fn cli_page(State(s): State<AppState>, req: Request) -> Result<Response, PageError> {
    let (mut parts, _body) = req.into_parts();
    let q: CliQuery = Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or(CliQuery { port: None });
    let port = cli_port(q.port.as_deref())?;
    // The port is checked first: a bad one is refused before anyone is asked to sign in.
    let session =
        <Session as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &s)
            .await?;
    let body = html! {
        h1 { "Allow a command-line client?" }
        div class="card" {
            p { "A command-line client on this computer, listening on port " strong { (port) } ", asks for a token to act as " strong { (session.caller.email) } "." }
            p { "Allow it only if you just started a login from your terminal. The token is labelled “" (CLI_TOKEN_LABEL) "” in your tokens, where you can revoke it." }
            form id="cli-consent" method="post" action="/user/cli" class="actions" {
                (session.csrf_field())
                input type="hidden" name="port" value=(port);
                button type="submit" name="decision" value="allow" { "Allow" }
                button type="submit" name="decision" value="deny" class="secondary" { "Deny" }
            }
        }
    };
    let mut res = session.page("Allow a command-line client", body);
    // The answer to Allow redirects to the client's loopback port: this form may go there.
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' http://localhost:{port}"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}

#[derive(Deserialize)]
struct CliForm {
    port: Option<String>,
    decision: Option<String>,
}

async fn cli_decide(State(s): State<AppState>, post: Post<CliForm>) -> Result<Response, PageError> {
    let port = cli_port(post.form.port.as_deref())?;
    if post.form.decision.as_deref() != Some("allow") {
        return Ok(post.session.page(
            "Denied",
            html! {
                h1 { "Denied" }
                p role="status" { "No token was created. You can close this tab." }
            },
        ));
    }
    let token = s
        .svc
        .create_token(
            &post.session.caller,
            NewToken {
                label: Some(CLI_TOKEN_LABEL.into()),
                ..NewToken::default()
            },
        )
        .await?;
    // Only ever this loopback address: the port is a number, the host is fixed.
    let mut res = StatusCode::SEE_OTHER.into_response();
    let to = format!("http://localhost:{port}/?token={token}");
    res.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(&to).map_err(|_| Error::internal("a token that is not a header"))?,
    );
    Ok(res)
}

async fn cli_success() -> Markup {
    bare_page(
        "Signed in",
        html! {
            h1 { "Signed in" }
            p role="status" { "Your command-line client has its token. You can close this tab and go back to the terminal." }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/w/admins/members")), "/w/admins/members");
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/user/profile", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/user/profile");
    }

    #[test]
    fn cli_ports_are_numbers_from_1_to_65535() {
        assert_eq!(cli_port(Some("8123")).unwrap(), 8123);
        assert_eq!(cli_port(Some("65535")).unwrap(), 65535);
        for bad in [
            "0",
            "65536",
            "70000",
            "abc",
            "",
            "80@evil.example",
            "-1",
            "+80",
            "080x",
        ] {
            assert!(cli_port(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(cli_port(None).is_err());
    }
}
