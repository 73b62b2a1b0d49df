//! Item 6: server memory (resident set). The footprint first (issue 20): a fresh server
//! with the default argon2id costs, idle, then after 100 logins, 1 000 users created (20
//! groups of 50) and 2 000 group reads, then once it has been left alone for a minute, each
//! with a breakdown of where the resident memory is (from `/proc/PID/smaps`). Then 100 000
//! users created through the API and listed, and 25 000 of them (more than the SQLite
//! cache keeps) logged in and calling whoami once. Peaks during items 3 and 5 come from
//! those runs.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::parallel;
use crate::run::{Backend, Ctx};
use crate::say;
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, Argon2, RssSampler, Server, ServerOpts};
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
    /// The footprint measurement (absent from results written before issue 20).
    #[serde(default)]
    pub footprint: Option<Footprint>,
}

/// Where a process's resident memory is, in MiB, by mapping (`/proc/PID/smaps`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Breakdown {
    /// `VmRSS`.
    pub rss_mib: f64,
    /// The server binary's own pages (code and read-only data, file-backed).
    pub binary_mib: f64,
    /// Other file-backed pages: shared libraries (libc, libm…).
    pub libraries_mib: f64,
    /// The main allocator arena (`[heap]`, grown with brk).
    pub heap_mib: f64,
    /// The mappings holding a thread's stack (found by each thread's stack pointer).
    pub stacks_mib: f64,
    /// Anonymous mappings of the default argon2 memory (19 MiB) or more outside the
    /// allocator's arenas: argon2 buffers.
    pub argon2_mib: f64,
    /// Every other anonymous mapping: the allocator's other arenas (one per thread that
    /// allocated, up to 8 a core) and its other large allocations; SQLite's page caches
    /// are in the allocator's memory.
    pub other_anon_mib: f64,
    /// Threads of the process.
    pub threads: u32,
}

/// The footprint: a fresh server with the default argon2id costs, idle, working, then left
/// alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Footprint {
    pub users: usize,
    pub groups: usize,
    pub group_size: usize,
    pub logins: usize,
    pub group_reads: usize,
    pub clients: usize,
    /// Seconds without a login before the "after" figure.
    pub quiet_seconds: f64,
    pub idle: Breakdown,
    /// The high-water mark during the work.
    pub work_peak_mib: f64,
    /// Right after the work.
    pub after_work_mib: f64,
    /// After `quiet_seconds` more.
    pub after_quiet: Breakdown,
    pub work_seconds: f64,
    pub rss: Vec<(f64, f64)>,
}

