//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed by hand-written
//! recursive descent into a [`Filter`] AST, then compiled by [`compile`] into a SQL fragment
//! with numbered placeholders (`$1, $2…`, the style of the whole store) and its [`Bind`]
//! values, for an [`AttrMap`] the caller gives.
//!
//! What is accepted:
//! - attribute paths with an optional schema URN prefix
//!   (`urn:ietf:params:scim:schemas:core:2.0:User:userName`) and one sub-attribute
//!   (`name.familyName`); attribute names are case-insensitive;
//! - the operators `eq ne co sw ew gt ge lt le` and `pr`, `and`, `or`, `not (…)`, all
//!   case-insensitive, with the RFC's precedence (`not` > `and` > `or`) and parentheses;
//! - value paths `emails[type eq "work" and value co "@x"]` (not nested);
//! - values: JSON strings (with JSON escapes), JSON numbers, `true`, `false`, `null`.
//!
//! Bounds: [`MAX_FILTER_LEN`] bytes, [`MAX_DEPTH`] levels of nesting, [`MAX_TERMS`]
//! comparisons. Every refusal is a [`FilterError`] with the SCIM `scimType` and a sentence
//! that names the (1-based, in characters) position and what was expected there.
//!
//! What reaches the SQL text: the caller's column expressions, fixed operator text and
//! placeholders. Values go to the binds, always.

use std::collections::BTreeMap;
use std::fmt;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not (…)` and value paths.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons (attribute expressions and value paths) in one filter.
pub const MAX_TERMS: usize = 64;

/// The SCIM error type (`scimType`) a refusal carries (RFC 7644 §3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    /// The filter syntax is invalid, or it uses what is not supported.
    InvalidFilter,
    /// A PATCH path is invalid or names what is not supported.
    InvalidPath,
}

impl ScimType {
    /// The `scimType` string of an error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::InvalidPath => "invalidPath",
        }
    }
}

/// A refused filter or path: answered with HTTP 400 and this `scimType` and `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct FilterError {
    /// `invalidFilter` or `invalidPath`.
    pub scim_type: ScimType,
    /// 1-based character position the error is at, when it is at one.
    pub position: Option<usize>,
    /// One sentence for the client.
    pub detail: String,
}

impl FilterError {
    fn at(scim_type: ScimType, position: usize, detail: String) -> Self {
        FilterError {
            scim_type,
            position: Some(position),
            detail,
        }
    }

    fn unsupported(detail: String) -> Self {
        FilterError {
            scim_type: ScimType::InvalidFilter,
            position: None,
            detail,
        }
    }
}

/// An attribute path: `[urn ":"] attr ["." sub]`, names as written (compare them with
/// [`AttrPath::key`], which is case-folded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN prefix, without the final `:`.
    pub urn: Option<String>,
    /// Attribute name.
    pub attr: String,
    /// Sub-attribute name.
    pub sub: Option<String>,
}

impl AttrPath {
    /// `attr` or `attr.sub`, lowercased: how attribute names compare.
    pub fn key(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{}", self.attr, s).to_ascii_lowercase(),
            None => self.attr.to_ascii_lowercase(),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        write!(f, "{}", self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// The operator of a word, case-insensitively (`pr` is not one: it takes no value).
    pub fn from_word(w: &str) -> Option<Self> {
        Some(match w.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    /// Its name in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A JSON string, unescaped.
    Str(String),
    /// A JSON number, as written (validated).
    Num(String),
    Bool(bool),
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `path pr`.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `path[filter]`: some value of the multi-valued `path` matches `filter`, whose paths
    /// are its sub-attributes.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH operation's `path` (RFC 7644 §3.5.2): `attrPath`, or `valuePath` with an
/// optional sub-attribute (`emails[type eq "work"].value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// The value filter in brackets.
    pub filter: Option<Filter>,
    /// The sub-attribute after the brackets.
    pub sub: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    /// Anything else up to whitespace or a delimiter: keyword, path, number, literal.
    Word(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position of its first character.
    pos: usize,
}

fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s.to_string()
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LParen => write!(f, "'('"),
            Tok::RParen => write!(f, "')'"),
            Tok::LBracket => write!(f, "'['"),
            Tok::RBracket => write!(f, "']'"),
            Tok::Str(s) => write!(f, "the string {}", shorten(&format!("{s:?}"))),
            Tok::Word(w) => write!(f, "'{}'", shorten(w)),
        }
    }
}

fn lex(input: &str, kind: ScimType) -> Result<(Vec<Token>, usize), FilterError> {
    let mut toks = Vec::new();
    let mut chars = input.chars().enumerate().peekable();
    let mut count = 0;
    while let Some((i, c)) = chars.next() {
        let pos = i + 1;
        count = pos;
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '"' => {
                let mut raw = String::from('"');
                let mut escaped = false;
                let mut closed = false;
                for (j, c) in chars.by_ref() {
                    count = j + 1;
                    raw.push(c);
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(FilterError::at(
                        kind,
                        pos,
                        format!("The string starting at position {pos} has no closing '\"'."),
                    ));
                }
                match serde_json::from_str::<String>(&raw) {
                    Ok(s) => Tok::Str(s),
                    Err(_) => {
                        return Err(FilterError::at(
                            kind,
                            pos,
                            format!(
                                "The string starting at position {pos} is not a valid JSON \
                                 string (a bad escape or a control character)."
                            ),
                        ));
                    }
                }
            }
            c => {
                let mut w = String::from(c);
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        break;
                    }
                    count = j + 1;
                    w.push(c);
                    chars.next();
                }
                Tok::Word(w)
            }
        };
        toks.push(Token { tok, pos });
    }
    Ok((toks, count + 1))
}

// ---------------------------------------------------------------------------------------
// Parser

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Position just past the input.
    end: usize,
    depth: usize,
    terms: usize,
    kind: ScimType,
}

/// Whether `s` is an attribute name: ALPHA *(ALPHA / DIGIT / "-" / "_"), or `$ref`.
fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic())
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether `w` is a JSON number.
fn is_json_number(w: &str) -> bool {
    let b = w.as_bytes();
    let mut i = 0;
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while digit(i) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digit(i) {
            return false;
        }
        while digit(i) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digit(i) {
            return false;
        }
        while digit(i) {
            i += 1;
        }
    }
    i == b.len()
}

