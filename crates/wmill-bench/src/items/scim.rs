//! Item 8: an identity provider's initial SCIM sync. A superadmin mints a SCIM token; then,
//! at the concurrency of Okta's and Entra ID's provisioning, the harness does what such a
//! provider does for a directory of 10 000 users and 500 groups: for each user, look it up
//! by userName (`GET /Users?filter=userName eq "…"`) and create it (`POST /Users`); for
//! each group, look it up by displayName, create it without members, and add its 20 to 50
//! members with PATCH (at most 100 members a request, Entra ID's batch); then deactivate
//! 1 % of the users (`PATCH active "False"`, Entra ID's spelling). Every answer must be the
//! one a provider expects (a 201 with an id, a 200 list of 0), and the result is checked
//! through SCIM at the end: the totals, the deactivated users, every member of sample groups.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::parallel;
use crate::run::{Backend, Ctx};
use crate::say;
use crate::server::Argon2;
use crate::util::{Context, Result, human_secs, percentile, thousands};

/// Concurrent requests, as a provider sends them (Entra ID and Okta keep 5 to 20 in flight).
pub const CONCURRENCY: usize = 16;
/// Most members one PATCH adds (Entra ID's batch).
pub const PATCH_BATCH: usize = 100;
/// The goal: the whole sync in under a minute (on SQLite).
pub const GOAL_SECONDS: f64 = 60.0;
/// One user in this many is deactivated after the sync.
const DEACTIVATE_EVERY: usize = 100;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One kind of request in a phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kind {
    pub name: String,
    pub requests: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// p50 of the first and of the last tenth of these requests (in the order they were
    /// answered): whether they cost more as the directory grows.
    #[serde(default)]
    pub first_tenth_p50_us: f64,
    #[serde(default)]
    pub last_tenth_p50_us: f64,
}

/// One phase of the sync: its wall time and its requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
    pub requests: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub kinds: Vec<Kind>,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
}

/// What the check at the end read back through SCIM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checked {
    /// `totalResults` of `/Users` and `/Groups` (the superadmin's account included).
    pub users_total: i64,
    pub groups_total: i64,
    /// `totalResults` of `/Users?filter=active eq false`.
    pub inactive_total: i64,
    /// Groups whose members were read back whole and compared, and their members.
    pub groups_checked: usize,
    pub members_checked: usize,
}

/// Item 8 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScimResult {
    pub backend: Backend,
    pub users: usize,
    pub groups: usize,
    /// Memberships added, the smallest and largest group.
    pub memberships: usize,
    pub group_min: usize,
    pub group_max: usize,
    pub deactivated: usize,
    pub concurrency: usize,
    pub patch_batch: usize,
    /// Accounts and groups there before the sync (the superadmin).
    pub accounts_before: i64,
    pub groups_before: i64,
    pub phases: Vec<Phase>,
    /// Wall time of the three phases (the token and the check are not counted).
    pub seconds: f64,
    pub checked: Checked,
}

impl ScimResult {
    pub fn requests(&self) -> usize {
        self.phases.iter().map(|p| p.requests).sum()
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.seconds.max(1e-9)
    }

    pub fn met(&self) -> bool {
        self.seconds < GOAL_SECONDS
    }
}

/// The size of group `g`: 20 to 50 members, spread.
pub fn group_size(g: usize, users: usize) -> usize {
    (20 + (g * 7) % 31).min(users)
}

/// The members of every group: consecutive users from where the previous group stopped,
/// wrapping around, so that every user is in one or two groups.
pub fn memberships(groups: usize, users: usize) -> Vec<Vec<usize>> {
    let mut start = 0;
    (0..groups)
        .map(|g| {
            let n = group_size(g, users);
            let m = (start..start + n).map(|i| i % users.max(1)).collect();
            start = (start + n) % users.max(1);
            m
        })
        .collect()
}

fn user_name(i: usize) -> String {
    format!("u{i:05}@bench.test")
}

fn group_name(g: usize) -> String {
    format!("grp-{g:04}")
}

