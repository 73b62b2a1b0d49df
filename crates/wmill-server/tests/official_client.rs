//! Windmill's official client (`windmill-cli` 1.819.0 from npm, pinned in
//! `.ci/official-client`) works unchanged against the real `wmill-server`.
//!
//! Each test starts the server binary on port 0 with a fresh data folder and drives the
//! client as a user would: `--base-url --token --workspace`, stdin closed, a `HOME` and an
//! empty `WMILL_CONFIG_DIR` of its own, run from a folder with no `wmill.yaml` above it.
//! Every command is checked twice: its exit code and output, then its effect through our
//! own HTTP API. The client's quirks that matter here are named where they are used.
//!
//! The client is looked up in `WMILL_OFFICIAL_CLIENT`, else in
//! `.ci/official-client/node_modules/.bin/wmill` (installed by `npm ci` in that folder).
//! Without it, or without `node`, as the tests were built, each test is reported as ignored
//! (see `build.rs`); under `CI` that is a failure (`tests/server/meta.rs`).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::SecondsFormat;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::Proc;
use wmill_api::{ActionKind, AuditLog, GlobalUserInfo, Group, TruncatedToken, UserInfo, Workspace};

const ADMIN_EMAIL: &str = "admin@windmill.dev";
const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// The workspace the server creates on first start, with the superadmin as its admin.
const WS: &str = "admins";
const CLIENT_VERSION: &str = "1.819.0";
/// How long one client run may take (a run takes about a second; `version` also asks the
/// npm registry for the latest version, which may wait on a network that drops packets).
const CLIENT_DEADLINE: Duration = Duration::from_secs(90);
/// Printed on stdout by group, audit and token commands when no `--json` is given.
const NO_WMILL_YAML: &str = "No wmill.yaml found. Use 'wmill init' to bootstrap it.";
const COULD_NOT_AUTHENTICATE: &str = "Could not authenticate with the provided credentials. \
     Please check your --token and --base-url and try again.";

// ---------------------------------------------------------------------------------------
// Finding the client
// ---------------------------------------------------------------------------------------

/// The official client's `wmill` entry point. The tests that call this are ignored when
/// the client was missing as they were built; one that runs and finds it gone says so.
fn official_client() -> PathBuf {
    let bin = match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.ci/official-client/node_modules/.bin/wmill"),
    };
    assert!(
        bin.is_file(),
        "the official client is not installed at {} (run `npm ci` in .ci/official-client, or \
         set WMILL_OFFICIAL_CLIENT)",
        bin.display()
    );
    assert!(
        find_on_path("node").is_some(),
        "`node` is not on PATH (the official client needs Node 20)"
    );
    bin
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A `wmill-server` process on a fresh data folder, killed on drop.
struct Server {
    proc: Proc,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    url: String,
    agent: ureq::Agent,
    /// A session token of the bootstrap superadmin.
    admin: String,
    _dir: tempfile::TempDir,
}

/// One HTTP answer, read whole.
#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: String,
    body: String,
}

impl Resp {
    #[track_caller]
    fn json<T: DeserializeOwned>(&self) -> T {
        assert_eq!(self.status, 200, "{self:?}");
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("unexpected shape ({e}): {}", self.body))
    }
}

impl Server {
    /// Starts the server (cheap password hashing, our superadmin password, plus the
    /// settings in `env`), waits for its `listening on` line and logs the superadmin in.
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut all = vec![("WM_ADMIN_PASSWORD", ADMIN_PASSWORD)];
        all.extend(env);
        let proc = support::start(&dir.path().join("data"), "server", &all);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut server = Self {
            url: proc.url.clone(),
            proc,
            agent,
            admin: String::new(),
            _dir: dir,
        };
        server.admin = server.login(ADMIN_EMAIL, ADMIN_PASSWORD);
        server
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.header("content-type", "application/json")
                    .send(body.unwrap_or(json!({})).to_string())
            }
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Resp {
            status: res.status().as_u16(),
            content_type,
            body: res.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// GET as the superadmin, parsed into a wire type.
    #[track_caller]
    fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        self.call("GET", path, Some(&self.admin), None).json()
    }

    /// A new session token, or a panic.
    #[track_caller]
    fn login(&self, email: &str, password: &str) -> String {
        let r = self.try_login(email, password);
        assert_eq!(r.status, 200, "login of {email}: {r:?}");
        r.body
    }

    fn try_login(&self, email: &str, password: &str) -> Resp {
        self.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    }

    /// The status of `GET /api/users/whoami` with this token.
    fn whoami_status(&self, token: &str) -> u16 {
        self.call("GET", "/api/users/whoami", Some(token), None)
            .status
    }

    #[track_caller]
    fn whoami(&self, token: &str) -> GlobalUserInfo {
        self.call("GET", "/api/users/whoami", Some(token), None)
            .json()
    }

    /// Creates an instance user through the API (setup, not under test).
    #[track_caller]
    fn create_user(&self, email: &str, password: &str) {
        let r = self.call(
            "POST",
            "/api/users/create",
            Some(&self.admin),
            Some(json!({"email": email, "password": password, "super_admin": false})),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }

    /// Makes an existing user a plain member of workspace `ws`.
    #[track_caller]
    fn add_member(&self, ws: &str, email: &str) {
        let r = self.call(
            "POST",
            &format!("/api/w/{ws}/workspaces/add_user"),
            Some(&self.admin),
            Some(json!({"email": email, "is_admin": false, "operator": false})),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }

    /// The superadmin's view of the audit log, every workspace (instance events included).
    fn audit_everywhere(&self) -> Vec<AuditLog> {
        self.get(&format!(
            "/api/w/{WS}/audit/list?all_workspaces=true&per_page=10000"
        ))
    }

    /// Asserts exactly one audit entry with this operation and resource, of this kind.
    #[track_caller]
    fn assert_audited(&self, operation: &str, resource: &str, kind: ActionKind) -> AuditLog {
        let found: Vec<AuditLog> = self
            .audit_everywhere()
            .into_iter()
            .filter(|a| a.operation == operation && a.resource.as_deref() == Some(resource))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one `{operation}` entry for {resource}: {found:#?}"
        );
        assert_eq!(found[0].action_kind, kind, "{:#?}", found[0]);
        found[0].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.proc.err).unwrap_or_default();
            eprintln!("--- wmill-server log ---\n{log}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

/// A person with the official client: their own `HOME`, config folder and working folder.
struct Wmill<'a> {
    bin: PathBuf,
    server: &'a Server,
    dir: tempfile::TempDir,
}

/// One run of the client, with ANSI colour codes removed from both streams.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit code 0; returns stdout.
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit code 0 and parses stdout (which `--json` keeps free of notices).
    #[track_caller]
    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(self.ok().trim())
            .unwrap_or_else(|e| panic!("stdout is not the expected JSON ({e}): {self:#?}"))
    }

    /// Asserts exit code 0 and that stdout has this line.
    #[track_caller]
    fn prints(&self, line: &str) {
        assert!(
            self.ok().lines().any(|l| l.trim_end() == line),
            "expected the line {line:?}: {self:#?}"
        );
    }

    /// Asserts exit code 1 with every needle on stderr.
    #[track_caller]
    fn fails(&self, needles: &[&str]) {
        assert_eq!(self.code, 1, "expected exit code 1: {self:#?}");
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "expected {n:?} on stderr: {self:#?}"
            );
        }
    }

    /// The rows of a table the client drew (header row included), cells trimmed.
    fn table(&self) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('│'))
            .map(|l| {
                let cells: Vec<&str> = l.split('│').collect();
                cells[1..cells.len() - 1]
                    .iter()
                    .map(|c| c.trim().to_owned())
                    .collect()
            })
            .collect()
    }
}

