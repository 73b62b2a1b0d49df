//! Users and Groups as SCIM resources: what a request body makes of them, PATCH operations
//! applied to them, and their JSON with `meta` and an ETag.
//!
//! A PATCH is applied to the resource as read, in memory, in order, and the whole result is
//! written (if the resource is still what was read): a request whose last operation fails
//! changes nothing. Providers' habits accepted besides the RFC's forms:
//! - operation names in any case (`Replace`, Entra ID);
//! - booleans as strings (`"value": "False"`, Entra ID);
//! - `replace` without a path and a value object (`{"active": false}`, Okta), whose keys may
//!   be paths themselves (`"name.givenName"`) or an extension's URN;
//! - `remove` of members by a value list (`"path": "members", "value": [{"value": id}]`,
//!   Entra ID) as well as by a value filter (`members[value eq "id"]`, Okta);
//! - `add` of members already there, `remove` of members already gone: no error.
//!
//! Attributes of the core User schema this server does not keep (`title`, `addresses`,
//! `phoneNumbers`…) and the enterprise extension are accepted and ignored, as `Schemas`
//! declares only what is kept; a path naming anything else is refused with `invalidPath`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::filter::{self, CompareOp, Filter};
use super::{
    ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, MAX_MEMBERS, MAX_PATCH_OPERATIONS, MAX_TEXT_CHARS,
    PATCH_SCHEMA, ScimError, ScimResult, USER_SCHEMA,
};
use crate::store::{ScimGroupRow, ScimUserRow};

/// A User as it can be written: what the store keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDoc {
    pub user_name: String,
    /// The account's email (lowercased), `emails[primary]`.
    pub email: String,
    /// `displayName` and `name.formatted` (one stored value).
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    /// What happens to the password (never read back).
    pub password: PasswordChange,
}

/// A password change a User write asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Keep,
    /// This new password, in the clear until the service hashes it.
    Set(String),
    /// No password any more: the account signs in through single sign-on only.
    Remove,
}

impl UserDoc {
    /// The writable state of a stored account.
    pub fn from_row(r: &ScimUserRow) -> Self {
        UserDoc {
            user_name: r.user_name.clone().unwrap_or_else(|| r.email.clone()),
            email: r.email.clone(),
            display_name: r.name.clone(),
            given_name: r.given_name.clone(),
            family_name: r.family_name.clone(),
            external_id: r.external_id.clone(),
            active: !r.disabled,
            password: PasswordChange::Keep,
        }
    }
}

/// A Group as it can be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDoc {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member ids (Users' ids).
    pub members: BTreeSet<String>,
}

impl GroupDoc {
    pub fn from_row(r: &ScimGroupRow) -> Self {
        GroupDoc {
            display_name: r.display_name.clone(),
            external_id: r.external_id.clone(),
            members: r.members.iter().map(|(id, _)| id.clone()).collect(),
        }
    }
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidSyntax", detail)
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", detail)
}

/// A free-text attribute: a string (or null: none), without control characters.
fn text(name: &str, v: &Value) -> ScimResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            if s.chars().count() > MAX_TEXT_CHARS {
                return Err(invalid(format!(
                    "{name} is too long: at most {MAX_TEXT_CHARS} characters"
                )));
            }
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(invalid(format!(
                    "{name} must not contain control characters"
                )));
            }
            Ok(if s.is_empty() { None } else { Some(s.clone()) })
        }
        _ => Err(invalid(format!("{name} must be a string"))),
    }
}

fn required_text(name: &str, v: &Value) -> ScimResult<String> {
    text(name, v)?.ok_or_else(|| invalid(format!("{name} must not be empty")))
}

/// A boolean, also as the strings `"true"`/`"false"` in any case (Entra ID sends them).
fn boolean(name: &str, v: &Value) -> ScimResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(format!("{name} must be true or false"))),
    }
}

fn email(v: &Value) -> ScimResult<String> {
    let s = required_text("emails.value", v)?;
    crate::domain::Email::parse(&s)
        .map(|e| e.to_string())
        .map_err(|e| invalid(format!("emails.value: {}", e.public_text())))
}