/// Reads the breakdown of `pid`'s resident memory.
pub fn breakdown(pid: u32) -> Result<Breakdown> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .map_err(|e| format!("cannot read /proc/{pid}/smaps: {e}"))?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // Each thread's stack pointer, when it sleeps in a system call (an idle server's
    // threads all do): the 9th field of /proc/PID/task/TID/syscall.
    let mut sps: Vec<u64> = Vec::new();
    let mut threads = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            threads += 1;
            let Ok(text) = std::fs::read_to_string(t.path().join("syscall")) else {
                continue;
            };
            let f: Vec<&str> = text.split_whitespace().collect();
            if let Some(sp) = f.get(7).and_then(|v| v.strip_prefix("0x"))
                && let Ok(sp) = u64::from_str_radix(sp, 16)
            {
                sps.push(sp);
            }
        }
    }
    struct Map {
        start: u64,
        end: u64,
        perms: String,
        path: String,
        rss_kib: u64,
        anon_kib: u64,
    }
    let mut maps: Vec<Map> = Vec::new();
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let Some(first) = parts.next() else { continue };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16))
        {
            let perms = parts.next().unwrap_or("").to_string();
            let path = parts.nth(3).unwrap_or("").to_string();
            maps.push(Map {
                start,
                end,
                perms,
                path,
                rss_kib: 0,
                anon_kib: 0,
            });
            continue;
        }
        let value = || parts.clone().next().and_then(|v| v.parse::<u64>().ok());
        if let Some(m) = maps.last_mut() {
            match first {
                "Rss:" => m.rss_kib = value().unwrap_or(0),
                "Anonymous:" => m.anon_kib = value().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut b = Breakdown {
        threads,
        ..Breakdown::default()
    };
    let mib = |k: u64| k as f64 / 1024.0;
    for (i, m) in maps.iter().enumerate() {
        let rss = mib(m.rss_kib);
        b.rss_mib += rss;
        let size = m.end - m.start;
        if m.path.starts_with('/') {
            // File-backed; a private page written to (relocations) counts as the file's.
            if m.path == exe {
                b.binary_mib += rss;
            } else {
                b.libraries_mib += rss;
            }
        } else if m.path == "[heap]" {
            b.heap_mib += rss;
        } else if m.path == "[stack]" || sps.iter().any(|&sp| sp >= m.start && sp < m.end) {
            b.stacks_mib += rss;
        } else if m.path.is_empty()
            && m.perms.starts_with("rw")
            && size >= u64::from(crate::items::storm::M_COST) * 1024
            // An arena's heap is followed by its reserved, inaccessible rest.
            && !maps
                .get(i + 1)
                .is_some_and(|n| n.start == m.end && n.perms.starts_with("---"))
        {
            b.argon2_mib += rss;
        } else {
            b.other_anon_mib += mib(m.anon_kib.max(m.rss_kib));
        }
    }
    // VmRSS itself, for the total (smaps' sum differs by the kernel's own accounting).
    if let Ok((rss, _)) = crate::server::memory_kib(pid) {
        b.rss_mib = rss as f64 / 1024.0;
    }
    Ok(b)
}

/// The footprint (issue 20): a fresh server with the default argon2id costs; idle; then
/// `logins` logins, `users` users created through the API (workspace members, in groups of
/// `group_size`) and `group_reads` group reads by `clients` clients; then `quiet` seconds
/// left alone.
pub fn footprint(ctx: &mut Ctx, b: Backend) -> Result<Footprint> {
    let smoke = ctx.p.smoke;
    let (users, groups, group_size, logins, group_reads, clients) = if smoke {
        (40, 4, 10, 10, 100, 16)
    } else {
        (1_000, 20, 50, 100, 2_000, 16)
    };
    let quiet = Duration::from_secs(if smoke { 2 } else { 60 });
    say!(
        "[6] footprint on {}: idle, then {logins} logins, {users} users in {groups} groups of {group_size}, {group_reads} group reads, then {} s alone",
        b.name(),
        quiet.as_secs()
    );
    let data_dir = ctx.dir(&format!("footprint-{}", b.name().to_lowercase()));
    let db_url = match b {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let pg = ctx.pg.as_mut().ok_or("PostgreSQL is not available")?;
            Some(pg.fresh_db(&ctx.rt, "footprint")?)
        }
    };
    let server = Server::start(&ServerOpts {
        bin: &ctx.server_bin,
        data_dir: &data_dir,
        database_url: db_url.as_deref(),
        argon2: Argon2::Defaults,
        extra: vec![],
    })?;
    let sampler = RssSampler::start(server.pid, Duration::from_millis(500));
    // Started: the bootstrap is done before `listening on` is printed.
    std::thread::sleep(Duration::from_secs(1));
    let idle = breakdown(server.pid)?;
    let api = crate::api::Api::new(&server.url);
    let t0 = Instant::now();
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
    {
        let (api, admin) = (api.clone(), admin.clone());
        parallel(users, clients, move |i| {
            let email = format!("f{i:04}@bench.test");
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
                Some(&json!({"email": email, "username": format!("f{i:04}"),
                              "is_admin": false, "operator": false})),
            )
            .map(|_| ())
        })?;
    }
    {
        let (api, admin) = (api.clone(), admin.clone());
        parallel(groups, clients.min(groups), move |g| {
            let name = format!("fg{g:02}");
            api.expect(
                200,
                "POST",
                "/api/w/admins/groups/create",
                Some(&admin),
                Some(&json!({"name": name})),
            )?;
            for k in 0..group_size {
                let m = (g * group_size + k) % users;
                api.expect(
                    200,
                    "POST",
                    &format!("/api/w/admins/groups/adduser/{name}"),
                    Some(&admin),
                    Some(&json!({"username": format!("f{m:04}")})),
                )?;
            }
            Ok(())
        })?;
    }
    {
        // Logins of different users (one hash each), then each reads groups.
        let api = api.clone();
        parallel(logins, clients, move |i| {
            let i = i % users;
            api.login(&format!("f{i:04}@bench.test"), &format!("password-{i}"))
                .map(|_| ())
        })?;
    }
    {
        let (api, admin) = (api.clone(), admin.clone());
        parallel(group_reads, clients, move |i| {
            let path = if i % 2 == 0 {
                "/api/w/admins/groups/list".to_string()
            } else {
                format!("/api/w/admins/groups/get/fg{:02}", i % groups)
            };
            api.expect(200, "GET", &path, Some(&admin), None)
                .map(|_| ())
        })?;
    }
    let work_seconds = t0.elapsed().as_secs_f64();
    let (after_work, work_peak) = server.memory_kib()?;
    say!(
        "    worked {}: {:.1} MiB (peak {:.1} MiB); now {} s alone",
        human_secs(work_seconds),
        after_work as f64 / 1024.0,
        work_peak as f64 / 1024.0,
        quiet.as_secs()
    );
    std::thread::sleep(quiet);
    let after_quiet = breakdown(server.pid)?;
    let rss = sampler.finish();
    server.stop()?;
    let f = Footprint {
        users,
        groups,
        group_size,
        logins,
        group_reads,
        clients,
        quiet_seconds: quiet.as_secs_f64(),
        idle,
        work_peak_mib: work_peak as f64 / 1024.0,
        after_work_mib: after_work as f64 / 1024.0,
        after_quiet,
        work_seconds,
        rss,
    };
    say!(
        "    RSS idle {:.1} MiB ({} threads), after the work and {} s alone {:.1} MiB ({} threads)",
        f.idle.rss_mib,
        f.idle.threads,
        quiet.as_secs(),
        f.after_quiet.rss_mib,
        f.after_quiet.threads
    );
    Ok(f)
}

/// Runs item 6 on a fresh server. Hashing is not what is measured here, and 100 000
/// hashes with the default parameters would take most of an hour on two cores, so this
/// server uses the cheapest argon2 parameters.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<MemoryResult> {
    let footprint = footprint(ctx, b)?;
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
        footprint: Some(footprint),
    };
    say!(
        "    RSS idle {:.1} MiB, after {:.1} MiB (peak {:.1} MiB)",
        r.idle_rss_mib,
        r.after_rss_mib,
        r.after_peak_mib
    );
    Ok(r)
}
