//! Token scopes, in Windmill's words, for the identity domains this server has: `*`, or
//! `<domain>:<action>` with the domains `users`, `groups`, `workspaces`, `audit`, `settings`
//! and the actions `read`, `write`, `delete`, `admin`. `admin` implies the other three actions
//! of its domain; nothing else implies anything (`write` is not `delete`, no domain another).
//!
//! A token without scopes is unrestricted: it may do whatever its user may. Scopes only ever
//! narrow that: the user's rights are read at each request, the scopes checked on top.

use std::collections::BTreeSet;
use std::fmt;

/// The domains, with what they cover.
pub const DOMAINS: [(&str, &str); 5] = [
    (
        "users",
        "Instance users and workspace members: read; invite, add, update; remove; admin adds impersonation and password changes",
    ),
    ("groups", "Workspace groups, their members and owners"),
    (
        "workspaces",
        "Workspace metadata and settings, creation, archiving and deletion",
    ),
    ("audit", "The audit log"),
    ("settings", "Global and workspace settings"),
];

/// The actions, with what they allow.
pub const ACTIONS: [(&str, &str); 4] = [
    ("read", "Read"),
    ("write", "Create and change"),
    ("delete", "Delete"),
    (
        "admin",
        "Everything of the domain (read, write, delete and more)",
    ),
];

/// One scope a token holds or a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `*`: everything the user may do.
    All,
    /// `<domain>:<action>`, as indexes into [`DOMAINS`] and [`ACTIONS`].
    Of(u8, u8),
}

const ADMIN: u8 = 3;

impl Scope {
    /// Parses one scope string; the error names it and says what is accepted.
    pub fn parse(s: &str) -> Result<Scope, String> {
        if s == "*" {
            return Ok(Scope::All);
        }
        let known = || {
            format!(
                "scope {s:?} is not one this server knows: use `*` or <domain>:<action> with the \
                 domains {} and the actions read, write, delete, admin (GET /api/tokens/list/scopes)",
                DOMAINS.map(|(d, _)| d).join(", ")
            )
        };
        let (domain, action) = s.split_once(':').ok_or_else(known)?;
        let d = DOMAINS.iter().position(|(n, _)| *n == domain);
        let a = ACTIONS.iter().position(|(n, _)| *n == action);
        match (d, a) {
            (Some(d), Some(a)) => Ok(Scope::Of(d as u8, a as u8)),
            _ => Err(known()),
        }
    }

    /// Whether holding `self` grants `needed`.
    pub fn grants(self, needed: Scope) -> bool {
        match (self, needed) {
            (Scope::All, _) => true,
            (Scope::Of(..), Scope::All) => false,
            (Scope::Of(d, a), Scope::Of(nd, na)) => d == nd && (a == na || a == ADMIN),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("*"),
            Scope::Of(d, a) => {
                let domain = DOMAINS.get(usize::from(*d)).map_or("?", |x| x.0);
                let action = ACTIONS.get(usize::from(*a)).map_or("?", |x| x.0);
                write!(f, "{domain}:{action}")
            }
        }
    }
}

/// What a token may do: everything its user may (`None`), or only what its scopes grant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Option<BTreeSet<Scope>>);

impl Scopes {
    /// No restriction.
    pub fn unrestricted() -> Scopes {
        Scopes(None)
    }

    /// Parses the scopes asked for when minting: `None` or empty means unrestricted; `*`
    /// alone is unrestricted too. Every entry must be a known scope.
    pub fn parse(list: Option<&[String]>) -> Result<Scopes, String> {
        let Some(list) = list.filter(|l| !l.is_empty()) else {
            return Ok(Scopes(None));
        };
        let mut set = BTreeSet::new();
        for s in list {
            set.insert(Scope::parse(s)?);
        }
        if set.contains(&Scope::All) {
            return Ok(Scopes(None));
        }
        Ok(Scopes(Some(set)))
    }

    /// Reads the stored form (space-separated; `None` is unrestricted). A stored scope this
    /// version does not know grants nothing.
    pub fn from_stored(s: Option<&str>) -> Scopes {
        match s {
            None => Scopes(None),
            Some(s) => Scopes(Some(
                s.split_whitespace()
                    .filter_map(|x| Scope::parse(x).ok())
                    .collect(),
            )),
        }
    }

    /// The stored form: `None` when unrestricted.
    pub fn to_stored(&self) -> Option<String> {
        self.0.as_ref().map(|set| {
            set.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// The wire form: `None` when unrestricted.
    pub fn to_wire(&self) -> Option<Vec<String>> {
        self.0
            .as_ref()
            .map(|set| set.iter().map(ToString::to_string).collect())
    }

    /// Whether these scopes restrict anything.
    pub fn is_restricted(&self) -> bool {
        self.0.is_some()
    }

    /// Whether these scopes grant `needed`.
    pub fn grant(&self, needed: Scope) -> bool {
        match &self.0 {
            None => true,
            Some(set) => set.iter().any(|s| s.grants(needed)),
        }
    }

    /// Whether everything `other` grants, these grant too (so a token holding these may give
    /// a token `other`).
    pub fn cover(&self, other: &Scopes) -> bool {
        match (&self.0, &other.0) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(theirs)) => theirs.iter().all(|s| self.grant(*s)),
        }
    }

    /// The first of `other`'s scopes these do not grant, for an error message.
    pub fn first_missing(&self, other: &Scopes) -> Option<String> {
        match (&self.0, &other.0) {
            (None, _) => None,
            (Some(_), None) => Some("*".into()),
            (Some(_), Some(theirs)) => theirs
                .iter()
                .find(|s| !self.grant(**s))
                .map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).unwrap()
    }

    #[test]
    fn scopes_parse_and_name_what_is_wrong() {
        assert_eq!(s("groups:read").to_string(), "groups:read");
        assert_eq!(s("*"), Scope::All);
        for bad in [
            "scripts:run",
            "groups",
            "groups:run",
            "",
            "GROUPS:read",
            "groups:read:f/x",
        ] {
            let e = Scope::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn admin_implies_its_domain_only_and_write_is_not_delete() {
        assert!(s("groups:admin").grants(s("groups:delete")));
        assert!(s("groups:admin").grants(s("groups:read")));
        assert!(!s("groups:admin").grants(s("users:read")));
        assert!(!s("groups:write").grants(s("groups:delete")));
        assert!(!s("groups:write").grants(s("groups:read")));
        assert!(s("*").grants(s("audit:admin")));
        assert!(!s("audit:admin").grants(Scope::All));
    }

    #[test]
    fn a_set_covers_another_only_when_it_grants_each_of_its_scopes() {
        let held = Scopes::parse(Some(&["groups:admin".into(), "audit:read".into()])).unwrap();
        let child = Scopes::parse(Some(&["groups:write".into()])).unwrap();
        assert!(held.cover(&child));
        assert!(!child.cover(&held));
        assert!(!held.cover(&Scopes::unrestricted()));
        assert!(Scopes::unrestricted().cover(&held));
        assert_eq!(child.first_missing(&held).as_deref(), Some("groups:admin"));
        let all = Scopes::parse(Some(&["*".into(), "groups:read".into()])).unwrap();
        assert!(!all.is_restricted());
        assert_eq!(Scopes::parse(Some(&[])).unwrap(), Scopes::unrestricted());
        let stored = held.to_stored().unwrap();
        assert_eq!(stored, "groups:admin audit:read");
        assert_eq!(Scopes::from_stored(Some(&stored)), held);
    }
}
