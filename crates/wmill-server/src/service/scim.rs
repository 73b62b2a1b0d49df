//! SCIM provisioning: SCIM tokens (minted by superadmins), and Users and Groups changed by
//! the identity provider that holds one.
//!
//! A SCIM token is good for `/api/scim` only (it is not in the token table, so every other
//! route refuses it), names its holder in the audit log (`scim.*` entries whose username is
//! the token's label), and can do less than a superadmin: it never sets a superadmin's
//! password or email, never deactivates or deletes the last superadmin, and never changes an
//! instance group that gives an instance role (`superadmin`, `devops`) — so a leaked SCIM
//! token cannot be turned into a superadmin session.

use serde_json::Value;
use wmill_api::ActionKind;

use super::{Caller, Service};
use crate::error::{Error, Result};
use crate::scim::resource::{self, GroupDoc, PasswordChange, UserDoc};
use crate::scim::{ScimError, ScimResult, filter};
use crate::store::{
    NewAudit, NewScimToken, ScimGroupRow, ScimGroupWrite, ScimOutcome, ScimPage, ScimUserRow,
    ScimUserWrite,
};

/// Longest SCIM token label.
pub const SCIM_LABEL_MAX_CHARS: usize = 64;
/// A SCIM token label: letters, digits, space, `.`, `_`, `-`.
pub const SCIM_LABEL_PATTERN: &str = "^[A-Za-z0-9 ._-]{1,64}$";

/// Who is provisioning: the label of the SCIM token in use.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub label: String,
}

/// How many times a PATCH is re-applied when the resource changed under it: each round one
/// of the concurrent writers of a resource wins, so this bounds the writers that may race
/// (providers send at most a few requests at once).
const PATCH_ATTEMPTS: usize = 32;

fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.chars().count() <= SCIM_LABEL_MAX_CHARS
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid SCIM token label {label:?}: use 1 to {SCIM_LABEL_MAX_CHARS} letters, digits, spaces, '.', '_' or '-'"
        )))
    }
}

fn user_not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no User with id {id:?}"))
}

fn group_not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no Group with id {id:?}"))
}

/// The error of a refused write.
fn refused<T>(o: ScimOutcome<T>, not_found: impl Fn() -> ScimError) -> ScimResult<T> {
    match o {
        ScimOutcome::Done(t) => Ok(t),
        ScimOutcome::NotFound => Err(not_found()),
        ScimOutcome::Changed => Err(ScimError::changed()),
        ScimOutcome::Taken(what) => Err(ScimError::taken(&what)),
        ScimOutcome::Refused(why) => Err(ScimError::bad("mutability", why)),
        ScimOutcome::NoSuchMember(id) => Err(ScimError::bad(
            "invalidValue",
            format!("member {id:?} is not the id of a User"),
        )),
    }
}

impl Service {
    // -- tokens ---------------------------------------------------------------------------

    /// Mints a SCIM token (superadmins): the raw token, shown once.
    pub async fn create_scim_token(&self, c: &Caller, label: &str) -> Result<String> {
        c.require_superadmin()?;
        check_label(label)?;
        let minted = crate::token::mint();
        let mut audit = self.global_audit(
            c,
            "scim.token.create",
            ActionKind::Create,
            Some(label.to_string()),
        );
        audit.parameters = Some(serde_json::json!({ "token_prefix": minted.prefix }));
        let t = NewScimToken {
            hash: minted.hash,
            prefix: minted.prefix,
            label: label.to_string(),
            created_by: c.email.clone(),
            created_at: self.now(),
        };
        if !self.store.create_scim_token(t, audit).await? {
            return Err(Error::Conflict(format!(
                "a SCIM token labelled {label:?} already exists: delete it first or choose another label"
            )));
        }
        Ok(minted.raw)
    }

    /// The SCIM tokens (superadmins).
    pub async fn list_scim_tokens(&self, c: &Caller) -> Result<Vec<wmill_api::ScimToken>> {
        c.require_superadmin()?;
        Ok(self
            .store
            .scim_tokens()
            .await?
            .into_iter()
            .map(|r| wmill_api::ScimToken {
                label: r.label,
                token_prefix: r.prefix,
                created_by: r.created_by,
                created_at: crate::clock::to_ts(r.created_at),
            })
            .collect())
    }

