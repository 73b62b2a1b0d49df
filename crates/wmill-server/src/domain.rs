//! Validated identifiers and strings, parsed once at the edge: emails, workspace ids,
//! usernames, group names, passwords and free text. Each parser returns a `BadRequest`
//! whose sentence names the field and says what is wrong.

use std::fmt;

use crate::error::{Error, Result};

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// An email address, trimmed and lowercased.
    Email
);
string_newtype!(
    /// A workspace id: `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 50 characters, not `global`.
    WorkspaceId
);
string_newtype!(
    /// A username within the instance: letters, digits and `_`.
    Username
);
string_newtype!(
    /// A group name: `^[A-Za-z0-9_-]+$`, at most 50 characters.
    GroupName
);

/// A workspace id, as the API documents it (also at most 50 characters, and not `global`).
pub const WORKSPACE_ID_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";
/// A username a person chooses (at most 50 characters).
pub const USERNAME_PATTERN: &str = "^[a-zA-Z][a-zA-Z0-9_]*$";
/// A username a person may give when adding a member: empty means "derive it".
pub const OPTIONAL_USERNAME_PATTERN: &str = "^([a-zA-Z][a-zA-Z0-9_]*)?$";
/// A group name (at most 50 characters).
pub const GROUP_NAME_PATTERN: &str = "^[A-Za-z0-9_-]+$";
/// Free text (names, summaries, labels): no control characters but tab and newline.
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$";
/// A workspace's display name: no control characters, and not only white space (Unicode's
/// White_Space, which is what Rust's `trim` removes).
pub const WORKSPACE_NAME_PATTERN: &str = concat!(
    "^[^\\u0000-\\u001f\\u007f-\\u009f]*",
    "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
    "[^\\u0000-\\u001f\\u007f-\\u009f]*$"
);
/// Longest email, in characters.
pub const EMAIL_MAX_CHARS: usize = 255;
/// Longest password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 1024;

/// Shortens user input for inclusion in an error sentence.
pub fn quote(s: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    format!("{out:?}")
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

impl Email {
    /// Trims, lowercases and NFC-normalises `s` and checks that it looks like
    /// `local@domain`. Characters that display as nothing or reorder text (zero-width,
    /// bidirectional controls, other format characters), characters outside Unicode's
    /// general security profile, and parts that mix scripts (a Cyrillic `а` in a Latin name)
    /// are refused: two addresses that look alike are one address or an error, never two
    /// accounts.
    pub fn parse(s: &str) -> Result<Self> {
        use unicode_normalization::UnicodeNormalization;
        use unicode_security::{GeneralSecurityProfile, MixedScript};

        let e: String = s.trim().to_lowercase().nfc().collect();
        let bad = |why: &str| {
            Err(Error::BadRequest(format!(
                "invalid email {}: {why}",
                quote(s)
            )))
        };
        if e.is_empty() {
            return Err(Error::BadRequest("email must not be empty".into()));
        }
        if e.chars().count() > EMAIL_MAX_CHARS {
            return bad("it is longer than 255 characters");
        }
        let Some((local, domain)) = e.split_once('@') else {
            return bad("it must look like name@example.com");
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return bad("it must look like name@example.com");
        }
        if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("it contains spaces or control characters");
        }
        if e.chars().any(|c| !c.is_ascii() && !c.identifier_allowed()) {
            return bad(
                "it contains an invisible, direction-changing or otherwise unsafe character",
            );
        }
        // RFC 5322's specials outside a quoted local part (which is not supported); the
        // domain is a host name, which takes none of the local part's symbols either.
        const SPECIALS: &[char] = &['\\', '"', '(', ')', ',', ':', ';', '<', '>', '[', ']'];
        const NOT_IN_DOMAIN: &[char] = &[
            '!', '#', '$', '%', '&', '\'', '*', '+', '/', '=', '?', '^', '`', '{', '|', '}', '~',
        ];
        if e.contains(SPECIALS) || domain.contains(NOT_IN_DOMAIN) {
            return bad("it contains a character not allowed in an address");
        }
        if domain.starts_with(['.', '-']) || domain.ends_with(['.', '-']) || domain.contains("..") {
            return bad("its domain is not valid");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return bad("its name part is not valid");
        }
        if !local.is_single_script() || domain.split('.').any(|label| !label.is_single_script()) {
            return bad("a part of it mixes alphabets (for example Latin and Cyrillic letters)");
        }
        Ok(Email(e))
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or("")
    }
}

