//! Instance users (superadmin only): create, update, disable, delete, list, passwords.

use wmill_api::{ActionKind, CreateUser, GlobalUserInfo, UpdateInstanceUser};

use super::{Caller, Service, paginate};
use crate::domain::{Email, check_password, text_field};
use crate::error::{Error, Result};
use crate::store::{AccountChanges, AccountOutcome, AccountRow, EndSessions, NewAccount};

/// The wire shape of an account.
pub(super) fn global_info(a: AccountRow) -> GlobalUserInfo {
    GlobalUserInfo {
        email: a.email,
        login_type: if a.service_account {
            "service_account".into()
        } else {
            a.login_type.unwrap_or_else(|| "password".into())
        },
        super_admin: a.super_admin || a.group_super_admin,
        devops: a.devops,
        verified: true,
        name: a.name,
        company: a.company,
        username: a.username,
        first_time_user: a.first_time_user,
        disabled: a.disabled,
    }
}

fn not_found(email: &Email) -> Error {
    Error::NotFound(format!("user with email {email} not found"))
}

/// An account named in a URL path: what cannot be an email is simply not found.
fn path_email(s: &str) -> Result<Email> {
    Email::parse(s).map_err(|_| {
        Error::NotFound(format!(
            "user with email {} not found",
            crate::domain::quote(s)
        ))
    })
}

/// The refusal to leave the instance without an enabled superadmin; it names the `wmill`
/// command that makes another one.
fn last_superadmin(email: &Email) -> Error {
    Error::Conflict(format!(
        "{email} is the last enabled superadmin; make another account superadmin first \
         ('wmill user update <email> --superadmin')"
    ))
}

impl Service {
    /// Creates an instance account.
    pub async fn create_user(&self, c: &Caller, req: CreateUser) -> Result<String> {
        c.require_superadmin()?;
        let email = Email::parse(&req.email)?;
        // An initial password, set by a superadmin for someone else, may be as short as
        // the one Windmill's client makes up (5 characters); passwords people set for
        // themselves get the full policy.
        check_password(&req.password, self.settings.initial_password_min_chars)?;
        let name = text_field("name", req.name, 255)?;
        let company = text_field("company", req.company, 255)?;
        if self.store.account(email.as_str()).await?.is_some() {
            return Err(Error::Conflict(format!(
                "user with email {email} already exists"
            )));
        }
        let hash = self.hasher.hash(req.password).await?;
        let account = NewAccount {
            email: email.to_string(),
            password_hash: hash,
            super_admin: req.super_admin,
            name,
            company,
            created_at: self.now(),
        };
        let audit = self.global_audit(
            c,
            "users.add_global",
            ActionKind::Create,
            Some(email.to_string()),
        );
        self.store
            .create_account(account, audit)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Unique => {
                    Error::Conflict(format!("user with email {email} already exists"))
                }
                other => other.into(),
            })?;
        Ok(format!("email {email} created"))
    }

    /// Deletes an account with its memberships, group memberships and tokens.
    pub async fn delete_user(&self, c: &Caller, email: &str) -> Result<String> {
        c.require_superadmin()?;
        let email = path_email(email)?;
        let audit = self.global_audit(
            c,
            "users.delete",
            ActionKind::Delete,
            Some(email.to_string()),
        );
        match self.store.delete_account(email.as_str(), audit).await? {
            AccountOutcome::Done => Ok(format!("email {email} deleted")),
            AccountOutcome::NotFound => Err(not_found(&email)),
            AccountOutcome::LastSuperadmin => Err(last_superadmin(&email)),
        }
    }

    /// Changes an account: superadmin flag, name, company, disabled.
    pub async fn update_user(
        &self,
        c: &Caller,
        email: &str,
        req: UpdateInstanceUser,
    ) -> Result<String> {
        c.require_superadmin()?;
        let email = path_email(email)?;
        let changes = AccountChanges {
            super_admin: req.is_super_admin,
            name: text_field("name", req.name, 255)?,
            company: text_field("company", req.company, 255)?,
            disabled: req.disabled,
        };
        let mut audit = self.global_audit(
            c,
            "users.update",
            ActionKind::Update,
            Some(email.to_string()),
        );
        // What was asked to change, so that the entry says what happened.
        let mut changed = serde_json::Map::new();
        if let Some(v) = changes.super_admin {
            changed.insert("super_admin".into(), v.into());
        }
        if let Some(v) = &changes.name {
            changed.insert("name".into(), v.clone().into());
        }
        if let Some(v) = &changes.company {
            changed.insert("company".into(), v.clone().into());
        }
        if let Some(v) = changes.disabled {
            changed.insert("disabled".into(), v.into());
        }
        audit.parameters = Some(serde_json::Value::Object(changed));
        match self
            .store
            .update_account(email.as_str(), changes, audit)
            .await?
        {
            AccountOutcome::Done => Ok(format!("email {email} updated")),
            AccountOutcome::NotFound => Err(not_found(&email)),
            AccountOutcome::LastSuperadmin => Err(last_superadmin(&email)),
        }
    }

    /// Every account, superadmins first, then by email.
    pub async fn list_users(
        &self,
        c: &Caller,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<GlobalUserInfo>> {
        c.require_superadmin()?;
        let (offset, limit) = paginate(page, per_page);
        Ok(self
            .store
            .list_accounts(offset, limit)
            .await?
            .into_iter()
            .map(global_info)
            .collect())
    }

    /// Sets another account's password and ends its login sessions (with
    /// `revoke_tokens`, its API and impersonation tokens too); the caller's own token stays
    /// when the account is the caller's.
    pub async fn set_password_of(
        &self,
        c: &Caller,
        email: &str,
        password: String,
        revoke_tokens: bool,
    ) -> Result<String> {
        c.require_superadmin()?;
        let email = path_email(email)?;
        check_password(&password, self.settings.password_min_chars)?;
        match self.store.account(email.as_str()).await? {
            None => return Err(not_found(&email)),
            Some(a) if a.service_account => {
                return Err(Error::Conflict(format!(
                    "{email} is a service account: it cannot have a password"
                )));
            }
            Some(_) => {}
        }
        let hash = self.hasher.hash(password).await?;
        let mut audit = self.global_audit(
            c,
            "users.setpassword",
            ActionKind::Update,
            Some(email.to_string()),
        );
        audit.parameters = Some(serde_json::json!({ "revoke_tokens": revoke_tokens }));
        let end = EndSessions {
            keep: (email.as_str() == c.email).then(|| c.token_hash.clone()),
            all_tokens: revoke_tokens,
        };
        if !self
            .store
            .set_password(email.as_str(), &hash, end, audit)
            .await?
        {
            return Err(not_found(&email));
        }
        Ok(format!("password of {email} updated"))
    }

    /// Whether an account exists.
    pub async fn user_exists(&self, _c: &Caller, email: &str) -> Result<bool> {
        // What cannot be an email has no account.
        let Ok(email) = Email::parse(email) else {
            return Ok(false);
        };
        Ok(self.store.account(email.as_str()).await?.is_some())
    }
}
