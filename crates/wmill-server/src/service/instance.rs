//! The instance as a whole: instance groups (superadmins change them, anyone signed in reads
//! them), users export and overwrite (superadmins only), and the instance-level user routes
//! (rename, change of email, username info).

use std::collections::{BTreeMap, BTreeSet};

use wmill_api::{
    ActionKind, ExportedInstanceGroup, ExportedUser, InstanceGroup, InstanceGroupWithWorkspaces,
    InstanceGroupWorkspace, OverwriteReport, UsernameInfo, WorkspaceUsername,
};

use super::{Caller, Service};
use crate::domain::{Email, GroupName, Username, quote, text_field};
use crate::error::{Error, Result};
use crate::store::{ImportedAccount, InstanceGroupChange, InstanceGroupRow, Rename};

/// Most users or groups one overwrite may carry.
pub const MAX_OVERWRITE_ROWS: usize = 10_000;

/// The instance roles a group may carry.
const INSTANCE_ROLES: [&str; 2] = ["superadmin", "devops"];

fn group_not_found(name: &str) -> Error {
    Error::NotFound(format!("instance group {} not found", quote(name)))
}

/// An instance group name from a URL path.
fn path_group(name: &str) -> Result<GroupName> {
    GroupName::from_path(name).map_err(|_| group_not_found(name))
}

fn path_email(s: &str) -> Result<Email> {
    Email::parse(s).map_err(|_| Error::NotFound(format!("user with email {} not found", quote(s))))
}

/// An instance role as given: `superadmin`, `devops`, or nothing.
fn instance_role(role: Option<&str>) -> Result<Option<String>> {
    match role {
        None | Some("") | Some("user") => Ok(None),
        Some(r) if INSTANCE_ROLES.contains(&r) => Ok(Some(r.to_string())),
        Some(r) => Err(Error::BadRequest(format!(
            "invalid instance role {}: use superadmin, devops, or user (none)",
            quote(r)
        ))),
    }
}

impl From<InstanceGroupRow> for InstanceGroupWithWorkspaces {
    fn from(g: InstanceGroupRow) -> Self {
        InstanceGroupWithWorkspaces {
            name: g.name,
            summary: g.summary,
            emails: g.emails,
            instance_role: g.instance_role,
            workspaces: g
                .workspaces
                .into_iter()
                .map(
                    |(workspace_id, workspace_name, role)| InstanceGroupWorkspace {
                        workspace_id,
                        workspace_name,
                        role,
                    },
                )
                .collect(),
        }
    }
}

impl Service {
    /// Reads of the instance's groups: any signed-in account, as in Windmill (the UI shows
    /// them when adding a workspace's groups). Service accounts are limited to their
    /// workspace and see none.
    fn may_read_instance_groups(c: &Caller) -> Result<()> {
        if c.service_account || c.pinned.is_some() {
            return Err(Error::PermissionDenied(
                "a token limited to one workspace cannot read instance groups".into(),
            ));
        }
        Ok(())
    }

    /// Every instance group.
    pub async fn list_instance_groups(&self, c: &Caller) -> Result<Vec<InstanceGroup>> {
        Self::may_read_instance_groups(c)?;
        Ok(self
            .store
            .list_instance_groups()
            .await?
            .into_iter()
            .map(|g| InstanceGroup {
                name: g.name,
                summary: g.summary,
                emails: g.emails,
                instance_role: g.instance_role,
            })
            .collect())
    }

    /// Every instance group with the workspaces it feeds (for a caller who is not a
    /// superadmin, only the workspaces they belong to: no other workspace is named).
    pub async fn list_instance_groups_with_workspaces(
        &self,
        c: &Caller,
    ) -> Result<Vec<InstanceGroupWithWorkspaces>> {
        Self::may_read_instance_groups(c)?;
        let groups = self.store.list_instance_groups().await?;
        self.visible_workspaces(c, groups).await
    }

    async fn visible_workspaces(
        &self,
        c: &Caller,
        mut groups: Vec<InstanceGroupRow>,
    ) -> Result<Vec<InstanceGroupWithWorkspaces>> {
        if !c.super_admin {
            let mine: BTreeSet<String> = self
                .store
                .user_workspaces(&c.email)
                .await?
                .into_iter()
                .map(|w| w.id)
                .collect();
            for g in &mut groups {
                g.workspaces.retain(|(ws, _, _)| mine.contains(ws));
            }
        }
        Ok(groups.into_iter().map(Into::into).collect())
    }

