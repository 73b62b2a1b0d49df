//! Single sign-on with OpenID Connect, against the real server process and providers on
//! loopback (no internet):
//!
//! - a real OpenID provider, npm `oidc-provider` with its development login form
//!   (`.ci/oidc/provider.mjs`), driven through the whole authorization code flow with plain
//!   HTTP (redirects followed by hand, cookies kept, its forms submitted): first sign-in of
//!   an allowed domain creates the account, a second reaches the same one, `/user/cli`
//!   works through it, a disallowed domain, a disabled account and an unverified email are
//!   refused with a clear page and nothing is created, each audited;
//! - a provider we control (`.ci/oidc/signer.mjs`, npm `jose`) whose ID tokens are wrong
//!   on purpose: wrong `iss`, `aud`, expired, issued in the future, bad `nonce`,
//!   `alg: none`, HMAC with the client secret, unknown `kid` (one JWKS refetch, then
//!   refused), tampered payload, `azp` of another client, unverified email; a replayed
//!   `state` and a `state` from another browser. Each refused, nothing created, audited. A
//!   rotated key is found by the one refetch;
//! - a real browser through the real provider (headless chromium, `.ci/browser`'s
//!   puppeteer-core): `.ci/browser/sso.mjs` signs in on our pages with the provider's
//!   login form (first sign-in creates the account, a second reaches it, another domain and
//!   a disabled account refused with a clear page, nothing created, axe on our pages);
//!   `.ci/browser/sso-cli.mjs` runs Windmill's official client, then our `wmill`, through
//!   `workspace add` on a terminal, the browser signing in with the provider on its way to
//!   `/user/cli`'s Allow: the profile ends with a working token of the new account.
//!
//! Without `node` or `npm ci` in `.ci/oidc` (and, for the browser tests, chromium, `npm ci`
//! in `.ci/browser` and the official client), build.rs leaves a cfg unset and the harness
//! reports the test as *ignored* (counted; a failure under `CI`, see `server::meta`). What
//! else is missing at run time (`script`, a built `wmill`) fails the test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "admin@windmill.dev";

/// One test at a time: each picks a free port before its server takes it.
static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
const ADMIN_PASSWORD: &str = "admin-password-123";

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/oidc")
}

/// Whether the providers can run here; otherwise the test fails, saying why.
fn can_run(test: &str) -> bool {
    let reason = if Command::new("node").arg("--version").output().is_err() {
        Some("`node` is not on PATH")
    } else if !oidc_dir().join("node_modules/oidc-provider").is_dir()
        || !oidc_dir().join("node_modules/jose").is_dir()
    {
        Some("npm packages missing: run `npm ci` in .ci/oidc")
    } else {
        None
    };
    let Some(reason) = reason else {
        return true;
    };
    // build.rs found what this test needs, or the harness would have ignored it: what is
    // missing now is a failure, never a pass that ran nothing.
    panic!("{test} cannot run: {reason}");
}