    /// Deletes a SCIM token (superadmins): refused from its next request on.
    pub async fn delete_scim_token(&self, c: &Caller, label: &str) -> Result<String> {
        c.require_superadmin()?;
        let not_found = || Error::NotFound(format!("no SCIM token labelled {label:?}"));
        check_label(label).map_err(|_| not_found())?;
        let audit = self.global_audit(
            c,
            "scim.token.delete",
            ActionKind::Delete,
            Some(label.to_string()),
        );
        if !self.store.delete_scim_token(label, audit).await? {
            return Err(not_found());
        }
        Ok(format!("Deleted SCIM token {label}"))
    }

    /// The holder of a raw SCIM token.
    pub async fn scim_authenticate(&self, raw: &str) -> ScimResult<ScimCaller> {
        if raw.is_empty() || raw.len() > 200 {
            return Err(ScimError::unauthorized("invalid SCIM token"));
        }
        match self
            .store
            .scim_token_label(&crate::token::digest(raw))
            .await?
        {
            Some(label) => Ok(ScimCaller { label }),
            None => Err(ScimError::unauthorized(
                "invalid SCIM token: mint one with wmill scim token create",
            )),
        }
    }

    fn scim_audit(
        &self,
        who: &ScimCaller,
        op: &'static str,
        kind: ActionKind,
        resource: String,
        parameters: Value,
    ) -> NewAudit {
        NewAudit {
            workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
            timestamp: self.now(),
            username: who.label.clone(),
            email: None,
            operation: op,
            action_kind: kind,
            resource: Some(resource),
            parameters: Some(parameters),
            impersonator: None,
        }
    }

    // -- Users ----------------------------------------------------------------------------

    /// Users matching `filter`, from `start_index` (1-based), at most `count`.
    pub async fn scim_list_users(
        &self,
        filter: Option<&str>,
        start_index: i64,
        count: i64,
    ) -> ScimResult<ScimPage<ScimUserRow>> {
        let compiled = match filter {
            Some(f) => Some(self.store.compile_user_filter(&filter::parse(f)?)?),
            None => None,
        };
        Ok(self
            .store
            .scim_users(compiled, start_index - 1, count)
            .await?)
    }

    pub async fn scim_get_user(&self, id: &str) -> ScimResult<ScimUserRow> {
        self.store
            .scim_user(id)
            .await?
            .ok_or_else(|| user_not_found(id))
    }

    /// What the store writes for `doc`: checked, and its password hashed.
    async fn user_write(&self, doc: &UserDoc) -> ScimResult<ScimUserWrite> {
        if doc.user_name.chars().count() > crate::domain::EMAIL_MAX_CHARS {
            return Err(ScimError::bad(
                "invalidValue",
                format!(
                    "userName is too long: at most {} characters",
                    crate::domain::EMAIL_MAX_CHARS
                ),
            ));
        }
        let password_hash = match &doc.password {
            PasswordChange::Keep => None,
            PasswordChange::Remove => Some(crate::store::NO_PASSWORD.to_string()),
            PasswordChange::Set(p) => {
                crate::domain::check_password(p, self.settings.password_min_chars)?;
                Some(self.hasher.hash(p.clone()).await?)
            }
        };
        Ok(ScimUserWrite {
            email: doc.email.clone(),
            user_name: Some(doc.user_name.clone()),
            name: doc.display_name.clone(),
            given_name: doc.given_name.clone(),
            family_name: doc.family_name.clone(),
            external_id: doc.external_id.clone(),
            active: doc.active,
            password_hash,
        })
    }

    /// What an audit entry says of a User write (never the password).
    fn user_params(id: &str, doc: &UserDoc) -> Value {
        serde_json::json!({
            "id": id,
            "userName": doc.user_name,
            "externalId": doc.external_id,
            "active": doc.active,
            "password": match doc.password {
                PasswordChange::Keep => "kept",
                PasswordChange::Set(_) => "set",
                PasswordChange::Remove => "removed",
            },
        })
    }

