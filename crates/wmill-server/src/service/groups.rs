//! Groups of a workspace: any member creates one and owns it; admins and owners manage it.
//! `all` holds every member and is managed by the membership itself.

use wmill_api::{ActionKind, CreateGroup, Group};

use super::{Member, Service, paginate};
use crate::domain::{GroupName, Username, quote, text_field};
use crate::error::{Error, Result};
use crate::store::{Actor, GroupAdd, GroupChange, GroupRemove, GroupRow};

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
        let (offset, limit) = paginate(page, per_page);
        Ok(self
            .store
            .list_groups(m.workspace.as_str(), offset, limit)
            .await?
            .into_iter()
            .map(wire_group)
            .collect())
    }

    /// Group names; with `only_member_of`, those of the caller.
    pub async fn list_group_names(
        &self,
        m: &Member,
        only_member_of: bool,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<String>> {
        let (offset, limit) = paginate(page, per_page);
        let member = only_member_of.then_some(m.username.as_str());
        Ok(self
            .store
            .group_names(m.workspace.as_str(), member, offset, limit)
            .await?)
    }

    /// One group.
    pub async fn get_group(&self, m: &Member, name: &str) -> Result<Group> {
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
}
