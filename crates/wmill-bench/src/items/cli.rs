//! Item 1: wall time of `wmill group list`, `wmill token list` and `wmill user add`, ours
//! and Windmill's official client (`windmill-cli@1.819.0`, Node.js), against the same server
//! in the same run, timed by hyperfine.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::hyperfine::{self, Cmd, Timed};
use crate::run::{Backend, Ctx, Stage};
use crate::say;
use crate::util::{Context, Result};

/// One command, both clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CliRow {
    pub command: String,
    pub ours: Timed,
    pub official: Timed,
}

impl CliRow {
    /// How many times faster ours is, by medians.
    pub fn speedup(&self) -> f64 {
        self.official.p50() / self.ours.p50()
    }
}

/// Item 1 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CliResult {
    pub backend: Backend,
    pub rows: Vec<CliRow>,
    /// Median time of one argon2id hash with the server's parameters, on this machine
    /// (part of every `user add`, whoever the client is).
    pub hash_ms: f64,
}

const NEW_USER: &str = "bench-cli@example.com";

/// Runs item 1 against `stage` (a server with production argon2 parameters).
pub fn run(ctx: &mut Ctx, stage: &Stage) -> Result<CliResult> {
    say!(
        "[1] CLI latency on {}: ours vs the official client",
        stage.backend.name()
    );
    let dir = ctx.dir(&format!("cli-{}", stage.backend.name().to_lowercase()));
    let (home, cfg_official, cfg_ours, cwd) = (
        dir.join("home"),
        dir.join("cfg-official"),
        dir.join("cfg-ours"),
        dir.join("cwd"),
    );
    for d in [&home, &cfg_official, &cfg_ours, &cwd] {
        std::fs::create_dir_all(d).ctx("cannot create a CLI folder")?;
    }
    // The user that `user add` creates exists before every timed run's `prepare` removes it.
    stage.api.expect(
        201,
        "POST",
        "/api/users/create",
        Some(&stage.admin),
        Some(&json!({"email": NEW_USER, "password": "mypassword123", "super_admin": false})),
    )?;
    let url = format!("{}/", stage.server().url);
    let flags = format!(
        "--base-url {url} --token {} --workspace admins",
        stage.admin
    );
    let ours = format!(
        "{} --config-dir {}",
        ctx.cli_bin.display(),
        cfg_ours.display()
    );
    let official = ctx.official.display().to_string();
    let env = [
        ("HOME", home.display().to_string()),
        ("WMILL_CONFIG_DIR", cfg_official.display().to_string()),
        ("NO_COLOR", "1".to_string()),
    ];
    let remove = format!("{ours} user remove {NEW_USER} --yes {flags}");
    let commands: [(&str, String, Option<String>); 3] = [
        ("group list", "group list".into(), None),
        ("token list", "token list".into(), None),
        (
            "user add",
            format!("user add {NEW_USER} mypassword123"),
            Some(remove),
        ),
    ];
    let mut rows = Vec::new();
    for (name, args, prepare) in commands {
        let slug = name.replace(' ', "-");
        let ours_t = hyperfine::run(
            &dir,
            &cwd,
            &env,
            &Cmd {
                name: format!("ours-{slug}"),
                line: format!("{ours} {args} {flags}"),
                prepare: prepare.clone(),
                runs: ctx.p.cli_runs_ours,
                warmup: ctx.p.cli_warmup,
            },
        )?;
        let official_t = hyperfine::run(
            &dir,
            &cwd,
            &env,
            &Cmd {
                name: format!("official-{slug}"),
                line: format!("{official} {args} {flags}"),
                prepare,
                runs: ctx.p.cli_runs_official,
                warmup: ctx.p.cli_warmup,
            },
        )?;
        let row = CliRow {
            command: name.to_string(),
            ours: ours_t,
            official: official_t,
        };
        say!(
            "    {name}: ours {:.1} ms, official {:.0} ms (p50) → {:.1}×",
            row.ours.p50() * 1e3,
            row.official.p50() * 1e3,
            row.speedup()
        );
        rows.push(row);
    }
    Ok(CliResult {
        backend: stage.backend,
        rows,
        hash_ms: crate::items::storm::hash_time_ms(5),
    })
}