    pub async fn scim_create_user(
        &self,
        who: &ScimCaller,
        body: &Value,
    ) -> ScimResult<ScimUserRow> {
        let doc = resource::parse_user(body)?;
        let w = self.user_write(&doc).await?;
        let audit = self.scim_audit(
            who,
            "scim.user.create",
            ActionKind::Create,
            doc.email.clone(),
            Self::user_params("", &doc),
        );
        let id = refused(
            self.store.scim_create_user(w, self.now(), audit).await?,
            || user_not_found(""),
        )?;
        self.scim_get_user(&id).await
    }

    /// Writes `doc` over User `id` if it is still `expected` (PUT and PATCH).
    async fn write_user(
        &self,
        who: &ScimCaller,
        id: &str,
        expected: Option<ScimUserRow>,
        doc: &UserDoc,
    ) -> ScimResult<ScimOutcome<()>> {
        let w = self.user_write(doc).await?;
        let mut params = Self::user_params(id, doc);
        if let Some(e) = &expected
            && e.email != doc.email
        {
            crate::scim::set(
                &mut params,
                "email",
                serde_json::json!({"from": e.email, "to": doc.email}),
            );
        }
        let audit = self.scim_audit(
            who,
            if expected
                .as_ref()
                .is_some_and(|e| !e.disabled && !doc.active)
            {
                "scim.user.deactivate"
            } else {
                "scim.user.update"
            },
            ActionKind::Update,
            doc.email.clone(),
            params,
        );
        Ok(self
            .store
            .scim_replace_user(id, expected, w, self.now(), audit)
            .await?)
    }

