//! Workspaces and their members: create, list, add/update/remove members.

use wmill_api::{
    ActionKind, AddUser, CreateWorkspace, EditWorkspaceUser, User, UserWorkspace,
    UserWorkspaceList, Workspace,
};

use super::{Caller, Member, Service, paginate};
use crate::clock::to_ts;
use crate::domain::{Email, Username, WorkspaceId, quote, workspace_name};
use crate::error::{Error, Result};
use crate::store::{
    AddMember, MemberChanges, MemberOutcome, MemberRow, NewMember, NewServiceAccount,
    UsernameChoice, WorkspaceRow,
};

fn wire_workspace(w: WorkspaceRow) -> Workspace {
    Workspace {
        id: w.id,
        name: w.name,
        owner: w.owner,
        // Windmill's archive marks a workspace deleted.
        deleted: w.archived,
        premium: false,
    }
}

fn wire_user(m: MemberRow) -> User {
    let role = if m.is_admin {
        "admin"
    } else if m.operator {
        "operator"
    } else {
        "developer"
    };
    User {
        workspace_id: m.workspace_id,
        email: m.email,
        username: m.username,
        is_admin: m.is_admin,
        operator: m.operator,
        disabled: m.disabled,
        created_at: to_ts(m.created_at),
        role: Some(role.into()),
        is_service_account: m.service_account,
    }
}

/// Translates a refused membership into the error the client sees. Whether the email
/// already has a username, and which, is another workspace's business: both refusals of a
/// given username read the same.
fn add_member_error(outcome: AddMember, email: &Email, ws: &str, given: Option<&str>) -> Error {
    match outcome {
        AddMember::AlreadyMember => Error::Conflict(format!(
            "user with email {email} already exists in workspace {ws}"
        )),
        AddMember::UsernameTaken(_) | AddMember::HasUsername(_) => Error::Conflict(format!(
            "the username {} cannot be given to {email}; leave the username out to use the one \
             the server assigns",
            given.unwrap_or("asked for")
        )),
        AddMember::NoWorkspace => Error::NotFound(format!("workspace {ws} not found")),
        AddMember::IdRetired => Error::Conflict(format!(
            "the id {ws} belonged to a deleted workspace and is not given again (its audit \
             entries stay under it); pick another id"
        )),
        AddMember::Added(_) => Error::internal("a successful membership was treated as a failure"),
    }
}

/// The refusal to demote, disable or remove a workspace's last enabled admin.
fn last_admin(username: &str, ws: &WorkspaceId) -> Error {
    Error::Conflict(format!(
        "{username} is the last admin of workspace {ws}; make another member admin first"
    ))
}

fn username_choice(given: Option<String>, email: &Email) -> Result<UsernameChoice> {
    Ok(match given.filter(|u| !u.is_empty()) {
        Some(u) => UsernameChoice::Given(Username::parse(&u)?.to_string()),
        None => UsernameChoice::Derive(Username::base_from_email(email)),
    })
}

