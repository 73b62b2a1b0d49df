//! Audit sinks: the audit log delivered, as it grows, to a file or to an HTTP endpoint (a
//! SIEM's ingestion URL), configured with `--audit-sink`.
//!
//! - **What is sent**: each entry as one line of the export's NDJSON (`AuditLog`, with its
//!   `id`), in id order, in batches of at most [`BATCH`] entries: appended to the file and
//!   flushed to disk (`fsync`), or POSTed as `application/x-ndjson`.
//! - **At least once**: the sink's cursor (the last id it acknowledged) is kept in the
//!   database (`audit_sink`) and moved only after the acknowledgement: a 2xx answer, or the
//!   write flushed. A crash between the two sends the batch again; receivers de-duplicate by
//!   `id`. Nothing is skipped: ids are given in commit order (see `store/sql/chain.rs`), so
//!   no entry commits later below an id already read.
//! - **Outages**: a failed batch is retried with exponential backoff and jitter (100 ms
//!   doubling to 30 s); new entries are looked for every [`POLL`].
//! - **One deliverer**: on PostgreSQL, instances sharing a database deliver a sink one at a
//!   time (an advisory lock held on a connection of its own, see `store/sql/sink.rs`); the
//!   others look every second and take over when it is released.
//! - **Secrets**: a sink's header (its token) is read from a file at start, sent only to the
//!   sink, and never logged, shown in the status or written to the audit log; sink names
//!   never carry a URL's user, password, query or fragment.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Secret;
use crate::service::Service;
use crate::store::SqlStore;

/// Entries sent at most per batch (one POST, one write).
pub const BATCH: i64 = 500;
/// How often a caught-up deliverer looks for new entries.
pub const POLL: Duration = Duration::from_millis(200);
/// How often an instance that does not deliver a sink checks whether it may.
pub const STANDBY_POLL: Duration = Duration::from_secs(1);
/// First and largest wait after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long an HTTP sink has to answer a batch.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a sink delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Appends to this file (an absolute path), created owner-only.
    File(PathBuf),
    /// POSTs to this URL (https, or http on a loopback address).
    Http(String),
}

/// One `--audit-sink`, as configured.
#[derive(Clone, PartialEq, Eq)]
pub struct SinkSpec {
    /// Its stable identity (the cursor's key) and what the status and logs call it: the
    /// `name=` option, or the target without user, password, query or fragment.
    pub name: String,
    pub target: Target,
    /// A header sent with every batch (`Name: value`, read from `header_file`).
    header: Option<(String, Secret)>,
}

impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSpec")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("header", &self.header.as_ref().map(|(n, _)| n))
            .finish()
    }
}

impl SinkSpec {
    /// The header's name, if one is sent (never its value).
    pub fn header_name(&self) -> Option<&str> {
        self.header.as_ref().map(|(n, _)| n.as_str())
    }

    /// `text` with the secrets of this sink (the header's value, the URL's user part)
    /// replaced by `…`: for error sentences that quote what a library said.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Some((_, Secret(v))) = &self.header {
            // The whole value, then each long word of it (`Bearer <token>`: the token).
            for part in std::iter::once(v.as_str()).chain(v.split_whitespace()) {
                if part.len() >= 8 {
                    out = out.replace(part, "…");
                }
            }
        }
        if let Target::Http(url) = &self.target
            && let Some(user) = userinfo(url)
            && !user.is_empty()
        {
            out = out.replace(user, "…");
        }
        out
    }
}

/// The keys a `--audit-sink` value may hold after its target.
const SINK_KEYS: &str = "header_file, name";

/// The user part (`user:password`) of a URL's authority, if any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority.rsplit_once('@').map(|(u, _)| u)
}