/// The email a list of `emails` gives: the primary one, else the `work` one, else the first.
fn email_of_list(v: &Value) -> ScimResult<Option<String>> {
    let Value::Array(items) = v else {
        return Err(invalid("emails must be an array"));
    };
    if items.len() > 100 {
        return Err(invalid("emails: at most 100 values"));
    }
    let mut best: Option<(u8, &Value)> = None;
    for item in items {
        let Value::Object(o) = item else {
            return Err(invalid("each of emails must be an object with a value"));
        };
        let value = o
            .get("value")
            .ok_or_else(|| invalid("each of emails needs a value"))?;
        let rank = if o
            .get("primary")
            .map(|p| boolean("emails.primary", p))
            .transpose()?
            == Some(true)
        {
            3
        } else if o
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("work"))
        {
            2
        } else {
            1
        };
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, value));
        }
    }
    best.map(|(_, v)| email(v)).transpose()
}

/// Whether `schemas` (when present) names `schema`.
fn check_schemas(body: &Map<String, Value>, schema: &str) -> ScimResult<()> {
    match body.get("schemas") {
        Some(Value::Array(list)) => {
            if list
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema)))
            {
                Ok(())
            } else {
                Err(syntax(format!("schemas must include {schema}")))
            }
        }
        Some(_) => Err(syntax("schemas must be an array of schema URNs")),
        None => Err(syntax(format!(
            "schemas is missing: it must include {schema}"
        ))),
    }
}

fn object(body: &Value) -> ScimResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| syntax("the body must be a JSON object"))
}

/// Core User attributes this server does not keep: accepted and ignored.
const IGNORED_USER_ATTRIBUTES: [&str; 17] = [
    "nickname",
    "profileurl",
    "title",
    "usertype",
    "preferredlanguage",
    "locale",
    "timezone",
    "phonenumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509certificates",
    "groups",
    "schemas",
    "meta",
];

/// Sub-attributes of `name` this server does not keep.
const IGNORED_NAME_PARTS: [&str; 3] = ["middlename", "honorificprefix", "honorificsuffix"];

/// A POST or PUT body's User. `userName` is required; the email comes from `emails`, or is
/// the userName when that is an email.
pub fn parse_user(body: &Value) -> ScimResult<UserDoc> {
    let o = object(body)?;
    check_schemas(o, USER_SCHEMA)?;
    let mut doc = UserDoc {
        user_name: String::new(),
        email: String::new(),
        display_name: None,
        given_name: None,
        family_name: None,
        external_id: None,
        active: true,
        password: PasswordChange::Keep,
    };
    let mut email_given = None;
    let mut formatted = None;
    for (k, v) in o {
        match k.to_ascii_lowercase().as_str() {
            "username" => doc.user_name = required_text("userName", v)?,
            "displayname" => doc.display_name = text("displayName", v)?,
            "externalid" => doc.external_id = text("externalId", v)?,
            "active" => doc.active = boolean("active", v)?,
            "password" => {
                if let Some(p) = text("password", v)? {
                    doc.password = PasswordChange::Set(p);
                }
            }
            "emails" => email_given = email_of_list(v)?,
            "name" => match v {
                Value::Null => {}
                Value::Object(n) => {
                    for (nk, nv) in n {
                        match nk.to_ascii_lowercase().as_str() {
                            "givenname" => doc.given_name = text("name.givenName", nv)?,
                            "familyname" => doc.family_name = text("name.familyName", nv)?,
                            "formatted" => formatted = text("name.formatted", nv)?,
                            _ => {}
                        }
                    }
                }
                _ => return Err(invalid("name must be an object")),
            },
            // Read-only or not kept.
            _ => {}
        }
    }
    if doc.user_name.is_empty() {
        return Err(invalid("userName is required"));
    }
    if doc.display_name.is_none() {
        doc.display_name = formatted;
    }
    doc.email = match email_given {
        Some(e) => e,
        None => crate::domain::Email::parse(&doc.user_name)
            .map(|e| e.to_string())
            .map_err(|_| {
                invalid("an email is needed: give emails, or a userName that is an email address")
            })?,
    };
    Ok(doc)
}

/// A POST or PUT body's Group. `displayName` is required.
pub fn parse_group(body: &Value) -> ScimResult<GroupDoc> {
    let o = object(body)?;
    check_schemas(o, GROUP_SCHEMA)?;
    let mut doc = GroupDoc {
        display_name: String::new(),
        external_id: None,
        members: BTreeSet::new(),
    };
    for (k, v) in o {
        match k.to_ascii_lowercase().as_str() {
            "displayname" => doc.display_name = required_text("displayName", v)?,
            "externalid" => doc.external_id = text("externalId", v)?,
            "members" if !v.is_null() => doc.members = member_ids(v)?,
            _ => {}
        }
    }
    if doc.display_name.is_empty() {
        return Err(invalid("displayName is required"));
    }
    Ok(doc)
}