impl<'a> Wmill<'a> {
    fn new(bin: &Path, server: &'a Server) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "config", "cwd"] {
            std::fs::create_dir(dir.path().join(sub)).expect("client folders");
        }
        // The client looks for wmill.yaml from its cwd upwards and moves there if found.
        let cwd = dir.path().join("cwd");
        if let Some(found) = cwd
            .ancestors()
            .map(|d| d.join("wmill.yaml"))
            .find(|p| p.exists())
        {
            panic!(
                "{} would be picked up by the official client; remove it",
                found.display()
            );
        }
        Self {
            bin: bin.to_path_buf(),
            server,
            dir,
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Runs `wmill <args> --base-url <server> --token <token> --workspace <ws>`.
    fn run(&self, args: &[&str], token: &str, ws: &str) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--base-url", &self.server.url, "--token", token]);
        all.extend(["--workspace", ws]);
        self.run_bare(&all)
    }

    /// Runs `wmill <args>` with the superadmin's token on workspace `admins`.
    fn admin(&self, args: &[&str]) -> Run {
        self.run(args, &self.server.admin, WS)
    }

    /// Runs `wmill <args>` exactly as given (for `workspace add` and `version`, which take
    /// no `--base-url`/`--workspace`).
    fn run_bare(&self, args: &[&str]) -> Run {
        let child = Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("WMILL_CONFIG_DIR", self.config_dir())
            .current_dir(self.dir.path().join("cwd"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(CLIENT_DEADLINE) {
            Ok(out) => out.expect("the client's output"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("wmill {args:?} did not finish within {CLIENT_DEADLINE:?}");
            }
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: strip_ansi(&String::from_utf8_lossy(&out.stdout)),
            stderr: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
        }
    }
}

/// Removes `ESC [ <digits and ;> m` sequences: the client colours its output even when
/// it is not a terminal.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let params = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[params..].starts_with('m') {
            rest = &after[params + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A timestamp as the client passes it through: RFC 3339 with as many digits as needed.
fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[test]
fn strip_ansi_removes_colour_codes_only() {
    assert_eq!(
        strip_ansi("\x1b[34m\x1b[32mNew User Created.\x1b[39m\x1b[39m"),
        "New User Created."
    );
    assert_eq!(
        strip_ansi("\x1b[1;31mA\x1b[0m b \x1b[2J c"),
        "A b \x1b[2J c"
    );
    assert_eq!(strip_ansi("plain │ täble"), "plain │ täble");
}

fn ids(entries: &[AuditLog]) -> Vec<i64> {
    entries.iter().map(|a| a.id).collect()
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn user_add_list_remove_and_create_token() {
    let bin = official_client();
    let server = Server::start(&[]);
    let wmill = Wmill::new(&bin, &server);

    // `user add` with a password and no options.
    wmill
        .admin(&["user", "add", "bob@example.com", "bob-password-1"])
        .prints("New User Created.");
    let bob = server.login("bob@example.com", "bob-password-1");
    let me = server.whoami(&bob);
    assert!(!me.super_admin && me.name.is_none() && me.company.is_none());
    let added = server.assert_audited("users.add_global", "bob@example.com", ActionKind::Create);
    assert_eq!(added.email.as_deref(), Some(ADMIN_EMAIL));

    // `user add` with every option.
    wmill
        .admin(&[
            "user",
            "add",
            "dave@example.com",
            "dave-password-1",
            "--superadmin",
            "--company",
            "Acme & Söhne",
            "--name",
            "Dave O'Brien",
        ])
        .prints("New User Created.");
    let dave = server.whoami(&server.login("dave@example.com", "dave-password-1"));
    assert!(dave.super_admin);
    assert_eq!(dave.company.as_deref(), Some("Acme & Söhne"));
    assert_eq!(dave.name.as_deref(), Some("Dave O'Brien"));

    // `wmill user` lists every account, in our order, each once (fewer than 10 users,
    // so the client's page=0 start does not repeat a page).
    let listed = wmill.admin(&["user"]);
    listed.ok();
    let users: Vec<GlobalUserInfo> = server.get("/api/users/list_as_super_admin");
    assert_eq!(users.len(), 3);
    let mut expected = vec![vec![
        "email".to_owned(),
        "name".into(),
        "company".into(),
        "verified".into(),
        "super admin".into(),
    ]];
    for u in &users {
        expected.push(vec![
            u.email.clone(),
            u.name.clone().unwrap_or_else(|| "-".into()),
            u.company.clone().unwrap_or_else(|| "-".into()),
            u.verified.to_string(),
            u.super_admin.to_string(),
        ]);
    }
    assert_eq!(listed.table(), expected, "{listed:#?}");

    // `user create-token`: a token of the caller.
    let run = wmill.admin(&["user", "create-token"]);
    let token = run
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap_or_else(|| panic!("no `Token:` line: {run:#?}"))
        .trim()
        .to_owned();
    assert_eq!(server.whoami(&token).email, ADMIN_EMAIL);
    server.assert_audited(
        "users.token.create",
        &format!("{}*****", &token[..10]),
        ActionKind::Create,
    );

    // `user create-token --email --password`: a login as that user.
    let run = wmill.admin(&[
        "user",
        "create-token",
        "--email",
        "bob@example.com",
        "--password",
        "bob-password-1",
    ]);
    let bob_token = run
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap_or_else(|| panic!("no `Token:` line: {run:#?}"))
        .trim()
        .to_owned();
    assert_eq!(server.whoami(&bob_token).email, "bob@example.com");
    server.assert_audited(
        "users.login",
        &format!("{}*****", &bob_token[..10]),
        ActionKind::Create,
    );

    // `user remove`: the account, its sessions and its tokens are gone.
    wmill
        .admin(&["user", "remove", "bob@example.com"])
        .prints("Deleted User bob@example.com");
    let exists: bool = server.get("/api/users/exists/bob@example.com");
    assert!(!exists);
    assert_eq!(
        server.try_login("bob@example.com", "bob-password-1").status,
        400
    );
    assert_eq!(server.whoami_status(&bob), 401);
    assert_eq!(server.whoami_status(&bob_token), 401);
    server.assert_audited("users.delete", "bob@example.com", ActionKind::Delete);
}

/// The client makes up a 5-character password when none is given; a superadmin's initial
/// password may be that short (`--initial-password-min-chars`, default 5), and the printed
/// password logs in.
#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn user_add_without_password_uses_the_generated_password() {
    let bin = official_client();
    // The client makes up 5 characters; a superadmin's initial password may be that short.
    let server = Server::start(&[]);
    let run = Wmill::new(&bin, &server).admin(&["user", "add", "carol@example.com"]);
    run.prints("New User Created.");
    let password = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("New Password: "))
        .unwrap_or_else(|| panic!("no `New Password:` line: {run:#?}"))
        .trim();
    let me = server.whoami(&server.login("carol@example.com", password));
    assert_eq!(me.email, "carol@example.com");
    assert!(!me.super_admin);
}

/// `wmill user` asks for `page=0&per_page=10` and then pages on. Like Windmill, we take
/// page 0 as page 1, so with 10 or more users the first page is listed twice: the
/// documented quirk, pinned here so that a change of either side shows.
#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn user_list_repeats_the_first_page_from_ten_users_on() {
    let bin = official_client();
    let server = Server::start(&[]);
    for i in 0..11 {
        server.create_user(&format!("user{i:02}@example.com"), "user-password-1");
    }
    let users: Vec<GlobalUserInfo> = server.get("/api/users/list_as_super_admin");
    let ours: Vec<String> = users.into_iter().map(|u| u.email).collect();
    assert_eq!(ours.len(), 12);

    let run = Wmill::new(&bin, &server).admin(&["user"]);
    run.ok();
    let listed: Vec<String> = run
        .table()
        .into_iter()
        .skip(1)
        .map(|r| r[0].clone())
        .collect();
    let expected: Vec<String> = ours[..10]
        .iter()
        .chain(&ours[..10])
        .chain(&ours[10..])
        .cloned()
        .collect();
    assert_eq!(listed, expected, "{run:#?}");
}

// ---------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn every_group_subcommand() {
    let bin = official_client();
    let server = Server::start(&[]);
    server.create_user("erin@example.com", "erin-password-1");
    server.add_member(WS, "erin@example.com");
    let erin = server.login("erin@example.com", "erin-password-1");
    let wmill = Wmill::new(&bin, &server);
    let group = |name: &str| format!("/api/w/{WS}/groups/get/{name}");