/// A child process killed when dropped.
struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `node SCRIPT ARGS` in .ci/oidc; its `listening on URL` line's URL.
fn node(script: &str, args: &[&str]) -> (Kill, String) {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(oidc_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(out);
    reader.read_line(&mut line).unwrap();
    // What it says later is drained, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{script} said {line:?}"))
        .to_string();
    (Kill(child), url)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server on `port`, with `args`; its base URL.
fn server(dir: &Path, port: u16, args: &[String]) -> (Kill, String) {
    let out = dir.join("server.stdout");
    let err = dir.join("server.stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_wmill-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .args(["--argon2-m-cost", "64", "--argon2-t-cost", "1"])
        .args(["--admin-password", ADMIN_PASSWORD])
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("WM_OIDC")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start wmill-server");
    let k = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.starts_with("listening on ")) {
            return (k, l.trim_start_matches("listening on ").to_string());
        }
        assert!(
            Instant::now() < deadline,
            "server did not start: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A browser made of plain HTTP: no redirects followed by itself, one cookie jar.
struct Browser {
    agent: ureq::Agent,
    jar: HashMap<String, String>,
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            agent: ureq::Agent::config_builder()
                .max_redirects(0)
                .max_redirects_will_error(false)
                .http_status_as_error(false)
                .build()
                .into(),
            jar: HashMap::new(),
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &mut ureq::http::Response<ureq::Body>) -> Answer {
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap_or_default();
            let mut parts = c.split(';');
            let first = parts.next().unwrap_or_default();
            if let Some((k, v)) = first.split_once('=') {
                // Only the attributes say expired: a random value may well contain "1970".
                let attrs = parts.collect::<Vec<_>>().join(";").to_ascii_lowercase();
                let expired = attrs.contains("max-age=0") || attrs.contains("1970") || v.is_empty();
                if expired {
                    self.jar.remove(k.trim());
                } else {
                    self.jar.insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        Answer {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string),
            body: res.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    fn get(&mut self, url: &str) -> Answer {
        let mut res = self
            .agent
            .get(url)
            .header("cookie", &self.cookies())
            .call()
            .unwrap();
        self.keep(&mut res)
    }

    fn post_json(&mut self, url: &str, body: &Value) -> Answer {
        let mut res = self
            .agent
            .post(url)
            .header("cookie", &self.cookies())
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap();
        self.keep(&mut res)
    }

    fn post_form(&mut self, url: &str, origin: &str, pairs: &[(String, String)]) -> Answer {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut res = self
            .agent
            .post(url)
            .header("cookie", &self.cookies())
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(body)
            .unwrap();
        self.keep(&mut res)
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{}", rest.split('/').next().unwrap())
}

/// The query parameter `name` of `url` (percent-decoded enough for base64url values).
fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == name).then(|| {
            v.replace("%2F", "/")
                .replace("%3D", "=")
                .replace("%3A", ":")
        })
    })
}

/// The form of a provider page: its action and its inputs' names and values.
fn form(body: &str) -> (String, Vec<(String, String)>) {
    let action = body
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a form")
        .replace("&amp;", "&");
    let mut fields = Vec::new();
    for input in body.split("<input").skip(1) {
        let tag = input.split('>').next().unwrap_or_default();
        let attr = |a: &str| {
            tag.split(&format!("{a}=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_string)
        };
        if let Some(n) = attr("name") {
            fields.push((n, attr("value").unwrap_or_default()));
        }
    }
    (action, fields)
}

/// Signs in through the real provider as `email`, starting at our `/api/oauth/login/idp`
/// with `next`: the last answer (from our callback, or from us after it).
fn sign_in_through_provider(b: &mut Browser, ours: &str, email: &str, next: &str) -> Answer {
    let mut url = format!("{ours}/api/oauth/login/idp?next={}", enc(next));
    for _ in 0..20 {
        let a = b.get(&url);
        if url.starts_with(&format!("{ours}/user/oauth/callback/")) {
            return a;
        }
        if let Some(loc) = &a.location {
            url = absolute(&origin(&url), loc);
            continue;
        }
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        // A page of the provider: its login form, or its consent form.
        let (action, mut fields) = form(&a.body);
        for (k, v) in fields.iter_mut() {
            if k == "login" {
                *v = email.to_string();
            } else if k == "password" {
                *v = "anything".to_string();
            }
        }
        let o = origin(&url);
        let a = b.post_form(&absolute(&o, &action), &o, &fields);
        url = absolute(&o, a.location.as_deref().expect("the provider redirects"));
    }
    panic!("the sign-in did not come back to {ours}");
}

/// One API call with a bearer token.
fn api(base: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}{path}");
    let auth = format!("Bearer {token}");
    let mut res = match body {
        None => {
            assert_eq!(method, "GET");
            agent.get(&url).header("authorization", &auth).call()
        }
        Some(b) => {
            assert_eq!(method, "POST");
            agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(b.to_string())
        }
    }
    .unwrap();
    let s = res.status().as_u16();
    (s, res.body_mut().read_to_string().unwrap_or_default())
}

fn admin_token(base: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(&format!("{base}/api/auth/login"))
        .header("content-type", "application/json")
        .send(json!({"email": ADMIN, "password": ADMIN_PASSWORD}).to_string())
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.body_mut().read_to_string().unwrap()
}

fn exists(base: &str, admin: &str, email: &str) -> bool {
    let (s, body) = api(
        base,
        "GET",
        &format!("/api/users/exists/{email}"),
        admin,
        None,
    );
    assert_eq!(s, 200, "{body}");
    body.trim() == "true"
}

/// The audit entries of `operation` (global ones included), newest first.
fn audit(base: &str, admin: &str, operation: &str) -> Vec<Value> {
    let (s, body) = api(
        base,
        "GET",
        &format!(
            "/api/w/admins/audit/list?all_workspaces=true&operation={operation}&per_page=1000"
        ),
        admin,
        None,
    );
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn secret_file(dir: &Path) -> PathBuf {
    let p = dir.join("client-secret");
    std::fs::write(&p, "s3cret-client-value\n").unwrap();
    p
}

#[test]
#[cfg_attr(
    not(wmill_oidc),
    ignore = "needs node and `npm ci` in .ci/oidc (see build.rs)"
)]
fn a_real_provider_signs_people_in_and_refuses_the_rest() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run("a_real_provider_signs_people_in_and_refuses_the_rest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ours = format!("http://127.0.0.1:{port}");
    let (_idp, issuer) = node(
        "provider.mjs",
        &[
            "wmill",
            "s3cret-client-value",
            &format!("{ours}/user/oauth/callback/idp"),
        ],
    );
    let secret = secret_file(dir.path());
    let spec = format!(
        "idp={issuer},client_id=wmill,client_secret_file={},allowed_domains=example.com,scopes=openid email profile groups,groups_claim=groups",
        secret.display()
    );
    let (_server, base) = server(dir.path(), port, &["--oidc".into(), spec]);
    assert_eq!(base, ours);
    let admin = admin_token(&base);
    // The instance group `eng` feeds the workspace admins: the claim brings people in.
    let (s, b) = api(
        &base,
        "POST",
        "/api/groups/create",
        &admin,
        Some(json!({"name": "eng"})),
    );
    assert!(s == 200 || s == 201, "{b}");
    let (s, b) = api(
        &base,
        "POST",
        "/api/w/admins/workspaces/edit_instance_groups",
        &admin,
        Some(json!({"groups": ["eng"], "roles": {"eng": "developer"}})),
    );
    eprintln!("linking eng to admins: {s} {b}");

    let mut anon = Browser::new();
    let a = anon.get(&format!("{base}/api/oauth/list_logins"));
    let list: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(list["oauth"][0]["type"], "idp", "{list}");
    let a = anon.get(&format!("{base}/user/login"));
    assert!(a.body.contains("Sign in with idp"), "{}", a.body);
    assert!(a.body.contains("/api/oauth/login/idp?next="), "{}", a.body);

    // First sign-in: the account is made, the session works, `next` is kept (the CLI page).
    let mut b1 = Browser::new();
    let a = sign_in_through_provider(&mut b1, &base, "alice@example.com", "/user/cli?port=8123");
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/user/cli?port=8123"));
    let token = b1.jar.get("token").cloned().expect("a session cookie");
    let (s, me) = api(&base, "GET", "/api/users/whoami", &token, None);
    assert_eq!(s, 200, "{me}");
    assert!(me.contains("alice@example.com"), "{me}");
    let cli = b1.get(&format!("{base}/user/cli?port=8123"));
    assert_eq!(cli.status, 200, "{}", cli.body);
    assert!(cli.body.contains("8123"), "{}", cli.body);
    assert!(b1.jar.contains_key("wm_oidc"));
    let (_, users) = api(
        &base,
        "GET",
        "/api/users/list_as_super_admin?per_page=100",
        &admin,
        None,
    );
    assert!(users.contains("\"login_type\":\"idp\""), "{users}");
    let (_, groups) = api(&base, "GET", "/api/groups/get/eng", &admin, None);
    assert!(
        groups.contains("alice@example.com"),
        "the groups claim maps to eng: {groups}"
    );

    // A second sign-in reaches the same account.
    let mut b2 = Browser::new();
    let a = sign_in_through_provider(&mut b2, &base, "alice@example.com", "/user/profile");
    assert_eq!(a.status, 303, "{}", a.body);
    let token2 = b2.jar.get("token").cloned().unwrap();
    assert_ne!(token, token2);
    let (_, me2) = api(&base, "GET", "/api/users/whoami", &token2, None);
    assert!(me2.contains("alice@example.com"), "{me2}");
    let (_, users2) = api(
        &base,
        "GET",
        "/api/users/list_as_super_admin?per_page=100",
        &admin,
        None,
    );
    assert_eq!(
        users2.matches("\"email\":\"alice@example.com\"").count(),
        1,
        "{users2}"
    );
    let logins: Vec<Value> = audit(&base, &admin, "users.login")
        .into_iter()
        .filter(|e| e["parameters"]["provider"] == "idp")
        .collect();
    assert_eq!(logins.len(), 2, "{logins:?}");

    // Another domain: refused, nothing made.
    let mut b3 = Browser::new();
    let a = sign_in_through_provider(&mut b3, &base, "bob@other.org", "/user/profile");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("accounts are not created for other.org"),
        "{}",
        a.body
    );
    assert!(!b3.jar.contains_key("token"));
    assert!(!exists(&base, &admin, "bob@other.org"));

    // A disabled account: refused with its own sentence.
    let (s, b) = api(
        &base,
        "POST",
        "/api/users/create",
        &admin,
        Some(
            json!({"email": "carol@example.com", "password": "carol-password", "super_admin": false}),
        ),
    );
    assert_eq!(s, 201.min(s.max(200)), "{b}");
    let (s, b) = api(
        &base,
        "POST",
        "/api/users/update/carol@example.com",
        &admin,
        Some(json!({"disabled": true})),
    );
    assert_eq!(s, 200, "{b}");
    let mut b4 = Browser::new();
    let a = sign_in_through_provider(&mut b4, &base, "carol@example.com", "/user/profile");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("is disabled"), "{}", a.body);
    assert!(!b4.jar.contains_key("token"));

    // An email the provider does not vouch for.
    let mut b5 = Browser::new();
    let a = sign_in_through_provider(&mut b5, &base, "unverified@example.com", "/user/profile");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("did not confirm your email"), "{}", a.body);
    assert!(!exists(&base, &admin, "unverified@example.com"));

    let failures = audit(&base, &admin, "users.login_failure");
    let reasons: Vec<String> = failures
        .iter()
        .filter(|e| e["parameters"]["provider"] == "idp")
        .map(|e| {
            e["parameters"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for want in [
        "not an allowed domain",
        "account disabled",
        "email is verified",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "{want}: {reasons:?}"
        );
    }
    for e in &failures {
        let text = e.to_string();
        assert!(
            !text.contains(&token) && !text.contains("eyJ"),
            "no token in the audit: {text}"
        );
    }
}

/// Starts a sign-in with provider `name` in `b`; (state, nonce).
fn start(b: &mut Browser, base: &str, name: &str) -> (String, String) {
    let a = b.get(&format!("{base}/api/oauth/login/{name}"));
    assert_eq!(a.status, 303, "{}", a.body);
    let loc = a.location.unwrap();
    assert!(loc.contains("code_challenge_method=S256"), "{loc}");
    (
        query_param(&loc, "state").unwrap(),
        query_param(&loc, "nonce").unwrap(),
    )
}

fn callback(b: &mut Browser, base: &str, name: &str, state: &str, code: &str) -> Answer {
    b.get(&format!(
        "{base}/user/oauth/callback/{name}?code={}&state={}",
        enc(code),
        enc(state)
    ))
}

fn jwks_fetches(signer: &str, tenant: &str) -> u64 {
    let mut b = Browser::new();
    let stats: Value = serde_json::from_str(&b.get(&format!("{signer}/stats")).body).unwrap();
    stats[tenant].as_u64().unwrap()
}

#[test]
#[cfg_attr(
    not(wmill_oidc),
    ignore = "needs node and `npm ci` in .ci/oidc (see build.rs)"
)]
fn every_wrong_answer_of_a_provider_is_refused() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run("every_wrong_answer_of_a_provider_is_refused") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_signer, signer) = node("signer.mjs", &["wmill", "s3cret-client-value"]);
    let secret = secret_file(dir.path());
    let spec = |name: &str, tenant: &str| {
        format!(
            "{name}={signer}/{tenant},client_id=wmill,client_secret_file={},allowed_domains=signer.test",
            secret.display()
        )
    };
    let (_server, base) = server(
        dir.path(),
        port,
        &[
            "--oidc".into(),
            spec("main", "main"),
            "--oidc".into(),
            spec("rot", "rot"),
        ],
    );
    let admin = admin_token(&base);

    for case in [
        "wrong_iss",
        "wrong_aud",
        "expired",
        "future_iat",
        "bad_nonce",
        "alg_none",
        "hs256",
        "unknown_kid",
        "tampered",
        "unverified",
        "azp_other",
    ] {
        let before = audit(&base, &admin, "users.login_failure").len();
        let fetches = jwks_fetches(&signer, "main");
        let mut b = Browser::new();
        let (state, nonce) = start(&mut b, &base, "main");
        let a = callback(&mut b, &base, "main", &state, &format!("{case}.{nonce}"));
        assert_eq!(a.status, 403, "{case}: {}", a.body);
        assert!(a.body.contains("Sign-in refused"), "{case}: {}", a.body);
        assert!(!b.jar.contains_key("token"), "{case}");
        let email = format!("{}@signer.test", case.replace('_', "-"));
        assert!(
            !exists(&base, &admin, &email),
            "{case}: an account was made"
        );
        assert!(
            !exists(&base, &admin, "admin@windmill.dev")
                || case != "tampered"
                || !b.jar.contains_key("token")
        );
        let after = audit(&base, &admin, "users.login_failure");
        assert_eq!(after.len(), before + 1, "{case}: one audit entry");
        assert_eq!(
            after[0]["parameters"]["provider"], "main",
            "{case}: {}",
            after[0]
        );
        let refetched = jwks_fetches(&signer, "main") - fetches;
        if case == "unknown_kid" {
            assert_eq!(refetched, 1, "an unknown key is refetched once");
        } else {
            assert_eq!(refetched, 0, "{case}: no refetch");
        }
        eprintln!("{case}: refused ({})", after[0]["parameters"]["reason"]);
    }

    // The right answer signs in; its state cannot be used again.
    let mut b = Browser::new();
    let (state, nonce) = start(&mut b, &base, "main");
    let a = callback(&mut b, &base, "main", &state, &format!("ok.{nonce}"));
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(exists(&base, &admin, "ok@signer.test"));
    let before = audit(&base, &admin, "users.login_failure").len();
    let mut again = Browser::new();
    again.jar = b.jar.clone();
    again.jar.remove("token");
    let a = callback(&mut again, &base, "main", &state, &format!("ok.{nonce}"));
    assert_eq!(a.status, 400, "a replayed state: {}", a.body);
    assert!(!again.jar.contains_key("token"));
    let after = audit(&base, &admin, "users.login_failure");
    assert_eq!(after.len(), before + 1);
    assert!(
        after[0]["parameters"]["reason"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    // A state started in another browser (without its binding cookie) is refused.
    let mut started = Browser::new();
    let (state, nonce) = start(&mut started, &base, "main");
    let mut other = Browser::new();
    let a = callback(&mut other, &base, "main", &state, &format!("ok.{nonce}"));
    assert_eq!(a.status, 400, "{}", a.body);
    let after = audit(&base, &admin, "users.login_failure");
    assert!(
        after[0]["parameters"]["reason"]
            .as_str()
            .unwrap()
            .contains("another browser")
    );
    // …and it is gone: not even its own browser can use it now.
    let a = callback(&mut started, &base, "main", &state, &format!("ok.{nonce}"));
    assert_eq!(a.status, 400, "{}", a.body);

    // Windmill's UI route: the same checks, the session as text (and cookie).
    let mut b = Browser::new();
    let (state, nonce) = start(&mut b, &base, "main");
    let url = format!("{base}/api/oauth/login_callback/main");
    let bad = b.post_json(
        &url,
        &serde_json::json!({"code": format!("tampered.{nonce}"), "state": state}),
    );
    assert_eq!(bad.status, 403, "{}", bad.body);
    assert!(!b.jar.contains_key("token"));
    let (state, nonce) = start(&mut b, &base, "main");
    let ok = b.post_json(
        &url,
        &serde_json::json!({"code": format!("ok.{nonce}"), "state": state}),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let me = Browser::new();
    let whoami = me
        .agent
        .get(format!("{base}/api/users/whoami"))
        .header("authorization", format!("Bearer {}", ok.body.trim()))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(whoami.contains("ok@signer.test"), "{whoami}");
    // Replayed: refused.
    let again = b.post_json(
        &url,
        &serde_json::json!({"code": format!("ok.{nonce}"), "state": state}),
    );
    assert_eq!(again.status, 400, "{}", again.body);

    // A rotated key: unknown at first, found by the one refetch.
    let mut b = Browser::new();
    let (state, nonce) = start(&mut b, &base, "rot");
    let a = callback(&mut b, &base, "rot", &state, &format!("rotated.{nonce}"));
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(exists(&base, &admin, "rotated@signer.test"));
    assert_eq!(jwks_fetches(&signer, "rot"), 2);
}

#[test]
#[cfg_attr(
    not(wmill_oidc),
    ignore = "needs node and `npm ci` in .ci/oidc (see build.rs)"
)]
fn the_server_starts_without_a_reachable_provider() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    // Nobody listens there: the server starts all the same, and says the provider is not
    // reachable yet on its page.
    // Port 1: nothing listens there.
    let spec = format!(
        "late=http://127.0.0.1:1,client_id=wmill,client_secret_file={}",
        secret.display()
    );
    let port = free_port();
    let (_server, base) = server(dir.path(), port, &["--oidc".into(), spec]);
    let mut b = Browser::new();
    let a = b.get(&format!("{base}/api/oauth/login/late"));
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.body.contains("cannot be reached yet"), "{}", a.body);
    let a = b.get(&format!("{base}/api/auth/is_password_login_disabled"));
    assert_eq!(a.body, "false");
    let stderr = std::fs::read_to_string(dir.path().join("server.stderr")).unwrap();
    assert!(!stderr.contains("s3cret-client-value"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// A real browser (headless chromium, driven by `.ci/browser`'s puppeteer-core) through the
// real provider: our pages, Windmill's official client and `wmill`.
// ---------------------------------------------------------------------------------------

/// How long one browser script may run (each takes about 10 s).
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn chromium() -> PathBuf {
    match std::env::var_os("CHROMIUM") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/usr/bin/chromium"),
    }
}

fn official_client() -> PathBuf {
    match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo().join(".ci/official-client/node_modules/.bin/wmill"),
    }
}