/// The ids of a `members` value: an array of `{"value": id}` (or one such object).
fn member_ids(v: &Value) -> ScimResult<BTreeSet<String>> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => return Err(invalid("members must be an array of {\"value\": id}")),
    };
    if items.len() > MAX_MEMBERS {
        return Err(ScimError::bad(
            "tooMany",
            format!("at most {MAX_MEMBERS} members in one request"),
        ));
    }
    let mut out = BTreeSet::new();
    for item in items {
        let id = item
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("each member needs a string value: the User's id"))?;
        if id.is_empty() || id.len() > 200 {
            return Err(invalid("a member's value must be a User's id"));
        }
        out.insert(id.to_string());
    }
    Ok(out)
}

/// One PATCH operation.
struct Op<'a> {
    kind: OpKind,
    path: Option<filter::PatchPath>,
    value: Option<&'a Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Add,
    Replace,
    Remove,
}

/// The operations of a PATCH body.
fn operations(body: &Value) -> ScimResult<Vec<Op<'_>>> {
    let o = object(body)?;
    check_schemas(o, PATCH_SCHEMA)?;
    let ops = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .ok_or_else(|| syntax("Operations is missing"))?;
    let Value::Array(list) = ops else {
        return Err(syntax("Operations must be an array"));
    };
    if list.is_empty() {
        return Err(syntax("Operations must not be empty"));
    }
    if list.len() > MAX_PATCH_OPERATIONS {
        return Err(ScimError::bad(
            "tooMany",
            format!("at most {MAX_PATCH_OPERATIONS} operations in one PATCH"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, op) in list.iter().enumerate() {
        let n = i + 1;
        let Value::Object(op) = op else {
            return Err(syntax(format!("operation {n} must be an object")));
        };
        let get = |k: &str| op.iter().find(|(key, _)| key.eq_ignore_ascii_case(k));
        let kind = match get("op").map(|(_, v)| v) {
            Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => OpKind::Add,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
            _ => {
                return Err(syntax(format!(
                    "operation {n}: op must be add, replace or remove"
                )));
            }
        };
        let path = match get("path").map(|(_, v)| v) {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(filter::parse_patch_path(p).map_err(|e| {
                ScimError::bad(e.scim_type.as_str(), format!("operation {n}: {}", e.detail))
            })?),
            Some(_) => return Err(syntax(format!("operation {n}: path must be a string"))),
        };
        let value = get("value").map(|(_, v)| v);
        if kind != OpKind::Remove && value.is_none() {
            return Err(syntax(format!("operation {n}: a value is needed")));
        }
        if kind == OpKind::Remove && path.is_none() {
            return Err(ScimError::bad(
                "noTarget",
                format!("operation {n}: remove needs a path"),
            ));
        }
        out.push(Op { kind, path, value });
    }
    Ok(out)
}

/// Whether `urn` (of a path) is one of the User's: core (kept) or enterprise (ignored).
fn user_urn(urn: &Option<String>) -> ScimResult<bool> {
    match urn {
        None => Ok(true),
        Some(u) if u.eq_ignore_ascii_case(USER_SCHEMA) => Ok(true),
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => Ok(false),
        Some(u) => Err(ScimError::bad(
            "invalidPath",
            format!("unknown schema {u} in a path"),
        )),
    }
}

/// Evaluates a value filter on one value (a map of its sub-attributes), in memory.
fn matches(f: &Filter, get: &dyn Fn(&str) -> Option<Value>) -> ScimResult<bool> {
    Ok(match f {
        Filter::And(a, b) => matches(a, get)? && matches(b, get)?,
        Filter::Or(a, b) => matches(a, get)? || matches(b, get)?,
        Filter::Not(a) => !matches(a, get)?,
        Filter::Present(p) => get(&p.key()).is_some_and(|v| !v.is_null()),
        Filter::ValuePath { .. } => {
            return Err(ScimError::bad(
                "invalidFilter",
                "a value filter cannot nest another",
            ));
        }
        Filter::Compare { path, op, value } => {
            let have = get(&path.key());
            match (have, value) {
                (Some(Value::String(h)), filter::Value::Str(w)) => {
                    let (h, w) = (h.to_lowercase(), w.to_lowercase());
                    match op {
                        CompareOp::Eq => h == w,
                        CompareOp::Ne => h != w,
                        CompareOp::Co => h.contains(&w),
                        CompareOp::Sw => h.starts_with(&w),
                        CompareOp::Ew => h.ends_with(&w),
                        CompareOp::Gt => h > w,
                        CompareOp::Ge => h >= w,
                        CompareOp::Lt => h < w,
                        CompareOp::Le => h <= w,
                    }
                }
                (Some(Value::Bool(h)), filter::Value::Bool(w)) => match op {
                    CompareOp::Eq => h == *w,
                    CompareOp::Ne => h != *w,
                    _ => {
                        return Err(ScimError::bad(
                            "invalidFilter",
                            format!("{} cannot compare booleans", op.as_str()),
                        ));
                    }
                },
                (None, filter::Value::Null) => *op == CompareOp::Eq,
                (Some(_), filter::Value::Null) => *op == CompareOp::Ne,
                (None, _) => *op == CompareOp::Ne,
                _ => false,
            }
        }
    })
}

/// Whether `k: v` of a path-less operation's value is the resource's own id, unchanged
/// (Okta sends it): nothing to do.
fn own_id(k: &str, v: &Value, id: &str) -> bool {
    k.eq_ignore_ascii_case("id") && v.as_str() == Some(id)
}

/// Applies PATCH `body` to `doc`, the User `id`.
pub fn patch_user(doc: &mut UserDoc, id: &str, body: &Value) -> ScimResult<()> {
    for op in operations(body)? {
        match &op.path {
            None => {
                let Some(Value::Object(values)) = op.value else {
                    return Err(invalid(
                        "an operation without a path needs an object of attributes as its value",
                    ));
                };
                for (k, v) in values {
                    // A key may be an extension's URN (its attributes are not kept) or a
                    // path itself (`name.givenName`, Okta and Entra ID send both).
                    if k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) || own_id(k, v, id) {
                        continue;
                    }
                    let path = filter::parse_patch_path(k)
                        .map_err(|e| ScimError::bad("invalidPath", format!("{k}: {}", e.detail)))?;
                    user_set(doc, op.kind, &path, Some(v))?;
                }
            }
            Some(path) => user_set(doc, op.kind, path, op.value)?,
        }
    }
    Ok(())
}

/// One PATCH operation on one User path.
fn user_set(
    doc: &mut UserDoc,
    kind: OpKind,
    path: &filter::PatchPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    if !user_urn(&path.attr.urn)? {
        return Ok(());
    }
    let attr = path.attr.attr.to_ascii_lowercase();
    let sub = path
        .attr
        .sub
        .as_deref()
        .or(path.sub.as_deref())
        .map(str::to_ascii_lowercase);
    let remove = kind == OpKind::Remove;
    let v = value.unwrap_or(&Value::Null);
    let text_of = |name: &str| -> ScimResult<Option<String>> {
        if remove { Ok(None) } else { text(name, v) }
    };
    match (attr.as_str(), sub.as_deref()) {
        ("username", None) => {
            if remove {
                return Err(ScimError::bad("mutability", "userName cannot be removed"));
            }
            doc.user_name = required_text("userName", v)?;
        }
        ("displayname", None) | ("name", Some("formatted")) => {
            doc.display_name = text_of(&path.attr.to_string())?
        }
        ("name", Some("givenname")) => doc.given_name = text_of("name.givenName")?,
        ("name", Some("familyname")) => doc.family_name = text_of("name.familyName")?,
        ("name", Some(p)) if IGNORED_NAME_PARTS.contains(&p) => {}
        ("name", None) => {
            if remove {
                doc.given_name = None;
                doc.family_name = None;
                return Ok(());
            }
            let Value::Object(n) = v else {
                return Err(invalid("name must be an object"));
            };
            for (nk, nv) in n {
                match nk.to_ascii_lowercase().as_str() {
                    "givenname" => doc.given_name = text("name.givenName", nv)?,
                    "familyname" => doc.family_name = text("name.familyName", nv)?,
                    "formatted" => doc.display_name = text("name.formatted", nv)?,
                    _ => {}
                }
            }
        }
        ("externalid", None) => doc.external_id = text_of("externalId")?,
        ("active", None) => {
            if remove {
                return Err(ScimError::bad("mutability", "active cannot be removed"));
            }
            doc.active = boolean("active", v)?;
        }
        ("password", None) => {
            doc.password = if remove {
                PasswordChange::Remove
            } else {
                PasswordChange::Set(required_text("password", v)?)
            };
        }
        ("emails", sub) => {
            if remove {
                return Err(ScimError::bad(
                    "mutability",
                    "the account's email cannot be removed",
                ));
            }
            // The one email matches a filter on type "work" or primary; another filter
            // names a value this account does not have.
            if let Some(f) = &path.filter {
                let current = doc.email.clone();
                let get = |k: &str| -> Option<Value> {
                    match k {
                        "value" => Some(json!(current)),
                        "type" => Some(json!("work")),
                        "primary" => Some(json!(true)),
                        _ => None,
                    }
                };
                if !matches(f, &get)? && kind == OpKind::Replace {
                    return Err(ScimError::bad(
                        "noTarget",
                        "the value filter matches none of the account's emails",
                    ));
                }
            }
            match sub {
                Some("value") => doc.email = email(v)?,
                Some("type" | "primary" | "display") => {}
                None if path.filter.is_some() => {
                    // `emails[type eq "work"]` with an object value.
                    if let Some(e) = v.get("value") {
                        doc.email = email(e)?;
                    }
                }
                None => {
                    if let Some(e) = email_of_list(&match v {
                        Value::Array(_) => v.clone(),
                        other => Value::Array(vec![other.clone()]),
                    })? {
                        doc.email = e;
                    }
                }
                Some(other) => {
                    return Err(ScimError::bad(
                        "invalidPath",
                        format!("emails has no sub-attribute {other}"),
                    ));
                }
            }
        }
        ("id", _) | ("meta", _) | ("schemas", _) => {
            return Err(ScimError::bad(
                "mutability",
                format!("{} is read-only", path.attr),
            ));
        }
        (a, _) if IGNORED_USER_ATTRIBUTES.contains(&a) => {}
        _ => {
            return Err(ScimError::bad(
                "invalidPath",
                format!("{} is not an attribute of Users", path.attr),
            ));
        }
    }
    Ok(())
}

/// Applies PATCH `body` to `doc`, the Group `id`.
pub fn patch_group(doc: &mut GroupDoc, id: &str, body: &Value) -> ScimResult<()> {
    for op in operations(body)? {
        match &op.path {
            None => {
                let Some(Value::Object(values)) = op.value else {
                    return Err(invalid(
                        "an operation without a path needs an object of attributes as its value",
                    ));
                };
                for (k, v) in values {
                    if own_id(k, v, id) {
                        continue;
                    }
                    let path = filter::parse_patch_path(k)
                        .map_err(|e| ScimError::bad("invalidPath", format!("{k}: {}", e.detail)))?;
                    group_set(doc, op.kind, &path, Some(v))?;
                }
            }
            Some(path) => group_set(doc, op.kind, path, op.value)?,
        }
    }
    Ok(())
}

fn group_set(
    doc: &mut GroupDoc,
    kind: OpKind,
    path: &filter::PatchPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    if let Some(u) = &path.attr.urn
        && !u.eq_ignore_ascii_case(GROUP_SCHEMA)
    {
        return Err(ScimError::bad(
            "invalidPath",
            format!("unknown schema {u} in a path"),
        ));
    }
    let attr = path.attr.attr.to_ascii_lowercase();
    let v = value.unwrap_or(&Value::Null);
    match attr.as_str() {
        "displayname" => {
            if kind == OpKind::Remove {
                return Err(ScimError::bad(
                    "mutability",
                    "displayName cannot be removed",
                ));
            }
            doc.display_name = required_text("displayName", v)?;
        }
        "externalid" => {
            doc.external_id = if kind == OpKind::Remove {
                None
            } else {
                text("externalId", v)?
            }
        }
        "members" => {
            let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
            if sub.is_some_and(|s| !s.eq_ignore_ascii_case("value")) && kind != OpKind::Remove {
                return Err(ScimError::bad(
                    "invalidPath",
                    "only members' value can be set: the User's id",
                ));
            }
            match (kind, &path.filter) {
                (OpKind::Remove, Some(f)) => {
                    let keep: BTreeSet<String> = doc
                        .members
                        .iter()
                        .filter(|id| {
                            let get = |k: &str| -> Option<Value> {
                                match k {
                                    "value" => Some(json!(id)),
                                    "type" => Some(json!("User")),
                                    _ => None,
                                }
                            };
                            !matches(f, &get).unwrap_or(false)
                        })
                        .cloned()
                        .collect();
                    // Refuse a filter that cannot be evaluated, rather than ignore it.
                    if let Some(id) = doc.members.iter().next() {
                        let get = |k: &str| -> Option<Value> { (k == "value").then(|| json!(id)) };
                        matches(f, &get)?;
                    }
                    doc.members = keep;
                }
                (OpKind::Remove, None) => match value {
                    // Entra ID: the members to remove as a value list.
                    Some(v) if !v.is_null() => {
                        for id in member_ids(v)? {
                            doc.members.remove(&id);
                        }
                    }
                    _ => doc.members.clear(),
                },
                (OpKind::Add, None) => {
                    doc.members.extend(member_ids(v)?);
                }
                (OpKind::Replace, None) => {
                    doc.members = if v.is_null() {
                        BTreeSet::new()
                    } else {
                        member_ids(v)?
                    };
                }
                (_, Some(f)) => {
                    // `replace` of `members[value eq "a"].value` by another id.
                    let target: Vec<String> = doc
                        .members
                        .iter()
                        .filter(|id| {
                            let get =
                                |k: &str| -> Option<Value> { (k == "value").then(|| json!(id)) };
                            matches(f, &get).unwrap_or(false)
                        })
                        .cloned()
                        .collect();
                    if target.is_empty() {
                        return Err(ScimError::bad(
                            "noTarget",
                            "the value filter matches no member",
                        ));
                    }
                    let new = match v {
                        Value::String(s) => BTreeSet::from([s.clone()]),
                        other => member_ids(other)?,
                    };
                    for t in target {
                        doc.members.remove(&t);
                    }
                    doc.members.extend(new);
                }
            }
            if doc.members.len() > MAX_MEMBERS {
                return Err(ScimError::bad(
                    "tooMany",
                    format!("a group has at most {MAX_MEMBERS} members through SCIM"),
                ));
            }
        }
        "id" | "meta" | "schemas" => {
            return Err(ScimError::bad(
                "mutability",
                format!("{} is read-only", path.attr),
            ));
        }
        _ => {
            return Err(ScimError::bad(
                "invalidPath",
                format!("{} is not an attribute of Groups", path.attr),
            ));
        }
    }
    Ok(())
}

/// RFC 3339 of a time in microseconds.
fn time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `W/"…"`: a digest of what identifies a version (never the request's host).
fn version_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("W/\"{hex}\"")
}

/// The version (ETag) of a User: a digest of everything its JSON shows.
pub fn user_version(r: &ScimUserRow) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "\u{0}".into());
    version_of(&[
        &r.scim_id,
        &r.email,
        &o(&r.user_name),
        &o(&r.name),
        &o(&r.given_name),
        &o(&r.family_name),
        &o(&r.external_id),
        if r.disabled { "0" } else { "1" },
        &r.modified_at.to_string(),
    ])
}

