//! Blocking HTTP client for the wmill API: one request per call, the bearer token when
//! there is one, server errors turned into [`Error::Server`] with the server's text as is.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Most pages [`Client::get_all`] fetches.
pub const MAX_PAGES: usize = 200;
/// Most bytes of answers [`Client::get_all`] reads for one list.
pub const MAX_LIST_BYTES: usize = 256 << 20;

/// A connection to one server, with or without a token.
pub struct Client {
    agent: ureq::Agent,
    /// The profile-style remote (`http://host:port/`), for messages.
    remote: String,
    /// `<remote without trailing slash>/api`.
    api: String,
    token: Option<String>,
}

/// An HTTP method the API uses.
#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Delete,
}

impl Client {
    /// A client for `remote` (as stored in a profile, trailing slash or not).
    pub fn new(remote: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .user_agent(concat!("wmill/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let api = format!("{}/api", remote.trim_end_matches('/'));
        Self {
            agent,
            remote: remote.to_owned(),
            api,
            token,
        }
    }

    /// The server's base URL, for messages.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// GET, answer parsed as JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let body = self.send(Method::Get, path, query, None)?;
        parse_json(&body, path)
    }

    /// GET, answer as text.
    pub fn get_text(&self, path: &str) -> Result<String> {
        self.send(Method::Get, path, &[], None)
    }

    /// POST a JSON body, answer as text (mutations and token endpoints answer text).
    pub fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<String> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::failed(format!("cannot encode the request: {e}")))?;
        self.send(Method::Post, path, &[], Some(bytes))
    }

    /// POST a JSON body, answer parsed as JSON.
    pub fn post_json<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let text = self.post(path, body)?;
        parse_json(&text, path)
    }

    /// POST a JSON body with query parameters, answer parsed as JSON.
    pub fn post_json_query<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::failed(format!("cannot encode the request: {e}")))?;
        let text = self.send(Method::Post, path, query, Some(bytes))?;
        parse_json(&text, path)
    }

    /// DELETE, answer as text.
    pub fn delete(&self, path: &str) -> Result<String> {
        self.send(Method::Delete, path, &[], None)
    }

    /// GET every page of a paginated list (`page` from 1, `per_page` rows at a time). It
    /// stops at a page shorter than `per_page`, and, with a warning, at a page that repeats
    /// the one before (a server that ignores `page`) or past [`MAX_PAGES`] pages or
    /// [`MAX_LIST_BYTES`] (a server that never stops): a hostile or broken server cannot make
    /// it fetch for ever.
    pub fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        const PER_PAGE: usize = 1000;
        let mut all = Vec::new();
        let mut previous: Option<Vec<serde_json::Value>> = None;
        let mut bytes = 0usize;
        for page in 1.. {
            if page > MAX_PAGES {
                crate::print_warning(&format!(
                    "stopped after {MAX_PAGES} pages ({} rows): the server kept sending full pages",
                    all.len()
                ));
                break;
            }
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("per_page", PER_PAGE.to_string()));
            let text = self.send(Method::Get, path, &q, None)?;
            bytes += text.len();
            let rows: Vec<serde_json::Value> = parse_json(&text, path)?;
            let n = rows.len();
            if n > 0 && previous.as_ref() == Some(&rows) {
                crate::print_warning(&format!(
                    "stopped at page {page}: the server sent the same page again (it may not support paging)"
                ));
                break;
            }
            for row in &rows {
                all.push(
                    serde_json::from_value(row.clone()).map_err(|e| Error::Protocol {
                        message: format!("unexpected answer from the server for {path}: {e}"),
                    })?,
                );
            }
            if n < PER_PAGE {
                break;
            }
            if bytes > MAX_LIST_BYTES {
                crate::print_warning(&format!(
                    "stopped after {} MiB ({} rows): the list is larger than this client reads",
                    bytes >> 20,
                    all.len()
                ));
                break;
            }
            previous = Some(rows);
        }
        Ok(all)
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<String> {
        let url = format!("{}{}", self.api, path);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match method {
            Method::Get | Method::Delete => {
                let mut req = match method {
                    Method::Get => self.agent.get(&url),
                    _ => self.agent.delete(&url),
                };
                req = req.header("accept", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                req.call()
            }
            Method::Post => {
                let mut req = self.agent.post(&url).header("accept", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                for (k, v) in query {
                    req = req.query(*k, v);
                }
                match body {
                    Some(b) => req.content_type("application/json").send(b),
                    None => req.send_empty(),
                }
            }
        };
        let mut response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(Error::Server {
                status,
                text,
                hint: None,
            })
        }
    }

    /// GET an answer of lines (NDJSON), handing each whole line to `on_line` as it arrives;
    /// the answer may last up to `max` (a streaming export).
    pub fn get_lines(
        &self,
        path: &str,
        query: &[(&str, String)],
        max: Duration,
        mut on_line: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        use std::io::BufRead;
        let url = format!("{}{}", self.api, path);
        let mut req = self
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(max))
            .build()
            .header("accept", "application/x-ndjson");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in query {
            req = req.query(*k, v);
        }
        let mut response = req.call().map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response
                .body_mut()
                .with_config()
                .limit(1024 * 1024)
                .lossy_utf8(true)
                .read_to_string()
                .map_err(|e| self.transport_error(e))?;
            return Err(Error::Server {
                status,
                text,
                hint: None,
            });
        }
        let reader =
            std::io::BufReader::new(response.body_mut().with_config().limit(u64::MAX).reader());
        for line in reader.lines() {
            let line = line.map_err(|e| Error::Unreachable {
                url: self.remote.clone(),
                detail: format!("the answer was cut: {e}"),
            })?;
            if !line.is_empty() {
                on_line(&line)?;
            }
        }
        Ok(())
    }

    fn transport_error(&self, e: ureq::Error) -> Error {
        let detail = match &e {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused".to_owned()
            }
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::Timeout(_) => "timed out".to_owned(),
            ureq::Error::BadUri(u) => {
                return Error::usage(
                    format!("'{u}' is not a valid URL"),
                    Some("give the server's base URL, e.g. http://127.0.0.1:8000/"),
                );
            }
            other => other.to_string(),
        };
        Error::Unreachable {
            url: self.remote.clone(),
            detail,
        }
    }
}

fn parse_json<T: DeserializeOwned>(text: &str, path: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Protocol {
        message: format!("unexpected answer from the server for {path}: {e}"),
    })
}

/// Percent-encodes one path segment (everything but unreserved characters and `@`).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("x+y@example.com"), "x%2By@example.com");
        assert_eq!(seg("my group/../x"), "my%20group%2F..%2Fx");
        assert_eq!(seg("ü"), "%C3%BC");
    }

    #[test]
    fn api_base_drops_the_trailing_slash() {
        let c = Client::new("http://127.0.0.1:1/", None);
        assert_eq!(c.api, "http://127.0.0.1:1/api");
        let c = Client::new("http://h/sub/", None);
        assert_eq!(c.api, "http://h/sub/api");
    }
}
