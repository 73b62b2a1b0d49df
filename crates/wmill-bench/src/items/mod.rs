//! The six measurements of issue 6, the pages of issue 15, the SCIM sync and the move from
//! SQLite to PostgreSQL, one module each, and the setup they share.

pub mod audit;
pub mod cli;
pub mod memory;
pub mod migrate;
pub mod pages;
pub mod scim;
pub mod storm;
pub mod throughput;
pub mod writes;

use serde_json::json;

use crate::api::{Api, parallel};
use crate::util::Result;

/// Workspace members made for the groups (no instance accounts needed).
pub const GROUP_MEMBERS: usize = 60;
/// Groups made, each with 10 members (its owner, the superadmin, and 9 others).
pub const GROUPS: usize = 20;

/// In workspace `admins`: members `m00`…`m59` and groups `g00`…`g19` of 10 members each.
pub fn setup_groups(api: &Api, admin: &str) -> Result<()> {
    let (a, t) = (api.clone(), admin.to_string());
    parallel(GROUP_MEMBERS, 4, move |i| {
        a.expect(
            201,
            "POST",
            "/api/w/admins/workspaces/add_user",
            Some(&t),
            Some(
                &json!({"email": format!("m{i:02}@bench.test"), "username": format!("m{i:02}"),
                          "is_admin": false, "operator": false}),
            ),
        )
        .map(|_| ())
    })?;
    let (a, t) = (api.clone(), admin.to_string());
    parallel(GROUPS, 4, move |g| {
        let name = format!("g{g:02}");
        a.expect(
            200,
            "POST",
            "/api/w/admins/groups/create",
            Some(&t),
            Some(&json!({"name": name, "summary": format!("Benchmark group {g}")})),
        )?;
        for k in 0..9 {
            let m = (g * 3 + k) % GROUP_MEMBERS;
            a.expect(
                200,
                "POST",
                &format!("/api/w/admins/groups/adduser/{name}"),
                Some(&t),
                Some(&json!({"username": format!("m{m:02}")})),
            )?;
        }
        Ok(())
    })
}
