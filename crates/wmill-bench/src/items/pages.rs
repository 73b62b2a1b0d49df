//! Item 7: the pages a browser gets. A fresh server whose workspace `admins` has 1 000
//! members (each with an instance account, so that the superadmin's user list is full too),
//! groups, and an audit log of 10 000 entries (seeded in bulk like item 4's). The superadmin
//! signs in through the sign-in page like a browser (the `login_csrf` double submit, the form
//! posted with this server's `Origin`), then one client on one keep-alive connection asks for
//! every page in turn, round after round, and times each answer from the first byte of the
//! request written to the last byte of the body read: the server's time plus loopback. Each
//! page's weight is what a browser with an empty cache transfers for it: the HTML and every
//! stylesheet, script and image it references, headers included, uncompressed (the server
//! compresses nothing).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::parallel;
use crate::run::{Backend, Ctx};
use crate::say;
use crate::seed::{self, STEP_MICROS};
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, Argon2};
use crate::util::{Context, Result, human_secs, percentile, thousands};

/// One page (or asset): its weight and how long it took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    pub name: String,
    pub path: String,
    /// Bytes of the answer's body and of its status line and headers.
    pub body_bytes: u64,
    pub header_bytes: u64,
    /// Table rows in the HTML (`<tr>`, header rows included).
    #[serde(default)]
    pub rows: usize,
    /// Same-origin stylesheets, scripts and images the HTML references.
    pub assets: Vec<String>,
    /// Body and headers of the page and of each asset: what an empty cache transfers.
    pub total_bytes: u64,
    /// Timed requests, and the answer times in µs.
    pub requests: u32,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Page {
    /// Whether this is an HTML page (the stylesheet and the script are measured apart).
    pub fn is_html(&self) -> bool {
        !self.path.starts_with("/static/")
    }
}

/// Item 7 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PagesResult {
    pub backend: Backend,
    pub members: usize,
    pub accounts: usize,
    pub groups: usize,
    pub group_size: usize,
    /// Entries in the audit log when measured (seeded ones and those the setup wrote).
    pub audit_entries: i64,
    pub warmup: u32,
    pub requests: u32,
    pub setup_seconds: f64,
    pub pages: Vec<Page>,
}

impl PagesResult {
    /// The HTML page with the highest p50.
    pub fn slowest(&self) -> Option<&Page> {
        self.pages
            .iter()
            .filter(|p| p.is_html())
            .max_by(|a, b| a.p50_us.total_cmp(&b.p50_us))
    }

    /// The HTML page that weighs the most.
    pub fn heaviest(&self) -> Option<&Page> {
        self.pages
            .iter()
            .filter(|p| p.is_html())
            .max_by_key(|p| p.total_bytes)
    }
}

/// The goals: p50 under 5 ms, under 100 KB (100 000 bytes).
pub const P50_GOAL_US: f64 = 5000.0;
pub const WEIGHT_GOAL: u64 = 100_000;