const EXPECT_TERM: &str = "an attribute path, 'not (' or '('";
const EXPECT_OP: &str = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)";
const EXPECT_VALUE: &str =
    "a value (a JSON string in double quotes, a number, true, false or null)";

impl Parser {
    fn new(input: &str, kind: ScimType) -> Result<Self, FilterError> {
        if input.len() > MAX_FILTER_LEN {
            return Err(FilterError::at(
                kind,
                1,
                format!(
                    "The filter is {} bytes long; at most {MAX_FILTER_LEN} are accepted.",
                    input.len()
                ),
            ));
        }
        let (toks, end) = lex(input, kind)?;
        Ok(Parser {
            toks,
            i: 0,
            end,
            depth: 0,
            terms: 0,
            kind,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    /// "Expected X at position N, found Y."
    fn expected(&self, what: &str, found: Option<&Token>) -> FilterError {
        match found {
            Some(t) => FilterError::at(
                self.kind,
                t.pos,
                format!("Expected {what} at position {}, found {}.", t.pos, t.tok),
            ),
            None => FilterError::at(
                self.kind,
                self.end,
                format!(
                    "Expected {what} at position {}, found the end of the filter.",
                    self.end
                ),
            ),
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::at(
                self.kind,
                pos,
                format!(
                    "The filter nests deeper than {MAX_DEPTH} levels at position {pos}; \
                     simplify it."
                ),
            ));
        }
        Ok(())
    }

    fn close(&mut self, close: Tok, what: &str) -> Result<(), FilterError> {
        match self.next() {
            Some(t) if t.tok == close => {
                self.depth -= 1;
                Ok(())
            }
            t => {
                if t.is_some() {
                    self.i -= 1;
                }
                Err(self.expected(what, t.as_ref()))
            }
        }
    }

    /// or := and ("or" and)*
    fn or(&mut self, in_vp: bool) -> Result<Filter, FilterError> {
        let mut left = self.and(in_vp)?;
        while self.peek_keyword("or") {
            self.i += 1;
            let right = self.and(in_vp)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// and := unary ("and" unary)*
    fn and(&mut self, in_vp: bool) -> Result<Filter, FilterError> {
        let mut left = self.unary(in_vp)?;
        while self.peek_keyword("and") {
            self.i += 1;
            let right = self.unary(in_vp)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// unary := "not" "(" or ")" | "(" or ")" | term
    fn unary(&mut self, in_vp: bool) -> Result<Filter, FilterError> {
        let Some(t) = self.next() else {
            return Err(self.expected(EXPECT_TERM, None));
        };
        match t.tok {
            Tok::LParen => {
                self.enter(t.pos)?;
                let f = self.or(in_vp)?;
                self.close(
                    Tok::RParen,
                    &format!("'and', 'or' or ')' to close the '(' at position {}", t.pos),
                )?;
                Ok(f)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                let Some(p) = self.next() else {
                    return Err(self.expected("'(' after 'not'", None));
                };
                if p.tok != Tok::LParen {
                    self.i -= 1;
                    return Err(self.expected("'(' after 'not'", Some(&p)));
                }
                self.enter(p.pos)?;
                let f = self.or(in_vp)?;
                self.close(
                    Tok::RParen,
                    &format!("'and', 'or' or ')' to close the '(' at position {}", p.pos),
                )?;
                Ok(Filter::Not(Box::new(f)))
            }
            Tok::Word(w) => self.term(w, t.pos, in_vp),
            _ => {
                self.i -= 1;
                let t = self.peek().cloned();
                Err(self.expected(EXPECT_TERM, t.as_ref()))
            }
        }
    }

    fn attr_path(&self, w: &str, pos: usize, in_vp: bool) -> Result<AttrPath, FilterError> {
        let bad = |detail: String| FilterError::at(self.kind, pos, detail);
        let (urn, rest) = match w.rsplit_once(':') {
            Some((urn, rest)) => {
                let prefix: String = urn.chars().take(4).collect();
                if !prefix.eq_ignore_ascii_case("urn:") {
                    return Err(bad(format!(
                        "Expected an attribute path at position {pos}, found '{}' (a schema \
                         prefix must be a URN starting with 'urn:').",
                        shorten(w)
                    )));
                }
                if in_vp {
                    return Err(bad(format!(
                        "Expected a sub-attribute name inside '[…]' at position {pos}, found \
                         '{}' (no schema prefix there).",
                        shorten(w)
                    )));
                }
                (Some(urn.to_string()), rest)
            }
            None => (None, w),
        };
        let mut parts = rest.split('.');
        let attr = parts.next().unwrap_or_default();
        let sub = parts.next();
        let extra = parts.next();
        let valid = is_attr_name(attr) && sub.is_none_or(is_attr_name) && extra.is_none();
        if !valid {
            return Err(bad(format!(
                "Expected an attribute path (a name of letters, digits, '-' or '_' starting \
                 with a letter, with at most one '.sub-attribute') at position {pos}, found \
                 '{}'.",
                shorten(w)
            )));
        }
        if in_vp && sub.is_some() {
            return Err(bad(format!(
                "Expected a sub-attribute name inside '[…]' at position {pos}, found '{}' \
                 (no '.' there).",
                shorten(w)
            )));
        }
        Ok(AttrPath {
            urn,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// term := attrPath ("pr" | op value | "[" or "]")
    fn term(&mut self, w: String, pos: usize, in_vp: bool) -> Result<Filter, FilterError> {
        let path = self.attr_path(&w, pos, in_vp)?;
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(FilterError::at(
                self.kind,
                pos,
                format!(
                    "The filter has more than {MAX_TERMS} comparisons (the one at position \
                     {pos} is one too many)."
                ),
            ));
        }
        let Some(t) = self.next() else {
            return Err(self.expected(&format!("{EXPECT_OP} or '['"), None));
        };
        match t.tok {
            Tok::LBracket => {
                if in_vp {
                    return Err(FilterError::at(
                        self.kind,
                        t.pos,
                        format!(
                            "Expected an operator at position {}, found '[' (value paths \
                             cannot be nested).",
                            t.pos
                        ),
                    ));
                }
                if path.sub.is_some() {
                    return Err(FilterError::at(
                        self.kind,
                        t.pos,
                        format!(
                            "Expected an operator at position {}, found '[' (a value path \
                             is on an attribute, not on a sub-attribute).",
                            t.pos
                        ),
                    ));
                }
                self.enter(t.pos)?;
                let filter = self.or(true)?;
                self.close(
                    Tok::RBracket,
                    &format!("'and', 'or' or ']' to close the '[' at position {}", t.pos),
                )?;
                Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(filter),
                })
            }
            Tok::Word(ref op) if op.eq_ignore_ascii_case("pr") => Ok(Filter::Present(path)),
            Tok::Word(ref op) => match CompareOp::from_word(op) {
                Some(op) => {
                    let value = self.value()?;
                    Ok(Filter::Compare { path, op, value })
                }
                None => {
                    self.i -= 1;
                    Err(self.expected(&format!("{EXPECT_OP} after '{path}'"), Some(&t)))
                }
            },
            _ => {
                self.i -= 1;
                Err(self.expected(&format!("{EXPECT_OP} after '{path}'"), Some(&t)))
            }
        }
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let Some(t) = self.next() else {
            return Err(self.expected(EXPECT_VALUE, None));
        };
        match &t.tok {
            Tok::Str(s) => Ok(Value::Str(s.clone())),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Value::Null),
            Tok::Word(w) if is_json_number(w) => Ok(Value::Num(w.clone())),
            _ => {
                self.i -= 1;
                Err(self.expected(EXPECT_VALUE, Some(&t)))
            }
        }
    }
}

/// Parses a filter (the `filter` query parameter, or the body of a value path).
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input, ScimType::InvalidFilter)?;
    let f = p.or(false)?;
    if let Some(t) = p.peek().cloned() {
        return Err(p.expected("'and', 'or' or the end of the filter", Some(&t)));
    }
    Ok(f)
}

/// Parses a PATCH operation's `path`; refusals are `invalidPath`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input, ScimType::InvalidPath)?;
    let Some(t) = p.next() else {
        return Err(p.expected("an attribute path", None));
    };
    let Tok::Word(w) = &t.tok else {
        p.i -= 1;
        return Err(p.expected("an attribute path", Some(&t)));
    };
    let attr = p.attr_path(w, t.pos, false)?;
    let mut filter = None;
    let mut sub = None;
    if let Some(b) = p.peek().cloned()
        && b.tok == Tok::LBracket
    {
        p.i += 1;
        if attr.sub.is_some() {
            return Err(FilterError::at(
                p.kind,
                b.pos,
                format!(
                    "Expected the end of the path at position {}, found '[' (a value path is \
                     on an attribute, not on a sub-attribute).",
                    b.pos
                ),
            ));
        }
        p.enter(b.pos)?;
        filter = Some(p.or(true)?);
        p.close(
            Tok::RBracket,
            &format!("'and', 'or' or ']' to close the '[' at position {}", b.pos),
        )?;
        if let Some(t) = p.peek().cloned()
            && let Tok::Word(w) = &t.tok
            && let Some(name) = w.strip_prefix('.')
        {
            if !is_attr_name(name) {
                return Err(p.expected("'.' and a sub-attribute name", Some(&t)));
            }
            p.i += 1;
            sub = Some(name.to_string());
        }
    }
    if let Some(t) = p.peek().cloned() {
        return Err(p.expected("the end of the path", Some(&t)));
    }
    Ok(PatchPath { attr, filter, sub })
}

// ---------------------------------------------------------------------------------------
// Compilation to SQL

/// The database the SQL is for: the text differs only where the two disagree (case-exact
/// substring matches, string ordering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// A compiled filter: a boolean SQL expression and its binds (`binds[0]` is the first
/// placeholder given to [`compile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// How an attribute is stored, which decides the comparisons it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// A string compared case-insensitively (`caseExact: false`, the SCIM default).
    StringCaseInsensitive,
    /// A string compared exactly (`caseExact: true`, e.g. `id`).
    StringCaseExact,
    /// A boolean: `eq`, `ne`, `pr` only.
    Boolean,
    /// A dateTime stored as microseconds since the Unix epoch (an integer column); filter
    /// values are RFC 3339 strings.
    DateTimeMicros,
    /// An integer.
    Integer,
}

/// A mapped attribute: a SQL expression of the caller's and its type.
#[derive(Debug, Clone)]
pub struct Column {
    sql: String,
    ty: AttrType,
    nullable: bool,
    ops: Option<Vec<CompareOp>>,
}

impl Column {
    /// `sql` (e.g. `u.email`, `NOT u.disabled`) of type `ty`, possibly NULL. An expression
    /// other than a plain (qualified) column name is parenthesised.
    pub fn new(sql: impl Into<String>, ty: AttrType) -> Self {
        let sql: String = sql.into();
        let plain = sql
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        Column {
            sql: if plain { sql } else { format!("({sql})") },
            ty,
            nullable: true,
            ops: None,
        }
    }