impl WorkspaceId {
    /// Checks the workspace id pattern.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 50
            && s.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !ok {
            return Err(Error::BadRequest(format!(
                "invalid workspace id {}: use 1 to 50 lowercase letters and digits, \
                 with single dashes between them",
                quote(s)
            )));
        }
        if s == wmill_api::GLOBAL_WORKSPACE {
            return Err(Error::Conflict(
                "'global' is reserved for instance-level audit entries and cannot be a workspace ID"
                    .into(),
            ));
        }
        Ok(WorkspaceId(s.to_string()))
    }

    /// A workspace id taken from a URL path, which the router already matched. It is
    /// checked like any other so that odd input never reaches the store.
    pub fn from_path(s: &str) -> Result<Self> {
        Self::parse(s).map_err(|_| Error::NotFound(format!("workspace {} not found", quote(s))))
    }
}

impl Username {
    /// A username chosen by a person: `^[a-zA-Z][a-zA-Z0-9_]*$`, at most 50 characters.
    pub fn parse(s: &str) -> Result<Self> {
        let mut chars = s.chars();
        let ok = s.len() <= 50
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::BadRequest(format!(
                "invalid username {}: it must start with a letter and contain only letters, \
                 digits and underscores (at most 50)",
                quote(s)
            )));
        }
        Ok(Username(s.to_string()))
    }

    /// A username that names an existing member (path segment or body field). Derived
    /// usernames may start with a digit or be `user2`, so only the character set is checked.
    pub fn existing(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 60 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::NotFound(format!("user {} not found", quote(s))));
        }
        Ok(Username(s.to_string()))
    }

    /// A username brought by an import (Windmill's export): what a person may choose, or
    /// what the server derives (letters, digits and `_`, at most 60, a digit first too).
    pub fn imported(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 60 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::BadRequest(format!(
                "invalid username {}: use 1 to 60 letters, digits and underscores",
                quote(s)
            )));
        }
        Ok(Username(s.to_string()))
    }

    /// The username derived from an email, before uniqueness: the local part with
    /// everything outside `[A-Za-z0-9_]` removed, `user` when nothing is left.
    pub fn base_from_email(email: &Email) -> String {
        Self::base_from_address(&email.0)
    }

    /// [`base_from_email`](Self::base_from_email) of an address already normalised.
    pub fn base_from_address(address: &str) -> String {
        let base: String = address
            .split('@')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        if base.is_empty() { "user".into() } else { base }
    }

    /// The first of `base`, `base2`, `base3`, … that `taken` does not contain.
    pub fn pick_free(base: &str, taken: &std::collections::HashSet<String>) -> Username {
        if !taken.contains(base) {
            return Username(base.to_string());
        }
        (2u64..)
            .map(|n| format!("{base}{n}"))
            .find(|c| !taken.contains(c))
            .map(Username)
            .expect("an unbounded range always finds a free name")
    }

    /// Wraps a username read back from the store.
    pub fn from_store(s: String) -> Self {
        Username(s)
    }
}

impl GroupName {
    /// Checks the group name pattern.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 50
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(Error::BadRequest(format!(
                "invalid group name {}: use 1 to 50 letters, digits, '_' or '-'",
                quote(s)
            )));
        }
        Ok(GroupName(s.to_string()))
    }

    /// A group name from a URL path: anything that cannot be a group is simply not found.
    pub fn from_path(s: &str) -> Result<Self> {
        Self::parse(s).map_err(|_| Error::NotFound(format!("group {} not found", quote(s))))
    }

    /// Whether this is the special group every member belongs to.
    pub fn is_all(&self) -> bool {
        self.0 == "all"
    }
}

/// Checks an optional free-text field (name, company, summary, label).
pub fn text_field(field: &str, value: Option<String>, max_chars: usize) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) => {
            if v.chars().count() > max_chars {
                return Err(Error::BadRequest(format!(
                    "{field} is too long: at most {max_chars} characters"
                )));
            }
            if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(Error::BadRequest(format!(
                    "{field} must not contain control characters"
                )));
            }
            Ok(Some(v))
        }
    }
}