    /// One instance group.
    pub async fn get_instance_group(
        &self,
        c: &Caller,
        name: &str,
    ) -> Result<InstanceGroupWithWorkspaces> {
        Self::may_read_instance_groups(c)?;
        let n = path_group(name)?;
        let g = self
            .store
            .instance_group(n.as_str())
            .await?
            .ok_or_else(|| group_not_found(name))?;
        self.visible_workspaces(c, vec![g])
            .await?
            .pop()
            .ok_or_else(|| group_not_found(name))
    }

    /// Creates an instance group.
    pub async fn create_instance_group(
        &self,
        c: &Caller,
        req: wmill_api::CreateInstanceGroup,
    ) -> Result<String> {
        c.require_superadmin()?;
        let name = GroupName::parse(&req.name)?;
        let summary = text_field("summary", req.summary, 1000)?;
        let audit = self.global_audit(
            c,
            "instance_group.create",
            ActionKind::Create,
            Some(name.to_string()),
        );
        if !self
            .store
            .create_instance_group(name.as_str(), summary.as_deref(), self.now(), audit)
            .await?
        {
            return Err(Error::Conflict(format!(
                "instance group {name} already exists"
            )));
        }
        Ok(format!("Created instance group {name}"))
    }

    /// Changes an instance group's summary and instance role.
    pub async fn update_instance_group(
        &self,
        c: &Caller,
        name: &str,
        req: wmill_api::UpdateInstanceGroup,
    ) -> Result<String> {
        c.require_superadmin()?;
        let n = path_group(name)?;
        let summary = text_field("new_summary", Some(req.new_summary), 1000)?;
        let role = match &req.instance_role {
            None => None,
            Some(r) => {
                // A role makes superadmins: more than the groups scope of the route.
                c.require_scope("users:admin")?;
                Some(instance_role(r.as_deref())?)
            }
        };
        let mut audit = self.global_audit(
            c,
            "instance_group.update",
            ActionKind::Update,
            Some(n.to_string()),
        );
        audit.parameters = Some(serde_json::json!({
            "summary": summary, "instance_role": role,
        }));
        if !self
            .store
            .update_instance_group(
                n.as_str(),
                summary.as_deref(),
                role.as_ref().map(|r| r.as_deref()),
                audit,
            )
            .await?
        {
            return Err(group_not_found(name));
        }
        Ok(format!("Updated instance group {n}"))
    }

    /// Deletes an instance group and the workspace memberships it made.
    pub async fn delete_instance_group(&self, c: &Caller, name: &str) -> Result<String> {
        c.require_superadmin()?;
        let n = path_group(name)?;
        let audit = self.global_audit(
            c,
            "instance_group.delete",
            ActionKind::Delete,
            Some(n.to_string()),
        );
        if !self.store.delete_instance_group(n.as_str(), audit).await? {
            return Err(group_not_found(name));
        }
        Ok(format!("Deleted instance group {n}"))
    }

    /// Adds an account to an instance group, or removes it.
    pub async fn set_instance_group_member(
        &self,
        c: &Caller,
        name: &str,
        email: &str,
        member: bool,
    ) -> Result<String> {
        c.require_superadmin()?;
        let n = path_group(name)?;
        let email = Email::parse(email)?;
        // Joining or leaving a group with an instance role makes or unmakes a superadmin:
        // more than the groups scope of the route.
        if let Some(g) = self.store.instance_group(n.as_str()).await?
            && g.instance_role.is_some()
        {
            c.require_scope("users:admin")?;
        }
        let (op, verb) = if member {
            ("instance_group.adduser", "Added")
        } else {
            ("instance_group.removeuser", "Removed")
        };
        let mut audit = self.global_audit(c, op, ActionKind::Update, Some(n.to_string()));
        audit.parameters = Some(serde_json::json!({ "email": email.as_str() }));
        let now = self.now();
        match self
            .store
            .set_instance_group_member(n.as_str(), email.as_str(), member, now, audit)
            .await?
        {
            InstanceGroupChange::Done => Ok(format!(
                "{verb} {email} {} instance group {n}",
                if member { "to" } else { "from" }
            )),
            InstanceGroupChange::Unchanged if member => {
                Ok(format!("{email} is already a member of instance group {n}"))
            }
            InstanceGroupChange::Unchanged => Err(Error::NotFound(format!(
                "{email} is not a member of instance group {n}"
            ))),
            InstanceGroupChange::NoGroup => Err(group_not_found(name)),
            InstanceGroupChange::NoAccount => Err(Error::NotFound(format!(
                "user with email {email} not found (service accounts cannot join instance groups)"
            ))),
        }
    }

