//! Item 5: audited mutations per second at 32 concurrent clients: group adduser/removeuser
//! (each request changes something) and token create. Every success must have its audit
//! entry: the entries are counted in the database before and after, and must match.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::parallel;
use crate::run::{Backend, Ctx};
use crate::say;
use crate::seed;
use crate::server::{Argon2, RssSampler};
use crate::util::Result;
use crate::wrk::{self, Measured, Run, Workload};

/// One workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mutation {
    pub name: String,
    pub m: Measured,
    /// Audit entries written during the run, counted in the database: one per success,
    /// plus those of the requests still in flight when wrk stopped (at most one per client).
    pub audited: i64,
}

impl Mutation {
    /// Successful mutations per second.
    pub fn rate(&self) -> f64 {
        self.m.ok_per_sec()
    }
}

/// Item 5 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WritesResult {
    pub backend: Backend,
    pub clients: u32,
    pub runs: Vec<Mutation>,
    pub idle_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub rss: Vec<(f64, f64)>,
}

/// Users the group workload toggles (4 per connection, so that a user's previous request
/// has always been answered before the next one is sent).
const TOGGLED: usize = 128;

/// Runs item 5 on a fresh server.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<WritesResult> {
    let clients = ctx.p.write_clients;
    say!("[5] audited writes on {} at {clients} clients", b.name());
    let stage = ctx.stage(b, Argon2::Defaults, &[], "writes")?;
    let sampler = RssSampler::start(stage.server().pid, Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss_mib = stage.idle_rss_mib;
    {
        let (api, admin) = (stage.api.clone(), stage.admin.clone());
        parallel(TOGGLED, 4, move |i| {
            api.expect(
                201,
                "POST",
                "/api/w/admins/workspaces/add_user",
                Some(&admin),
                Some(
                    &json!({"email": format!("w{i:03}@bench.test"), "username": format!("w{i:03}"),
                              "is_admin": false, "operator": false}),
                ),
            )
            .map(|_| ())
        })?;
    }
    stage.api.expect(
        200,
        "POST",
        "/api/w/admins/groups/create",
        Some(&stage.admin),
        Some(&json!({"name": "bench", "summary": "Audited writes"})),
    )?;
    let dir = ctx.dir(&format!("writes-{}", b.name().to_lowercase()));
    let threads = 2;
    let workloads = [
        (
            "group adduser/removeuser",
            vec!["group.adduser", "group.removeuser"],
            Workload::GroupToggle {
                ws: "admins".into(),
                group: "bench".into(),
                users: (0..TOGGLED).map(|i| format!("w{i:03}")).collect(),
            },
            "/api/w/admins/groups/adduser/bench",
        ),
        (
            "token create",
            vec!["users.token.create"],
            Workload::TokenCreate,
            "/api/users/tokens/create",
        ),
    ];
    let mut runs = Vec::new();
    for (i, (name, ops, workload, path)) in workloads.into_iter().enumerate() {
        let before = ctx.rt.block_on(seed::count_audit(&stage.target, &ops))?;
        let m = wrk::run(
            &dir,
            &format!("writes-{i}"),
            &Run {
                url: format!("{}{path}", stage.server().url),
                token: Some(&stage.admin),
                workload,
                threads,
                connections: clients,
                duration: ctx.p.writes,
            },
        )?;
        // wrk stops with up to one request per connection in flight; the server finishes
        // them (and audits them) although wrk no longer counts them.
        std::thread::sleep(Duration::from_millis(500));
        let after = ctx.rt.block_on(seed::count_audit(&stage.target, &ops))?;
        let audited = after - before;
        if m.error_count() > 0 || m.ok != m.requests {
            return Err(format!(
                "{name}: {} of {} requests changed something, errors {:?}",
                m.ok, m.requests, m.errors
            ));
        }
        if audited < m.ok as i64 || audited > (m.ok + clients as u64) as i64 {
            return Err(format!(
                "{name}: {} successful mutations but {audited} audit entries",
                m.ok
            ));
        }
        say!(
            "    {name}: {:.0} mutations/s, p50 {:.2} ms, p99 {:.2} ms, {audited} audit entries for {} successes",
            m.ok_per_sec(),
            m.p(50.0) / 1e3,
            m.p(99.0) / 1e3,
            m.ok
        );
        runs.push(Mutation {
            name: name.to_string(),
            m,
            audited,
        });
    }
    let peak_rss_mib = stage.server().memory_kib()?.1 as f64 / 1024.0;
    let rss = sampler.finish();
    stage.stop()?;
    Ok(WritesResult {
        backend: b,
        clients,
        runs,
        idle_rss_mib,
        peak_rss_mib,
        rss,
    })
}
