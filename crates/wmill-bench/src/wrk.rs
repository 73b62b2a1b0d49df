//! HTTP load with `wrk` (<https://github.com/wg/wrk>): a Lua script per workload, and a
//! `done()` hook that prints the whole latency distribution as one JSON line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::util::{Context, Result, secs_arg};

/// Appended to every script: per-thread ids, and the summary as `BENCH_JSON {...}`.
const COMMON: &str = r#"
ok = 0
local bench_threads = {}
function setup(thread)
  thread:set("tid", #bench_threads)
  table.insert(bench_threads, thread)
end
function done(summary, latency, requests)
  local n_ok = 0
  for _, t in ipairs(bench_threads) do n_ok = n_ok + (t:get("ok") or 0) end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"ok":%d,"min_us":%d,"max_us":%d,"mean_us":%.3f,"stdev_us":%.3f,"percentiles":[',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, n_ok,
    latency.min, latency.max, latency.mean, latency.stdev))
  local ps = {1, 5, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.99, 100}
  for i, p in ipairs(ps) do
    if i > 1 then io.write(",") end
    io.write(string.format("[%g,%d]", p, latency:percentile(p)))
  end
  io.write("]}\n")
end
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end
local function split(s)
  local out = {}
  for x in string.gmatch(s, "[^,]+") do table.insert(out, x) end
  return out
end
local token = env("BENCH_TOKEN", nil)
if token then wrk.headers["Authorization"] = "Bearer " .. token end
"#;

/// What the connections send.
#[derive(Debug, Clone)]
pub enum Workload {
    /// `GET` of the URL, as fast as possible.
    Get,
    /// `GET`, each connection waiting `delay_ms` between requests (a steady probe).
    Paced { delay_ms: u32 },
    /// `POST /api/auth/login` for these `email:password` pairs in turn.
    Login { users: Vec<String> },
    /// Adds each username to `group` in workspace `ws`, then removes it, over and over;
    /// each thread owns its own usernames, so every request changes something.
    GroupToggle {
        ws: String,
        group: String,
        users: Vec<String>,
    },
    /// `POST /api/users/tokens/create`.
    TokenCreate,
}

