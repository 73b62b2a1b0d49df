//! A small blocking client for setting the stage (users, groups, tokens) and for checks;
//! nothing here is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::util::{Context, Result};

/// The API of one server.
#[derive(Clone)]
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client for `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Api {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// Sends a request; returns the status and the body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                match body {
                    Some(b) => r.content_type("application/json").send(b.to_string()),
                    None => r.send_empty(),
                }
            }
        };
        let mut res = res.ctx(format!("{method} {path}"))?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .ctx(format!("reading the answer to {method} {path}"))?;
        Ok((status, text))
    }

    /// Sends a request that must answer `want`; returns the body.
    pub fn expect(
        &self,
        want: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<String> {
        let (status, text) = self.call(method, path, token, body)?;
        if status != want {
            return Err(format!(
                "{method} {path} answered {status} instead of {want}: {}",
                text.chars().take(300).collect::<String>()
            ));
        }
        Ok(text)
    }

    /// Logs in; returns the session token.
    pub fn login(&self, email: &str, password: &str) -> Result<String> {
        self.expect(
            200,
            "POST",
            "/api/auth/login",
            None,
            Some(&serde_json::json!({"email": email, "password": password})),
        )
    }

    /// GETs a stream of lines (NDJSON), calling `f` on each as it arrives; returns the
    /// status.
    pub fn stream_lines(&self, path: &str, token: &str, mut f: impl FnMut(&str)) -> Result<u16> {
        use std::io::BufRead;
        let mut res = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .ctx(format!("GET {path}"))?;
        let status = res.status().as_u16();
        let reader = std::io::BufReader::with_capacity(
            1 << 16,
            res.body_mut().with_config().limit(u64::MAX).reader(),
        );
        for line in reader.lines() {
            f(&line.ctx(format!("reading GET {path}"))?);
        }
        Ok(status)
    }

    /// GETs JSON.
    pub fn get_json(&self, path: &str, token: &str) -> Result<Value> {
        let text = self.expect(200, "GET", path, Some(token), None)?;
        serde_json::from_str(&text).ctx(format!("GET {path} did not answer JSON"))
    }
}

/// Runs `f(i)` for `i` in `0..n` on `threads` threads; the first error wins.
pub fn parallel<F>(n: usize, threads: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Result<()> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (f, next) = (f.clone(), next.clone());
            std::thread::spawn(move || -> Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    if let Err(e) = f(i) {
                        next.store(n, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            })
        })
        .collect();
    let mut first = Ok(());
    for h in handles {
        let r = h.join().unwrap_or_else(|_| Err("a worker panicked".into()));
        if first.is_ok() {
            first = r;
        }
    }
    first
}