/// `value` with what a URL query may not hold percent-encoded.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A provider's HTTP client: the SCIM token, keep-alive connections, every request timed.
#[derive(Clone)]
struct Provider {
    base: String,
    token: String,
    agent: ureq::Agent,
    times: Arc<Mutex<Vec<(&'static str, f64)>>>,
}

impl Provider {
    fn new(server: &str, token: &str) -> Provider {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(CONCURRENCY * 2)
            .build()
            .new_agent();
        Provider {
            base: format!("{}/api/scim/v2", server.trim_end_matches('/')),
            token: token.to_string(),
            agent,
            times: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Sends one request, times it (until the body is read), checks its status; returns
    /// the body as JSON (`null` when empty).
    fn send(
        &self,
        kind: &'static str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let t0 = Instant::now();
        let res = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("authorization", &auth)
                .header("accept", "application/scim+json")
                .call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .content_type("application/scim+json")
                .send(b.to_string()),
            ("PATCH", Some(b)) => self
                .agent
                .patch(&url)
                .header("authorization", &auth)
                .content_type("application/scim+json")
                .send(b.to_string()),
            _ => return Err(format!("no such request: {method} without a body")),
        };
        let mut res = res.ctx(format!("{method} {path}"))?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .ctx(format!("reading the answer to {method} {path}"))?;
        let us = t0.elapsed().as_secs_f64() * 1e6;
        if status != want {
            return Err(format!(
                "{method} {path} answered {status} instead of {want}: {}",
                text.chars().take(300).collect::<String>()
            ));
        }
        self.times.lock().map_err(|_| "a lock")?.push((kind, us));
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).ctx(format!("{method} {path} did not answer JSON"))
    }

    /// A list that must say `totalResults: want`.
    fn total(&self, kind: &'static str, path: &str) -> Result<i64> {
        let v = self.send(kind, "GET", path, None, 200)?;
        v["totalResults"]
            .as_i64()
            .ctx(format!("GET {path}: no totalResults in {v}"))
    }

