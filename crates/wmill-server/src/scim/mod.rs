//! SCIM 2.0 (RFC 7643/7644) provisioning — issue 17. What exists so far is only its
//! foundation: [`filter`], the parser for RFC 7644 §3.4.2.2 filters (and PATCH paths) and
//! their compilation to parameterised SQL over a caller-given attribute mapping. There are no
//! SCIM routes, tokens, resources or schema changes yet; nothing in the server calls this.
//!
//! The rule this module keeps: a filter is parsed into an AST, never pattern-replaced, and
//! the SQL built from it holds only the caller's mapped column expressions and fixed
//! operator text — every value from the request is a bind parameter.

pub mod filter;
