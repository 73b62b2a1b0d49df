//! What the server declares (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and
//! `Schemas`. They say exactly what is implemented, since conformance testers and providers
//! decide what to send from them: PATCH, filters (up to [`MAX_RESULTS`]), ETags and password
//! changes are supported; bulk and sorting are not.

use serde_json::{Value, json};

use super::{GROUP_SCHEMA, MAX_RESULTS, USER_SCHEMA};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn meta(kind: &str, location: String) -> Value {
    json!({"resourceType": kind, "location": location})
}

/// `ServiceProviderConfig`.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": null,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": true},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token minted by a superadmin with `wmill scim token create`, \
                sent as `Authorization: Bearer <token>`.",
            "primary": true,
        }],
        "meta": meta("ServiceProviderConfig", format!("{base}/ServiceProviderConfig")),
    })
}

fn resource_type(base: &str, id: &str, endpoint: &str, schema: &str) -> Value {
    json!({
        "schemas": [RT_SCHEMA],
        "id": id,
        "name": id,
        "endpoint": endpoint,
        "description": if id == "User" { "Instance accounts" } else { "Instance groups" },
        "schema": schema,
        "schemaExtensions": [],
        "meta": meta("ResourceType", format!("{base}/ResourceTypes/{id}")),
    })
}

/// The resource types, by id.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        resource_type(base, "User", "/Users", USER_SCHEMA),
        resource_type(base, "Group", "/Groups", GROUP_SCHEMA),
    ]
}

/// One attribute's definition.
struct Attr {
    name: &'static str,
    ty: &'static str,
    multi: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    canonical: &'static [&'static str],
    sub: Vec<Attr>,
}

fn attr(name: &'static str, ty: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        canonical: &[],
        sub: Vec::new(),
    }
}

impl Attr {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn unique(mut self) -> Self {
        self.uniqueness = "server";
        self
    }
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn mutability(mut self, m: &'static str) -> Self {
        self.mutability = m;
        self
    }
    fn returned(mut self, r: &'static str) -> Self {
        self.returned = r;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    fn sub(mut self, sub: Vec<Attr>) -> Self {
        self.sub = sub;
        self
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.ty,
            "multiValued": self.multi,
            "description": self.name,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        });
        if !self.sub.is_empty() {
            crate::scim::set(
                &mut v,
                "subAttributes",
                Value::Array(self.sub.iter().map(Attr::json).collect()),
            );
        }
        if !self.canonical.is_empty() {
            crate::scim::set(&mut v, "canonicalValues", json!(self.canonical));
        }
        if self.ty == "reference" {
            crate::scim::set(&mut v, "referenceTypes", json!(["User"]));
        }
        v
    }
}

fn schema(base: &str, id: &str, name: &str, attrs: Vec<Attr>) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": if name == "User" { "An instance account" } else { "An instance group" },
        "attributes": attrs.iter().map(Attr::json).collect::<Vec<_>>(),
        "meta": meta("Schema", format!("{base}/Schemas/{id}")),
    })
}

/// The schemas: only the attributes this server keeps, as it keeps them. An account has
/// exactly one email (so `emails` is required, of type `work`), is always active or not (so
/// `active` is required), and keeps one display name (`name.formatted` is read as the
/// `displayName` when that is missing, and not shown).
pub fn schemas(base: &str) -> Vec<Value> {
    let user = vec![
        attr("userName", "string").required().unique(),
        attr("name", "complex").sub(vec![
            attr("familyName", "string"),
            attr("givenName", "string"),
        ]),
        attr("displayName", "string"),
        attr("active", "boolean").required(),
        attr("password", "string")
            .mutability("writeOnly")
            .returned("never")
            .case_exact(),
        attr("emails", "complex").multi().required().sub(vec![
            attr("value", "string").required(),
            attr("type", "string").canonical(&["work"]),
        ]),
        attr("externalId", "string").case_exact(),
    ];
    let group = vec![
        attr("displayName", "string").required().unique(),
        attr("externalId", "string").case_exact(),
        attr("members", "complex").multi().sub(vec![
            attr("value", "string").case_exact().mutability("immutable"),
            attr("type", "string")
                .canonical(&["User"])
                .mutability("immutable"),
            attr("$ref", "reference")
                .case_exact()
                .mutability("immutable"),
        ]),
    ];
    vec![
        schema(base, USER_SCHEMA, "User", user),
        schema(base, GROUP_SCHEMA, "Group", group),
    ]
}