/// The version (ETag) of a Group read with its members.
pub fn group_version(r: &ScimGroupRow) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "\u{0}".into());
    let mut parts: Vec<String> = vec![
        r.id.clone(),
        r.display_name.clone(),
        o(&r.external_id),
        r.modified_at.to_string(),
    ];
    parts.extend(r.members.iter().map(|(id, _)| id.clone()));
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    version_of(&refs)
}

/// Puts `meta` into a rendered resource (with its version when known).
fn with_meta(
    mut v: Value,
    kind: &str,
    location: String,
    (created, modified): (i64, i64),
    version: Option<String>,
) -> Value {
    let mut meta = json!({
        "resourceType": kind,
        "created": time(created),
        "lastModified": time(modified),
        "location": location,
    });
    if let Some(t) = version {
        super::set(&mut meta, "version", json!(t));
    }
    super::set(&mut v, "meta", meta);
    v
}

/// A User's JSON; `base` is the SCIM root (`…/api/scim/v2`).
pub fn render_user(r: &ScimUserRow, base: &str) -> Value {
    let mut v = json!({
        "schemas": [USER_SCHEMA],
        "id": r.scim_id,
        "userName": r.user_name.as_deref().unwrap_or(&r.email),
        "emails": [{"value": r.email, "type": "work"}],
        "active": !r.disabled,
    });
    if let Some(e) = &r.external_id {
        crate::scim::set(&mut v, "externalId", json!(e));
    }
    if let Some(n) = &r.name {
        crate::scim::set(&mut v, "displayName", json!(n));
    }
    let mut name = Map::new();
    if let Some(n) = &r.given_name {
        name.insert("givenName".into(), json!(n));
    }
    if let Some(n) = &r.family_name {
        name.insert("familyName".into(), json!(n));
    }
    if !name.is_empty() {
        crate::scim::set(&mut v, "name", Value::Object(name));
    }
    with_meta(
        v,
        "User",
        format!("{base}/Users/{}", r.scim_id),
        (r.created_at, r.modified_at),
        Some(user_version(r)),
    )
}

