//! SCIM 2.0 (RFC 7643/7644) provisioning: the protocol, apart from HTTP and storage.
//!
//! - [`filter`]: filters and PATCH paths, parsed into an AST (never pattern-replaced) and
//!   compiled to SQL whose values are all bind parameters;
//! - [`resource`]: Users and Groups as JSON (rendering, `attributes`, ETags), what a POST or
//!   PUT body makes of them, and PATCH operations applied to them, including the shapes
//!   Entra ID and Okta really send;
//! - [`discovery`]: `ServiceProviderConfig`, `ResourceTypes` and `Schemas`, which declare
//!   exactly what the rest implements;
//! - [`ScimError`]: the RFC's error body (`status`, `scimType`, `detail`).
//!
//! Users are instance accounts (not service accounts); Groups are instance groups. The
//! service (`service/scim.rs`) applies the rules; the store (`store/sql/scim.rs`) the SQL.

pub mod discovery;
pub mod filter;
pub mod resource;

use axum::http::StatusCode;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Most resources one list answers (`count` is cut to it; `filter.maxResults`).
pub const MAX_RESULTS: i64 = 1000;
/// Largest SCIM request body: a Group with thousands of members fits.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most operations in one PATCH.
pub const MAX_PATCH_OPERATIONS: usize = 1000;
/// Most members a Group may be given in one request.
pub const MAX_MEMBERS: usize = 50_000;
/// Longest free-text attribute (names, displayName, externalId).
pub const MAX_TEXT_CHARS: usize = 1000;

/// A SCIM error answer (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    /// `invalidFilter`, `invalidSyntax`, `invalidPath`, `invalidValue`, `uniqueness`,
    /// `mutability`, `noTarget`, `tooMany`… (400 and 409 only).
    pub scim_type: Option<&'static str>,
    /// One sentence for whoever reads the provider's log.
    pub detail: String,
}

impl ScimError {
    /// 400 with this `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError {
            status: StatusCode::NOT_FOUND,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// 409 `uniqueness`.
    pub fn taken(what: &str) -> Self {
        ScimError {
            status: StatusCode::CONFLICT,
            scim_type: Some("uniqueness"),
            detail: format!("{what} is already taken"),
        }
    }

    /// 412: the resource is no longer the version the request names.
    pub fn changed() -> Self {
        ScimError {
            status: StatusCode::PRECONDITION_FAILED,
            scim_type: None,
            detail: "the resource changed since the version given in If-Match".into(),
        }
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ScimError {
            status: StatusCode::UNAUTHORIZED,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// The RFC's error body.
    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            crate::scim::set(&mut v, "scimType", serde_json::json!(t));
        }
        v
    }
}

impl From<crate::error::Error> for ScimError {
    fn from(e: crate::error::Error) -> Self {
        let status = e.status();
        let scim_type = (status == StatusCode::BAD_REQUEST).then_some("invalidValue");
        ScimError {
            status,
            scim_type,
            detail: e.public_text(),
        }
    }
}

impl From<filter::FilterError> for ScimError {
    fn from(e: filter::FilterError) -> Self {
        ScimError::bad(e.scim_type.as_str(), e.detail)
    }
}

impl From<crate::store::StoreError> for ScimError {
    fn from(e: crate::store::StoreError) -> Self {
        crate::error::Error::from(e).into()
    }
}

/// Sets `key` of a JSON object (nothing when `v` is not an object).
pub fn set(v: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let serde_json::Value::Object(m) = v {
        m.insert(key.to_string(), value);
    }
}

/// A result whose error is a SCIM error.
pub type ScimResult<T> = std::result::Result<T, ScimError>;