    // create, with and without a summary
    wmill
        .admin(&[
            "group",
            "create",
            "devs",
            "--summary",
            "Developers, all of them",
        ])
        .prints("Group 'devs' created.");
    let devs: Group = server.get(&group("devs"));
    assert_eq!(devs.summary.as_deref(), Some("Developers, all of them"));
    assert_eq!(devs.members, ["admin"]);
    assert_eq!(devs.extra_perms.get("u/admin"), Some(&true));
    wmill
        .admin(&["group", "create", "ops-team_2"])
        .prints("Group 'ops-team_2' created.");
    let ops: Group = server.get(&group("ops-team_2"));
    assert_eq!(ops.summary, None);
    server.assert_audited("group.create", "devs", ActionKind::Create);
    server.assert_audited("group.create", "ops-team_2", ActionKind::Create);

    // add-user: erin is in the group, and in her own view of the workspace
    wmill
        .admin(&["group", "add-user", "devs", "erin"])
        .prints("User 'erin' added to group 'devs'.");
    let devs: Group = server.get(&group("devs"));
    assert_eq!(devs.members, ["admin", "erin"]);
    let erin_in_ws: UserInfo = server
        .call(
            "GET",
            &format!("/api/w/{WS}/users/whoami"),
            Some(&erin),
            None,
        )
        .json();
    assert!(
        erin_in_ws.groups.contains(&"devs".to_owned()),
        "{erin_in_ws:?}"
    );
    let entry = server.assert_audited("group.adduser", "devs", ActionKind::Update);
    assert_eq!(entry.parameters, Some(json!({"user": "erin"})));

    // list and get, as JSON: our wire types, the same as our API answers
    let listed: Vec<Group> = wmill.admin(&["group", "list", "--json"]).json();
    let ours: Vec<Group> = server.get(&format!("/api/w/{WS}/groups/list"));
    assert_eq!(listed, ours);
    assert_eq!(
        listed.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["all", "devs", "ops-team_2"]
    );
    let got: Group = wmill.admin(&["group", "get", "devs", "--json"]).json();
    assert_eq!(got, devs);