    /// Never NULL: the SQL needs no NULL guards.
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    /// Allows only these comparison operators (`pr` is always allowed).
    pub fn only(mut self, ops: &[CompareOp]) -> Self {
        self.ops = Some(ops.to_vec());
        self
    }
}

#[derive(Debug, Clone)]
enum Mapping {
    Column(Column),
    /// A multi-valued attribute stored in rows of its own: `open` + condition + `close`
    /// is an `EXISTS (…)` over them; `sub` maps its sub-attributes.
    MultiValued {
        open: String,
        close: String,
        sub: AttrMap,
    },
}

/// The caller's mapping of SCIM attribute paths to SQL. Paths are case-insensitive; a path
/// with a schema URN must name one of the map's schemas.
///
/// A value path `emails[type eq "work"]` compiles, when `emails` is [multi-valued]
/// (`AttrMap::multi_valued`), to its `EXISTS` over the rows; otherwise to the filter on
/// the flattened paths (`emails.type eq "work"`), for attributes stored as columns.
#[derive(Debug, Clone, Default)]
pub struct AttrMap {
    schemas: Vec<String>,
    entries: BTreeMap<String, Mapping>,
}

impl AttrMap {
    /// An empty map for resources of these schema URNs.
    pub fn new(schemas: &[&str]) -> Self {
        AttrMap {
            schemas: schemas.iter().map(|s| s.to_ascii_lowercase()).collect(),
            entries: BTreeMap::new(),
        }
    }

    /// Maps `path` (`userName`, `name.givenName`, `emails.value`) to `column`.
    pub fn column(mut self, path: &str, column: Column) -> Self {
        self.entries
            .insert(path.to_ascii_lowercase(), Mapping::Column(column));
        self
    }

