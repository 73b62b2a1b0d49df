//! The printer: owns stdout. Human output (aligned tables, short sentences, key/value
//! blocks) or exactly one JSON document with `--json`. Colours only on a terminal without
//! `NO_COLOR`.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

/// Where command results go.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    json: bool,
    quiet: bool,
    color: bool,
}

impl Out {
    /// A printer for `--json` (or not) and `--quiet` (or not), colouring only when stdout
    /// is a terminal and `NO_COLOR` is unset or empty.
    pub fn new(json: bool, quiet: bool) -> Self {
        let color = !json && std::io::stdout().is_terminal() && !no_color();
        Self { json, quiet, color }
    }

    /// Whether `--quiet` was given.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a list: the wire values as a JSON array, or a table (or `empty` when none).
    pub fn list<T: Serialize>(&self, items: &[T], table: Table, empty: &str) {
        if self.json {
            self.json_doc(&items);
        } else if items.is_empty() {
            self.text(empty);
        } else {
            self.emit(&table.render(self.color));
        }
    }

    /// Prints one object: its JSON, or the human form built lazily (from [`Out::pairs`] and
    /// [`clean`]ed text: it is printed as it is).
    pub fn object<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            self.json_doc(value);
        } else {
            self.emit(&human());
        }
    }

    /// Prints the outcome of a mutation: `sentence` for people, or the JSON object
    /// `{"message": <message>, ...extra}`.
    pub fn done(&self, sentence: &str, message: &str, extra: Value) {
        if self.json {
            let mut doc = serde_json::Map::new();
            doc.insert("message".into(), Value::String(message.trim().to_owned()));
            if let Value::Object(extra) = extra {
                doc.extend(extra);
            }
            self.json_doc(&Value::Object(doc));
        } else if self.quiet {
            // The data a mutation produced (a token, a password) is printed by its command.
        } else {
            // Our sentences may span lines; each line is cleaned.
            let lines: Vec<Cow<'_, str>> = sentence.lines().map(clean).collect();
            let text = lines.join("\n");
            if self.color {
                self.emit(&format!("\x1b[32m{text}\x1b[0m"));
            } else {
                self.emit(&text);
            }
        }
    }

    /// Prints one JSON document (JSON escapes control characters itself).
    pub fn json_doc<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(s) => self.emit(&s),
            Err(e) => eprintln!("error: cannot encode the answer as JSON: {e}"),
        }
    }

    /// Writes one line of text for people, [`clean`]ed: whatever a server sent cannot move
    /// the cursor, change colours or start a line of its own.
    pub fn text(&self, s: &str) {
        self.emit(&clean(s));
    }

    /// Writes `s` and a newline to stdout as it is. A closed pipe (`wmill … | head`) is
    /// not an error.
    fn emit(&self, s: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{s}").and_then(|()| stdout.flush());
    }

    /// A key/value block with aligned keys (keys bold on a terminal).
    pub fn pairs(&self, pairs: &[(&str, String)]) -> String {
        let width = pairs
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            + 1;
        let mut s = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            let key = format!("{k}:");
            let pad = " ".repeat(width - key.chars().count() + 1);
            let v = clean(v);
            if self.color {
                s.push_str(&format!("\x1b[1m{key}\x1b[0m{pad}{v}"));
            } else {
                s.push_str(&format!("{key}{pad}{v}"));
            }
        }
        s
    }
}

/// Whether `c` would act on a terminal or on how text reads instead of showing as itself:
/// control characters (C0, DEL, C1: escape sequences, carriage returns, newlines) and
/// invisible or direction-changing format characters.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// Text from a server made safe to print for people: every character that would act on the
/// terminal (an escape sequence, a carriage return, a newline) or change how the text reads
/// (bidirectional overrides, zero-width characters) is shown escaped, as `\u{1b}`. `--json`
/// output needs none of this: JSON escapes what it must, and it is read by programs.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether the user asked for no colours (<https://no-color.org>).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// A table with a header row; columns are separated by two spaces and padded to align.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column). Cells are single-line, and show a server's text as
    /// text (see [`clean`]).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|c| clean(c).into_owned()).collect());
    }

    /// The table as text, without trailing spaces.
    pub fn render(&self, color: bool) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let line = render_line(&header, &widths);
        if color {
            out.push_str(&format!("\x1b[1m{line}\x1b[0m"));
        } else {
            out.push_str(&line);
        }
        for row in &self.rows {
            out.push('\n');
            out.push_str(&render_line(row, &widths));
        }
        out
    }
}

fn render_line(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, width) in widths.iter().enumerate() {
        let cell = cells.get(i).map(String::as_str).unwrap_or("");
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        if i + 1 < widths.len() {
            line.push_str(&" ".repeat(width.saturating_sub(cell.chars().count())));
        }
    }
    line.trim_end().to_owned()
}

/// A timestamp for people: UTC, to the second, RFC 3339 (`2026-01-01T10:20:30Z`).
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An optional text cell: `-` when absent or empty.
pub fn opt(s: &Option<String>) -> String {
    match s.as_deref() {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "-".to_owned(),
    }
}

/// A yes/no cell.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_trailing_spaces() {
        let mut t = Table::new(&["NAME", "SUMMARY", "MEMBERS"]);
        t.row(vec!["all".into(), "-".into(), "3".into()]);
        t.row(vec![
            "data-team".into(),
            "Data engineering".into(),
            "12".into(),
        ]);
        t.row(vec!["x".into(), String::new(), String::new()]);
        assert_eq!(
            t.render(false),
            "NAME       SUMMARY           MEMBERS\n\
             all        -                 3\n\
             data-team  Data engineering  12\n\
             x"
        );
    }

    #[test]
    fn tables_count_characters_not_bytes() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["aü".into(), "x".into()]);
        t.row(vec!["abc".into(), "y".into()]);
        assert_eq!(t.render(false), "A    B\naü   x\nabc  y");
    }

    #[test]
    fn cells_with_newlines_stay_on_one_line() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["a\nb".into(), "c".into()]);
        assert_eq!(t.render(false), "A        B\na\\u{a}b  c");
    }

    #[test]
    fn terminal_escapes_from_a_server_are_shown_not_obeyed() {
        assert_eq!(clean("plain ü text"), "plain ü text");
        assert_eq!(clean("\x1b[2J\x1b[31mred"), "\\u{1b}[2J\\u{1b}[31mred");
        assert_eq!(
            clean("ok\r\nAdded admin to group x"),
            "ok\\u{d}\\u{a}Added admin to group x"
        );
        assert_eq!(clean("\u{9b}31m"), "\\u{9b}31m", "C1 controls too");
        assert_eq!(clean("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        let out = Out {
            quiet: false,
            json: false,
            color: false,
        };
        assert_eq!(
            out.pairs(&[("Summary", "a\x1b]0;title\x07".into())]),
            "Summary: a\\u{1b}]0;title\\u{7}"
        );
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        let t = wmill_api::parse_timestamp("2026-01-01T10:20:30.123+02:00").unwrap();
        assert_eq!(time(&t), "2026-01-01T08:20:30Z");
    }

    #[test]
    fn pairs_align_keys() {
        let out = Out {
            quiet: false,
            json: false,
            color: false,
        };
        let s = out.pairs(&[("Name", "a".into()), ("Summary", "b".into())]);
        assert_eq!(s, "Name:    a\nSummary: b");
    }
}