/// Our command-line client, built next to the server by `cargo test --workspace`.
fn our_client() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_wmill-server")).with_file_name("wmill")
}

/// Whether the browser tests can run here (the providers, chromium, `.ci/browser`'s
/// packages, and what `also` names); otherwise the test fails, saying why.
fn can_run_browser(test: &str, also: &[(bool, String)]) -> bool {
    if !can_run(test) {
        return false;
    }
    let browser = repo().join(".ci/browser");
    let mut missing: Vec<(bool, String)> = vec![
        (
            chromium().is_file(),
            format!(
                "no chromium at {} (apt-get install chromium, or set CHROMIUM)",
                chromium().display()
            ),
        ),
        (
            browser
                .join("node_modules/puppeteer-core/package.json")
                .is_file()
                && browser.join("node_modules/axe-core/axe.min.js").is_file(),
            "npm packages missing: run `npm ci` in .ci/browser".into(),
        ),
    ];
    missing.extend(also.iter().cloned());
    let Some((_, reason)) = missing.into_iter().find(|(ok, _)| !ok) else {
        return true;
    };
    // build.rs found what this test needs, or the harness would have ignored it: what is
    // missing now is a failure, never a pass that ran nothing.
    panic!("{test} cannot run: {reason}");
}

/// Starts the real provider and a server that signs in with it (as `idp`, accounts created
/// for example.com, the groups claim read), then runs `node .ci/browser/<script>` against
/// them with `env`; prints its output, and fails unless it exits 0 with nothing failed.
fn run_sso_script(script: &str, env: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ours = format!("http://127.0.0.1:{port}");
    let (_idp, issuer) = node(
        "provider.mjs",
        &[
            "wmill",
            "s3cret-client-value",
            &format!("{ours}/user/oauth/callback/idp"),
        ],
    );
    let secret = secret_file(dir.path());
    let spec = format!(
        "idp={issuer},client_id=wmill,client_secret_file={},allowed_domains=example.com,scopes=openid email profile groups,groups_claim=groups",
        secret.display()
    );
    let (_server, base) = server(dir.path(), port, &["--oidc".into(), spec]);
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(repo().join(".ci/browser").join(script))
        .current_dir(repo())
        .env("WMILL_URL", &base)
        .env("WMILL_ADMIN_EMAIL", ADMIN)
        .env("WMILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WMILL_SSO_PROVIDER", "idp")
        .env("WMILL_SSO_DOMAIN", "example.com")
        .env("WMILL_BROWSER_DEADLINE_SECS", "75")
        .env("CHROMIUM", chromium())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    println!(
        "--- node .ci/browser/{script} ({:.1?}) ---\n{out}",
        started.elapsed()
    );
    if !err.trim().is_empty() {
        println!("--- its stderr ---\n{err}");
    }
    let log = || {
        let log = std::fs::read_to_string(dir.path().join("server.stderr")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    let Some(status) = status else {
        panic!(
            "{script} did not finish within {BROWSER_DEADLINE:?}:\n{out}\n{err}\n--- the server's last log lines ---\n{}",
            log()
        );
    };
    assert!(
        status.success() && out.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "{script} failed ({status}):\n{}\n--- the server's last log lines ---\n{}",
        out.lines()
            .filter(|l| l.starts_with("FAIL") || l.contains(" passed, "))
            .collect::<Vec<_>>()
            .join("\n"),
        log()
    );
}

#[test]
#[cfg_attr(
    not(all(wmill_oidc, wmill_browser, wmill_official_client)),
    ignore = "needs node, chromium, `npm ci` in .ci/oidc, .ci/browser and .ci/official-client (see build.rs)"
)]
fn a_browser_signs_in_through_the_provider() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run_browser("a_browser_signs_in_through_the_provider", &[]) {
        return;
    }
    run_sso_script("sso.mjs", &[]);
}