impl Workload {
    fn script(&self) -> String {
        let body = match self {
            Workload::Get => String::new(),
            Workload::Paced { .. } => r#"
local d = tonumber(env("BENCH_DELAY_MS", "10"))
function delay() return d end
"#
            .to_string(),
            Workload::Login { .. } => r#"
local users = split(env("BENCH_USERS", ""))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
function request()
  n = n + 1
  local u = users[((n + tid) % #users) + 1]
  local email, pw = string.match(u, "([^:]+):(.+)")
  return wrk.format(nil, "/api/auth/login", nil, '{"email":"' .. email .. '","password":"' .. pw .. '"}')
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 end
end
"#
            .to_string(),
            Workload::GroupToggle { .. } => r#"
local ws = env("BENCH_WS", "admins")
local group = env("BENCH_GROUP", "bench")
local threads = tonumber(env("BENCH_THREADS", "1"))
local mine, member, busy, n = {}, {}, {}, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function init(args)
  for k, u in ipairs(split(env("BENCH_USERS", ""))) do
    if (k - 1) % threads == tid then table.insert(mine, u) end
  end
end
function request()
  -- The next user with no request in flight, so that adds and removes never cross.
  local u = nil
  for _ = 1, #mine do
    n = n + 1
    local c = mine[((n - 1) % #mine) + 1]
    if not busy[c] then u = c; break end
  end
  if u == nil then u = mine[(n % #mine) + 1] end
  busy[u] = true
  local op = "adduser"
  if member[u] then op = "removeuser" end
  member[u] = not member[u]
  return wrk.format(nil, "/api/w/" .. ws .. "/groups/" .. op .. "/" .. group, nil, '{"username":"' .. u .. '"}')
end
function response(status, headers, body)
  local u = string.match(body, "^Added (%S+) to group ") or string.match(body, "^Removed (%S+) from group ")
  if u then
    busy[u] = nil
    if status == 200 then ok = ok + 1 end
  end
end
"#
            .to_string(),
            Workload::TokenCreate => r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"label":"bench"}'
function response(status, headers, body)
  if status == 201 then ok = ok + 1 end
end
"#
            .to_string(),
        };
        format!("{COMMON}{body}")
    }

    fn env(&self, threads: u32) -> Vec<(String, String)> {
        match self {
            Workload::Get | Workload::TokenCreate => vec![],
            Workload::Paced { delay_ms } => vec![("BENCH_DELAY_MS".into(), delay_ms.to_string())],
            Workload::Login { users } => vec![("BENCH_USERS".into(), users.join(","))],
            Workload::GroupToggle { ws, group, users } => vec![
                ("BENCH_WS".into(), ws.clone()),
                ("BENCH_GROUP".into(), group.clone()),
                ("BENCH_USERS".into(), users.join(",")),
                ("BENCH_THREADS".into(), threads.to_string()),
            ],
        }
    }
}

/// One `wrk` run.
pub struct Run<'a> {
    pub url: String,
    pub token: Option<&'a str>,
    pub workload: Workload,
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
}

/// What `wrk` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub requests: u64,
    pub duration_us: u64,
    pub errors: Errors,
    /// Requests the script counted as successful (scripts with a `response` hook).
    pub ok: u64,
    pub min_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    pub stdev_us: f64,
    /// (percentile, microseconds).
    pub percentiles: Vec<(f64, f64)>,
}

/// `wrk`'s error counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Errors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    /// Answers outside 2xx/3xx.
    pub status: u64,
    pub timeout: u64,
}

impl Measured {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }

    /// Successful requests (per the script) per second.
    pub fn ok_per_sec(&self) -> f64 {
        self.ok as f64 / (self.duration_us as f64 / 1e6)
    }

    /// The latency at percentile `p`, in microseconds.
    pub fn p(&self, p: f64) -> f64 {
        self.percentiles
            .iter()
            .find(|(q, _)| (*q - p).abs() < 1e-9)
            .map_or(f64::NAN, |(_, v)| *v)
    }

    /// Every kind of error together.
    pub fn error_count(&self) -> u64 {
        let e = &self.errors;
        e.connect + e.read + e.write + e.status + e.timeout
    }
}

/// Runs `wrk`; scripts and output are kept in `dir`.
pub fn run(dir: &Path, name: &str, r: &Run) -> Result<Measured> {
    std::fs::create_dir_all(dir).ctx("cannot create the wrk folder")?;
    let script = dir.join(format!("{name}.lua"));
    std::fs::write(&script, r.workload.script()).ctx("cannot write a wrk script")?;
    let mut cmd = Command::new("wrk");
    cmd.arg("-t")
        .arg(r.threads.to_string())
        .arg("-c")
        .arg(r.connections.to_string())
        .arg("-d")
        .arg(secs_arg(r.duration))
        .args(["--timeout", "10s", "-s"])
        .arg(&script)
        .arg(&r.url)
        .envs(r.workload.env(r.threads))
        .stdin(Stdio::null());
    if let Some(t) = r.token {
        cmd.env("BENCH_TOKEN", t);
    }
    let out = cmd.output().ctx("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    std::fs::write(dir.join(format!("{name}.out")), stdout.as_bytes())
        .ctx("cannot keep wrk's output")?;
    if !out.status.success() {
        return Err(format!(
            "wrk {name} failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .ctx(format!("wrk {name} printed no summary:\n{stdout}"))?;
    let mut m: Measured = serde_json::from_str(line).ctx(format!("wrk {name} summary"))?;
    // wrk's histogram answers 0 for the 100th percentile; that is the maximum.
    for (p, v) in &mut m.percentiles {
        if *p >= 100.0 {
            *v = m.max_us;
        }
    }
    Ok(m)
}