    /// Maps the multi-valued `attr` to rows of its own: `open` + condition + `close` must be
    /// a boolean SQL expression, typically `EXISTS (SELECT 1 FROM t WHERE t.owner = x.id
    /// AND ` … `)`; `sub` maps the sub-attributes (`value`, `type`) to columns of `t`.
    pub fn multi_valued(mut self, attr: &str, open: &str, close: &str, sub: AttrMap) -> Self {
        self.entries.insert(
            attr.to_ascii_lowercase(),
            Mapping::MultiValued {
                open: open.to_string(),
                close: close.to_string(),
                sub,
            },
        );
        self
    }
}

struct Compiler {
    dialect: Dialect,
    first: usize,
    binds: Vec<Bind>,
}

fn unsupported_attr(path: &AttrPath) -> FilterError {
    FilterError::unsupported(format!(
        "The attribute '{path}' cannot be used in filters here."
    ))
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes `*`, `?` and `[` for SQLite's case-sensitive `GLOB`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

impl Compiler {
    fn placeholder(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first + self.binds.len() - 1)
    }

    fn check_schema(&self, path: &AttrPath, map: &AttrMap) -> Result<(), FilterError> {
        match &path.urn {
            Some(u) if !map.schemas.contains(&u.to_ascii_lowercase()) => {
                Err(FilterError::unsupported(format!(
                    "The schema '{u}' of '{path}' is not one of this resource's."
                )))
            }
            _ => Ok(()),
        }
    }

    fn node(&mut self, f: &Filter, map: &AttrMap) -> Result<String, FilterError> {
        Ok(match f {
            Filter::And(a, b) => format!("({} AND {})", self.node(a, map)?, self.node(b, map)?),
            Filter::Or(a, b) => format!("({} OR {})", self.node(a, map)?, self.node(b, map)?),
            Filter::Not(a) => format!("NOT ({})", self.node(a, map)?),
            Filter::Present(path) => {
                self.check_schema(path, map)?;
                match self.lookup(path, map)? {
                    Target::Column(c) => present(c),
                    Target::Rows {
                        open,
                        close,
                        sub,
                        attr,
                    } => match attr {
                        None => format!("{open}1 = 1{close}"),
                        Some(a) => {
                            let inner = Filter::Present(a);
                            format!("{open}{}{close}", self.node(&inner, sub)?)
                        }
                    },
                }
            }
            Filter::Compare { path, op, value } => {
                self.check_schema(path, map)?;
                match self.lookup(path, map)? {
                    Target::Column(c) => self.compare(path, c, *op, value)?,
                    Target::Rows {
                        open,
                        close,
                        sub,
                        attr,
                    } => {
                        // A multi-valued attribute without a sub-attribute compares `value`.
                        let attr = attr.unwrap_or_else(|| AttrPath {
                            urn: None,
                            attr: "value".to_string(),
                            sub: None,
                        });
                        let inner = Filter::Compare {
                            path: attr,
                            op: *op,
                            value: value.clone(),
                        };
                        format!("{open}{}{close}", self.node(&inner, sub)?)
                    }
                }
            }
            Filter::ValuePath { path, filter } => {
                self.check_schema(path, map)?;
                match map.entries.get(&path.key()) {
                    Some(Mapping::MultiValued { open, close, sub }) => {
                        format!("{open}{}{close}", self.node(filter, sub)?)
                    }
                    _ => {
                        let flat = flatten(filter, path);
                        self.node(&flat, map)?
                    }
                }
            }
        })
    }

    fn lookup<'m>(&self, path: &AttrPath, map: &'m AttrMap) -> Result<Target<'m>, FilterError> {
        if let Some(Mapping::Column(c)) = map.entries.get(&path.key()) {
            return Ok(Target::Column(c));
        }
        match map.entries.get(&path.attr.to_ascii_lowercase()) {
            Some(Mapping::MultiValued { open, close, sub }) => Ok(Target::Rows {
                open,
                close,
                sub,
                attr: path.sub.as_ref().map(|s| AttrPath {
                    urn: None,
                    attr: s.clone(),
                    sub: None,
                }),
            }),
            _ => Err(unsupported_attr(path)),
        }
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        c: &Column,
        op: CompareOp,
        value: &Value,
    ) -> Result<String, FilterError> {
        use CompareOp::*;
        if let Some(ops) = &c.ops
            && !ops.contains(&op)
        {
            return Err(FilterError::unsupported(format!(
                "The operator '{}' is not supported on '{path}'.",
                op.as_str()
            )));
        }
        let col = &c.sql;
        if *value == Value::Null {
            return match op {
                Eq => Ok(format!("{col} IS NULL")),
                Ne => Ok(format!("{col} IS NOT NULL")),
                _ => Err(FilterError::unsupported(format!(
                    "'{path} {} null' is not a valid comparison: null only goes with eq and \
                     ne.",
                    op.as_str()
                ))),
            };
        }
        let sym = |op: CompareOp| match op {
            Eq => "=",
            Ne => "<>",
            Gt => ">",
            Ge => ">=",
            Lt => "<",
            Le => "<=",
            Co | Sw | Ew => "LIKE",
        };
        let mismatch = |what: &str| {
            FilterError::unsupported(format!(
                "'{path}' is {what}: '{path} {} …' does not apply to it.",
                op.as_str()
            ))
        };
        let cmp = match c.ty {
            AttrType::StringCaseInsensitive | AttrType::StringCaseExact => {
                let Value::Str(s) = value else {
                    return Err(FilterError::unsupported(format!(
                        "'{path}' is a string: compare it with a string in double quotes."
                    )));
                };
                let ci = c.ty == AttrType::StringCaseInsensitive;
                match op {
                    Co | Sw | Ew => {
                        let glob = !ci && self.dialect == Dialect::Sqlite;
                        let esc = if glob { glob_escape(s) } else { like_escape(s) };
                        let any = if glob { "*" } else { "%" };
                        let pattern = match op {
                            Co => format!("{any}{esc}{any}"),
                            Sw => format!("{esc}{any}"),
                            _ => format!("{any}{esc}"),
                        };
                        let p = self.placeholder(Bind::Text(pattern));
                        if glob {
                            format!("{col} GLOB {p}")
                        } else if ci {
                            format!("LOWER({col}) LIKE LOWER({p}) ESCAPE '\\'")
                        } else {
                            format!("{col} LIKE {p} ESCAPE '\\'")
                        }
                    }
                    _ => {
                        let p = self.placeholder(Bind::Text(s.clone()));
                        let (l, r) = if ci {
                            (format!("LOWER({col})"), format!("LOWER({p})"))
                        } else {
                            (col.clone(), p)
                        };
                        // Orderings byte-wise on both databases.
                        let collate = if matches!(op, Gt | Ge | Lt | Le)
                            && self.dialect == Dialect::Postgres
                        {
                            " COLLATE \"C\""
                        } else {
                            ""
                        };
                        format!("{l}{collate} {} {r}{collate}", sym(op))
                    }
                }
            }
            AttrType::Boolean => {
                let Value::Bool(b) = value else {
                    return Err(FilterError::unsupported(format!(
                        "'{path}' is a boolean: compare it with true or false."
                    )));
                };
                if !matches!(op, Eq | Ne) {
                    return Err(mismatch("a boolean (only eq, ne and pr apply)"));
                }
                let p = self.placeholder(Bind::Bool(*b));
                format!("{col} {} {p}", sym(op))
            }
            AttrType::DateTimeMicros => {
                if matches!(op, Co | Sw | Ew) {
                    return Err(mismatch("a dateTime (co, sw and ew do not apply)"));
                }
                let micros = match value {
                    Value::Str(s) => chrono::DateTime::parse_from_rfc3339(s)
                        .ok()
                        .map(|t| t.timestamp_micros()),
                    _ => None,
                };
                let Some(micros) = micros else {
                    return Err(FilterError::unsupported(format!(
                        "'{path}' is a dateTime: compare it with a string such as \
                         \"2024-05-01T12:00:00Z\"."
                    )));
                };
                let p = self.placeholder(Bind::Int(micros));
                format!("{col} {} {p}", sym(op))
            }
            AttrType::Integer => {
                if matches!(op, Co | Sw | Ew) {
                    return Err(mismatch("an integer (co, sw and ew do not apply)"));
                }
                let n = match value {
                    Value::Num(n) => n.parse::<i64>().ok(),
                    _ => None,
                };
                let Some(n) = n else {
                    return Err(FilterError::unsupported(format!(
                        "'{path}' is an integer: compare it with a whole number."
                    )));
                };
                let p = self.placeholder(Bind::Int(n));
                format!("{col} {} {p}", sym(op))
            }
        };
        // Every leaf is TRUE or FALSE, never NULL, so that `not (…)` means what it says.
        Ok(match (c.nullable, op) {
            (false, _) => cmp,
            (true, Ne) => format!("({col} IS NULL OR {cmp})"),
            (true, _) => format!("({col} IS NOT NULL AND {cmp})"),
        })
    }
}

