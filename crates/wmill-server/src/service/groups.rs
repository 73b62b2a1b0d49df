//! Groups of a workspace: any member creates one and owns it; admins and owners manage it.
//! `all` holds every member and is managed by the membership itself.

use std::collections::BTreeMap;

use wmill_api::{ActionKind, CreateGroup, Group, GroupHistoryEntry};

use super::{Member, Service, paginate};
use crate::clock::to_ts;
use crate::domain::{GroupName, Username, quote, text_field};
use crate::error::{Error, Result};
use crate::store::{Actor, AuditFilter, GrantChange, GroupAdd, GroupChange, GroupRemove, GroupRow};

fn wire_group(g: GroupRow) -> Group {
    Group {
        workspace_id: g.workspace_id,
        name: g.name,
        summary: g.summary,
        members: g.members,
        extra_perms: g.extra_perms,
    }
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("group {} not found", quote(name)))
}

fn not_owner(m: &Member, name: &GroupName) -> Error {
    Error::PermissionDenied(format!("{} is not an owner of group {name}", m.username))
}

impl Member {
    /// Who this caller is to a group's rules: an admin, or a member who must own it.
    fn actor(&self) -> Actor<'_> {
        if self.is_admin {
            Actor::Admin
        } else {
            Actor::Owner(&self.username)
        }
    }
}

