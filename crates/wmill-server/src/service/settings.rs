//! A workspace's identity settings and lifecycle: auto-invite, the instance groups that feed
//! it, what operators may see, its name, archiving, deletion, leaving; and its users and
//! groups as files for Windmill's `sync pull`.

use std::collections::BTreeMap;

use wmill_api::{
    ActionKind, AutoInviteConfig, EditAutoInvite, EditInstanceGroups, OperatorSettings,
    WorkspaceSettings,
};

use super::{Caller, Member, Service};
use crate::domain::{GroupName, WorkspaceId, quote, workspace_name};
use crate::error::{Error, Result};
use crate::store::{MemberOutcome, WorkspaceChange};

/// The workspace roles an instance group may give.
const ROLES: [&str; 3] = ["admin", "developer", "operator"];

/// What operators may see, by the flags of [`OperatorSettings`] this server enforces.
#[derive(Debug, Clone, Copy)]
pub enum OperatorView {
    Groups,
    AuditLogs,
}

impl OperatorView {
    fn key(self) -> &'static str {
        match self {
            OperatorView::Groups => "groups",
            OperatorView::AuditLogs => "audit_logs",
        }
    }
}

/// A user of the workspace as a file of Windmill's sync (`users/<email>.user.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncUser {
    #[serde(skip)]
    pub email: String,
    pub disabled: bool,
    pub role: &'static str,
    pub username: String,
}

/// A group of the workspace as a file of Windmill's sync (`groups/<name>.group.json`):
/// owners who are members are `admins`, the other members `members`, both `u/<username>`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncGroup {
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub admins: Vec<String>,
    pub members: Vec<String>,
}

/// What `sync pull` asked for, as files.
#[derive(Debug, Clone, Default)]
pub struct SyncFiles {
    pub users: Vec<SyncUser>,
    pub groups: Vec<SyncGroup>,
    /// `settings.json`: the workspace's name and its identity settings.
    pub settings: Option<serde_json::Value>,
}