    // get and bare `group` (= list), as text
    let run = wmill.admin(&["group", "get", "devs"]);
    run.prints("Name: devs");
    run.prints("Summary: Developers, all of them");
    run.prints("Members: admin, erin");
    let run = wmill.admin(&["group"]);
    run.prints(NO_WMILL_YAML);
    assert_eq!(
        run.table(),
        [
            vec!["Name", "Summary", "Members"],
            vec![
                "all",
                "The group that always contains all users of this workspace",
                "2"
            ],
            vec!["devs", "Developers, all of them", "2"],
            vec!["ops-team_2", "-", "1"],
        ],
        "{run:#?}"
    );

    // remove-user
    wmill
        .admin(&["group", "remove-user", "devs", "erin"])
        .prints("User 'erin' removed from group 'devs'.");
    let devs: Group = server.get(&group("devs"));
    assert_eq!(devs.members, ["admin"]);
    let entry = server.assert_audited("group.removeuser", "devs", ActionKind::Update);
    assert_eq!(entry.parameters, Some(json!({"user": "erin"})));

    // delete
    wmill
        .admin(&["group", "delete", "ops-team_2"])
        .prints("Group 'ops-team_2' deleted.");
    let gone = server.call("GET", &group("ops-team_2"), Some(&server.admin), None);
    assert_eq!(gone.status, 404, "{gone:?}");
    server.assert_audited("group.delete", "ops-team_2", ActionKind::Delete);
}