impl Service {
    /// Groups of the workspace, by name, with members.
    pub async fn list_groups(
        &self,
        m: &Member,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<Group>> {
        self.operator_may(m, super::OperatorView::Groups).await?;
        let (offset, limit) = paginate(page, per_page);
        Ok(self
            .store
            .list_groups(m.workspace.as_str(), offset, limit)
            .await?
            .into_iter()
            .map(wire_group)
            .collect())
    }

    /// Group names; with `only_member_of`, those of the caller. Instance groups are not
    /// named to a token limited to one workspace.
    pub async fn list_group_names(
        &self,
        m: &Member,
        only_member_of: bool,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<String>> {
        // The workspace's groups and, as in Windmill, the instance groups (those the caller
        // belongs to, with `only_member_of`), one sorted list.
        let (offset, limit) = paginate(page, per_page);
        let member = only_member_of.then_some(m.username.as_str());
        let mut names = self
            .store
            .group_names(
                m.workspace.as_str(),
                member,
                0,
                offset.saturating_add(limit),
            )
            .await?;
        if m.caller.pinned.is_some() || m.caller.service_account {
            // Instance groups are not this token's business.
        } else if only_member_of {
            names.extend(self.store.instance_groups_of(&m.caller.email).await?);
        } else {
            names.extend(
                self.store
                    .list_instance_groups()
                    .await?
                    .into_iter()
                    .map(|g| g.name),
            );
        }
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect())
    }

    /// One group.
    pub async fn get_group(&self, m: &Member, name: &str) -> Result<Group> {
        self.operator_may(m, super::OperatorView::Groups).await?;
        let n = GroupName::from_path(name)?;
        let g = self
            .store
            .group(m.workspace.as_str(), n.as_str())
            .await?
            .ok_or_else(|| not_found(name))?;
        Ok(wire_group(g))
    }

    /// Creates a group owned by the caller, who becomes its first member.
    pub async fn create_group(&self, m: &Member, req: CreateGroup) -> Result<String> {
        let name = GroupName::parse(&req.name)?;
        let summary = text_field("summary", req.summary, 1000)?;
        if !m.is_member {
            return Err(Error::PermissionDenied(format!(
                "{} is not a member of workspace {}: join it before creating groups",
                m.caller.email, m.workspace
            )));
        }
        let conflict = || Error::Conflict(format!("group {name} already exists"));
        if self
            .store
            .group(m.workspace.as_str(), name.as_str())
            .await?
            .is_some()
        {
            return Err(conflict());
        }
        let audit = self.ws_audit(
            m,
            "group.create",
            ActionKind::Create,
            Some(name.to_string()),
        );
        self.store
            .create_group(
                m.workspace.as_str(),
                name.as_str(),
                summary.as_deref(),
                &m.username,
                audit,
            )
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Unique => conflict(),
                other => other.into(),
            })?;
        Ok(format!("Created group {name}"))
    }

    /// Changes a group's summary.
    pub async fn update_group(
        &self,
        m: &Member,
        name: &str,
        summary: Option<String>,
    ) -> Result<String> {
        let summary = text_field("summary", summary, 1000)?;
        let name = GroupName::from_path(name)?;
        let audit = self.ws_audit(m, "group.edit", ActionKind::Update, Some(name.to_string()));
        match self
            .store
            .update_group(
                m.workspace.as_str(),
                name.as_str(),
                summary.as_deref(),
                m.actor(),
                audit,
            )
            .await?
        {
            GroupChange::Done => Ok(format!("Edited group {name}")),
            GroupChange::NoGroup => Err(not_found(name.as_str())),
            GroupChange::NotOwner => Err(not_owner(m, &name)),
        }
    }

    /// Deletes a group (never `all`).
    pub async fn delete_group(&self, m: &Member, name: &str) -> Result<String> {
        if name == "all" {
            return Err(Error::Conflict(
                "The group 'all' is a special group that contains all users and cannot be deleted"
                    .into(),
            ));
        }
        let name = GroupName::from_path(name)?;
        let audit = self.ws_audit(
            m,
            "group.delete",
            ActionKind::Delete,
            Some(name.to_string()),
        );
        match self
            .store
            .delete_group(m.workspace.as_str(), name.as_str(), m.actor(), audit)
            .await?
        {
            GroupChange::Done => Ok(format!("delete group at name {name}")),
            GroupChange::NoGroup => Err(not_found(name.as_str())),
            GroupChange::NotOwner => Err(not_owner(m, &name)),
        }
    }

    fn membership_audit(
        &self,
        m: &Member,
        op: &'static str,
        group: &GroupName,
        user: &str,
    ) -> crate::store::NewAudit {
        let mut a = self.ws_audit(m, op, ActionKind::Update, Some(group.to_string()));
        a.parameters = Some(serde_json::json!({ "user": user }));
        a
    }

    /// Adds a workspace member to a group; adding an existing member changes nothing.
    pub async fn add_group_member(&self, m: &Member, name: &str, username: &str) -> Result<String> {
        let name = GroupName::from_path(name)?;
        if name.is_all() {
            return Err(Error::Conflict(
                "every member is in group all; nobody can be added to it by hand".into(),
            ));
        }
        let not_member = || {
            Error::NotFound(format!(
                "user {} is not a member of workspace {}",
                quote(username),
                m.workspace
            ))
        };
        let user = Username::existing(username).map_err(|_| not_member())?;
        let audit = self.membership_audit(m, "group.adduser", &name, user.as_str());
        match self
            .store
            .add_group_member(
                m.workspace.as_str(),
                name.as_str(),
                user.as_str(),
                m.actor(),
                audit,
            )
            .await?
        {
            GroupAdd::Added => Ok(format!("Added {user} to group {name}")),
            GroupAdd::AlreadyMember => Ok(format!("{user} is already a member of group {name}")),
            GroupAdd::NoGroup => Err(not_found(name.as_str())),
            GroupAdd::NotInWorkspace => Err(not_member()),
            GroupAdd::NotOwner => Err(not_owner(m, &name)),
        }
    }

    /// Removes someone from a group (never from `all`).
    pub async fn remove_group_member(
        &self,
        m: &Member,
        name: &str,
        username: &str,
    ) -> Result<String> {
        let name = GroupName::from_path(name)?;
        if name.is_all() {
            return Err(Error::Conflict(
                "Cannot delete users from all: remove them from the workspace instead".into(),
            ));
        }
        let not_member = || {
            Error::NotFound(format!(
                "user {} is not a member of group {name}",
                quote(username)
            ))
        };
        let user = Username::existing(username).map_err(|_| not_member())?;
        let audit = self.membership_audit(m, "group.removeuser", &name, user.as_str());
        match self
            .store
            .remove_group_member(
                m.workspace.as_str(),
                name.as_str(),
                user.as_str(),
                m.actor(),
                audit,
            )
            .await?
        {
            GroupRemove::Removed => Ok(format!("Removed {user} from group {name}")),
            GroupRemove::NotMember => Err(not_member()),
            GroupRemove::NoGroup => Err(not_found(name.as_str())),
            GroupRemove::NotOwner => Err(not_owner(m, &name)),
        }
    }
    /// A group's access list (`u/<username>`, `g/<group>` → owner).
    pub async fn group_acl(&self, m: &Member, name: &str) -> Result<BTreeMap<String, bool>> {
        Ok(self.get_group(m, name).await?.extra_perms)
    }

    /// Makes `owner` (`u/<username>` or `g/<group>`) an owner of a group (`write`), a mere
    /// reader (`write` false), or removes their grant (`None`). Admins and owners may; an
    /// owner cannot remove the last ownership. Removing a grant that is not there changes
    /// nothing and succeeds (Windmill's client removes after every member it takes out).
    pub async fn set_group_grant(
        &self,
        m: &Member,
        name: &str,
        owner: &str,
        write: Option<bool>,
    ) -> Result<String> {
        let name = GroupName::from_path(name)?;
        if name.is_all() {
            return Err(Error::Conflict(
                "the group all is managed by the workspace itself: it has no owners to change"
                    .into(),
            ));
        }
        let valid = match owner.split_once('/') {
            Some(("u", u)) => Username::existing(u).is_ok(),
            Some(("g", g)) => GroupName::parse(g).is_ok(),
            _ => false,
        };
        if !valid {
            return Err(Error::BadRequest(format!(
                "invalid owner {}: use u/<username> or g/<group>",
                quote(owner)
            )));
        }
        let (op, kind) = if write.is_some() {
            ("acls.add", ActionKind::Update)
        } else {
            ("acls.remove", ActionKind::Delete)
        };
        let mut audit = self.ws_audit(m, op, kind, Some(format!("group_/{name}")));
        audit.parameters = Some(serde_json::json!({ "owner": owner, "write": write }));
        match self
            .store
            .set_group_grant(
                m.workspace.as_str(),
                name.as_str(),
                owner,
                write,
                m.actor(),
                audit,
            )
            .await?
        {
            GrantChange::Done | GrantChange::Unchanged => Ok(match write {
                Some(true) => format!("{owner} owns group {name}"),
                Some(false) => format!("{owner} reads group {name}"),
                None => format!("{owner} has no grant on group {name}"),
            }),
            GrantChange::NoGroup => Err(not_found(name.as_str())),
            GrantChange::NotOwner => Err(not_owner(m, &name)),
            GrantChange::NoPrincipal => Err(Error::NotFound(format!(
                "{} is not a member or group of workspace {}",
                quote(owner),
                m.workspace
            ))),
            GrantChange::LastOwner => Err(Error::Conflict(format!(
                "{owner} is the last owner of group {name}; only a workspace admin can leave it without one"
            ))),
        }
    }

    /// A group's changes, newest first, from the audit log.
    pub async fn group_history(
        &self,
        m: &Member,
        name: &str,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<GroupHistoryEntry>> {
        // Who did what to a group is the audit log's: workspace admins, and the group's
        // owners (who manage it), read it; operators only if they may see both.
        self.operator_may(m, super::OperatorView::AuditLogs).await?;
        let group = self.get_group(m, name).await?;
        let name = GroupName::from_path(name)?;
        if !m.is_admin {
            let mine = self
                .store
                .group_names(m.workspace.as_str(), Some(&m.username), 0, 100_000)
                .await?;
            let owns = group.extra_perms.iter().any(|(k, w)| {
                *w && (k == &format!("u/{}", m.username)
                    || k.strip_prefix("g/")
                        .is_some_and(|g| mine.iter().any(|x| x == g)))
            });
            if !owns {
                return Err(not_owner(m, &name));
            }
        }
        let (offset, limit) = paginate(page, per_page.or(Some(30)));
        let limit = limit.min(100);
        let mut out = Vec::new();
        for (resource, ops) in [
            (
                name.to_string(),
                vec![
                    "group.create",
                    "group.edit",
                    "group.delete",
                    "group.adduser",
                    "group.removeuser",
                ],
            ),
            (format!("group_/{name}"), vec!["acls.add", "acls.remove"]),
        ] {
            let rows = self
                .store
                .list_audit(AuditFilter {
                    workspace_id: Some(m.workspace.to_string()),
                    resource: Some(resource),
                    operations: ops.into_iter().map(String::from).collect(),
                    offset: 0,
                    limit: offset + limit,
                    ..AuditFilter::default()
                })
                .await?;
            out.extend(rows);
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.id));
        Ok(out
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|e| {
                let params: Option<serde_json::Value> = e
                    .parameters
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok());
                let affected = params.as_ref().and_then(|p| {
                    p.get("user")
                        .or_else(|| p.get("owner"))
                        .and_then(|v| v.as_str())
                        .map(String::from)
                });
                GroupHistoryEntry {
                    id: e.id,
                    changed_by: e.username,
                    changed_at: to_ts(e.timestamp),
                    change_type: e.operation,
                    member_affected: affected,
                }
            })
            .collect())
    }
}