#[test]
#[cfg_attr(
    not(all(wmill_oidc, wmill_browser, wmill_official_client)),
    ignore = "needs node, chromium, `npm ci` in .ci/oidc, .ci/browser and .ci/official-client (see build.rs)"
)]
fn the_official_client_signs_in_through_the_provider() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let client = official_client();
    let also = [
        (
            client.is_file(),
            format!(
                "Windmill's official client is not installed at {} (run `npm ci` in .ci/official-client, or set WMILL_OFFICIAL_CLIENT)",
                client.display()
            ),
        ),
        (
            on_path("script"),
            "`script` (util-linux) is not on PATH".into(),
        ),
    ];
    if !can_run_browser("the_official_client_signs_in_through_the_provider", &also) {
        return;
    }
    run_sso_script(
        "sso-cli.mjs",
        &[
            ("WMILL_SSO_CLIENT", "official".into()),
            ("WMILL_CLI", client.display().to_string()),
        ],
    );
}

#[test]
#[cfg_attr(
    not(all(wmill_oidc, wmill_browser, wmill_official_client)),
    ignore = "needs node, chromium, `npm ci` in .ci/oidc, .ci/browser and .ci/official-client (see build.rs)"
)]
fn wmill_signs_in_through_the_provider() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let client = our_client();
    let also = [
        (
            client.is_file(),
            format!(
                "`wmill` is not built at {} (run `cargo build -p wmill-cli`; `cargo test --workspace` builds it)",
                client.display()
            ),
        ),
        (
            on_path("script"),
            "`script` (util-linux) is not on PATH".into(),
        ),
    ];
    if !can_run_browser("wmill_signs_in_through_the_provider", &also) {
        return;
    }
    run_sso_script(
        "sso-cli.mjs",
        &[
            ("WMILL_SSO_CLIENT", "wmill".into()),
            ("WMILL_CLI", client.display().to_string()),
        ],
    );
}