/// A Group's JSON (members when the row holds them).
pub fn render_group(r: &ScimGroupRow, base: &str, members: bool) -> Value {
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": r.id,
        "displayName": r.display_name,
    });
    if let Some(e) = &r.external_id {
        crate::scim::set(&mut v, "externalId", json!(e));
    }
    if members {
        let list = r
            .members
            .iter()
            .map(|(id, _)| json!({"value": id, "type": "User", "$ref": format!("{base}/Users/{id}")}))
            .collect();
        super::set(&mut v, "members", Value::Array(list));
    }
    // Without its members, the version of a Group is not known: `meta.version` is left out.
    with_meta(
        v,
        "Group",
        format!("{base}/Groups/{}", r.id),
        (r.created_at, r.modified_at),
        members.then(|| group_version(r)),
    )
}

/// The ETag of a rendered resource.
pub fn etag(v: &Value) -> Option<&str> {
    v.get("meta")?.get("version")?.as_str()
}

/// Whether an `If-Match` / `If-None-Match` header value names `tag` (`*` names any).
pub fn tag_matches(header: &str, tag: &str) -> bool {
    let weakless = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header
        .split(',')
        .any(|t| t.trim() == "*" || weakless(t) == weakless(tag))
}

/// `attributes` / `excludedAttributes` applied to a rendered resource: `id`, `schemas` and
/// `meta` are always returned; names are case-insensitive, with an optional URN prefix and
/// one sub-attribute (`name.givenName`).
pub fn project(v: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(map) = v else { return v };
    let key = |a: &str| -> (String, Option<String>) {
        let a = a.trim();
        let lower = a.to_ascii_lowercase();
        let short = [USER_SCHEMA, GROUP_SCHEMA]
            .iter()
            .find_map(|u| lower.strip_prefix(&format!("{}:", u.to_ascii_lowercase())))
            .unwrap_or(&lower)
            .to_string();
        match short.split_once('.') {
            Some((a, s)) => (a.to_string(), Some(s.to_string())),
            None => (short, None),
        }
    };
    let always = ["id", "schemas", "meta"];
    let mut out = Map::new();
    for (k, val) in map {
        let lk = k.to_ascii_lowercase();
        if always.contains(&lk.as_str()) {
            out.insert(k, val);
            continue;
        }
        if !attributes.is_empty() {
            let wanted: Vec<Option<String>> = attributes
                .iter()
                .map(|a| key(a))
                .filter(|(a, _)| *a == lk)
                .map(|(_, s)| s)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            if wanted.iter().any(Option::is_none) {
                out.insert(k, val);
            } else if let Value::Object(sub) = val {
                let subs: Vec<String> = wanted.into_iter().flatten().collect();
                let kept: Map<String, Value> = sub
                    .into_iter()
                    .filter(|(sk, _)| subs.contains(&sk.to_ascii_lowercase()))
                    .collect();
                if !kept.is_empty() {
                    out.insert(k, Value::Object(kept));
                }
            } else if let Value::Array(items) = val {
                let subs: Vec<String> = wanted.into_iter().flatten().collect();
                let kept: Vec<Value> = items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(o) => Value::Object(
                            o.into_iter()
                                .filter(|(sk, _)| subs.contains(&sk.to_ascii_lowercase()))
                                .collect(),
                        ),
                        other => other,
                    })
                    .collect();
                out.insert(k, Value::Array(kept));
            }
            continue;
        }
        let dropped = excluded
            .iter()
            .map(|a| key(a))
            .any(|(a, s)| a == lk && s.is_none());
        if !dropped {
            out.insert(k, val);
        }
    }
    Value::Object(out)
}