// ---------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn audit_list_with_each_filter_and_audit_get() {
    let bin = official_client();
    let server = Server::start(&[]);
    // A history by two people, made through our API.
    server.create_user("erin@example.com", "erin-password-1");
    server.add_member(WS, "erin@example.com");
    let erin = server.login("erin@example.com", "erin-password-1");
    let admin = server.admin.clone();
    let post = |token: &str, path: &str, body: Value| {
        let r = server.call(
            "POST",
            &format!("/api/w/{WS}{path}"),
            Some(token),
            Some(body),
        );
        assert!(r.status < 300, "{path}: {r:?}");
    };
    post(&admin, "/groups/create", json!({"name": "devs"}));
    post(&admin, "/groups/adduser/devs", json!({"username": "erin"}));
    post(&erin, "/groups/create", json!({"name": "erins"}));
    post(
        &admin,
        "/groups/removeuser/devs",
        json!({"username": "erin"}),
    );
    let r = server.call(
        "DELETE",
        &format!("/api/w/{WS}/groups/delete/devs"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");

    let all: Vec<AuditLog> = server.get(&format!("/api/w/{WS}/audit/list"));
    assert!(all.len() >= 6 && all.len() < 30, "{all:#?}");
    let only = |keep: &dyn Fn(&AuditLog) -> bool| -> Vec<AuditLog> {
        all.iter().filter(|a| keep(a)).cloned().collect()
    };
    let adduser = only(&|a| a.operation == "group.adduser").remove(0);
    let wmill = Wmill::new(&bin, &server);

    // no filter: the client's default page (30) holds the whole history
    let listed: Vec<AuditLog> = wmill.admin(&["audit", "list", "--json"]).json();
    assert_eq!(listed, all);

    // each filter on its own
    let check = |filter: &[&str], expected: Vec<AuditLog>| {
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "{filter:?}"
        );
        let mut args = vec!["audit", "list"];
        args.extend(filter);
        args.push("--json");
        let listed: Vec<AuditLog> = wmill.admin(&args).json();
        assert_eq!(ids(&listed), ids(&expected), "audit list {filter:?}");
        assert_eq!(listed, expected, "audit list {filter:?}");
    };
    check(&["--username", "erin"], only(&|a| a.username == "erin"));
    check(
        &["--operation", "group"],
        only(&|a| a.operation.starts_with("group.")),
    );
    check(
        &["--action-kind", "Delete"],
        only(&|a| a.action_kind == ActionKind::Delete),
    );
    let at = rfc3339(&adduser.timestamp);
    check(
        &["--before", &at],
        only(&|a| a.timestamp <= adduser.timestamp),
    );
    check(
        &["--after", &at],
        only(&|a| a.timestamp > adduser.timestamp),
    );

    // all of them at once, with --limit
    let run = wmill.admin(&[
        "audit",
        "list",
        "--username",
        "admin",
        "--operation",
        "group",
        "--action-kind",
        "Update",
        "--after",
        &rfc3339(&all.last().expect("entries").timestamp),
        "--before",
        &at,
        "--limit",
        "5",
        "--json",
    ]);
    let listed: Vec<AuditLog> = run.json();
    assert_eq!(ids(&listed), [adduser.id]);

    // bare `audit` (= list) draws the table
    let run = wmill.admin(&["audit"]);
    run.prints(NO_WMILL_YAML);
    let rows = run.table();
    assert_eq!(
        rows[0],
        [
            "ID",
            "Timestamp",
            "Username",
            "Operation",
            "Action",
            "Resource"
        ]
    );
    assert_eq!(rows.len(), all.len() + 1, "{run:#?}");
    let row = rows
        .iter()
        .find(|r| r[0] == adduser.id.to_string())
        .unwrap_or_else(|| panic!("no row for {}: {run:#?}", adduser.id));
    assert_eq!(
        row[1..],
        [
            adduser.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
            "admin".into(),
            "group.adduser".into(),
            "Update".into(),
            "devs".into(),
        ]
    );

    // audit get, as JSON and as text
    let id = adduser.id.to_string();
    let got: AuditLog = wmill.admin(&["audit", "get", &id, "--json"]).json();
    let ours: AuditLog = server.get(&format!("/api/w/{WS}/audit/get/{id}"));
    assert_eq!(got, ours);
    assert_eq!(got, adduser);
    let run = wmill.admin(&["audit", "get", &id]);
    for line in [
        format!("ID: {id}"),
        format!(
            "Timestamp: {}",
            adduser.timestamp.format("%Y-%m-%d %H:%M:%S")
        ),
        "Username: admin".into(),
        "Operation: group.adduser".into(),
        "Action Kind: Update".into(),
        "Resource: devs".into(),
        "Parameters:".into(),
        r#"  "user": "erin""#.into(),
    ] {
        run.prints(&line);
    }
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn token_create_list_delete() {
    let bin = official_client();
    let server = Server::start(&[]);
    let wmill = Wmill::new(&bin, &server);
    // `token create` prints the raw token as the last line of stdout.
    let create = |args: &[&str]| -> String {
        let mut all = vec!["token", "create"];
        all.extend(args);
        let run = wmill.admin(&all);
        let token = run
            .ok()
            .lines()
            .next_back()
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert!(
            token.starts_with("wm_") && token.len() == 49,
            "the last line is the token: {run:#?}"
        );
        token
    };

    let labelled = create(&["--label", "ci", "--expiration", "2030-01-01T00:00:00Z"]);
    let plain = create(&[]);
    assert_eq!(server.whoami(&labelled).email, ADMIN_EMAIL);
    assert_eq!(server.whoami(&plain).email, ADMIN_EMAIL);
    let ours: Vec<TruncatedToken> = server.get("/api/users/tokens/list?exclude_ephemeral=true");
    let find = |prefix: &str| {
        ours.iter()
            .find(|t| t.token_prefix == prefix)
            .unwrap_or_else(|| panic!("{prefix} not listed: {ours:#?}"))
            .clone()
    };
    let l = find(&labelled[..10]);
    assert_eq!(l.label.as_deref(), Some("ci"));
    assert_eq!(
        l.expiration.map(|t| rfc3339(&t)).as_deref(),
        Some("2030-01-01T00:00:00Z")
    );
    let p = find(&plain[..10]);
    assert_eq!((p.label, p.expiration), (None, None));
    for t in [&labelled, &plain] {
        server.assert_audited(
            "users.token.create",
            &format!("{}*****", &t[..10]),
            ActionKind::Create,
        );
    }

    // list --json: our wire type, the same tokens as our API lists (`last_used_at` left
    // out: the client's own requests move it).
    let listed: Vec<TruncatedToken> = wmill.admin(&["token", "list", "--json"]).json();
    let key = |ts: &[TruncatedToken]| -> Vec<(String, Option<String>, String, String)> {
        ts.iter()
            .map(|t| {
                (
                    t.token_prefix.clone(),
                    t.label.clone(),
                    format!("{:?}", t.expiration),
                    rfc3339(&t.created_at),
                )
            })
            .collect()
    };
    assert_eq!(key(&listed), key(&ours));

    // bare `token` (= list) draws the table
    let run = wmill.admin(&["token"]);
    run.prints(NO_WMILL_YAML);
    let rows = run.table();
    assert_eq!(
        rows[0],
        ["Prefix", "Label", "Created At", "Last Used", "Expiration"]
    );
    let row = |prefix: &str| {
        rows.iter()
            .find(|r| r[0] == prefix)
            .unwrap_or_else(|| panic!("no row for {prefix}: {run:#?}"))
            .clone()
    };
    let r = row(&labelled[..10]);
    assert_eq!(
        (r[1].as_str(), r[4].as_str()),
        ("ci", "2030-01-01 00:00:00")
    );
    let r = row(&plain[..10]);
    assert_eq!((r[1].as_str(), r[4].as_str()), ("-", "never"));

    // delete by the 10-character prefix: that token stops working, the other does not
    let prefix = &labelled[..10];
    wmill
        .admin(&["token", "delete", prefix])
        .prints(&format!("Token with prefix '{prefix}' deleted."));
    assert_eq!(server.whoami_status(&labelled), 401);
    assert_eq!(server.whoami_status(&plain), 200);
    let left: Vec<TruncatedToken> = server.get("/api/users/tokens/list?exclude_ephemeral=true");
    assert!(left.iter().all(|t| t.token_prefix != prefix), "{left:#?}");
    server.assert_audited(
        "users.token.delete",
        &format!("{prefix}*****"),
        ActionKind::Delete,
    );
}

// ---------------------------------------------------------------------------------------
// Workspaces, whoami, version
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn workspace_add_whoami_and_version() {
    let bin = official_client();
    let server = Server::start(&[]);
    let wmill = Wmill::new(&bin, &server);
    let remote = format!("{}/", server.url);
    let token = server.admin.as_str();
    let workspaces = || -> BTreeSet<String> {
        let list: Vec<Workspace> = server.get("/api/workspaces/list");
        list.into_iter().map(|w| w.id).collect()
    };
    let before = workspaces();
    assert_eq!(before, BTreeSet::from([WS.to_owned()]));

    // an existing workspace: a profile is stored, nothing changes on the server
    wmill
        .run_bare(&["workspace", "add", "local", WS, &remote, "--token", token])
        .prints(&format!("Added workspace local for {WS} on {remote}!"));
    assert_eq!(workspaces(), before);
    let profiles = std::fs::read_to_string(wmill.config_dir().join("windmill/remotes.ndjson"))
        .expect("the client stored a profile");
    let profile: Value = serde_json::from_str(profiles.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {profiles}"));
    assert_eq!(
        profile,
        json!({"name": "local", "remote": remote, "workspaceId": WS, "token": token})
    );

    // a missing workspace without --create: refused, nothing created
    let run = wmill.run_bare(&[
        "workspace",
        "add",
        "nope",
        "nope",
        &remote,
        "--token",
        token,
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("Workspace at id nope on") && run.stdout.contains("--create"),
        "{run:#?}"
    );
    assert_eq!(workspaces(), before);

    // --create: the workspace exists, named after the profile, with the caller as admin
    let run = wmill.run_bare(&[
        "workspace",
        "add",
        "fresh",
        "fresh-ws",
        &remote,
        "--token",
        token,
        "--create",
    ]);
    run.prints(&format!(
        "Workspace at id fresh-ws on {remote} does not exist. Creating..."
    ));
    run.prints(&format!("Added workspace fresh for fresh-ws on {remote}!"));
    let list: Vec<Workspace> = server.get("/api/workspaces/list");
    let created = list
        .iter()
        .find(|w| w.id == "fresh-ws")
        .unwrap_or_else(|| panic!("fresh-ws not listed: {list:#?}"));
    assert_eq!(created.name, "fresh");
    let me: UserInfo = server.get("/api/w/fresh-ws/users/whoami");
    assert!(me.is_admin && me.username == "admin", "{me:?}");
    assert!(me.groups.contains(&"all".to_owned()), "{me:?}");
    server.assert_audited("workspaces.create", "fresh-ws", ActionKind::Create);

    // whoami, with the issue's flags, as a plain member: the body of our whoami
    server.create_user("erin@example.com", "erin-password-1");
    server.add_member(WS, "erin@example.com");
    let erin = server.login("erin@example.com", "erin-password-1");
    let run = Wmill::new(&bin, &server).run(&["workspace", "whoami"], &erin, WS);
    let out = run.ok();
    let body = out
        .find("\nActive:")
        .map(|end| &out[..end])
        .unwrap_or_else(|| panic!("no `Active:` line: {run:#?}"));
    let shown: GlobalUserInfo =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
    assert_eq!(shown, server.whoami(&erin));
    assert_eq!(shown.username.as_deref(), Some("erin"));

    // version: the client's own, and ours through the active profile (`fresh`)
    let run = wmill.run_bare(&["version"]);
    run.prints(&format!("CLI version: {CLIENT_VERSION}"));
    let ours = server.call("GET", "/api/version", None, None);
    assert_eq!(ours.status, 200);
    run.prints(&format!("Backend Version: {}", ours.body));
    assert_eq!(ours.body, concat!("CE v", env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------------------------------
// The login check before every command, and refusals
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn refusals_and_the_whoami_fallback() {
    let bin = official_client();
    let server = Server::start(&[]);
    let wmill = Wmill::new(&bin, &server);
    let users_before: Vec<GlobalUserInfo> = server.get("/api/users/list_as_super_admin");

    // An unknown token (well formed, and not) on an instance and on a workspace command:
    // both whoami calls answer 401, and the client says why and exits 1. (With `--json`
    // the client is silent and only exits 1, so these runs go without it.)
    let unknown = format!("wm_{}", "A".repeat(46));
    wmill
        .run(&["user"], &unknown, WS)
        .fails(&[COULD_NOT_AUTHENTICATE, "Unauthorized"]);
    wmill
        .run(&["group", "list"], "not-a-token", WS)
        .fails(&[COULD_NOT_AUTHENTICATE, "Unauthorized"]);

    // A member who is not a superadmin: the client passes our refusal on.
    server.create_user("erin@example.com", "erin-password-1");
    server.add_member(WS, "erin@example.com");
    let erin = server.login("erin@example.com", "erin-password-1");
    wmill
        .run(
            &["user", "add", "zed@example.com", "zed-password-1"],
            &erin,
            WS,
        )
        .fails(&["This endpoint requires the caller to be a super admin"]);
    let exists: bool = server.get("/api/users/exists/zed@example.com");
    assert!(!exists);
    let users: Vec<GlobalUserInfo> = server.get("/api/users/list_as_super_admin");
    assert_eq!(users.len(), users_before.len() + 1, "only erin was added");

    // A token pinned to the workspace is refused on the instance whoami (401); the
    // client then asks the workspace's whoami and goes on.
    let r = server.call(
        "POST",
        "/api/users/tokens/create",
        Some(&erin),
        Some(json!({"label": "pinned", "workspace_id": WS})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let pinned = r.body;
    assert_eq!(server.whoami_status(&pinned), 401);
    let listed: Vec<Group> = wmill.run(&["group", "list", "--json"], &pinned, WS).json();
    let ours: Vec<Group> = server.get(&format!("/api/w/{WS}/groups/list"));
    assert_eq!(listed, ours);
}

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn a_scoped_token_does_what_its_scope_allows_and_shows_our_refusal() {
    let bin = official_client();
    let server = Server::start(&[]);
    let wmill = Wmill::new(&bin, &server);
    let r = server.call(
        "POST",
        "/api/users/tokens/create",
        Some(&server.admin),
        Some(json!({"label": "reader", "scopes": ["groups:read"]})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let reader = r.body;
    // The client's own checks (whoami, version) pass with any token; the list needs
    // groups:read.
    let list = wmill.run(&["group", "list", "--json"], &reader, WS);
    let groups: Vec<Group> = list.json();
    assert!(groups.iter().any(|g| g.name == "all"), "{groups:?}");
    let before: Vec<Group> = server.get(&format!("/api/w/{WS}/groups/list"));
    wmill
        .run(&["group", "create", "writers"], &reader, WS)
        .fails(&["Not authorized: this token lacks the scope groups:write"]);
    let after: Vec<Group> = server.get(&format!("/api/w/{WS}/groups/list"));
    assert_eq!(before, after, "nothing created");
    // A read-only token, whatever its scopes.
    let r = server.call(
        "POST",
        "/api/users/tokens/create",
        Some(&server.admin),
        Some(json!({"label": "ro", "read_only": true})),
    );
    let ro = r.body;
    wmill.run(&["group", "list"], &ro, WS).ok();
    wmill
        .run(&["group", "create", "writers"], &ro, WS)
        .fails(&["Not authorized: this token is read-only"]);
}

// ---------------------------------------------------------------------------------------
// The instance and GitOps path: instance pull/push, sync pull/push
// ---------------------------------------------------------------------------------------

/// A PHC hash of `password` as Windmill makes them (argon2id, m=19456, t=2, p=1).
fn windmill_hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    let h: argon2::password_hash::phc::PasswordHash = argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), b"fedcba9876543210")
        .unwrap();
    h.to_string()
}

/// The server on SQLite, or on a fresh PostgreSQL database (kept alive with the server).
fn server_on(postgres: bool) -> (Server, Option<support::PgDb>) {
    if postgres {
        let db = support::fresh_pg_database_blocking(&support::pg_url());
        (
            Server::start(&[("DATABASE_URL", db.url.as_str())]),
            Some(db),
        )
    } else {
        (Server::start(&[]), None)
    }
}

/// `wmill instance pull`, edit the YAML (a user added with Windmill's hash, a group
/// changed), `wmill instance push --yes`, pull again: no difference.
fn instance_pull_edit_push_pull(postgres: bool) {
    let bin = official_client();
    let (server, _db) = server_on(postgres);
    let wmill = Wmill::new(&bin, &server);
    server.create_user("alice@example.com", "alice-password-1");
    server.add_member(WS, "alice@example.com");
    for (m, p, b) in [
        (
            "POST",
            "/api/groups/create",
            json!({"name": "eng", "summary": "Engineers"}),
        ),
        (
            "POST",
            "/api/groups/adduser/eng",
            json!({"email": "alice@example.com"}),
        ),
    ] {
        let r = server.call(m, p, Some(&server.admin), Some(b));
        assert_eq!(r.status, 200, "{r:?}");
    }
    let url = server.url.clone();
    let instance = |verb: &str| {
        wmill.run_bare(&[
            "instance",
            verb,
            "--yes",
            "--skip-settings",
            "--skip-configs",
            "--base-url",
            &url,
            "--token",
            &server.admin,
        ])
    };
    instance("pull").ok();
    let cwd = wmill.dir.path().join("cwd");
    let users_file = cwd.join("instance_users.yaml");
    let groups_file = cwd.join("instance_groups.yaml");
    let mut users: Vec<wmill_api::ExportedUser> =
        serde_saphyr::from_str(&std::fs::read_to_string(&users_file).unwrap()).unwrap();
    let mut groups: Vec<wmill_api::ExportedInstanceGroup> =
        serde_saphyr::from_str(&std::fs::read_to_string(&groups_file).unwrap()).unwrap();
    let exported: Vec<wmill_api::ExportedUser> = server.get("/api/users/export");
    assert_eq!(users, exported, "the pulled file is the export");
    assert_eq!(groups.len(), 1);
    // The edit: bob, from another Windmill, with his hash; eng gets bob and a new summary.
    users.push(wmill_api::ExportedUser {
        email: "bob@example.com".into(),
        password_hash: Some(windmill_hash("bob-from-windmill-1")),
        super_admin: false,
        verified: true,
        name: Some("Bob".into()),
        company: None,
        first_time_user: false,
        username: Some("bob".into()),
    });
    groups[0].summary = Some("Engineering".into());
    groups[0]
        .emails
        .get_or_insert_with(Vec::new)
        .push("bob@example.com".into());
    std::fs::write(&users_file, serde_saphyr::to_string(&users).unwrap()).unwrap();
    std::fs::write(&groups_file, serde_saphyr::to_string(&groups).unwrap()).unwrap();
    instance("push").ok();
    server.login("bob@example.com", "bob-from-windmill-1");
    let eng: wmill_api::InstanceGroupWithWorkspaces = server.get("/api/groups/get/eng");
    assert_eq!(eng.summary.as_deref(), Some("Engineering"));
    assert_eq!(
        eng.emails,
        vec![
            "alice@example.com".to_string(),
            "bob@example.com".to_string()
        ]
    );
    let again = instance("pull");
    let out = format!("{}{}", again.ok(), again.stderr);
    assert!(
        out.contains("No instance-level changes to apply"),
        "{again:#?}"
    );
    let log = server.audit_everywhere();
    assert!(
        log.iter().any(|e| e.operation == "users.overwrite"),
        "audited"
    );
}

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn instance_pull_edit_push_pull_on_sqlite() {
    instance_pull_edit_push_pull(false);
}

#[test]
#[cfg_attr(
    not(all(wmill_official_client, wmill_pg)),
    ignore = "needs Windmill's official client (npm ci in .ci/official-client) and WMILL_TEST_POSTGRES_URL"
)]
fn instance_pull_edit_push_pull_on_postgres() {
    instance_pull_edit_push_pull(true);
}

/// `wmill sync pull --include-users --include-groups`, edit (a member added, a group
/// changed), `wmill sync push`, pull again: no change.
fn sync_pull_edit_push_pull(postgres: bool) {
    let bin = official_client();
    let (server, _db) = server_on(postgres);
    let wmill = Wmill::new(&bin, &server);
    server.create_user("alice@example.com", "alice-password-1");
    server.add_member(WS, "alice@example.com");
    for (p, b) in [
        (
            format!("/api/w/{WS}/groups/create"),
            json!({"name": "devs", "summary": "Developers"}),
        ),
        (
            format!("/api/w/{WS}/groups/adduser/devs"),
            json!({"username": "alice"}),
        ),
    ] {
        let r = server.call("POST", &p, Some(&server.admin), Some(b));
        assert_eq!(r.status, 200, "{r:?}");
    }
    let sync = |verb: &str| {
        wmill.admin(&[
            "sync",
            verb,
            "--yes",
            "--include-users",
            "--include-groups",
            "--include-settings",
            "-i",
            "users/**,groups/**",
        ])
    };
    sync("pull").ok();
    let cwd = wmill.dir.path().join("cwd");
    let alice = std::fs::read_to_string(cwd.join("users/alice@example.com.user.yaml")).unwrap();
    assert_eq!(alice, "disabled: false\nrole: developer\nusername: alice\n");
    let devs = std::fs::read_to_string(cwd.join("groups/devs.group.yaml")).unwrap();
    assert!(
        devs.contains("u/alice") && devs.contains("u/admin"),
        "{devs}"
    );
    assert!(!cwd.join("groups/all.group.yaml").exists());
    let settings = std::fs::read_to_string(cwd.join("settings.yaml")).unwrap();
    assert!(settings.contains("name: "), "{settings}");
    // The edit: carol joins as an operator; devs gets her and another summary.
    std::fs::write(
        cwd.join("users/carol@example.com.user.yaml"),
        "disabled: false\nrole: operator\nusername: carol\n",
    )
    .unwrap();
    // Auto-invite on, and what operators see.
    std::fs::write(
        cwd.join("settings.yaml"),
        format!(
            "{settings}auto_invite:\n  enabled: true\n  mode: add\n  operator: true\noperator_settings:\n  groups: false\n  audit_logs: true\n"
        ),
    )
    .unwrap();
    std::fs::write(
        cwd.join("groups/devs.group.yaml"),
        "summary: Developers and operators\nadmins:\n  - u/admin\nmembers:\n  - u/alice\n  - u/carol\n",
    )
    .unwrap();
    sync("push").ok();
    let carol: wmill_api::User = server.get(&format!("/api/w/{WS}/users/get/carol"));
    assert!(carol.operator && carol.email == "carol@example.com");
    let g: Group = server.get(&format!("/api/w/{WS}/groups/get/devs"));
    assert_eq!(g.summary.as_deref(), Some("Developers and operators"));
    assert_eq!(g.members, vec!["admin", "alice", "carol"]);
    let ws: wmill_api::WorkspaceSettings =
        server.get(&format!("/api/w/{WS}/workspaces/get_settings"));
    let ai = ws.auto_invite.expect("auto-invite set by the push");
    assert_eq!(
        (ai.enabled, ai.operator, ai.mode.as_deref()),
        (Some(true), Some(true), Some("add"))
    );
    assert_eq!(ws.operator_settings.unwrap().get("groups"), Some(&false));
    let again = sync("pull");
    let out = format!("{}{}", again.ok(), again.stderr);
    assert!(out.contains("0 changes to apply"), "{again:#?}");
}

#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn sync_pull_edit_push_pull_on_sqlite() {
    sync_pull_edit_push_pull(false);
}

#[test]
#[cfg_attr(
    not(all(wmill_official_client, wmill_pg)),
    ignore = "needs Windmill's official client (npm ci in .ci/official-client) and WMILL_TEST_POSTGRES_URL"
)]
fn sync_pull_edit_push_pull_on_postgres() {
    sync_pull_edit_push_pull(true);
}

/// The identity calls the official client makes, read from its bundle: every generated
/// request function for users, groups, tokens, the audit log, ACLs, auth and the identity
/// settings of workspaces that its commands call, and the archive it fetches. Each one is
/// served: in our OpenAPI document, and not answered "no route" when called.
#[test]
#[cfg_attr(
    not(wmill_official_client),
    ignore = "needs Windmill's official client: npm ci in .ci/official-client"
)]
fn every_identity_call_of_the_official_client_is_served() {
    let bin = official_client();
    let bundle_path = std::fs::canonicalize(&bin)
        .unwrap()
        .parent()
        .unwrap()
        .join("main.js");
    let bundle_path = if bundle_path.is_file() {
        bundle_path
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.ci/official-client/node_modules/windmill-cli/esm/main.js")
    };
    let bundle = std::fs::read_to_string(&bundle_path).unwrap();
    // Generated functions: `name = (data) => { return request(OpenAPI, { method: "M", url: "U"`.
    let mut calls = BTreeSet::new();
    let needle = "return request(OpenAPI, {";
    for (at, _) in bundle.match_indices(needle) {
        let head = &bundle[..at];
        let name_end = head.rfind(" = (").unwrap_or(0);
        let name_start = head[..name_end]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &head[name_start..name_end];
        let tail = &bundle[at..(at + 300).min(bundle.len())];
        let field = |key: &str| {
            let k = tail.find(&format!("{key}: \""))? + key.len() + 3;
            Some(tail[k..k + tail[k..].find('"')?].to_string())
        };
        let (Some(method), Some(url)) = (field("method"), field("url")) else {
            continue;
        };
        // Called somewhere (not only defined and exported).
        if bundle.matches(&format!("{name}(")).count() == 0 {
            continue;
        }
        calls.insert((method, url));
    }
    let identity = |url: &str| {
        // (Instance settings, `/settings/global/{key}`, are not identity: the one key sync
        // reads, automate_username_creation, is served at its own path.)
        const PREFIXES: [&str; 9] = [
            "/auth/",
            "/users/",
            "/groups/",
            "/tokens/",
            "/w/{workspace}/users/",
            "/w/{workspace}/groups/",
            "/w/{workspace}/acls/",
            "/w/{workspace}/audit/",
            "/workspaces/",
        ];
        const WORKSPACE_IDENTITY: [&str; 8] = [
            "add_user",
            "edit_auto_invite",
            "edit_instance_groups",
            "operator_settings",
            "get_settings",
            "get_workspace_name",
            "list_ws_specific",
            "tarball",
        ];
        PREFIXES.iter().any(|p| url.starts_with(p))
            || url
                .strip_prefix("/w/{workspace}/workspaces/")
                .is_some_and(|rest| WORKSPACE_IDENTITY.contains(&rest))
    };
    let mut wanted: BTreeSet<(String, String)> =
        calls.into_iter().filter(|(_, u)| identity(u)).collect();
    // The archive `sync pull` fetches itself, outside the generated functions.
    assert!(
        bundle.contains("/workspaces/tarball?"),
        "the client fetches the tarball"
    );
    wanted.insert(("GET".into(), "/w/{workspace}/workspaces/tarball".into()));
    assert_eq!(
        wanted.len(),
        42,
        "the identity calls of windmill-cli {CLIENT_VERSION}: {wanted:#?}"
    );
    // Every one is in our document…
    let server = Server::start(&[]);
    let doc: Value = server.get("/api/openapi.json");
    let paths = doc["paths"].as_object().unwrap();
    let ours = |method: &str, url: &str| -> bool {
        // Windmill's parameter names may differ from ours: compare the shapes.
        let shape = |p: &str| {
            p.split('/')
                .map(|s| if s.starts_with('{') { "{}" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        };
        paths.iter().any(|(p, item)| {
            shape(p) == shape(&format!("/api{url}")) && item.get(method.to_lowercase()).is_some()
        })
    };
    let missing: Vec<_> = wanted.iter().filter(|(m, u)| !ours(m, u)).collect();
    assert!(
        missing.is_empty(),
        "identity calls of the official client we do not serve: {missing:#?}"
    );
    // …and answered by a route when called.
    for (m, u) in &wanted {
        let path = format!(
            "/api{}",
            u.replace("{workspace}", WS)
                .replace("{kind}", "group_")
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        );
        let r = server.call(m, &path, Some(&server.admin), Some(json!({})));
        assert!(!r.body.contains("no route for"), "{m} {path}: {r:?}");
        assert_ne!(r.status, 405, "{m} {path}: {r:?}");
    }
}