    /// The timings recorded since the last call.
    fn take(&self) -> Vec<(&'static str, f64)> {
        std::mem::take(&mut *self.times.lock().expect("timings"))
    }
}

/// A phase's figures from its timings, kinds in the order given.
fn phase(name: &str, seconds: f64, times: &[(&'static str, f64)], kinds: &[&str]) -> Phase {
    let all: Vec<f64> = times.iter().map(|t| t.1).collect();
    let kinds = kinds
        .iter()
        .map(|k| {
            let v: Vec<f64> = times.iter().filter(|t| t.0 == *k).map(|t| t.1).collect();
            let tenth = v.len().div_ceil(10);
            Kind {
                first_tenth_p50_us: percentile(&v[..tenth], 50.0),
                last_tenth_p50_us: percentile(&v[v.len() - tenth..], 50.0),
                name: k.to_string(),
                requests: v.len(),
                p50_us: percentile(&v, 50.0),
                p99_us: percentile(&v, 99.0),
                max_us: v.iter().copied().fold(0.0, f64::max),
            }
        })
        .collect();
    Phase {
        name: name.to_string(),
        seconds,
        requests: all.len(),
        p50_us: percentile(&all, 50.0),
        p99_us: percentile(&all, 99.0),
        kinds,
    }
}

fn filter_path(resource: &str, attr: &str, value: &str, extra: &str) -> String {
    format!(
        "/{resource}?filter={}{extra}",
        encode(&format!("{attr} eq \"{value}\""))
    )
}

/// Runs item 8 on a fresh server.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<ScimResult> {
    let (users, groups) = (ctx.p.scim_users, ctx.p.scim_groups);
    if users < 2 || groups < 1 {
        return Err(format!(
            "item 8 needs 2 users and a group at least, not {users} and {groups}"
        ));
    }
    say!(
        "[8] SCIM initial sync on {}: {} users, {groups} groups, {CONCURRENCY} requests in flight",
        b.name(),
        thousands(users as f64)
    );
    // Providers send no passwords: nothing here hashes but the superadmin's login.
    let stage = ctx.stage(b, Argon2::Defaults, &[], "scim")?;
    let token = stage.api.expect(
        201,
        "POST",
        "/api/scim_tokens/create",
        Some(&stage.admin),
        Some(&json!({"label": "bench provider"})),
    )?;
    let p = Provider::new(&stage.server().url, token.trim());
    let accounts_before = p.total("check", "/Users?count=0")?;
    let groups_before = p.total("check", "/Groups?count=0")?;
    p.take();

    // Users: look up, then create.
    let ids: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None; users]));
    let t0 = Instant::now();
    {
        let (p, ids) = (p.clone(), ids.clone());
        parallel(users, CONCURRENCY, move |i| {
            let name = user_name(i);
            let found = p.total("lookup", &filter_path("Users", "userName", &name, ""))?;
            if found != 0 {
                return Err(format!("{name} exists before the sync ({found})"));
            }
            let created = p.send(
                "create",
                "POST",
                "/Users",
                Some(&json!({
                    "schemas": [USER_SCHEMA],
                    "userName": name,
                    "externalId": format!("ext-u{i:05}"),
                    "active": true,
                    "displayName": format!("Bench User {i}"),
                    "name": {"givenName": "Bench", "familyName": format!("User {i}"),
                             "formatted": format!("Bench User {i}")},
                    "emails": [{"value": name, "type": "work", "primary": true}],
                })),
                201,
            )?;
            let id = created["id"]
                .as_str()
                .ctx(format!("POST /Users for {name}: no id in {created}"))?
                .to_string();
            ids.lock().map_err(|_| "a lock")?[i] = Some(id);
            Ok(())
        })?;
    }
    let users_phase = phase(
        "users",
        t0.elapsed().as_secs_f64(),
        &p.take(),
        &["lookup", "create"],
    );
    say!(
        "    users: {} requests in {} ({:.0}/s)",
        thousands(users_phase.requests as f64),
        human_secs(users_phase.seconds),
        users_phase.rate()
    );
    let ids: Vec<String> = ids
        .lock()
        .map_err(|_| "a lock")?
        .iter()
        .map(|i| i.clone().ctx("a user without an id"))
        .collect::<Result<_>>()?;
    let ids = Arc::new(ids);

    // Groups: look up, create without members, add the members in batches.
    let plan = Arc::new(memberships(groups, users));
    let group_ids: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None; groups]));
    let t1 = Instant::now();
    {
        let (p, ids, plan, group_ids) = (p.clone(), ids.clone(), plan.clone(), group_ids.clone());
        parallel(groups, CONCURRENCY, move |g| {
            let name = group_name(g);
            let found = p.total(
                "lookup",
                &filter_path(
                    "Groups",
                    "displayName",
                    &name,
                    "&excludedAttributes=members",
                ),
            )?;
            if found != 0 {
                return Err(format!("group {name} exists before the sync ({found})"));
            }
            let created = p.send(
                "create",
                "POST",
                "/Groups",
                Some(&json!({
                    "schemas": [GROUP_SCHEMA],
                    "displayName": name,
                    "externalId": format!("ext-g{g:04}"),
                    "members": [],
                })),
                201,
            )?;
            let id = created["id"]
                .as_str()
                .ctx(format!("POST /Groups for {name}: no id in {created}"))?
                .to_string();
            for batch in plan[g].chunks(PATCH_BATCH) {
                let members: Vec<Value> = batch.iter().map(|&u| json!({"value": ids[u]})).collect();
                p.send(
                    "add members",
                    "PATCH",
                    &format!("/Groups/{id}"),
                    Some(&json!({
                        "schemas": [PATCH_SCHEMA],
                        "Operations": [{"op": "Add", "path": "members", "value": members}],
                    })),
                    200,
                )?;
            }
            group_ids.lock().map_err(|_| "a lock")?[g] = Some(id);
            Ok(())
        })?;
    }
    let groups_phase = phase(
        "groups",
        t1.elapsed().as_secs_f64(),
        &p.take(),
        &["lookup", "create", "add members"],
    );
    say!(
        "    groups: {} requests in {} ({:.0}/s)",
        thousands(groups_phase.requests as f64),
        human_secs(groups_phase.seconds),
        groups_phase.rate()
    );

    // Deactivation: 1 % of the users, as Entra ID spells it.
    let leavers: Vec<usize> = (0..users).step_by(DEACTIVATE_EVERY).collect();
    let t2 = Instant::now();
    {
        let (p, ids, leavers) = (p.clone(), ids.clone(), Arc::new(leavers.clone()));
        parallel(leavers.len(), CONCURRENCY, move |k| {
            let v = p.send(
                "deactivate",
                "PATCH",
                &format!("/Users/{}", ids[leavers[k]]),
                Some(&json!({
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
                })),
                200,
            )?;
            if v["active"] != json!(false) {
                return Err(format!("PATCH active False answered {v}"));
            }
            Ok(())
        })?;
    }
    let deactivate_phase = phase(
        "deactivation",
        t2.elapsed().as_secs_f64(),
        &p.take(),
        &["deactivate"],
    );
    let seconds = t0.elapsed().as_secs_f64();
    say!(
        "    deactivation: {} requests in {}; the sync took {}",
        deactivate_phase.requests,
        human_secs(deactivate_phase.seconds),
        human_secs(seconds)
    );

    // The check, through SCIM as a provider would read it.
    let users_total = p.total("check", "/Users?count=0")?;
    let groups_total = p.total("check", "/Groups?count=0")?;
    let inactive_total = p.total(
        "check",
        &format!("/Users?count=0&filter={}", encode("active eq false")),
    )?;
    if users_total != accounts_before + users as i64 {
        return Err(format!(
            "after the sync /Users counts {users_total}, not {} + {users}",
            accounts_before
        ));
    }
    if groups_total != groups_before + groups as i64 {
        return Err(format!(
            "after the sync /Groups counts {groups_total}, not {groups_before} + {groups}"
        ));
    }
    if inactive_total != leavers.len() as i64 {
        return Err(format!(
            "{inactive_total} users are inactive, not the {} deactivated",
            leavers.len()
        ));
    }
    let group_ids: Vec<String> = group_ids
        .lock()
        .map_err(|_| "a lock")?
        .iter()
        .map(|i| i.clone().ctx("a group without an id"))
        .collect::<Result<_>>()?;
    // The first, the last and the largest group, whole.
    let largest = (0..groups).max_by_key(|&g| plan[g].len()).unwrap_or(0);
    let mut sample: Vec<usize> = vec![0, groups.saturating_sub(1), largest];
    sample.sort_unstable();
    sample.dedup();
    let mut members_checked = 0;
    for &g in &sample {
        let v = p.send(
            "check",
            "GET",
            &format!("/Groups/{}", group_ids[g]),
            None,
            200,
        )?;
        let got: BTreeSet<String> = v["members"]
            .as_array()
            .ctx(format!("group {}: no members in {v}", group_name(g)))?
            .iter()
            .filter_map(|m| m["value"].as_str().map(str::to_string))
            .collect();
        let want: BTreeSet<String> = plan[g].iter().map(|&u| ids[u].clone()).collect();
        if got != want || v["displayName"] != json!(group_name(g)) {
            return Err(format!(
                "group {} has {} members, not its {} (or another name: {})",
                group_name(g),
                got.len(),
                want.len(),
                v["displayName"]
            ));
        }
        members_checked += got.len();
    }
    // A deactivated user reads back inactive, a kept one active.
    for (i, active) in [(0, false), (1, true)] {
        let v = p.send("check", "GET", &format!("/Users/{}", ids[i]), None, 200)?;
        if v["active"] != json!(active) || v["userName"] != json!(user_name(i)) {
            return Err(format!("user {} reads back as {v}", user_name(i)));
        }
    }
    say!(
        "    checked: {users_total} users ({inactive_total} inactive), {groups_total} groups, {} groups' {members_checked} members read back",
        sample.len()
    );
    stage.stop()?;
    let sizes: Vec<usize> = plan.iter().map(Vec::len).collect();
    Ok(ScimResult {
        backend: b,
        users,
        groups,
        memberships: sizes.iter().sum(),
        group_min: sizes.iter().copied().min().unwrap_or(0),
        group_max: sizes.iter().copied().max().unwrap_or(0),
        deactivated: leavers.len(),
        concurrency: CONCURRENCY,
        patch_batch: PATCH_BATCH,
        accounts_before,
        groups_before,
        phases: vec![users_phase, groups_phase, deactivate_phase],
        seconds,
        checked: Checked {
            users_total,
            groups_total,
            inactive_total,
            groups_checked: sample.len(),
            members_checked,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_get_20_to_50_members_each_user_in_one_or_two() {
        let plan = memberships(500, 10_000);
        assert!(plan.iter().all(|m| (20..=50).contains(&m.len())));
        let mut seen = vec![0usize; 10_000];
        for m in &plan {
            let distinct: BTreeSet<_> = m.iter().collect();
            assert_eq!(distinct.len(), m.len(), "a user twice in a group");
            for &u in m {
                seen[u] += 1;
            }
        }
        assert!(seen.iter().all(|&n| (1..=2).contains(&n)), "{seen:?}");
        // Tiny sizes: never more members than users, never a user twice.
        for m in memberships(5, 50) {
            assert_eq!(m.iter().collect::<BTreeSet<_>>().len(), m.len());
        }
    }

    #[test]
    fn filters_are_encoded() {
        assert_eq!(
            filter_path("Users", "userName", "u00001@bench.test", ""),
            "/Users?filter=userName%20eq%20%22u00001%40bench.test%22"
        );
    }
}