/// Runs item 7 on one database.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<PagesResult> {
    let p = ctx.p.clone();
    say!(
        "[7] pages on {}: {} members, {} groups, {} audit entries",
        b.name(),
        thousands(p.pages_members as f64),
        p.pages_groups,
        thousands(p.pages_audit as f64)
    );
    // Hashing is not measured: cheap parameters make the 1 000 accounts quick.
    let mut stage = ctx.stage(b, Argon2::Cheap, &[], "pages")?;
    let t0 = Instant::now();
    let members = p.pages_members;
    {
        let (api, admin) = (stage.api.clone(), stage.admin.clone());
        parallel(members, 4, move |i| {
            let email = format!("p{i:04}@bench.test");
            api.expect(
                201,
                "POST",
                "/api/users/create",
                Some(&admin),
                Some(&json!({"email": email, "password": format!("password-{i}"),
                              "super_admin": false})),
            )?;
            api.expect(
                201,
                "POST",
                "/api/w/admins/workspaces/add_user",
                Some(&admin),
                Some(&json!({"email": email, "username": format!("p{i:04}"),
                              "is_admin": false, "operator": false})),
            )
            .map(|_| ())
        })?;
    }
    let (groups, size) = (p.pages_groups, p.pages_group_size.min(members));
    {
        let (api, admin) = (stage.api.clone(), stage.admin.clone());
        parallel(groups, 4, move |g| {
            let name = format!("g{g:02}");
            api.expect(
                200,
                "POST",
                "/api/w/admins/groups/create",
                Some(&admin),
                Some(&json!({"name": name, "summary": format!("Benchmark group {g}")})),
            )?;
            for k in 0..size {
                let m = (g * 37 + k) % members;
                api.expect(
                    200,
                    "POST",
                    &format!("/api/w/admins/groups/adduser/{name}"),
                    Some(&admin),
                    Some(&json!({"username": format!("p{m:04}")})),
                )?;
            }
            Ok(())
        })?;
    }
    // The log: what the setup wrote, topped up to the size asked for in bulk (server
    // stopped), the newest seeded entry just now.
    let target = stage.target.clone();
    let written = ctx.rt.block_on(seed::count_all_audit(&target))?;
    let need = (p.pages_audit - written).max(0);
    let base = chrono::Utc::now().timestamp_micros() - need * STEP_MICROS;
    stage.with_server_stopped(ctx, || {
        ctx.rt
            .block_on(seed::seed_audit(&target, 0, need, base, |_| {}))
    })?;
    let audit_entries = ctx.rt.block_on(seed::count_all_audit(&target))?;
    let newest = ctx.rt.block_on(seed::max_audit_id(&target))?;
    let setup_seconds = t0.elapsed().as_secs_f64();
    say!(
        "    {} accounts and members, {groups} groups of {size}, {} audit entries in {}",
        thousands(members as f64),
        thousands(audit_entries as f64),
        human_secs(setup_seconds)
    );

    let url = stage.server().url.clone();
    let mut conn = Conn::open(&url)?;
    let token = sign_in(&mut conn, &url)?;
    let cookie = format!("token={token}");
    // The author of the newest seeded entry (see `seed::insert_sql`).
    let author = format!("u{:04}", ((need - 1).max(0) * 7919) % seed::USERS);
    // (name, path, a text the page must hold: a stub or an empty list is not measured).
    let pages: Vec<(&str, String, String)> = vec![
        ("profile", "/user/profile".into(), ADMIN_EMAIL.into()),
        ("tokens", "/user/tokens".into(), "<form".into()),
        ("members", "/w/admins/members".into(), "@bench.test".into()),
        ("groups", "/w/admins/groups".into(), "g01".into()),
        (
            "group",
            "/w/admins/groups/g00".into(),
            format!("p{:04}", size.saturating_sub(1) % members.max(1)),
        ),
        ("audit log", "/w/admins/audit".into(), author.clone()),
        (
            "audit entry",
            format!("/w/admins/audit/{newest}"),
            author.clone(),
        ),
        (
            "users (superadmin)",
            "/admin/users".into(),
            "@bench.test".into(),
        ),
        (
            "workspaces (superadmin)",
            "/admin/workspaces".into(),
            "admins".into(),
        ),
        ("app.css", "/static/app.css".into(), String::new()),
        ("app.js", "/static/app.js".into(), String::new()),
    ];

    // Weights: each page once, then each asset it references once.
    let mut found = Vec::new();
    for (name, path, must) in &pages {
        let a = conn.get(path, &cookie)?;
        if a.status != 200 {
            return Err(format!(
                "page {path} answered {} on {}: {}",
                a.status,
                b.name(),
                String::from_utf8_lossy(&a.body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        let html = String::from_utf8_lossy(&a.body).into_owned();
        if !html.contains(must.as_str()) {
            return Err(format!(
                "page {path} on {} does not show {must:?}: is it finished?",
                b.name()
            ));
        }
        let assets = if path.starts_with("/static/") {
            Vec::new()
        } else {
            references(&html)
        };
        let mut total = a.wire();
        for asset in &assets {
            let r = conn.get(asset, &cookie)?;
            if r.status != 200 {
                return Err(format!("{asset} (from {path}) answered {}", r.status));
            }
            total += r.wire();
        }
        let rows = html.matches("<tr>").count() + html.matches("<tr ").count();
        found.push((
            name.to_string(),
            path.clone(),
            a.body.len() as u64,
            a.header_bytes as u64,
            rows,
            assets,
            total,
        ));
    }

    // Times: warm-up rounds, then timed rounds; each round asks for every page once, so
    // that a neighbour's burst hits them all alike.
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    for round in 0..p.pages_warmup + p.pages_requests {
        for (i, (_, path, _)) in pages.iter().enumerate() {
            conn.ensure_open()?;
            let t = Instant::now();
            let a = conn.get(path, &cookie)?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if a.status != 200 {
                return Err(format!(
                    "page {path} answered {} in round {round} on {}",
                    a.status,
                    b.name()
                ));
            }
            if round >= p.pages_warmup {
                samples[i].push(us);
            }
        }
    }
    let mut out = Vec::new();
    for ((name, path, body_bytes, header_bytes, rows, assets, total_bytes), xs) in
        found.into_iter().zip(samples)
    {
        let page = Page {
            name,
            path,
            body_bytes,
            header_bytes,
            rows,
            assets,
            total_bytes,
            requests: xs.len() as u32,
            min_us: percentile(&xs, 0.0),
            p50_us: percentile(&xs, 50.0),
            p90_us: percentile(&xs, 90.0),
            p99_us: percentile(&xs, 99.0),
            max_us: percentile(&xs, 100.0),
            mean_us: xs.iter().sum::<f64>() / xs.len().max(1) as f64,
        };
        say!(
            "    {:<24} {:>7} B ({:>7} B with assets), p50 {:.2} ms, p99 {:.2} ms",
            page.path,
            page.body_bytes,
            page.total_bytes,
            page.p50_us / 1e3,
            page.p99_us / 1e3
        );
        out.push(page);
    }
    stage.stop()?;
    Ok(PagesResult {
        backend: b,
        members,
        accounts: members + 1,
        groups,
        group_size: size,
        audit_entries,
        warmup: p.pages_warmup,
        requests: p.pages_requests,
        setup_seconds,
        pages: out,
    })
}

/// Signs in through the sign-in page as a browser does; returns the session cookie's value.
fn sign_in(conn: &mut Conn, url: &str) -> Result<String> {
    let page = conn.request("GET", "/user/login", &[], None)?;
    if page.status != 200 {
        return Err(format!("GET /user/login answered {}", page.status));
    }
    let csrf = page
        .cookie("login_csrf")
        .ctx("the sign-in page set no login_csrf cookie")?;
    let body = format!(
        "csrf={}&next=%2Fuser%2Fprofile&email={}&password={}",
        encode(&csrf),
        encode(ADMIN_EMAIL),
        encode(ADMIN_PASSWORD)
    );
    let cookie = format!("login_csrf={csrf}");
    let a = conn.request(
        "POST",
        "/user/login",
        &[
            ("Cookie", &cookie),
            ("Origin", url),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(body.as_bytes()),
    )?;
    if a.status != 303 {
        return Err(format!(
            "signing in through /user/login answered {} instead of 303",
            a.status
        ));
    }
    a.cookie("token")
        .filter(|t| !t.is_empty())
        .ctx("signing in set no token cookie")
}

/// Percent-encodes a form value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Same-origin paths of the stylesheets, scripts, icons and images an HTML page references
/// (each once, in order).
fn references(html: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in html.match_indices('<') {
        let rest = &html[i + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let name = tag
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let attr = match name.as_str() {
            "link" if !tag.contains("rel=\"preconnect\"") => "href",
            "script" | "img" | "source" => "src",
            _ => continue,
        };
        let Some(v) = attribute(tag, attr) else {
            continue;
        };
        if v.starts_with('/') && !v.starts_with("//") && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))?;
    let rest = &tag[at + name.len() + 3..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// One HTTP/1.1 connection kept alive, with nothing between the timer and the socket.
struct Conn {
    addr: String,
    io: Option<BufReader<TcpStream>>,
}

/// An answer, read whole.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    header_bytes: usize,
    body: Vec<u8>,
}

impl Answer {
    /// Bytes on the wire (the server compresses nothing: `Accept-Encoding: identity`).
    fn wire(&self) -> u64 {
        (self.header_bytes + self.body.len()) as u64
    }

    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| {
                let (k, rest) = v.split_once('=')?;
                (k.trim() == name).then(|| rest.split(';').next().unwrap_or("").to_string())
            })
    }
}

impl Conn {
    fn open(url: &str) -> Result<Conn> {
        let addr = url
            .strip_prefix("http://")
            .ctx(format!("not an http:// address: {url}"))?
            .trim_end_matches('/')
            .to_string();
        let mut c = Conn { addr, io: None };
        c.ensure_open()?;
        Ok(c)
    }

    /// Reconnects if the server closed the connection.
    fn ensure_open(&mut self) -> Result<()> {
        if self.io.is_none() {
            let s =
                TcpStream::connect(&self.addr).ctx(format!("cannot connect to {}", self.addr))?;
            s.set_nodelay(true).ctx("TCP_NODELAY")?;
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .ctx("read timeout")?;
            self.io = Some(BufReader::with_capacity(256 * 1024, s));
        }
        Ok(())
    }

    fn get(&mut self, path: &str, cookie: &str) -> Result<Answer> {
        self.request("GET", path, &[("Cookie", cookie)], None)
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer> {
        self.ensure_open()?;
        let out = self.exchange(method, path, headers, body);
        if out.is_err() {
            self.io = None;
        }
        out
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer> {
        let what = format!("{method} {path}");
        let io = self.io.as_mut().ctx("no connection")?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/html,*/*\r\nAccept-Encoding: identity\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        io.get_mut().write_all(&bytes).ctx(&what)?;

        let mut line = String::new();
        let mut header_bytes = io.read_line(&mut line).ctx(&what)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ctx(format!("{what}: no status line in {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            let n = io.read_line(&mut line).ctx(&what)?;
            if n == 0 {
                return Err(format!("{what}: the connection closed in the headers"));
            }
            header_bytes += n;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                line.clear();
                header_bytes += io.read_line(&mut line).ctx(&what)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .ctx(format!("{what}: a bad chunk size"))?;
                if size == 0 {
                    line.clear();
                    header_bytes += io.read_line(&mut line).ctx(&what)?;
                    break;
                }
                let at = body.len();
                body.resize(at + size, 0);
                io.read_exact(&mut body[at..]).ctx(&what)?;
                line.clear();
                header_bytes += io.read_line(&mut line).ctx(&what)?;
            }
        } else if let Some(n) = header("content-length") {
            let n: usize = n.parse().ctx(format!("{what}: content-length"))?;
            body.resize(n, 0);
            io.read_exact(&mut body).ctx(&what)?;
        } else if status != 204 && status != 304 && !(100..200).contains(&status) {
            io.read_to_end(&mut body).ctx(&what)?;
            self.io = None;
        }
        if header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.io = None;
        }
        Ok(Answer {
            status,
            headers,
            header_bytes,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_the_same_origin_assets() {
        let html = r#"<!DOCTYPE html><html><head><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script><link rel="icon" href="data:,"></head><body><a href="/user/profile">x</a><img src="https://elsewhere.test/x.png"><script src="/static/app.js"></script></body></html>"#;
        assert_eq!(references(html), ["/static/app.css", "/static/app.js"]);
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(encode("admin@windmill.dev"), "admin%40windmill.dev");
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
    }
}