enum Target<'m> {
    Column(&'m Column),
    Rows {
        open: &'m str,
        close: &'m str,
        sub: &'m AttrMap,
        attr: Option<AttrPath>,
    },
}

fn present(c: &Column) -> String {
    let col = &c.sql;
    let string = matches!(
        c.ty,
        AttrType::StringCaseInsensitive | AttrType::StringCaseExact
    );
    match (c.nullable, string) {
        (true, true) => format!("({col} IS NOT NULL AND {col} <> '')"),
        (false, true) => format!("{col} <> ''"),
        (true, false) => format!("{col} IS NOT NULL"),
        (false, false) => "1 = 1".to_string(),
    }
}

/// `filter` (inside `outer[…]`) with its paths made `outer.sub`.
fn flatten(filter: &Filter, outer: &AttrPath) -> Filter {
    let path = |p: &AttrPath| AttrPath {
        urn: outer.urn.clone(),
        attr: outer.attr.clone(),
        sub: Some(p.attr.clone()),
    };
    match filter {
        Filter::Compare { path: p, op, value } => Filter::Compare {
            path: path(p),
            op: *op,
            value: value.clone(),
        },
        Filter::Present(p) => Filter::Present(path(p)),
        Filter::And(a, b) => Filter::And(Box::new(flatten(a, outer)), Box::new(flatten(b, outer))),
        Filter::Or(a, b) => Filter::Or(Box::new(flatten(a, outer)), Box::new(flatten(b, outer))),
        Filter::Not(a) => Filter::Not(Box::new(flatten(a, outer))),
        // The parser refuses nested value paths.
        Filter::ValuePath { .. } => filter.clone(),
    }
}

/// Compiles `filter` for `map`: a boolean SQL expression whose placeholders are numbered
/// from `first_placeholder` (`$first`, `$first+1`, …), and their values. Refused with
/// `invalidFilter` when it names an unmapped attribute, or compares in a way its type or
/// mapping does not allow.
pub fn compile(
    filter: &Filter,
    map: &AttrMap,
    dialect: Dialect,
    first_placeholder: usize,
) -> Result<Compiled, FilterError> {
    let mut c = Compiler {
        dialect,
        first: first_placeholder,
        binds: Vec::new(),
    };
    let sql = c.node(filter, map)?;
    Ok(Compiled {
        sql,
        binds: c.binds,
    })
}

