//! HTTP tests of the whole API, in-process through `oneshot`, on a real database: every
//! endpoint's success and errors, the permission matrix, bad input, concurrency. Each test
//! runs once per database (see `db_test!`).

#[path = "../support/mod.rs"]
mod support;

#[macro_use]
mod common;

mod audit;
mod audit_chain;
mod audit_sink;
mod auth;
mod bad_input;
mod concurrency;
mod groups;
mod hardening;
mod instance;
mod meta;
mod pages;
mod pages_admin;
mod pages_workspace;
mod performance;
mod permissions;
mod scim;
mod scopes;
mod store;
mod tokens;
mod users;
mod workspaces;