/// Reads the `attributes`/`excludedAttributes` query values (comma-separated).
pub fn attribute_list(raw: Option<&str>) -> Vec<String> {
    raw.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// Whether an answer with these `attributes`/`excludedAttributes` carries Groups' members
/// (reading them is skipped otherwise).
pub fn wants_members(attributes: &[String], excluded: &[String]) -> bool {
    let prefix = format!("{}:", GROUP_SCHEMA.to_ascii_lowercase());
    let short = |a: &String| {
        let a = a.trim().to_ascii_lowercase();
        a.strip_prefix(&prefix).map(str::to_string).unwrap_or(a)
    };
    if !attributes.is_empty() {
        return attributes
            .iter()
            .map(short)
            .any(|a| a == "members" || a.starts_with("members."));
    }
    !excluded.iter().map(short).any(|a| a == "members")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserDoc {
        UserDoc {
            user_name: "ada@example.com".into(),
            email: "ada@example.com".into(),
            display_name: Some("Ada".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            external_id: None,
            active: true,
            password: PasswordChange::Keep,
        }
    }

    fn patch(ops: Value) -> Value {
        json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
    }

    #[test]
    fn okta_deactivation_without_a_path() {
        let mut u = user();
        patch_user(
            &mut u,
            "u1",
            &patch(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .unwrap();
        assert!(!u.active);
    }

    #[test]
    fn entra_string_booleans_and_capitalised_ops() {
        let mut u = user();
        patch_user(
            &mut u,
            "u1",
            &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .unwrap();
        assert!(!u.active);
        let e = patch_user(
            &mut u,
            "u1",
            &patch(json!([{"op": "Replace", "path": "active", "value": "nope"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
    }

    #[test]
    fn entra_email_and_name_paths() {
        let mut u = user();
        patch_user(
            &mut u,
            "u1",
            &patch(json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "Ada.K@Example.com"},
                {"op": "Replace", "path": "name.familyName", "value": "King"},
                {"op": "Add", "path": "title", "value": "Countess"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Math"},
            ])),
        )
        .unwrap();
        assert_eq!(u.email, "ada.k@example.com");
        assert_eq!(u.family_name.as_deref(), Some("King"));
    }

    #[test]
    fn a_failing_operation_is_an_error_and_unknown_paths_are_refused() {
        let mut u = user();
        let e = patch_user(
            &mut u,
            "u1",
            &patch(json!([{"op": "replace", "path": "nosuch", "value": 1}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidPath"));
        let e = patch_user(
            &mut u,
            "u1",
            &patch(json!([{"op": "remove", "path": "userName"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("mutability"));
        let e = patch_user(
            &mut u,
            "u1",
            &patch(json!([{"op": "move", "path": "userName"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        let e = patch_user(&mut u, "u1", &json!({"Operations": []})).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
    }

    #[test]
    fn group_members_by_list_and_by_filter() {
        let mut g = GroupDoc {
            display_name: "Eng".into(),
            external_id: None,
            members: BTreeSet::from(["a".to_string(), "b".to_string(), "c".to_string()]),
        };
        patch_group(
            &mut g,
            "g1",
            &patch(json!([
                {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
                {"op": "remove", "path": "members[value eq \"b\"]"},
                {"op": "add", "path": "members", "value": [{"value": "d", "display": "x"}, {"value": "c"}]},
                {"op": "replace", "value": {"id": "other", "displayName": "Engineering"}},
            ])),
        )
        .unwrap_err();
        // `id` is read-only: the whole PATCH is refused. With its own id (Okta):
        patch_group(
            &mut g,
            "g1",
            &patch(json!([
                {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
                {"op": "remove", "path": "members[value eq \"b\"]"},
                {"op": "add", "path": "members", "value": [{"value": "d", "display": "x"}, {"value": "c"}]},
                {"op": "replace", "value": {"id": "g1", "displayName": "Engineering"}},
            ])),
        )
        .unwrap();
        assert_eq!(
            g.members,
            BTreeSet::from(["c".to_string(), "d".to_string()])
        );
        assert_eq!(g.display_name, "Engineering");
    }

    #[test]
    fn projections_keep_id_schemas_and_meta() {
        let v = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "a", "active": true,
            "name": {"givenName": "A", "familyName": "B"}, "meta": {}});
        let p = project(
            v.clone(),
            &["userName".into(), "name.givenName".into()],
            &[],
        );
        assert_eq!(
            p,
            json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "a",
                "name": {"givenName": "A"}, "meta": {}})
        );
        let p = project(v, &[], &["active".into()]);
        assert!(p.get("active").is_none() && p.get("userName").is_some());
    }

    #[test]
    fn if_match_compares_weak_tags() {
        assert!(tag_matches("W/\"ab\"", "W/\"ab\""));
        assert!(tag_matches("\"ab\"", "W/\"ab\""));
        assert!(tag_matches("*", "W/\"ab\""));
        assert!(!tag_matches("W/\"ac\", W/\"ad\"", "W/\"ab\""));
    }
}
