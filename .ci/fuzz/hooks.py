"""Keeps the fuzzer's own superadmin usable for the whole run.

The fuzzer authenticates as the bootstrap superadmin (dynamic auth, logging in again after
a 401). A few generated requests would end that identity for the rest of the run; this
module changes them just enough that they do not, without changing what the checks expect
of them:

- `users/update` and `users/delete` aimed at that account go to an address that does not
  exist instead (404, an answer the checks accept for any request);
- a password change of that account keeps the known password when the generated one is
  valid (one valid password for another: the request stays as valid as it was);
- a scope change aimed at the token in use goes to a token prefix that does not exist (404),
  so that the rest of the run keeps an unrestricted token;
- a change of that account's email goes to an address that does not exist instead (404);
- an audit export that follows new entries follows them for one second (the longest
  allowed, an hour, would stall the run; the answer is the same, only shorter);
- a users overwrite keeps that account as it is, a superadmin (its own row, if generated, is
  replaced by one without a password hash: the stored one stays), so that every other row is
  still tried for real.
"""

import os
from urllib.parse import unquote

import schemathesis

ADMIN = os.environ.get("WM_FUZZ_ADMIN", "admin@windmill.dev")
PASSWORD = os.environ["WM_FUZZ_PASSWORD"]
MIN_CHARS = int(os.environ.get("WM_FUZZ_PASSWORD_MIN_CHARS", "8"))
STANDIN = "fuzz-standin-absent@example.com"


def _is_admin(value):
    # Values taken from earlier answers arrive percent-encoded.
    return isinstance(value, str) and unquote(value).strip().lower() == ADMIN


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    params = case.path_parameters or {}
    if path in (
        "/api/users/update/{email}",
        "/api/users/delete/{email}",
        "/api/users/change_email/{email}",
    ) and _is_admin(params.get("email")):
        params["email"] = STANDIN
    if path == "/api/users/tokens/update_scopes/{token_prefix}":
        auth = (case.headers or {}).get("Authorization", "")
        in_use = auth.removeprefix("Bearer ")[:10]
        if in_use and unquote(str(params.get("token_prefix", ""))) == in_use:
            params["token_prefix"] = "wm_absent0"
    own = path == "/api/users/setpassword"
    of_admin = path == "/api/users/set_password_of/{email}" and _is_admin(params.get("email"))
    body = case.body
    if (own or of_admin) and isinstance(body, dict):
        pw = body.get("password")
        if isinstance(pw, str) and MIN_CHARS <= len(pw) <= 1024:
            body["password"] = PASSWORD
    query = case.query if isinstance(case.query, dict) else None
    if path == "/api/w/{workspace}/audit/export" and query is not None:
        if "follow_secs" in query or str(query.get("follow", "")).lower() == "true":
            query["follow_secs"] = 1
    if path == "/api/users/overwrite" and isinstance(body, list):
        rows = [r for r in body if not (isinstance(r, dict) and _is_admin(r.get("email")))]
        rows.append({"email": ADMIN, "super_admin": True})
        case.body = rows