/// `scheme://host[:port]/path` of a URL: no user, password, query or fragment.
fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = rest.get(..end).unwrap_or(rest);
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!(
        "{}://{}{path}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

/// Whether the URL's host is a loopback address (or `localhost`).
fn is_loopback(url: &str) -> bool {
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses one `--audit-sink` value strictly: `file:/ABSOLUTE/PATH` or `https://…` (http only
/// to a loopback address), then `,header_file=PATH` (HTTP sinks: a file holding one
/// `Name: value` line, owner-only) and `,name=NAME`; unknown or repeated keys are refused.
/// Reads the header file.
pub fn parse_sink(value: &str) -> Result<SinkSpec, String> {
    let value = value.trim();
    let mut parts = value.split(',');
    let target = parts.next().unwrap_or_default().trim();
    let lower = target.to_ascii_lowercase();
    let (target, default_name) = if let Some(path) = target
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("file:"))
        .and_then(|_| target.get(5..))
    {
        let path = path.strip_prefix("//").unwrap_or(path);
        let p = PathBuf::from(path);
        if !p.is_absolute() {
            return Err(format!(
                "audit sink {target:?}: a file sink needs an absolute path, like file:/var/log/wmill/audit.jsonl"
            ));
        }
        (Target::File(p), format!("file:{path}"))
    } else if lower.starts_with("https://") || lower.starts_with("http://") {
        let shown = display_url(target);
        let host_ok = target
            .split_once("://")
            .map(|(_, r)| r.split(['/', '?', '#']).next().unwrap_or_default())
            .is_some_and(|a| !a.rsplit_once('@').map_or(a, |(_, h)| h).is_empty());
        if !host_ok || target.parse::<axum::http::Uri>().is_err() {
            return Err(format!("audit sink {shown:?} is not a valid URL"));
        }
        if lower.starts_with("http://") && !is_loopback(target) {
            return Err(format!(
                "audit sink {shown:?} must be https (plain http only to a loopback address)"
            ));
        }
        (Target::Http(target.to_string()), shown)
    } else {
        let scheme: String = target
            .split_once(':')
            .map_or(target, |(s, _)| s)
            .chars()
            .take(20)
            .collect();
        return Err(format!(
            "audit sink {scheme:?}: the target must start with file:, https:// or http:// (loopback only)"
        ));
    };
    let mut seen = std::collections::BTreeMap::new();
    for part in parts {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "audit sink {default_name}: {part:?} is not KEY=VALUE (keys: {SINK_KEYS})"
            ));
        };
        let k = k.trim();
        if !SINK_KEYS.split(", ").any(|known| known == k) {
            return Err(format!(
                "audit sink {default_name}: unknown key {k:?} (keys: {SINK_KEYS})"
            ));
        }
        if seen.insert(k.to_string(), v.trim().to_string()).is_some() {
            return Err(format!("audit sink {default_name}: {k} is given twice"));
        }
    }
    let name = match seen.remove("name") {
        None => default_name,
        Some(n) => {
            if n.is_empty()
                || n.len() > 64
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(format!(
                    "audit sink {default_name}: name {n:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
                ));
            }
            n
        }
    };
    let header = match seen.remove("header_file") {
        None => None,
        Some(path) => {
            if matches!(target, Target::File(_)) {
                return Err(format!(
                    "audit sink {name}: header_file is for HTTP sinks only"
                ));
            }
            Some(read_header_file(&name, &PathBuf::from(path))?)
        }
    };
    Ok(SinkSpec {
        name,
        target,
        header,
    })
}

/// Reads `Name: value` from a header file (one line, owner-only).
fn read_header_file(sink: &str, path: &std::path::Path) -> Result<(String, Secret), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "audit sink {sink}: cannot read header_file {}: {e}",
            path.display()
        )
    })?;
    if crate::files::readable_by_others(path) {
        return Err(format!(
            "audit sink {sink}: header_file {} can be read by other users; restrict it (chmod 600)",
            path.display()
        ));
    }
    let line = text.trim_end_matches(['\n', '\r']);
    let bad = || {
        format!(
            "audit sink {sink}: header_file {} must hold one line 'Name: value' (like 'Authorization: Bearer …')",
            path.display()
        )
    };
    if line.contains(['\n', '\r']) {
        return Err(bad());
    }
    let (n, v) = line.split_once(':').ok_or_else(bad)?;
    let (n, v) = (n.trim(), v.trim());
    if n.is_empty()
        || v.is_empty()
        || axum::http::HeaderName::from_bytes(n.as_bytes()).is_err()
        || axum::http::HeaderValue::from_str(v).is_err()
    {
        return Err(bad());
    }
    Ok((n.to_string(), Secret(v.to_string())))
}

/// Refuses two sinks with the same name (they would share a cursor).
pub fn check_unique(specs: &[SinkSpec]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for s in specs {
        if !seen.insert(s.name.as_str()) {
            return Err(format!(
                "two audit sinks are named {:?}; give one a name=… of its own",
                s.name
            ));
        }
    }
    Ok(())
}

/// What this instance knows of a sink's delivery (the cursor is in the database).
#[derive(Debug, Clone, Default)]
pub struct SinkProgress {
    /// Whether this instance delivers the sink now (it holds its lease).
    pub delivering: bool,
    /// The last failure, as a sentence without secrets, and when (microseconds).
    pub last_error: Option<(String, i64)>,
    /// When a batch was last acknowledged (microseconds).
    pub last_success: Option<i64>,
}

/// A configured sink and what this instance knows of it.
pub struct Sink {
    pub spec: SinkSpec,
    progress: Mutex<SinkProgress>,
}

impl Sink {
    pub fn new(spec: SinkSpec) -> Sink {
        Sink {
            spec,
            progress: Mutex::new(SinkProgress::default()),
        }
    }