impl Service {
    /// Creates a workspace with the caller as its admin (superadmin only).
    pub async fn create_workspace(&self, c: &Caller, req: CreateWorkspace) -> Result<String> {
        c.require_superadmin()?;
        let id = WorkspaceId::parse(&req.id)?;
        let name = workspace_name(&req.name)?;
        let email = Email::parse(&c.email)?;
        let given = req.username.filter(|u| !u.is_empty());
        if self.store.workspace(id.as_str()).await?.is_some() {
            return Err(Error::Conflict(format!("workspace {id} already exists")));
        }
        let creator = NewMember {
            username: username_choice(given.clone(), &email)?,
            email: email.to_string(),
            is_admin: true,
            operator: false,
            created_at: self.now(),
        };
        let audit = self.global_audit(
            c,
            "workspaces.create",
            ActionKind::Create,
            Some(id.to_string()),
        );
        let ws = WorkspaceRow {
            id: id.to_string(),
            name,
            owner: email.to_string(),
            archived: false,
        };
        let outcome = self
            .store
            .create_workspace(ws, creator, audit)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Unique => {
                    Error::Conflict(format!("workspace {id} already exists"))
                }
                other => other.into(),
            })?;
        match outcome {
            AddMember::Added(_) => Ok(format!("Created workspace {id}")),
            other => Err(add_member_error(
                other,
                &email,
                id.as_str(),
                given.as_deref(),
            )),
        }
    }

    /// The workspaces the caller belongs to.
    pub async fn list_workspaces(
        &self,
        c: &Caller,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<Workspace>> {
        let (offset, limit) = paginate(page, per_page);
        Ok(self
            .store
            .list_workspaces(Some(&c.email), offset, limit)
            .await?
            .into_iter()
            .map(wire_workspace)
            .collect())
    }

    /// Every workspace (superadmin only).
    pub async fn list_all_workspaces(
        &self,
        c: &Caller,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<Workspace>> {
        c.require_superadmin()?;
        let (offset, limit) = paginate(page, per_page);
        Ok(self
            .store
            .list_workspaces(None, offset, limit)
            .await?
            .into_iter()
            .map(wire_workspace)
            .collect())
    }

    /// Whether a workspace exists.
    pub async fn workspace_exists(&self, _c: &Caller, id: &str) -> Result<bool> {
        let Ok(id) = WorkspaceId::parse(id) else {
            return Ok(false);
        };
        Ok(self.store.workspace(id.as_str()).await?.is_some())
    }

    /// The caller's memberships.
    pub async fn user_workspaces(&self, c: &Caller) -> Result<UserWorkspaceList> {
        let rows = self.store.user_workspaces(&c.email).await?;
        Ok(UserWorkspaceList {
            email: c.email.clone(),
            workspaces: rows
                .into_iter()
                .map(|r| UserWorkspace {
                    id: r.id,
                    name: r.name,
                    username: r.username,
                    disabled: r.disabled,
                })
                .collect(),
        })
    }

    /// Adds a member (workspace admin only). The account need not exist yet.
    pub async fn add_user(&self, m: &Member, req: AddUser) -> Result<String> {
        m.require_admin()?;
        let email = Email::parse(&req.email)?;
        let given = req.username.filter(|u| !u.is_empty());
        let member = NewMember {
            username: username_choice(given.clone(), &email)?,
            email: email.to_string(),
            is_admin: req.is_admin,
            operator: req.operator,
            created_at: self.now(),
        };
        let audit = self.ws_audit(
            m,
            "users.add_to_workspace",
            ActionKind::Create,
            Some(email.to_string()),
        );
        let outcome = self
            .store
            .add_member(m.workspace.as_str(), member, audit)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Unique => Error::Conflict(format!(
                    "user with email {email} already exists in workspace {}",
                    m.workspace
                )),
                other => other.into(),
            })?;
        match outcome {
            AddMember::Added(_) => Ok(format!("user with email {email} added")),
            other => Err(add_member_error(
                other,
                &email,
                m.workspace.as_str(),
                given.as_deref(),
            )),
        }
    }

    /// Creates a service account of the workspace (workspace admin only): an account for
    /// programs, a member with a role, that cannot sign in with a password and gets its
    /// tokens from `users/impersonate_service_account`. Its address is made up from its
    /// username and the workspace, under the reserved `.invalid` domain.
    pub async fn create_service_account(
        &self,
        m: &Member,
        req: wmill_api::CreateServiceAccount,
    ) -> Result<String> {
        m.require_admin()?;
        let username = Username::parse(&req.username)?;
        let is_admin = req.is_admin.unwrap_or(false);
        let operator = req.operator.unwrap_or(!is_admin);
        if is_admin && operator {
            return Err(Error::BadRequest(
                "a service account cannot be both admin and operator".into(),
            ));
        }
        let email = format!(
            "{}@{}.service-account.invalid",
            username.as_str().to_lowercase(),
            m.workspace
        );
        let audit = self.ws_audit(
            m,
            "users.add_to_workspace",
            ActionKind::Create,
            Some(email.clone()),
        );
        let sa = NewServiceAccount {
            email,
            username: username.to_string(),
            is_admin,
            operator,
            created_at: self.now(),
        };
        match self
            .store
            .create_service_account(m.workspace.as_str(), sa, audit)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Unique => {
                    Error::Conflict(format!("the username {username} is taken"))
                }
                other => other.into(),
            })? {
            AddMember::Added(u) => Ok(format!("service account {u} created")),
            AddMember::NoWorkspace => Err(Error::NotFound(format!(
                "workspace {} not found",
                m.workspace
            ))),
            _ => Err(Error::Conflict(format!("the username {username} is taken"))),
        }
    }

    /// The workspace's members, by username.
    pub async fn list_members(
        &self,
        m: &Member,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<User>> {
        let (offset, limit) = paginate(page, per_page);
        Ok(self
            .store
            .list_members(m.workspace.as_str(), offset, limit)
            .await?
            .into_iter()
            .map(wire_user)
            .collect())
    }

    /// The workspace's usernames.
    pub async fn list_usernames(
        &self,
        m: &Member,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<String>> {
        let members = self.list_members(m, page, per_page).await?;
        Ok(members.into_iter().map(|u| u.username).collect())
    }

    async fn existing_member(&self, m: &Member, username: &str) -> Result<MemberRow> {
        let not_found = || {
            Error::NotFound(format!(
                "user {} not found in workspace {}",
                quote(username),
                m.workspace
            ))
        };
        let u = Username::existing(username).map_err(|_| not_found())?;
        self.store
            .member_by_username(m.workspace.as_str(), u.as_str())
            .await?
            .ok_or_else(not_found)
    }

    /// One member, for any member of the workspace (Windmill's `whois`).
    pub async fn whois(&self, m: &Member, username: &str) -> Result<User> {
        Ok(wire_user(self.existing_member(m, username).await?))
    }

    /// One member (workspace admin only).
    pub async fn get_member(&self, m: &Member, username: &str) -> Result<User> {
        m.require_admin()?;
        Ok(wire_user(self.existing_member(m, username).await?))
    }

    /// Changes a member's role or disables them (workspace admin only).
    pub async fn update_member(
        &self,
        m: &Member,
        username: &str,
        req: EditWorkspaceUser,
    ) -> Result<String> {
        m.require_admin()?;
        let target = self.existing_member(m, username).await?;
        let changes = MemberChanges {
            is_admin: req.is_admin,
            operator: req.operator,
            disabled: req.disabled,
        };
        let mut audit = self.ws_audit(
            m,
            "users.update",
            ActionKind::Update,
            Some(target.username.clone()),
        );
        let mut changed = serde_json::Map::new();
        for (k, v) in [
            ("is_admin", changes.is_admin),
            ("operator", changes.operator),
            ("disabled", changes.disabled),
        ] {
            if let Some(v) = v {
                changed.insert(k.into(), v.into());
            }
        }
        audit.parameters = Some(serde_json::Value::Object(changed));
        match self
            .store
            .update_member(m.workspace.as_str(), &target.username, changes, audit)
            .await?
        {
            MemberOutcome::Done(email) => Ok(format!("user {email} updated")),
            MemberOutcome::LastAdmin => Err(last_admin(&target.username, &m.workspace)),
            MemberOutcome::NotFound => Err(Error::NotFound(format!(
                "user {} not found in workspace {}",
                quote(username),
                m.workspace
            ))),
        }
    }

    /// Removes a member with their groups and group ownerships here and their tokens pinned
    /// here (workspace admin only); never the last enabled admin.
    pub async fn remove_member(&self, m: &Member, username: &str) -> Result<String> {
        m.require_admin()?;
        let target = self.existing_member(m, username).await?;
        let audit = self.ws_audit(
            m,
            "users.delete",
            ActionKind::Delete,
            Some(target.username.clone()),
        );
        match self
            .store
            .remove_member(m.workspace.as_str(), &target.username, audit)
            .await?
        {
            MemberOutcome::Done(_) => Ok(format!("username {} deleted", target.username)),
            MemberOutcome::LastAdmin => Err(last_admin(&target.username, &m.workspace)),
            MemberOutcome::NotFound => Err(Error::NotFound(format!(
                "user {} not found in workspace {}",
                quote(username),
                m.workspace
            ))),
        }
    }
}