    /// PUT: the User becomes what the body says (attributes it omits are cleared).
    pub async fn scim_replace_user(
        &self,
        who: &ScimCaller,
        id: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> ScimResult<ScimUserRow> {
        let doc = resource::parse_user(body)?;
        let cur = self.scim_get_user(id).await?;
        check_if_match(if_match, &resource::user_version(&cur))?;
        refused(self.write_user(who, id, Some(cur), &doc).await?, || {
            user_not_found(id)
        })?;
        self.scim_get_user(id).await
    }

    /// PATCH: the operations applied to the User as it is, all or none.
    pub async fn scim_patch_user(
        &self,
        who: &ScimCaller,
        id: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> ScimResult<ScimUserRow> {
        for _ in 0..PATCH_ATTEMPTS {
            let cur = self.scim_get_user(id).await?;
            check_if_match(if_match, &resource::user_version(&cur))?;
            let mut doc = UserDoc::from_row(&cur);
            resource::patch_user(&mut doc, id, body)?;
            if doc == UserDoc::from_row(&cur) {
                return Ok(cur);
            }
            match self.write_user(who, id, Some(cur), &doc).await? {
                ScimOutcome::Changed if if_match.is_none() => continue,
                o => refused(o, || user_not_found(id))?,
            }
            return self.scim_get_user(id).await;
        }
        Err(ScimError {
            status: axum::http::StatusCode::CONFLICT,
            scim_type: None,
            detail: "the User kept changing during the PATCH: try again".into(),
        })
    }

    pub async fn scim_delete_user(
        &self,
        who: &ScimCaller,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let cur = self.scim_get_user(id).await?;
        check_if_match(if_match, &resource::user_version(&cur))?;
        let audit = self.scim_audit(
            who,
            "scim.user.delete",
            ActionKind::Delete,
            cur.email.clone(),
            serde_json::json!({ "id": id }),
        );
        refused(
            self.store.scim_delete_user(id, Some(cur), audit).await?,
            || user_not_found(id),
        )
    }

    // -- Groups ---------------------------------------------------------------------------

    pub async fn scim_list_groups(
        &self,
        filter: Option<&str>,
        start_index: i64,
        count: i64,
        members: bool,
    ) -> ScimResult<ScimPage<ScimGroupRow>> {
        let compiled = match filter {
            Some(f) => Some(self.store.compile_group_filter(&filter::parse(f)?)?),
            None => None,
        };
        Ok(self
            .store
            .scim_groups(compiled, start_index - 1, count, members)
            .await?)
    }

    pub async fn scim_get_group(&self, id: &str) -> ScimResult<ScimGroupRow> {
        self.store
            .scim_group(id)
            .await?
            .ok_or_else(|| group_not_found(id))
    }

    pub async fn scim_create_group(
        &self,
        who: &ScimCaller,
        body: &Value,
    ) -> ScimResult<ScimGroupRow> {
        let doc = resource::parse_group(body)?;
        let w = ScimGroupWrite {
            display_name: doc.display_name.clone(),
            external_id: doc.external_id.clone(),
            members: Some(doc.members.iter().cloned().collect()),
        };
        let audit = self.scim_audit(
            who,
            "scim.group.create",
            ActionKind::Create,
            String::new(),
            Value::Null,
        );
        let id = refused(
            self.store.scim_create_group(w, self.now(), audit).await?,
            || group_not_found(""),
        )?;
        self.scim_get_group(&id).await
    }

    async fn write_group(
        &self,
        who: &ScimCaller,
        id: &str,
        expected: ScimGroupRow,
        doc: &GroupDoc,
    ) -> ScimResult<ScimOutcome<()>> {
        let w = ScimGroupWrite {
            display_name: doc.display_name.clone(),
            external_id: doc.external_id.clone(),
            members: Some(doc.members.iter().cloned().collect()),
        };
        let audit = self.scim_audit(
            who,
            "scim.group.update",
            ActionKind::Update,
            String::new(),
            Value::Null,
        );
        Ok(self
            .store
            .scim_replace_group(id, Some(expected), w, self.now(), audit)
            .await?)
    }

    pub async fn scim_replace_group(
        &self,
        who: &ScimCaller,
        id: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> ScimResult<ScimGroupRow> {
        let doc = resource::parse_group(body)?;
        let cur = self.scim_get_group(id).await?;
        check_if_match(if_match, &resource::group_version(&cur))?;
        refused(self.write_group(who, id, cur, &doc).await?, || {
            group_not_found(id)
        })?;
        self.scim_get_group(id).await
    }

    pub async fn scim_patch_group(
        &self,
        who: &ScimCaller,
        id: &str,
        if_match: Option<&str>,
        body: &Value,
    ) -> ScimResult<ScimGroupRow> {
        for _ in 0..PATCH_ATTEMPTS {
            let cur = self.scim_get_group(id).await?;
            check_if_match(if_match, &resource::group_version(&cur))?;
            let mut doc = GroupDoc::from_row(&cur);
            resource::patch_group(&mut doc, id, body)?;
            if doc == GroupDoc::from_row(&cur) {
                return Ok(cur);
            }
            match self.write_group(who, id, cur, &doc).await? {
                ScimOutcome::Changed if if_match.is_none() => continue,
                o => refused(o, || group_not_found(id))?,
            }
            return self.scim_get_group(id).await;
        }
        Err(ScimError {
            status: axum::http::StatusCode::CONFLICT,
            scim_type: None,
            detail: "the Group kept changing during the PATCH: try again".into(),
        })
    }

    pub async fn scim_delete_group(
        &self,
        who: &ScimCaller,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let cur = self.scim_get_group(id).await?;
        check_if_match(if_match, &resource::group_version(&cur))?;
        let audit = self.scim_audit(
            who,
            "scim.group.delete",
            ActionKind::Delete,
            String::new(),
            Value::Null,
        );
        refused(
            self.store.scim_delete_group(id, Some(cur), audit).await?,
            || group_not_found(id),
        )
    }
}

/// Passes when there is no `If-Match`, or when it names the resource's current version.
fn check_if_match(if_match: Option<&str>, version: &str) -> ScimResult<()> {
    match if_match {
        Some(h) if !resource::tag_matches(h, version) => Err(ScimError::changed()),
        _ => Ok(()),
    }
}