    /// A copy of what this instance knows.
    pub fn progress(&self) -> SinkProgress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut SinkProgress)) {
        if let Ok(mut p) = self.progress.lock() {
            f(&mut p);
        }
    }
}

/// Waits after failures: 100 ms doubling to 30 s, each wait drawn between half and all of
/// its step (jitter, so that instances do not retry in step).
struct Backoff {
    step: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { step: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.step = BACKOFF_MIN;
    }

    fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(BACKOFF_MAX);
        let mut b = [0u8; 8];
        let r = if getrandom::fill(&mut b).is_ok() {
            u64::from_le_bytes(b)
        } else {
            0
        };
        let half = step.as_micros() as u64 / 2;
        Duration::from_micros(half + r % (half + 1))
    }
}

/// Starts one deliverer per configured sink; they run until aborted.
pub fn start(svc: Arc<Service>, store: Arc<SqlStore>) -> Vec<tokio::task::JoinHandle<()>> {
    svc.audit_sinks()
        .iter()
        .map(|sink| {
            let (svc, store, sink) = (svc.clone(), store.clone(), sink.clone());
            tokio::spawn(async move { deliver_forever(svc, store, sink).await })
        })
        .collect()
}

/// Delivers one sink for as long as the task runs: takes its lease (or waits for it), then
/// sends what follows its cursor, batch after batch.
async fn deliver_forever(svc: Arc<Service>, store: Arc<SqlStore>, sink: Arc<Sink>) {
    let name = sink.spec.name.clone();
    let mut backoff = Backoff::new();
    let fail = |sink: &Sink, what: String, now: i64| {
        let sentence = sink.spec.redact(&what);
        tracing::warn!(sink = %sink.spec.name, "audit sink: {sentence}");
        sink.update(|p| p.last_error = Some((sentence, now)));
    };
    loop {
        let mut lease = match store.lease_audit_sink(&name, svc.now()).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                sink.update(|p| p.delivering = false);
                tokio::time::sleep(STANDBY_POLL).await;
                continue;
            }
            Err(e) => {
                fail(
                    &sink,
                    format!("cannot take the sink's lease: {e}"),
                    svc.now(),
                );
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        sink.update(|p| p.delivering = true);
        tracing::info!(sink = %name, "delivering audit entries to the sink");
        loop {
            let cursor = match store.audit_sink_cursor(&mut lease, &name).await {
                Ok(c) => c,
                Err(e) => {
                    // The lease's connection is gone (the lock with it): start again.
                    fail(&sink, format!("lost the sink's lease: {e}"), svc.now());
                    break;
                }
            };
            let batch = match svc.audit_sink_batch(cursor, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    fail(&sink, format!("cannot read the audit log: {e}"), svc.now());
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            let Some((last, body)) = batch else {
                tokio::time::sleep(POLL).await;
                continue;
            };
            if let Err(e) = send(&sink.spec, body).await {
                fail(&sink, e, svc.now());
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
            match store
                .advance_audit_sink(&mut lease, &name, cursor, last, svc.now())
                .await
            {
                Ok(true) => {
                    backoff.reset();
                    let now = svc.now();
                    sink.update(|p| p.last_success = Some(now));
                }
                Ok(false) => {
                    fail(
                        &sink,
                        "the sink's cursor was moved by another deliverer; taking the lease again"
                            .into(),
                        svc.now(),
                    );
                    break;
                }
                Err(e) => {
                    fail(
                        &sink,
                        format!("cannot record what was delivered: {e}"),
                        svc.now(),
                    );
                    break;
                }
            }
        }
        sink.update(|p| p.delivering = false);
        store.release_audit_sink(lease).await;
        tokio::time::sleep(backoff.next()).await;
    }
}

/// Sends one batch; `Err` with a sentence (which may still hold secrets: redact it).
async fn send(spec: &SinkSpec, body: Vec<u8>) -> Result<(), String> {
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || match &spec.target {
        Target::File(path) => {
            append(path, &body).map_err(|e| format!("cannot append to {}: {e}", path.display()))
        }
        Target::Http(url) => post(&spec, url, body),
    })
    .await
    .map_err(|e| format!("the delivery thread failed: {e}"))?
}

/// Appends `body` (whole lines) to the file, created owner-only, and flushes it to disk. A
/// line cut short by a crash is removed first, so the file holds whole lines only.
fn append(path: &std::path::Path, body: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let len = f.seek(SeekFrom::End(0))?;
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            // Back to just after the last newline.
            let mut end = len;
            let mut keep = 0;
            let mut buf = vec![0u8; 64 * 1024];
            'scan: while end > 0 {
                let start = end.saturating_sub(buf.len() as u64);
                let chunk = buf.get_mut(..(end - start) as usize).unwrap_or_default();
                f.seek(SeekFrom::Start(start))?;
                f.read_exact(chunk)?;
                if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
                    keep = start + i as u64 + 1;
                    break 'scan;
                }
                end = start;
            }
            f.set_len(keep)?;
        }
    }
    f.seek(SeekFrom::End(0))?;
    f.write_all(body)?;
    f.sync_data()
}