/// [`parse`] then [`compile`].
pub fn compile_str(
    input: &str,
    map: &AttrMap,
    dialect: Dialect,
    first_placeholder: usize,
) -> Result<Compiled, FilterError> {
    compile(&parse(input)?, map, dialect, first_placeholder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(attr: &str) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.to_string(),
            sub: None,
        }
    }

    fn cmp(attr: &str, op: CompareOp, v: Value) -> Filter {
        Filter::Compare {
            path: p(attr),
            op,
            value: v,
        }
    }

    fn s(v: &str) -> Value {
        Value::Str(v.to_string())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn err(input: &str) -> FilterError {
        parse(input).expect_err(input)
    }

    #[test]
    fn every_operator_case_insensitively() {
        for (w, op) in [
            ("eq", CompareOp::Eq),
            ("NE", CompareOp::Ne),
            ("Co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("eW", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("GE", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                parse(&format!("userName {w} \"x\"")).unwrap(),
                cmp("userName", op, s("x"))
            );
        }
        assert_eq!(parse("title PR").unwrap(), Filter::Present(p("title")));
    }

    #[test]
    fn provider_shapes() {
        assert_eq!(
            parse("userName eq \"a@b.c\"").unwrap(),
            cmp("userName", CompareOp::Eq, s("a@b.c"))
        );
        assert_eq!(
            parse("externalId eq \"00u1abcd-ef\"").unwrap(),
            cmp("externalId", CompareOp::Eq, s("00u1abcd-ef"))
        );
        assert_eq!(
            parse("displayName eq \"Group\"").unwrap(),
            cmp("displayName", CompareOp::Eq, s("Group"))
        );
        assert_eq!(
            parse("members[value eq \"id\"]").unwrap(),
            Filter::ValuePath {
                path: p("members"),
                filter: Box::new(cmp("value", CompareOp::Eq, s("id")))
            }
        );
    }

    #[test]
    fn precedence_and_parentheses() {
        let (a, b, c) = (
            cmp("a", CompareOp::Eq, Value::Num("1".into())),
            cmp("b", CompareOp::Eq, Value::Num("2".into())),
            cmp("c", CompareOp::Eq, Value::Num("3".into())),
        );
        // and binds tighter than or, on either side.
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3").unwrap(),
            or(a.clone(), and(b.clone(), c.clone()))
        );
        assert_eq!(
            parse("a eq 1 AND b eq 2 OR c eq 3").unwrap(),
            or(and(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            parse("a eq 1 and (b eq 2 or c eq 3)").unwrap(),
            and(a.clone(), or(b.clone(), c.clone()))
        );
        // left-associative
        assert_eq!(
            parse("a eq 1 or b eq 2 or c eq 3").unwrap(),
            or(or(a.clone(), b.clone()), c.clone())
        );
        // not applies to its parentheses only, and binds tighter than and.
        assert_eq!(
            parse("not (a eq 1) and b eq 2").unwrap(),
            and(Filter::Not(Box::new(a.clone())), b.clone())
        );
        assert_eq!(
            parse("NOT(a eq 1 or b eq 2)").unwrap(),
            Filter::Not(Box::new(or(a.clone(), b.clone())))
        );
        assert_eq!(parse("((a eq 1))").unwrap(), a);
    }

    #[test]
    fn paths_urns_and_value_paths() {
        assert_eq!(
            parse("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw \"O'\"").unwrap(),
            Filter::Compare {
                path: AttrPath {
                    urn: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                    attr: "name".into(),
                    sub: Some("familyName".into())
                },
                op: CompareOp::Sw,
                value: s("O'")
            }
        );
        assert_eq!(
            parse("emails[type eq \"work\" and value co \"@x\"]").unwrap(),
            Filter::ValuePath {
                path: p("emails"),
                filter: Box::new(and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Co, s("@x"))
                ))
            }
        );
        assert_eq!(
            parse("userType eq \"Employee\" and emails[type eq \"work\" or not (value pr)]")
                .unwrap(),
            and(
                cmp("userType", CompareOp::Eq, s("Employee")),
                Filter::ValuePath {
                    path: p("emails"),
                    filter: Box::new(or(
                        cmp("type", CompareOp::Eq, s("work")),
                        Filter::Not(Box::new(Filter::Present(p("value"))))
                    ))
                }
            )
        );
        assert_eq!(p("userName").key(), "username");
        assert_eq!(
            parse_patch_path("emails[type eq \"work\"].value").unwrap(),
            PatchPath {
                attr: p("emails"),
                filter: Some(cmp("type", CompareOp::Eq, s("work"))),
                sub: Some("value".into())
            }
        );
        assert_eq!(
            parse_patch_path("members[value eq \"2819c223\"]").unwrap(),
            PatchPath {
                attr: p("members"),
                filter: Some(cmp("value", CompareOp::Eq, s("2819c223"))),
                sub: None
            }
        );
        let e = parse_patch_path("emails[type eq \"work\"]value").unwrap_err();
        assert_eq!(e.scim_type, ScimType::InvalidPath);
    }

    #[test]
    fn literals_and_escapes() {
        assert_eq!(
            parse(r#"x eq "a\"b\\c\n\u00e9\ud83d\ude00/""#).unwrap(),
            cmp("x", CompareOp::Eq, s("a\"b\\c\né😀/"))
        );
        assert_eq!(
            parse("x eq TRUE").unwrap(),
            cmp("x", CompareOp::Eq, Value::Bool(true))
        );
        assert_eq!(
            parse("x eq false").unwrap(),
            cmp("x", CompareOp::Eq, Value::Bool(false))
        );
        assert_eq!(
            parse("x ne null").unwrap(),
            cmp("x", CompareOp::Ne, Value::Null)
        );
        for n in ["0", "-1", "3.25", "1e10", "-0.5E-3"] {
            assert_eq!(
                parse(&format!("x gt {n}")).unwrap(),
                cmp("x", CompareOp::Gt, Value::Num(n.into()))
            );
        }
        for n in ["01", "1.", ".5", "+1", "1e", "0x10", "--1"] {
            let e = err(&format!("x gt {n}"));
            assert!(e.detail.contains("Expected a value"), "{n}: {e:?}");
        }
        // Delimiters inside strings are just characters.
        assert_eq!(
            parse(r#"x eq "(a] and [b) or""#).unwrap(),
            cmp("x", CompareOp::Eq, s("(a] and [b) or"))
        );
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let e = err("userName eq");
        assert_eq!(e.scim_type, ScimType::InvalidFilter);
        assert_eq!(e.position, Some(12));
        assert_eq!(
            e.detail,
            "Expected a value (a JSON string in double quotes, a number, true, false or null) \
             at position 12, found the end of the filter."
        );
        let e = err("userName foo \"x\"");
        assert_eq!(e.position, Some(10));
        assert!(e.detail.starts_with("Expected an operator"), "{e:?}");
        assert!(e.detail.contains("found 'foo'"), "{e:?}");
        let e = err("(a eq 1");
        assert_eq!(
            e.detail,
            "Expected 'and', 'or' or ')' to close the '(' at position 1 at position 8, found \
             the end of the filter."
        );
        let e = err("a eq 1 b eq 2");
        assert_eq!(e.position, Some(8));
        assert!(
            e.detail.contains("'and', 'or' or the end of the filter"),
            "{e:?}"
        );
        let e = err("not a eq 1");
        assert!(
            e.detail
                .starts_with("Expected '(' after 'not' at position 5"),
            "{e:?}"
        );
        let e = err("a eq \"open");
        assert_eq!(
            e.detail,
            "The string starting at position 6 has no closing '\"'."
        );
        let e = err(r#"a eq "\q""#);
        assert!(e.detail.contains("not a valid JSON string"), "{e:?}");
        let e = err("emails[value[type eq 1]]");
        assert!(e.detail.contains("cannot be nested"), "{e:?}");
        let e = err("emails[a.b eq 1]");
        assert!(e.detail.contains("inside '[…]'"), "{e:?}");
        let e = err("1abc eq 1");
        assert!(e.detail.starts_with("Expected an attribute path"), "{e:?}");
        let e = err("foo:bar eq 1");
        assert!(e.detail.contains("urn:"), "{e:?}");
        let e = err("");
        assert_eq!(
            e.detail,
            "Expected an attribute path, 'not (' or '(' at position 1, found the end of the \
             filter."
        );
        let e = err("a.b.c eq 1");
        assert_eq!(e.position, Some(1));
        // The unicode position is in characters.
        let e = err("x eq \"é\" y");
        assert_eq!(e.position, Some(10));
    }

    #[test]
    fn bounds() {
        let long = format!("x eq \"{}\"", "a".repeat(MAX_FILTER_LEN));
        assert!(err(&long).detail.contains("at most 4096"));
        let deep = format!("{}a eq 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&deep).is_ok());
        let deeper = format!(
            "{}a eq 1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let e = err(&deeper);
        assert!(e.detail.contains("deeper than 32"), "{e:?}");
        assert_eq!(e.position, Some(33));
        let nots = format!(
            "{}a pr{}",
            "not (".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(err(&nots).detail.contains("deeper than 32"));
        let terms = |n: usize| vec!["a eq 1"; n].join(" or ");
        assert!(parse(&terms(MAX_TERMS)).is_ok());
        assert!(
            err(&terms(MAX_TERMS + 1))
                .detail
                .contains("more than 64 comparisons")
        );
    }

    fn user_map() -> AttrMap {
        let e = AttrMap::new(&[])
            .column(
                "value",
                Column::new("e.value", AttrType::StringCaseInsensitive).not_null(),
            )
            .column(
                "type",
                Column::new("e.type", AttrType::StringCaseInsensitive),
            );
        AttrMap::new(&["urn:ietf:params:scim:schemas:core:2.0:User"])
            .column(
                "id",
                Column::new("u.id", AttrType::StringCaseExact).not_null(),
            )
            .column(
                "userName",
                Column::new("u.user_name", AttrType::StringCaseInsensitive).not_null(),
            )
            .column(
                "externalId",
                Column::new("u.external_id", AttrType::StringCaseExact),
            )
            .column(
                "name.givenName",
                Column::new("u.given_name", AttrType::StringCaseInsensitive),
            )
            .column(
                "active",
                Column::new("NOT u.disabled", AttrType::Boolean).not_null(),
            )
            .column(
                "meta.lastModified",
                Column::new("u.updated_at", AttrType::DateTimeMicros).not_null(),
            )
            .column(
                "loginCount",
                Column::new("u.login_count", AttrType::Integer),
            )
            .column(
                "displayName",
                Column::new("u.display_name", AttrType::StringCaseInsensitive)
                    .only(&[CompareOp::Eq]),
            )
            .multi_valued(
                "emails",
                "EXISTS (SELECT 1 FROM emails e WHERE e.user_id = u.id AND ",
                ")",
                e,
            )
    }

    fn sql(f: &str, d: Dialect) -> Compiled {
        compile_str(f, &user_map(), d, 3).unwrap_or_else(|e| panic!("{f}: {e:?}"))
    }

    #[test]
    fn compiles_to_exact_sql() {
        let c = sql("userName eq \"Bjensen\"", Dialect::Sqlite);
        assert_eq!(c.sql, "LOWER(u.user_name) = LOWER($3)");
        assert_eq!(c.binds, vec![Bind::Text("Bjensen".into())]);

        let c = sql(
            "externalId co \"50%_\\\\\" and not (active eq true) or meta.lastModified gt \"2024-01-01T00:00:00Z\"",
            Dialect::Postgres,
        );
        assert_eq!(
            c.sql,
            "(((u.external_id IS NOT NULL AND u.external_id LIKE $3 ESCAPE '\\') AND NOT ((NOT u.disabled) = $4)) OR u.updated_at > $5)"
        );
        assert_eq!(
            c.binds,
            vec![
                Bind::Text("%50\\%\\_\\\\%".into()),
                Bind::Bool(true),
                Bind::Int(1_704_067_200_000_000)
            ]
        );
        // Case-exact substring on SQLite: GLOB, its metacharacters bracketed.
        let c = sql("externalId sw \"a*?[\"", Dialect::Sqlite);
        assert_eq!(
            c.sql,
            "(u.external_id IS NOT NULL AND u.external_id GLOB $3)"
        );
        assert_eq!(c.binds, vec![Bind::Text("a[*][?][[]*".into())]);

        let c = sql(
            "name.givenName ne \"x\" and USERNAME ew \"@x.org\"",
            Dialect::Sqlite,
        );
        assert_eq!(
            c.sql,
            "((u.given_name IS NULL OR LOWER(u.given_name) <> LOWER($3)) AND LOWER(u.user_name) LIKE LOWER($4) ESCAPE '\\')"
        );
        assert_eq!(
            c.binds,
            vec![Bind::Text("x".into()), Bind::Text("%@x.org".into())]
        );

        let c = sql(
            "emails[type eq \"work\" and value co \"@x\"]",
            Dialect::Sqlite,
        );
        assert_eq!(
            c.sql,
            "EXISTS (SELECT 1 FROM emails e WHERE e.user_id = u.id AND ((e.type IS NOT NULL AND LOWER(e.type) = LOWER($3)) AND LOWER(e.value) LIKE LOWER($4) ESCAPE '\\'))"
        );
        let c = sql("emails.value sw \"a\" or emails pr", Dialect::Sqlite);
        assert_eq!(
            c.sql,
            "(EXISTS (SELECT 1 FROM emails e WHERE e.user_id = u.id AND LOWER(e.value) LIKE LOWER($3) ESCAPE '\\') OR EXISTS (SELECT 1 FROM emails e WHERE e.user_id = u.id AND 1 = 1))"
        );
        let c = sql("userName gt \"m\"", Dialect::Postgres);
        assert_eq!(
            c.sql,
            "LOWER(u.user_name) COLLATE \"C\" > LOWER($3) COLLATE \"C\""
        );
        let c = sql(
            "externalId eq null and name.givenName pr and loginCount ge 3",
            Dialect::Sqlite,
        );
        assert_eq!(
            c.sql,
            "((u.external_id IS NULL AND (u.given_name IS NOT NULL AND u.given_name <> '')) AND (u.login_count IS NOT NULL AND u.login_count >= $3))"
        );
        assert_eq!(c.binds, vec![Bind::Int(3)]);
        let c = sql(
            "urn:ietf:params:scim:schemas:core:2.0:User:id eq \"ID\"",
            Dialect::Sqlite,
        );
        assert_eq!(c.sql, "u.id = $3");
    }

    #[test]
    fn compile_refusals() {
        for (f, needle) in [
            ("nickName eq \"x\"", "'nickName' cannot be used"),
            ("name.familyName eq \"x\"", "cannot be used"),
            ("active gt true", "a boolean"),
            ("active eq \"true\"", "compare it with true or false"),
            ("userName eq 1", "a string"),
            ("meta.lastModified co \"2024\"", "a dateTime"),
            ("meta.lastModified gt \"yesterday\"", "a dateTime"),
            ("loginCount eq 1.5", "an integer"),
            ("loginCount sw 1", "an integer"),
            (
                "displayName co \"x\"",
                "'co' is not supported on 'displayName'",
            ),
            ("userName gt null", "null only goes with eq and ne"),
            ("urn:x:Group:displayName eq \"x\"", "schema 'urn:x:Group'"),
            ("emails[primary eq true]", "'primary' cannot be used"),
        ] {
            let e = compile_str(f, &user_map(), Dialect::Sqlite, 1).expect_err(f);
            assert_eq!(e.scim_type, ScimType::InvalidFilter);
            assert!(e.detail.contains(needle), "{f}: {e:?}");
        }
    }

    #[test]
    fn hostile_values_reach_only_the_binds() {
        let hostile = [
            "x' OR 1=1 --",
            "'; DROP TABLE users; --",
            "\\' OR '1'='1",
            "$1",
            "%",
            "\u{0}",
        ];
        for v in hostile {
            let lit = serde_json::to_string(v).unwrap();
            for op in ["eq", "ne", "co", "sw", "ew", "gt"] {
                for attr in ["userName", "externalId", "emails.value"] {
                    for d in [Dialect::Sqlite, Dialect::Postgres] {
                        let c =
                            compile_str(&format!("{attr} {op} {lit}"), &user_map(), d, 1).unwrap();
                        assert!(!c.sql.contains(v) || v == "%" || v == "$1", "{}", c.sql);
                        assert!(
                            !c.sql.contains("DROP") && !c.sql.contains("1=1"),
                            "{}",
                            c.sql
                        );
                        assert!(c.binds.iter().any(|b| matches!(b, Bind::Text(t) if t.contains(v.trim_start_matches('\\')) || t.contains(&like_escape(v)))));
                    }
                }
            }
        }
    }

    /// The SQL text of a compiled filter is made only of these: the map's expressions, fixed
    /// keywords, punctuation and placeholders.
    fn sql_is_from_fixed_text(sql: &str) -> bool {
        let mut rest = sql.to_string();
        for fixed in [
            "EXISTS (SELECT 1 FROM emails e WHERE e.user_id = u.id AND ",
            "(NOT u.disabled)",
            "ESCAPE '\\'",
            "COLLATE \"C\"",
            "<> ''",
        ] {
            rest = rest.replace(fixed, " ");
        }
        rest.split(|c: char| c.is_whitespace() || "()".contains(c))
            .all(|w| {
                w.is_empty()
                    || w.starts_with('$') && w[1..].chars().all(|c| c.is_ascii_digit())
                    || [
                        "u.id",
                        "u.user_name",
                        "u.external_id",
                        "u.given_name",
                        "u.updated_at",
                        "u.login_count",
                        "u.display_name",
                        "e.value",
                        "e.type",
                        "LOWER",
                        "LIKE",
                        "GLOB",
                        "AND",
                        "OR",
                        "NOT",
                        "IS",
                        "NULL",
                        "=",
                        "<>",
                        ">",
                        ">=",
                        "<",
                        "<=",
                        "1",
                        "EXISTS",
                    ]
                    .contains(&w)
            })
    }

    const TOKENS: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        " ",
        "and",
        "or",
        "not",
        "pr",
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "userName",
        "emails",
        "value",
        "type",
        "name.givenName",
        "active",
        "meta.lastModified",
        "loginCount",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        ".",
        ":",
        "\"x' OR 1=1 --\"",
        "\"",
        "\\",
        "\"\\u0000\"",
        "true",
        "false",
        "null",
        "42",
        "-1.5e3",
        "\"2024-01-01T00:00:00Z\"",
        "é",
        "😀",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn random_strings_never_panic(input in ".{0,200}") {
            if let Ok(f) = parse(&input) {
                for d in [Dialect::Sqlite, Dialect::Postgres] {
                    if let Ok(c) = compile(&f, &user_map(), d, 1) {
                        prop_assert!(sql_is_from_fixed_text(&c.sql), "{}", c.sql);
                    }
                }
            }
            let _ = parse_patch_path(&input);
        }

        #[test]
        fn token_soups_never_panic(
            idx in proptest::collection::vec(0..TOKENS.len(), 0..40),
            spaces in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut input = String::new();
            for (k, i) in idx.iter().enumerate() {
                input.push_str(TOKENS[*i]);
                if spaces[k] {
                    input.push(' ');
                }
            }
            match parse(&input) {
                Ok(f) => {
                    for d in [Dialect::Sqlite, Dialect::Postgres] {
                        if let Ok(c) = compile(&f, &user_map(), d, 1) {
                            prop_assert!(sql_is_from_fixed_text(&c.sql), "{input}: {}", c.sql);
                            prop_assert!(!c.sql.contains("1=1"));
                        }
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e.scim_type, ScimType::InvalidFilter);
                    prop_assert!(e.detail.ends_with('.'));
                }
            }
            let _ = parse_patch_path(&input);
        }

        #[test]
        fn generated_comparisons_parse_and_bind_their_value(
            attr in prop::sample::select(vec!["userName", "externalId", "name.givenName", "emails.value"]),
            op in prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
            v in ".{0,30}",
        ) {
            let f = format!("{attr} {op} {}", serde_json::to_string(&v).unwrap());
            let c = compile_str(&f, &user_map(), Dialect::Postgres, 1).unwrap();
            prop_assert!(sql_is_from_fixed_text(&c.sql), "{}", c.sql);
            prop_assert_eq!(c.binds.len(), 1);
        }
    }
}