/// Checks a workspace's display name.
pub fn workspace_name(s: &str) -> Result<String> {
    if s.trim().is_empty() {
        return Err(Error::BadRequest("workspace name must not be empty".into()));
    }
    if s.chars().count() > 100 || has_control(s) {
        return Err(Error::BadRequest(
            "workspace name must be at most 100 characters, without control characters".into(),
        ));
    }
    Ok(s.to_string())
}

/// A new password: at least `min_chars` characters, at most [`PASSWORD_MAX_CHARS`], any
/// Unicode. The error never repeats the password.
pub fn check_password(password: &str, min_chars: usize) -> Result<()> {
    let n = password.chars().count();
    if n < min_chars {
        return Err(Error::BadRequest(format!(
            "password must be at least {min_chars} characters long"
        )));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(Error::BadRequest(format!(
            "password must be at most {PASSWORD_MAX_CHARS} characters long"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(
            Email::parse("jöhn.doe+x@exämple.org").unwrap().local_part(),
            "jöhn.doe+x"
        );
        for bad in [
            "", "alice", "@x.com", "a@", "a@@b", "a b@c.d", "a@b/c.d", "a@b%c.d", "a@b..c",
            "a\"b@c", "a(b)@c.d", "a@b_c!.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(300))).is_err());
        // Every RFC 5322 atext character is fine in the name part.
        assert!(Email::parse("!#$%&'*+-/=?^_`{|}~@example.com").is_ok());
    }

    #[test]
    fn look_alike_emails_are_one_address_or_refused() {
        // NFC and NFD spellings of "é" are the same address.
        let nfc = Email::parse("jos\u{e9}@example.com").unwrap();
        let nfd = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(nfc, nfd);
        assert_eq!(
            Email::parse("\u{2003}Bob@Example.COM\u{3000}")
                .unwrap()
                .as_str(),
            "bob@example.com"
        );
        for bad in [
            "bo\u{200b}b@example.com",  // zero-width space
            "bob\u{200d}@example.com",  // zero-width joiner
            "bob@exa\u{2060}mple.com",  // word joiner
            "\u{202e}moc.elpmaxe@bob",  // right-to-left override
            "bob\u{00ad}@example.com",  // soft hyphen
            "b\u{fe0f}ob@example.com",  // variation selector
            "\u{430}dmin@windmill.dev", // Cyrillic a in a Latin name
            "admin@wind\u{43c}ill.dev", // Cyrillic m in a Latin domain
        ] {
            let e = Email::parse(bad);
            assert!(e.is_err(), "{bad:?} should be refused, got {e:?}");
        }
        // One script per part is fine, whatever the script.
        assert!(Email::parse("пётр@пример.рф").is_ok());
        assert!(Email::parse("山田@例え.jp").is_ok());
    }

    #[test]
    fn workspace_ids_follow_the_pattern() {
        assert!(WorkspaceId::parse("data-team-2").is_ok());
        for bad in [
            "",
            "Data",
            "a--b",
            "-a",
            "a-",
            "a_b",
            "global",
            &"a".repeat(51),
        ] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_derive_from_emails() {
        let e = Email::parse("john.doe-x@acme.io").unwrap();
        assert_eq!(Username::base_from_email(&e), "johndoex");
        let e = Email::parse("...+@acme.io");
        assert!(e.is_err());
        let e = Email::parse("+-@acme.io").unwrap();
        assert_eq!(Username::base_from_email(&e), "user");
        let taken = ["bob".to_string(), "bob2".to_string()]
            .into_iter()
            .collect();
        assert_eq!(Username::pick_free("bob", &taken).as_str(), "bob3");
        assert_eq!(Username::pick_free("alice", &taken).as_str(), "alice");
    }

    #[test]
    fn given_usernames_and_group_names() {
        assert!(Username::parse("alice_2").is_ok());
        for bad in ["2alice", "", "al ice", "al-ice", "bob\"e\"i'o;aü"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(GroupName::parse("data-team_1").is_ok());
        for bad in ["", "a b", "a/b", "a;b", "a%b", "💥", &"g".repeat(51)] {
            assert!(GroupName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_checked_without_echo() {
        assert!(check_password("mypassword123", 8).is_ok());
        let err = check_password("short", 8).unwrap_err().to_string();
        assert!(!err.contains("short"));
        assert!(check_password(&"x".repeat(1025), 8).is_err());
        assert!(
            check_password(&"€".repeat(1024), 8).is_ok(),
            "characters, not bytes"
        );
        assert!(check_password("ñandú€€€", 8).is_ok());
    }
}
