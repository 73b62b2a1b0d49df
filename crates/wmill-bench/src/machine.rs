//! The machine the numbers come from, and the public tools the harness needs (installed
//! with apt-get when missing, saying so).

use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::say;
use crate::util::Result;

/// Installs the tools that are missing, as (binary, Debian package).
pub fn ensure_tools(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&(&str, &str)> = tools.iter().filter(|(bin, _)| !have(bin)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let pkgs: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    let root = output("id", &["-u"]).is_some_and(|u| u.trim() == "0");
    if !root || !have("apt-get") {
        return Err(format!(
            "missing tools: {} (install the Debian packages {} first)",
            missing
                .iter()
                .map(|(b, _)| *b)
                .collect::<Vec<_>>()
                .join(", "),
            pkgs.join(" ")
        ));
    }
    say!(
        "installing {} with apt-get (wrk drives HTTP load, hyperfine times CLI runs)",
        pkgs.join(" ")
    );
    let install = |pkgs: &[&str]| {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install(&pkgs) {
        say!("apt-get install failed; running apt-get update once and retrying");
        let _ = Command::new("apt-get")
            .args(["update", "-qq"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        if !install(&pkgs) {
            return Err(format!("apt-get install {} failed", pkgs.join(" ")));
        }
    }
    for (bin, _) in missing {
        if !have(bin) {
            return Err(format!("{bin} is still missing after apt-get install"));
        }
    }
    Ok(())
}

/// Whether `bin` is on the PATH.
pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first line of a command's stdout (or stderr), if it ran.
pub fn output(bin: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = if o.stdout.is_empty() {
        o.stderr
    } else {
        o.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// What the report says about the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub load_at_start: String,
    pub versions: Vec<(String, String)>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Describes this machine and the versions of everything measured.
pub fn describe(bins: &[(&str, &Path)], official: Option<&Path>) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem_kib: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    let mut versions = vec![(
        "rustc".to_string(),
        output("rustc", &["--version"]).unwrap_or_default(),
    )];
    for (name, path) in bins {
        let p = path.to_string_lossy();
        versions.push((
            name.to_string(),
            output(&p, &["--version"]).unwrap_or_default(),
        ));
    }
    if let Some(o) = official {
        // `wmill --version` asks npm for the latest release; the pinned version is in the
        // installed package instead.
        let pkg = o
            .parent()
            .and_then(|bin| bin.parent())
            .map(|nm| nm.join("windmill-cli/package.json"));
        let v = pkg
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|j| j["version"].as_str().map(String::from))
            .unwrap_or_else(|| "unknown".into());
        versions.push(("windmill-cli (official)".into(), v));
    }
    versions.push((
        "node".into(),
        output("node", &["--version"]).unwrap_or_default(),
    ));
    versions.push((
        "wrk".into(),
        output("wrk", &["--version"]).unwrap_or_default(),
    ));
    versions.push((
        "hyperfine".into(),
        output("hyperfine", &["--version"]).unwrap_or_default(),
    ));
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        memory_gib: mem_kib / 1024.0 / 1024.0,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        os,
        load_at_start: load_average(),
        versions,
    }
}

/// `/proc/loadavg`'s three averages.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
