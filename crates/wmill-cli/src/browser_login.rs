//! Signing in through a browser, as Windmill's own client does: listen on a loopback port,
//! send the person to `<remote>/user/cli?port=N`, where they sign in and allow; the server
//! then sends their browser to `http://localhost:N/?token=…`, and we send it on to
//! `<remote>/user/cli-success`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long to wait for the browser.
const WAIT: Duration = Duration::from_secs(300);

/// Waits for a token from the browser; `remote` ends with `/`.
pub fn login(remote: &str) -> Result<String> {
    let port = std::env::var("TOKEN_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let v4 = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| Error::failed(format!("cannot listen on a loopback port: {e}")))?;
    let port = v4
        .local_addr()
        .map_err(|e| Error::failed(format!("cannot listen on a loopback port: {e}")))?
        .port();
    // `localhost` may be ::1 for the browser: listen there too when the system has it.
    let v6 = TcpListener::bind(("::1", port)).ok();
    let url = format!("{remote}user/cli?port={port}");
    eprintln!("Sign in and allow this client in your browser: {url}");
    open_browser(&url);
    eprintln!("Waiting for the browser (press Ctrl-C to give up)…");

    let (tx, rx) = mpsc::channel();
    for listener in std::iter::once(v4).chain(v6) {
        let tx = tx.clone();
        let remote = remote.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(std::io::Result::ok) {
                if let Some(token) = answer(stream, &remote) {
                    let _ = tx.send(token);
                    return;
                }
            }
        });
    }
    rx.recv_timeout(WAIT).map_err(|_| Error::Failed {
        message: format!(
            "no answer from the browser within {} minutes",
            WAIT.as_secs() / 60
        ),
        hint: Some(
            "run the command again, or pass --email (or --token) instead of using a browser".into(),
        ),
    })
}

/// Reads one request; a `GET /?token=wm_…` is answered with a redirect to the success
/// page and gives the token; anything else gets a 404 and is ignored.
fn answer(stream: TcpStream, remote: &str) -> Option<String> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let token = target
        .strip_prefix("/?")
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        .filter(|t| {
            t.starts_with("wm_") && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(str::to_owned);
    let mut stream = stream;
    let _ = match &token {
        Some(_) => write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: {remote}user/cli-success\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    };
    token
}

/// Opens `url` in the person's browser: `$BROWSER`, else the system's opener. Failing to
/// is not an error: the URL was printed.
fn open_browser(url: &str) {
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else {
                "xdg-open".into()
            }
        });
    let spawned = std::process::Command::new(&program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("(could not start '{program}': open the address above yourself)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_token_shaped_answer_is_taken() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let send = |path: &str| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            s
        };
        for (path, want) in [
            ("/?token=wm_abc123", Some("wm_abc123")),
            ("/?token=wm_abc%0d%0aX", None),
            ("/favicon.ico", None),
            ("/?token=notatoken", None),
        ] {
            let _client = send(path);
            let (stream, _) = listener.accept().unwrap();
            assert_eq!(answer(stream, "http://h/").as_deref(), want, "{path}");
        }
    }
}