impl Service {
    /// The identity settings of the workspace (any member: Windmill's client reads them
    /// before a settings push). What was never set is absent.
    pub async fn workspace_settings(&self, m: &Member) -> Result<WorkspaceSettings> {
        let s = self
            .store
            .workspace_settings(m.workspace.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("workspace {} not found", m.workspace)))?;
        let mut auto_invite: Option<AutoInviteConfig> = s
            .auto_invite
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw).ok());
        if !s.instance_groups.is_empty() {
            let cfg = auto_invite.get_or_insert_with(AutoInviteConfig::default);
            cfg.instance_groups = Some(s.instance_groups.iter().map(|(g, _)| g.clone()).collect());
            cfg.instance_groups_roles = Some(s.instance_groups.into_iter().collect());
        }
        Ok(WorkspaceSettings {
            workspace_id: m.workspace.to_string(),
            auto_invite,
            operator_settings: s
                .operator_settings
                .as_deref()
                .and_then(|raw| serde_json::from_str(raw).ok()),
        })
    }

    /// Whether an operator may see this part of the workspace (always, for other members):
    /// what the workspace's operator settings say, seen when not set.
    pub async fn operator_may(&self, m: &Member, what: OperatorView) -> Result<()> {
        if !m.operator || m.is_admin {
            return Ok(());
        }
        let settings = self.store.workspace_settings(m.workspace.as_str()).await?;
        let flags: Option<OperatorSettings> = settings
            .and_then(|s| s.operator_settings)
            .and_then(|raw| serde_json::from_str(&raw).ok());
        if flags.and_then(|f| f.get(what.key()).copied()) == Some(false) {
            return Err(Error::PermissionDenied(format!(
                "operators of workspace {} may not see its {}",
                m.workspace,
                what.key().replace('_', " ")
            )));
        }
        Ok(())
    }

    /// Turns auto-invite on (with `operator` given) or off (an empty body): new accounts of
    /// the caller's email domain, or all of them with `invite_all`, join as operators or
    /// developers (`auto_add`), or are recorded for an invitation (invitations are not
    /// sent by this server).
    pub async fn edit_auto_invite(&self, m: &Member, req: EditAutoInvite) -> Result<String> {
        m.require_admin()?;
        let cfg = req.operator.map(|operator| {
            let domain = if req.invite_all == Some(true) {
                None
            } else {
                Some(
                    m.caller
                        .email
                        .rsplit('@')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                )
            };
            AutoInviteConfig {
                enabled: Some(true),
                domain,
                operator: Some(operator),
                mode: Some(
                    if req.auto_add == Some(true) {
                        "add"
                    } else {
                        "invite"
                    }
                    .into(),
                ),
                instance_groups: None,
                instance_groups_roles: None,
            }
        });
        let raw = cfg
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default());
        let mut audit = self.ws_audit(m, "workspaces.edit_auto_invite", ActionKind::Update, None);
        audit.parameters = Some(serde_json::to_value(&cfg).unwrap_or_default());
        self.change_workspace(m, WorkspaceChange::AutoInvite(raw), audit)
            .await?;
        Ok(match cfg {
            Some(_) => format!("Edit auto_invite for workspace {}", m.workspace),
            None => format!("Disabled auto_invite for workspace {}", m.workspace),
        })
    }

    /// Makes the workspace fed by exactly these instance groups: their members become
    /// members here with the given role (developer when none is given), and stop being
    /// members when they leave the group.
    pub async fn edit_instance_groups(
        &self,
        m: &Member,
        req: EditInstanceGroups,
    ) -> Result<String> {
        m.require_admin()?;
        // It adds and removes members: the users scope too, and not with a token limited to
        // this workspace (it names instance groups).
        m.caller.require_scope("users:write")?;
        if m.caller.pinned.is_some() || m.caller.service_account {
            return Err(Error::PermissionDenied(
                "a token limited to one workspace cannot link instance groups".into(),
            ));
        }
        let roles = req.roles.unwrap_or_default();
        let mut links = BTreeMap::new();
        for g in req.groups.unwrap_or_default() {
            let name = GroupName::parse(&g)?;
            let role = roles.get(&g).map(String::as_str).unwrap_or("developer");
            if !ROLES.contains(&role) {
                return Err(Error::BadRequest(format!(
                    "invalid role {} for instance group {name}: use admin, developer or operator",
                    quote(role)
                )));
            }
            links.insert(name.to_string(), role.to_string());
        }
        if let Some(extra) = roles.keys().find(|k| !links.contains_key(*k)) {
            return Err(Error::BadRequest(format!(
                "a role is given for {}, which is not in groups",
                quote(extra)
            )));
        }
        let mut audit = self.ws_audit(
            m,
            "workspaces.edit_instance_groups",
            ActionKind::Update,
            None,
        );
        audit.parameters = Some(serde_json::json!({ "groups": links }));
        self.store
            .set_workspace_instance_groups(
                m.workspace.as_str(),
                links.into_iter().collect(),
                self.now(),
                audit,
            )
            .await?
            .map_err(Error::NotFound)?;
        Ok(format!(
            "Edit instance groups for workspace {}",
            m.workspace
        ))
    }

    /// Sets what operators may see (Windmill's flags, kept as given; `groups` and
    /// `audit_logs` are enforced here).
    pub async fn edit_operator_settings(
        &self,
        m: &Member,
        flags: OperatorSettings,
    ) -> Result<String> {
        m.require_admin()?;
        if flags.len() > 32
            || flags
                .keys()
                .any(|k| k.len() > 64 || !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        {
            return Err(Error::BadRequest(
                "operator settings are at most 32 flags named in lowercase letters and '_'".into(),
            ));
        }
        let raw = serde_json::to_string(&flags).map_err(Error::internal)?;
        let mut audit = self.ws_audit(m, "workspaces.operator_settings", ActionKind::Update, None);
        audit.parameters = Some(serde_json::to_value(&flags).unwrap_or_default());
        self.change_workspace(m, WorkspaceChange::OperatorSettings(Some(raw)), audit)
            .await?;
        Ok("Operator settings updated successfully".into())
    }

    /// The workspace's name (any member).
    pub async fn workspace_display_name(&self, m: &Member) -> Result<String> {
        Ok(self
            .store
            .workspace(m.workspace.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("workspace {} not found", m.workspace)))?
            .name)
    }

    /// Renames the workspace (its id stays).
    pub async fn change_workspace_name(&self, m: &Member, new_name: &str) -> Result<String> {
        m.require_admin()?;
        let name = workspace_name(new_name)?;
        let mut audit = self.ws_audit(
            m,
            "workspaces.change_workspace_name",
            ActionKind::Update,
            None,
        );
        audit.parameters = Some(serde_json::json!({ "new_name": name }));
        self.change_workspace(m, WorkspaceChange::Name(name.clone()), audit)
            .await?;
        Ok(format!("updated workspace name to {name}"))
    }

    /// Archives the workspace (or brings it back): an archived workspace is left out of its
    /// members' lists of workspaces, and nothing else changes.
    pub async fn archive_workspace(&self, m: &Member, archived: bool) -> Result<String> {
        m.require_admin()?;
        let op = if archived {
            "workspaces.archive"
        } else {
            "workspaces.unarchive"
        };
        let audit = self.ws_audit(m, op, ActionKind::Update, None);
        self.change_workspace(m, WorkspaceChange::Archived(archived), audit)
            .await?;
        Ok(format!(
            "{} workspace {}",
            if archived { "archived" } else { "unarchived" },
            m.workspace
        ))
    }

    async fn change_workspace(
        &self,
        m: &Member,
        change: WorkspaceChange,
        audit: crate::store::NewAudit,
    ) -> Result<()> {
        if !self
            .store
            .update_workspace(m.workspace.as_str(), change, audit)
            .await?
        {
            return Err(Error::NotFound(format!(
                "workspace {} not found",
                m.workspace
            )));
        }
        Ok(())
    }

    /// Deletes a workspace with its members, groups and pinned tokens (superadmins only; the
    /// audit log keeps its entries). `admins` cannot be deleted: bootstrap made it.
    pub async fn delete_workspace(&self, c: &Caller, id: &str) -> Result<String> {
        c.require_superadmin()?;
        let ws = WorkspaceId::from_path(id)?;
        if ws.as_str() == "admins" {
            return Err(Error::Conflict(
                "the workspace admins holds the instance's first superadmin and cannot be deleted"
                    .into(),
            ));
        }
        let audit = self.global_audit(
            c,
            "workspaces.delete",
            ActionKind::Delete,
            Some(ws.to_string()),
        );
        if !self.store.delete_workspace(ws.as_str(), audit).await? {
            return Err(Error::NotFound(format!("workspace {ws} not found")));
        }
        Ok(format!("deleted workspace {ws}"))
    }

    /// The caller leaves the workspace (never its last admin).
    pub async fn leave_workspace(&self, m: &Member) -> Result<String> {
        if !m.is_member {
            return Err(Error::NotFound(format!(
                "{} is not a member of workspace {}",
                m.caller.email, m.workspace
            )));
        }
        let audit = self.ws_audit(
            m,
            "users.leave_workspace",
            ActionKind::Delete,
            Some(m.username.clone()),
        );
        match self
            .store
            .remove_member(m.workspace.as_str(), &m.username, audit)
            .await?
        {
            MemberOutcome::Done(_) => Ok(format!("left workspace {}", m.workspace)),
            MemberOutcome::LastAdmin => Err(Error::Conflict(format!(
                "{} is the last admin of workspace {}; make another member admin first",
                m.username, m.workspace
            ))),
            MemberOutcome::NotFound => Err(Error::NotFound(format!(
                "{} is not a member of workspace {}",
                m.caller.email, m.workspace
            ))),
        }
    }

    /// Whether a username is taken in a workspace (any signed-in account: Windmill's
    /// workspace creation form asks).
    /// Only members of the workspace and superadmins learn anything: for anyone else every
    /// answer is false, so that it tells nothing of other workspaces.
    pub async fn username_exists(&self, c: &Caller, ws: &str, username: &str) -> Result<bool> {
        let (Ok(ws), Ok(u)) = (
            WorkspaceId::parse(ws),
            crate::domain::Username::existing(username),
        ) else {
            return Ok(false);
        };
        if !c.super_admin && self.store.member(ws.as_str(), &c.email).await?.is_none() {
            return Ok(false);
        }
        Ok(self
            .store
            .member_by_username(ws.as_str(), u.as_str())
            .await?
            .is_some())
    }

    /// The workspace's users, groups and settings as `sync pull` reads them (admins only:
    /// it is every member's email and role).
    pub async fn sync_files(
        &self,
        m: &Member,
        users: bool,
        groups: bool,
        settings: bool,
    ) -> Result<SyncFiles> {
        m.require_admin()?;
        let mut out = SyncFiles::default();
        if users {
            for u in self
                .store
                .list_members(m.workspace.as_str(), 0, i64::MAX)
                .await?
            {
                if u.service_account {
                    continue;
                }
                out.users.push(SyncUser {
                    role: if u.is_admin {
                        "admin"
                    } else if u.operator {
                        "operator"
                    } else {
                        "developer"
                    },
                    email: u.email,
                    disabled: u.disabled,
                    username: u.username,
                });
            }
        }
        if groups {
            for g in self
                .store
                .list_groups(m.workspace.as_str(), 0, i64::MAX)
                .await?
            {
                if g.name == "all" {
                    continue;
                }
                let mut admins: Vec<String> = g
                    .extra_perms
                    .iter()
                    .filter(|(k, v)| {
                        **v && k
                            .strip_prefix("u/")
                            .is_some_and(|u| g.members.iter().any(|m| m == u))
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                admins.sort();
                let members = g
                    .members
                    .iter()
                    .map(|u| format!("u/{u}"))
                    .filter(|u| !admins.contains(u))
                    .collect();
                out.groups.push(SyncGroup {
                    name: g.name,
                    summary: g.summary,
                    admins,
                    members,
                });
            }
        }
        if settings {
            let s = self.workspace_settings(m).await?;
            let mut v = serde_json::Map::new();
            v.insert("name".into(), self.workspace_display_name(m).await?.into());
            if let Some(a) = s.auto_invite {
                v.insert(
                    "auto_invite".into(),
                    serde_json::to_value(a).map_err(Error::internal)?,
                );
            }
            if let Some(o) = s.operator_settings {
                v.insert(
                    "operator_settings".into(),
                    serde_json::to_value(o).map_err(Error::internal)?,
                );
            }
            out.settings = Some(serde_json::Value::Object(v));
        }
        Ok(out)
    }

    /// The email behind a username of the workspace (any member).
    pub async fn username_to_email(&self, m: &Member, username: &str) -> Result<String> {
        let not_found = || {
            Error::NotFound(format!(
                "user {} not found in workspace {}",
                quote(username),
                m.workspace
            ))
        };
        let u = crate::domain::Username::existing(username).map_err(|_| not_found())?;
        Ok(self
            .store
            .member_by_username(m.workspace.as_str(), u.as_str())
            .await?
            .ok_or_else(not_found)?
            .email)
    }
}