/// POSTs `body`; a 2xx answer acknowledges it.
fn post(spec: &SinkSpec, url: &str, body: Vec<u8>) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .timeout_global(Some(HTTP_TIMEOUT))
        .user_agent(concat!("wmill-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut req = agent
        .post(url)
        .header("content-type", "application/x-ndjson");
    if let Some((n, Secret(v))) = &spec.header {
        req = req.header(n.as_str(), v.as_str());
    }
    let res = req
        .send(&body[..])
        .map_err(|e| format!("cannot reach {}: {e}", spec.name))?;
    let status = res.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {status}", spec.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_specs_are_parsed_strictly_and_the_header_is_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let header = dir.path().join("h");
        std::fs::write(&header, "Authorization: Bearer top-secret-value\n").unwrap();
        std::fs::set_permissions(&header, std::fs::Permissions::from_mode(0o600)).unwrap();
        let h = header.display();
        let s = parse_sink(&format!(
            "https://user:pw@SIEM.example:8443/ingest?key=k#x,header_file={h}"
        ))
        .unwrap();
        assert_eq!(s.name, "https://siem.example:8443/ingest");
        assert_eq!(s.header_name(), Some("Authorization"));
        assert!(!format!("{s:?}").contains("top-secret-value"));
        assert_eq!(
            s.redact("x top-secret-value user:pw y"),
            "x … … y",
            "secrets quoted by a library are cut"
        );
        let f = parse_sink("file:/var/log/wmill/audit.jsonl,name=local").unwrap();
        assert_eq!(f.name, "local");
        assert_eq!(f.target, Target::File("/var/log/wmill/audit.jsonl".into()));
        assert_eq!(parse_sink("file:/a/b").unwrap().name, "file:/a/b");
        assert!(parse_sink("http://127.0.0.1:9/x").is_ok());
        assert!(parse_sink("http://localhost/x").is_ok());
        assert!(parse_sink("http://[::1]:80/x").is_ok());
        let loose = dir.path().join("loose");
        std::fs::write(&loose, "X-Key: v\n").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let bad_line = dir.path().join("bad");
        std::fs::write(&bad_line, "no colon here\n").unwrap();
        std::fs::set_permissions(&bad_line, std::fs::Permissions::from_mode(0o600)).unwrap();
        for (bad, says) in [
            ("ftp://a.b/x".to_string(), "must start with file:, https://"),
            ("syslog:x".to_string(), "must start with file:"),
            ("http://siem.example/x".to_string(), "must be https"),
            ("http://10.0.0.1/x".to_string(), "must be https"),
            ("file:relative.jsonl".to_string(), "absolute path"),
            ("https:///x".to_string(), "not a valid URL"),
            (
                "https://a.b/x,header_file=/nonexistent/h".to_string(),
                "cannot read header_file",
            ),
            (
                format!("https://a.b/x,header_file={}", loose.display()),
                "can be read by other users",
            ),
            (
                format!("https://a.b/x,header_file={}", bad_line.display()),
                "one line 'Name: value'",
            ),
            (format!("file:/a,header_file={h}"), "for HTTP sinks only"),
            (
                "https://a.b/x,colour=blue".to_string(),
                "unknown key \"colour\"",
            ),
            ("https://a.b/x,name=a,name=b".to_string(), "given twice"),
            ("https://a.b/x,name=a b".to_string(), "must be 1 to 64"),
            ("https://a.b/x,oops".to_string(), "is not KEY=VALUE"),
        ] {
            let e = parse_sink(&bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("top-secret-value"), "{e}");
        }
        let twice = [
            parse_sink("file:/a").unwrap(),
            parse_sink("file:/a").unwrap(),
        ];
        assert!(
            check_unique(&twice)
                .unwrap_err()
                .contains("named \"file:/a\"")
        );
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..12).map(|_| b.next()).collect();
        assert!(waits[0] >= BACKOFF_MIN / 2 && waits[0] <= BACKOFF_MIN);
        assert!(waits.iter().all(|w| *w <= BACKOFF_MAX));
        assert!(waits[11] >= BACKOFF_MAX / 2, "{waits:?}");
        b.reset();
        assert!(b.next() <= BACKOFF_MIN);
    }

    #[test]
    fn a_line_cut_short_is_removed_before_appending() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        append(&p, b"{\"id\":1}\n").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"id\":2,\"wor")
            .unwrap();
        append(&p, b"{\"id\":2}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"id\":1}\n{\"id\":2}\n"
        );
    }
}