    /// Every instance group as exported.
    pub async fn export_instance_groups(&self, c: &Caller) -> Result<Vec<ExportedInstanceGroup>> {
        c.require_superadmin()?;
        Ok(self
            .store
            .list_instance_groups()
            .await?
            .into_iter()
            .map(|g| ExportedInstanceGroup {
                name: g.name,
                summary: g.summary,
                emails: Some(g.emails),
                id: g.id,
                scim_display_name: g.scim_display_name,
                external_id: g.external_id,
                instance_role: g.instance_role,
            })
            .collect())
    }

    /// Makes the instance groups exactly `groups`, all or nothing.
    pub async fn overwrite_instance_groups(
        &self,
        c: &Caller,
        groups: Vec<ExportedInstanceGroup>,
        dry_run: bool,
    ) -> Result<OverwriteReport> {
        c.require_superadmin()?;
        // It may give or take instance roles: more than the groups scope of the route.
        c.require_scope("users:admin")?;
        if groups.len() > MAX_OVERWRITE_ROWS {
            return Err(Error::BadRequest(format!(
                "at most {MAX_OVERWRITE_ROWS} groups in one overwrite"
            )));
        }
        let mut seen = BTreeSet::new();
        let mut ids = BTreeSet::new();
        let mut rows = Vec::with_capacity(groups.len());
        for (i, g) in groups.into_iter().enumerate() {
            let at = |e: Error| {
                Error::BadRequest(format!(
                    "group {} ({}): {}",
                    i + 1,
                    quote(&g.name),
                    e.message()
                ))
            };
            let name = GroupName::parse(&g.name).map_err(at)?;
            if !seen.insert(name.to_string()) {
                return Err(at(Error::BadRequest("the name appears twice".into())));
            }
            if let Some(id) = &g.id
                && !ids.insert(id.clone())
            {
                return Err(at(Error::BadRequest(
                    "the id is given to another group too".into(),
                )));
            }
            let mut emails = BTreeSet::new();
            for e in g.emails.clone().unwrap_or_default() {
                emails.insert(Email::parse(&e).map_err(at)?.to_string());
            }
            let optional =
                |field: &str, v: Option<String>, max: usize| text_field(field, v, max).map_err(at);
            rows.push(InstanceGroupRow {
                name: name.to_string(),
                id: optional("id", g.id.clone(), 255)?,
                summary: optional("summary", g.summary.clone(), 1000)?,
                instance_role: instance_role(g.instance_role.as_deref()).map_err(at)?,
                scim_display_name: optional("scim_display_name", g.scim_display_name.clone(), 255)?,
                external_id: optional("external_id", g.external_id.clone(), 255)?,
                emails: emails.into_iter().collect(),
                workspaces: Vec::new(),
            });
        }
        let audit = self.global_audit(c, "instance_group.overwrite", ActionKind::Update, None);
        self.store
            .overwrite_instance_groups(rows, dry_run, self.now(), audit)
            .await?
            .map_err(Error::BadRequest)
    }

    /// Every account (service accounts aside) as exported, with its password hash unless
    /// asked not to. Audited: an export is a copy of every credential.
    pub async fn export_users(&self, c: &Caller, with_hashes: bool) -> Result<Vec<ExportedUser>> {
        c.require_superadmin()?;
        let accounts = self.store.export_accounts().await?;
        let mut audit = self.global_audit(c, "users.export", ActionKind::Execute, None);
        audit.parameters = Some(serde_json::json!({
            "include_password_hash": with_hashes, "users": accounts.len(),
        }));
        self.store.record_audit(audit).await?;
        Ok(accounts
            .into_iter()
            .map(|a| ExportedUser {
                password_hash: (with_hashes && a.password_hash.starts_with('$'))
                    .then_some(a.password_hash),
                email: a.email,
                super_admin: a.super_admin,
                verified: true,
                name: a.name,
                company: a.company,
                first_time_user: a.first_time_user,
                username: a.username,
            })
            .collect())
    }

