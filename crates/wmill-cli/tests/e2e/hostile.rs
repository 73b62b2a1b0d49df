//! `wmill` against a hostile server (a few lines of raw HTTP on loopback): what it prints for
//! people shows the server's text without obeying it, and lists stop when a server never
//! does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::harness::Shell;

/// A server that answers `answer(path)` (status, content type, body) to every request, and
/// counts them.
struct Fake {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Fake {
    fn start(answer: fn(&str) -> (u16, &'static str, String)) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let (status, ctype, body) = answer(&path);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Fake { url, requests }
    }
}

/// Escape sequences and invisible characters as a server could put them in JSON strings:
/// clear the screen, red, a C1 CSI, a right-to-left override, and a line of its own.
const EVIL: &str = "ok\u{1b}[2J\u{1b}[31m\u{9b}1m\u{202e}\nAdded admin to group wheel";

fn group(name: &str) -> Value {
    json!({"workspace_id": "ws", "name": name, "summary": EVIL, "members": ["a"], "extra_perms": {}})
}

fn no_raw_escapes(text: &str) {
    for c in ['\u{1b}', '\u{9b}', '\u{202e}', '\r'] {
        assert!(!text.contains(c), "{c:?} printed raw: {text:?}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("Added admin")),
        "a server cannot start a line of its own: {text}"
    );
}

#[test]
fn a_servers_text_is_shown_not_obeyed() {
    let fake = Fake::start(|path| {
        if path.contains("/groups/list") {
            (200, "application/json", json!([group("g")]).to_string())
        } else if path.contains("/groups/get/") {
            (200, "application/json", group("g").to_string())
        } else {
            (400, "text/plain", format!("Bad request: {EVIL}"))
        }
    });
    let sh = Shell::new();
    let base = [
        "--base-url",
        fake.url.as_str(),
        "--token",
        "t",
        "--workspace",
        "ws",
    ];
    for args in [vec!["group", "list"], vec!["group", "get", "g"]] {
        let run = sh.wmill(&[args.as_slice(), &base].concat());
        assert_eq!(run.code, 0, "{run:?}");
        no_raw_escapes(&run.stdout);
        assert!(
            run.stdout.contains("\\u{1b}[2J"),
            "shown escaped: {}",
            run.stdout
        );
    }
    let run = sh.wmill(&[["group", "delete", "g", "--yes"].as_slice(), &base].concat());
    assert_eq!(run.code, 1);
    no_raw_escapes(&run.stderr);
    assert!(
        run.stderr.contains("Bad request: ok\\u{1b}[2J"),
        "{}",
        run.stderr
    );
    // --json is for programs: the text is there, escaped by JSON.
    let run = sh.wmill(&[["group", "get", "g", "--json"].as_slice(), &base].concat());
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["summary"], EVIL);
}

#[test]
fn a_server_that_repeats_a_page_is_not_asked_for_ever() {
    let fake = Fake::start(|_| {
        let page: Vec<Value> = (0..1000).map(|i| group(&format!("g{i}"))).collect();
        (200, "application/json", json!(page).to_string())
    });
    let sh = Shell::new();
    let run = sh.wmill(&[
        "group",
        "list",
        "--base-url",
        &fake.url,
        "--token",
        "t",
        "--workspace",
        "ws",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        2,
        "stopped at the repeated page"
    );
    assert!(
        run.stderr.contains("the server sent the same page again"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stdout.lines().count(),
        1001,
        "header and the first page"
    );
}

#[test]
fn a_server_that_never_stops_paging_is_cut_off() {
    let fake = Fake::start(|path| {
        // A full page of new names every time.
        let page: usize = path
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("page="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let rows: Vec<Value> = (0..1000).map(|i| group(&format!("p{page}g{i}"))).collect();
        (200, "application/json", json!(rows).to_string())
    });
    let sh = Shell::new();
    let run = sh.wmill(&[
        "group",
        "list",
        "--json",
        "--base-url",
        &fake.url,
        "--token",
        "t",
        "--workspace",
        "ws",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(fake.requests.load(Ordering::SeqCst) <= 200);
    assert!(run.stderr.contains("stopped after"), "{}", run.stderr);
}

#[test]
fn a_failing_server_gets_the_server_failed_hint() {
    let fake = Fake::start(|_| (503, "text/plain", "Service unavailable: busy".into()));
    let sh = Shell::new();
    sh.wmill(&[
        "group",
        "list",
        "--base-url",
        &fake.url,
        "--token",
        "t",
        "--workspace",
        "ws",
    ])
    .fails(
        1,
        &[
            "Service unavailable: busy",
            "the server failed: try again, and look at the server's log",
        ],
    );
}
