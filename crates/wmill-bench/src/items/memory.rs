//! Item 6: server memory (resident set). Idle, then after 100 000 users have been created
//! through the API and listed, and 25 000 of them (more than the SQLite cache keeps) have
//! logged in and called whoami once. Peaks during items 3 and 5 come from those runs.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::parallel;
use crate::run::{Backend, Ctx};
use crate::say;
use crate::server::{Argon2, RssSampler};
use crate::util::{Result, human_secs, thousands};

/// Item 6 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryResult {
    pub backend: Backend,
    pub users: usize,
    pub logins: usize,
    pub idle_rss_mib: f64,
    pub after_rss_mib: f64,
    pub after_peak_mib: f64,
    pub create_seconds: f64,
    pub login_seconds: f64,
    pub rss: Vec<(f64, f64)>,
}

/// Runs item 6 on a fresh server. Hashing is not what is measured here, and 100 000
/// hashes with the default parameters would take most of an hour on two cores, so this
/// server uses the cheapest argon2 parameters.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<MemoryResult> {
    let users = ctx.p.memory_users;
    say!(
        "[6] memory on {}: idle, then {} users",
        b.name(),
        thousands(users as f64)
    );
    let stage = ctx.stage(b, Argon2::Cheap, &[], "memory")?;
    let sampler = RssSampler::start(stage.server().pid, Duration::from_millis(500));
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss_mib = stage.idle_rss_mib;
    let t0 = Instant::now();
    {
        let (api, admin) = (stage.api.clone(), stage.admin.clone());
        parallel(users, 8, move |i| {
            api.expect(
                201,
                "POST",
                "/api/users/create",
                Some(&admin),
                Some(&json!({"email": format!("p{i}@bench.test"), "password": format!("password-{i}"),
                              "super_admin": false})),
            )
            .map(|_| ())
        })?;
    }
    let create_seconds = t0.elapsed().as_secs_f64();
    say!(
        "    created {} users in {}",
        thousands(users as f64),
        human_secs(create_seconds)
    );
    let mut listed = 0;
    for page in 1.. {
        let rows = stage.api.get_json(
            &format!("/api/users/list_as_super_admin?page={page}&per_page=10000"),
            &stage.admin,
        )?;
        let n = rows.as_array().map_or(0, Vec::len);
        listed += n;
        if n < 10_000 {
            break;
        }
    }
    if listed < users {
        return Err(format!("listed {listed} users, expected at least {users}"));
    }
    let t0 = Instant::now();
    {
        let api = stage.api.clone();
        parallel(ctx.p.memory_logins.min(users), 8, move |i| {
            let t = api.login(&format!("p{i}@bench.test"), &format!("password-{i}"))?;
            api.expect(200, "GET", "/api/users/whoami", Some(&t), None)
                .map(|_| ())
        })?;
    }
    let login_seconds = t0.elapsed().as_secs_f64();
    say!(
        "    logged {} of them in and called whoami in {}",
        thousands(ctx.p.memory_logins.min(users) as f64),
        human_secs(login_seconds)
    );
    let (rss, hwm) = stage.server().memory_kib()?;
    let samples = sampler.finish();
    stage.stop()?;
    let r = MemoryResult {
        backend: b,
        users,
        logins: ctx.p.memory_logins.min(users),
        idle_rss_mib,
        after_rss_mib: rss as f64 / 1024.0,
        after_peak_mib: hwm as f64 / 1024.0,
        create_seconds,
        login_seconds,
        rss: samples,
    };
    say!(
        "    RSS idle {:.1} MiB, after {:.1} MiB (peak {:.1} MiB)",
        r.idle_rss_mib,
        r.after_rss_mib,
        r.after_peak_mib
    );
    Ok(r)
}