    /// Makes the instance's accounts exactly `users` (service accounts aside), all or
    /// nothing: each row is checked first and the first bad one is named.
    pub async fn overwrite_users(
        &self,
        c: &Caller,
        users: Vec<ExportedUser>,
        dry_run: bool,
    ) -> Result<OverwriteReport> {
        c.require_superadmin()?;
        if users.len() > MAX_OVERWRITE_ROWS {
            return Err(Error::BadRequest(format!(
                "at most {MAX_OVERWRITE_ROWS} users in one overwrite"
            )));
        }
        let now = self.now();
        let mut emails = BTreeSet::new();
        let mut usernames = BTreeMap::new();
        let mut rows = Vec::with_capacity(users.len());
        for (i, u) in users.into_iter().enumerate() {
            let at =
                |e: String| Error::BadRequest(format!("user {} ({}): {e}", i + 1, quote(&u.email)));
            let email = Email::parse(&u.email).map_err(|e| at(e.message()))?;
            if !emails.insert(email.to_string()) {
                return Err(at("the email appears twice".into()));
            }
            if let Some(h) = &u.password_hash {
                crate::password::check_imported(h, self.settings.argon2)
                    .map_err(|e| at(format!("password_hash: {e}")))?;
            }
            let username = match u.username.as_deref() {
                None | Some("") => None,
                Some(name) => Some(
                    Username::imported(name)
                        .map_err(|e| at(e.message()))?
                        .to_string(),
                ),
            };
            if let Some(name) = &username
                && let Some(other) = usernames.insert(name.clone(), email.to_string())
            {
                return Err(at(format!("the username {name} is also given to {other}")));
            }
            rows.push(ImportedAccount {
                email: email.to_string(),
                password_hash: u.password_hash.clone(),
                super_admin: u.super_admin,
                name: text_field("name", u.name.clone(), 255).map_err(|e| at(e.message()))?,
                company: text_field("company", u.company.clone(), 255)
                    .map_err(|e| at(e.message()))?,
                first_time_user: u.first_time_user,
                username,
                created_at: now,
            });
        }
        let audit = self.global_audit(c, "users.overwrite", ActionKind::Update, None);
        self.store
            .overwrite_accounts(rows, dry_run, audit)
            .await?
            .map_err(|e| {
                if e.contains("superadmin") {
                    Error::Conflict(e)
                } else {
                    Error::BadRequest(e)
                }
            })
    }

    /// Gives an account another username, in every workspace.
    pub async fn rename_user(&self, c: &Caller, email: &str, new_username: &str) -> Result<String> {
        c.require_superadmin()?;
        let email = path_email(email)?;
        let new = Username::parse(new_username)?;
        let mut audit = self.global_audit(
            c,
            "users.rename",
            ActionKind::Update,
            Some(email.to_string()),
        );
        audit.parameters = Some(serde_json::json!({ "new_username": new.as_str() }));
        match self
            .store
            .rename_user(email.as_str(), new.as_str(), audit)
            .await?
        {
            Rename::Done => Ok(format!("username of {email} is now {new}")),
            Rename::NotFound => Err(Error::NotFound(format!(
                "user with email {email} not found"
            ))),
            Rename::Taken => Err(Error::Conflict(format!("username {new} is already taken"))),
            Rename::NoUsername => Err(Error::Conflict(format!(
                "{email} has no username yet: it is given when they join a workspace"
            ))),
        }
    }

    /// Moves an account to another email.
    pub async fn change_email(&self, c: &Caller, email: &str, new_email: &str) -> Result<String> {
        c.require_superadmin()?;
        let email = path_email(email)?;
        let new = Email::parse(new_email)?;
        let mut audit = self.global_audit(
            c,
            "users.change_email",
            ActionKind::Update,
            Some(email.to_string()),
        );
        audit.parameters = Some(serde_json::json!({ "new_email": new.as_str() }));
        match self
            .store
            .change_email(email.as_str(), new.as_str(), audit)
            .await?
        {
            Rename::Done => Ok(format!("email {email} is now {new}")),
            Rename::NotFound => Err(Error::NotFound(format!(
                "user with email {email} not found"
            ))),
            Rename::Taken | Rename::NoUsername => Err(Error::Conflict(format!(
                "the email {new} is already in use"
            ))),
        }
    }

    /// An account's username and the workspaces it uses it in.
    pub async fn username_info(&self, c: &Caller, email: &str) -> Result<UsernameInfo> {
        c.require_superadmin()?;
        let email = path_email(email)?;
        let account = self
            .store
            .account(email.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user with email {email} not found")))?;
        let workspaces = self.store.user_workspaces(email.as_str()).await?;
        Ok(UsernameInfo {
            username: account.username.unwrap_or_default(),
            workspace_usernames: workspaces
                .into_iter()
                .map(|w| WorkspaceUsername {
                    workspace_id: w.id,
                    username: w.username,
                })
                .collect(),
        })
    }
}
