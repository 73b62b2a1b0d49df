//! CLI wall time with `hyperfine` (<https://github.com/sharkdp/hyperfine>), no shell in
//! between (`-N`), every run's time kept.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::util::{Context, Result, percentile};

/// One benchmarked command.
pub struct Cmd {
    pub name: String,
    /// The command line (split like a shell would; no quoting needed for our arguments).
    pub line: String,
    /// Run before every timed run, not timed.
    pub prepare: Option<String>,
    pub runs: u32,
    pub warmup: u32,
}

/// Wall times of one command, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timed {
    pub name: String,
    pub times: Vec<f64>,
}

impl Timed {
    pub fn p50(&self) -> f64 {
        percentile(&self.times, 50.0)
    }
    pub fn p99(&self) -> f64 {
        percentile(&self.times, 99.0)
    }
}

#[derive(Deserialize)]
struct Export {
    results: Vec<ExportResult>,
}

#[derive(Deserialize)]
struct ExportResult {
    times: Vec<f64>,
}

/// Times `c` in `cwd` with `env` set; the JSON export is kept in `dir`.
pub fn run(dir: &Path, cwd: &Path, env: &[(&str, String)], c: &Cmd) -> Result<Timed> {
    let json = dir.join(format!("{}.json", c.name));
    let mut cmd = Command::new("hyperfine");
    cmd.args(["-N", "--style", "none", "--runs"])
        .arg(c.runs.to_string())
        .arg("--warmup")
        .arg(c.warmup.to_string())
        .arg("--export-json")
        .arg(&json);
    if let Some(p) = &c.prepare {
        cmd.arg("--prepare").arg(p);
    }
    cmd.arg(&c.line)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null());
    let out = cmd.output().ctx("cannot run hyperfine")?;
    if !out.status.success() {
        return Err(format!(
            "hyperfine {} failed: {}{}",
            c.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = std::fs::read_to_string(&json).ctx("cannot read hyperfine's export")?;
    let export: Export = serde_json::from_str(&text).ctx("hyperfine's export")?;
    let times = export
        .results
        .into_iter()
        .next()
        .ctx("hyperfine exported no result")?
        .times;
    Ok(Timed {
        name: c.name.clone(),
        times,
    })
}
