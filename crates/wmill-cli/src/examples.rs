//! The EXAMPLES section of every command's help, in one table: a test parses every example
//! with the real command line, so none can name a flag or command that does not exist.

use clap::Command;

/// Each command path (without `wmill`) and lines of examples for it.
pub const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "wmill status",
            "wmill group list --json",
            "wmill help token create",
        ],
    ),
    ("status", &["wmill status", "wmill status --json"]),
    ("version", &["wmill version"]),
    (
        "completions",
        &["wmill completions bash > ~/.local/share/bash-completion/completions/wmill"],
    ),
    (
        "user",
        &[
            "wmill user",
            "wmill user add alice@example.com --name \"Alice\"",
        ],
    ),
    (
        "user add",
        &[
            "wmill user add alice@example.com mypassword123 --name \"Alice\"",
            "wmill user add bob@example.com                # prints a generated password once",
            "printf %s \"$PASSWORD\" | wmill user add carol@example.com --password-stdin",
        ],
    ),
    (
        "user remove",
        &[
            "wmill user remove alice@example.com",
            "wmill user remove alice@example.com --yes     # in scripts",
        ],
    ),
    (
        "user create-token",
        &[
            "TOKEN=$(wmill user create-token)",
            "wmill user create-token --email alice@example.com --password-stdin < password.txt",
        ],
    ),
    ("user list", &["wmill user list", "wmill user list --json"]),
    (
        "user update",
        &[
            "wmill user update alice@example.com --superadmin",
            "wmill user update alice@example.com --disable",
        ],
    ),
    (
        "user set-password",
        &[
            "wmill user set-password                       # yours, asked for",
            "wmill user set-password alice@example.com --password-stdin --revoke-tokens < new.txt",
        ],
    ),
    (
        "user rename",
        &["wmill user rename alice@example.com alice2"],
    ),
    (
        "user change-email",
        &["wmill user change-email alice@example.com alice@corp.example"],
    ),
    (
        "user impersonate",
        &["TOKEN=$(wmill user impersonate alice@example.com --label support-ticket-42)"],
    ),
    ("group", &["wmill group", "wmill group get data-team"]),
    (
        "group list",
        &["wmill group list", "wmill group list --json"],
    ),
    ("group get", &["wmill group get data-team"]),
    (
        "group create",
        &["wmill group create data-team --summary \"Data engineering\""],
    ),
    (
        "group delete",
        &[
            "wmill group delete data-team",
            "wmill group delete data-team --yes",
        ],
    ),
    ("group add-user", &["wmill group add-user data-team alice"]),
    (
        "group remove-user",
        &["wmill group remove-user data-team alice"],
    ),
    (
        "group update",
        &["wmill group update data-team --summary \"Data platform\""],
    ),
    ("group owner", &["wmill group owner list data-team"]),
    ("group owner list", &["wmill group owner list data-team"]),
    (
        "group owner add",
        &[
            "wmill group owner add data-team alice",
            "wmill group owner add data-team g/leads       # every member of group leads",
        ],
    ),
    (
        "group owner remove",
        &["wmill group owner remove data-team alice"],
    ),
    ("group history", &["wmill group history data-team"]),
    ("audit", &["wmill audit", "wmill audit --username alice"]),
    (
        "audit list",
        &[
            "wmill audit list --username admin --after 2026-01-01",
            "wmill audit list --operation groups.create --json",
            "wmill audit list --all-workspaces               # superadmins: every workspace and the instance",
        ],
    ),
    ("audit get", &["wmill audit get 42"]),
    (
        "audit export",
        &[
            "wmill audit export                 # one JSON entry a line, oldest first",
            "wmill audit export --since-id 1234 --follow   # after entry 1234, then new ones",
        ],
    ),
    (
        "audit verify",
        &["wmill audit verify               # superadmins"],
    ),
    ("token", &["wmill token", "wmill token create --label ci"]),
    ("token list", &["wmill token list"]),
    (
        "token create",
        &[
            "TOKEN=$(wmill token create --label ci --expires-in 3600)",
            "wmill token create --label auditor --scope audit:read --read-only",
            "wmill token create --label deploy --scope groups:write --only-workspace admins",
        ],
    ),
    (
        "token update",
        &["wmill token update wm_AbCdEfG --label ci-readonly --scope groups:read"],
    ),
    ("token scopes", &["wmill token scopes"]),
    (
        "token delete",
        &[
            "wmill token delete wm_AbCdEfG",
            "wmill token delete \"$TOKEN\"",
        ],
    ),
    (
        "workspace",
        &["wmill workspace", "wmill workspace switch prod"],
    ),
    (
        "workspace add",
        &[
            "wmill workspace add prod admins http://127.0.0.1:8000 --email admin@windmill.dev",
            "wmill workspace add ci admins http://127.0.0.1:8000 --token-stdin < token.txt",
        ],
    ),
    ("workspace list", &["wmill workspace list"]),
    ("workspace switch", &["wmill workspace switch prod"]),
    (
        "workspace remove",
        &[
            "wmill workspace remove prod",
            "wmill workspace remove prod --revoke          # delete its token on the server too",
        ],
    ),
    ("workspace whoami", &["wmill workspace whoami"]),
    (
        "workspace create",
        &["wmill workspace create data --name \"Data team\""],
    ),
    (
        "workspace add-user",
        &[
            "wmill workspace add-user alice@example.com",
            "wmill workspace add-user bob@example.com --username bobby --operator",
        ],
    ),
    (
        "workspace remove-user",
        &[
            "wmill workspace remove-user alice",
            "wmill workspace remove-user alice --yes",
        ],
    ),
    ("workspace users", &["wmill workspace users"]),
    (
        "workspace service-account",
        &["wmill workspace service-account list"],
    ),
    (
        "workspace service-account create",
        &["wmill workspace service-account create ci_deploy --developer"],
    ),
    (
        "workspace service-account list",
        &["wmill workspace service-account list"],
    ),
    (
        "workspace service-account remove",
        &["wmill workspace service-account remove ci_deploy"],
    ),
    (
        "workspace service-account token",
        &["TOKEN=$(wmill workspace service-account token ci_deploy --scope groups:write)"],
    ),
    (
        "workspace member",
        &["wmill workspace member role alice admin"],
    ),
    (
        "workspace member role",
        &["wmill workspace member role alice admin"],
    ),
    (
        "workspace member disable",
        &["wmill workspace member disable alice"],
    ),
    (
        "workspace member enable",
        &["wmill workspace member enable alice"],
    ),
    ("workspace settings", &["wmill workspace settings"]),
    (
        "workspace auto-invite",
        &[
            "wmill workspace auto-invite --role developer --add",
            "wmill workspace auto-invite --off",
        ],
    ),
    (
        "workspace instance-groups",
        &[
            "wmill workspace instance-groups eng:developer ops:operator",
            "wmill workspace instance-groups                 # no group feeds it any more",
        ],
    ),
    (
        "workspace operator-settings",
        &["wmill workspace operator-settings groups=false audit_logs=false"],
    ),
    (
        "workspace rename",
        &["wmill workspace rename \"Data platform\""],
    ),
    ("workspace archive", &["wmill workspace archive"]),
    (
        "workspace unarchive",
        &["wmill workspace unarchive --workspace data"],
    ),
    (
        "workspace delete",
        &[
            "wmill workspace delete data",
            "wmill workspace delete data --yes",
        ],
    ),
    (
        "workspace leave",
        &["wmill workspace leave --workspace data"],
    ),
    (
        "instance-group",
        &["wmill instance-group", "wmill instance-group get eng"],
    ),
    ("instance-group list", &["wmill instance-group list"]),
    ("instance-group get", &["wmill instance-group get eng"]),
    (
        "instance-group create",
        &["wmill instance-group create eng --summary \"Engineering\""],
    ),
    (
        "instance-group update",
        &["wmill instance-group update eng --summary \"All engineering\""],
    ),
    (
        "instance-group delete",
        &[
            "wmill instance-group delete eng",
            "wmill instance-group delete eng --yes",
        ],
    ),
    (
        "instance-group add-user",
        &["wmill instance-group add-user eng alice@example.com"],
    ),
    (
        "instance-group remove-user",
        &["wmill instance-group remove-user eng alice@example.com"],
    ),
    ("instance", &["wmill instance export > users.yaml"]),
    (
        "instance export",
        &[
            "wmill instance export > users.yaml",
            "wmill instance export --groups > groups.yaml",
        ],
    ),
    (
        "instance import",
        &[
            "wmill instance import users.yaml --dry-run",
            "wmill instance import users.yaml",
        ],
    ),
    ("scim", &["wmill scim token create --label okta"]),
    (
        "scim token",
        &["wmill scim token", "wmill scim token create --label okta"],
    ),
    (
        "scim token list",
        &["wmill scim token list", "wmill scim token list --json"],
    ),
    (
        "scim token create",
        &[
            "SCIM_TOKEN=$(wmill scim token create --label okta)",
            "wmill scim token create --label \"Entra ID\" --json",
        ],
    ),
    (
        "scim token delete",
        &[
            "wmill scim token delete okta",
            "wmill scim token delete okta --yes            # in scripts",
        ],
    ),
];

/// Appends each command's examples to its help.
pub fn attach(mut cmd: Command) -> Command {
    for (path, lines) in EXAMPLES {
        let mut text = String::from("Examples:");
        for l in *lines {
            text.push_str("\n  ");
            text.push_str(l);
        }
        cmd = with_examples(cmd, &path.split_whitespace().collect::<Vec<_>>(), &text);
    }
    cmd
}

fn with_examples(cmd: Command, path: &[&str], text: &str) -> Command {
    match path.split_first() {
        None => {
            let help = match cmd.get_after_help() {
                Some(h) => format!("{text}\n\n{h}"),
                None => text.to_owned(),
            };
            cmd.after_help(help)
        }
        Some((first, rest)) => {
            let first = (*first).to_owned();
            cmd.mut_subcommand(first, |sub| with_examples(sub, rest, text))
        }
    }
}

/// The words of an example as a shell would pass them to `wmill` (after `wmill`): the
/// command substitution's inside, without redirections, comments or quotes.
#[cfg(test)]
pub fn words(example: &str) -> Vec<String> {
    let start = example
        .find("wmill")
        .map_or(example.len(), |i| i + "wmill".len());
    let mut line = &example[start..];
    if example.contains("$(wmill") {
        line = line.trim_end_matches(')');
    }
    let line = line.split(" # ").next().unwrap_or(line);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    // Redirections are the shell's.
    if let Some(i) = out.iter().position(|w| w == ">" || w == "<") {
        out.truncate(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory;

    fn paths(cmd: &Command, prefix: &str, out: &mut Vec<String>) {
        out.push(prefix.to_owned());
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let path = format!("{prefix} {}", sub.get_name()).trim().to_owned();
            paths(sub, &path, out);
        }
    }

    #[test]
    fn every_command_has_examples() {
        let mut all = Vec::new();
        paths(&Cli::command(), "", &mut all);
        let missing: Vec<&String> = all
            .iter()
            .filter(|p| !EXAMPLES.iter().any(|(e, _)| e == p))
            .collect();
        assert!(missing.is_empty(), "commands without examples: {missing:?}");
        let unknown: Vec<&str> = EXAMPLES
            .iter()
            .map(|(e, _)| *e)
            .filter(|e| !all.iter().any(|p| p == e))
            .collect();
        assert!(unknown.is_empty(), "examples of no command: {unknown:?}");
    }

    #[test]
    fn every_example_parses_as_its_own_command() {
        for (path, lines) in EXAMPLES {
            for line in *lines {
                let words = words(line);
                let argv = std::iter::once("wmill".to_owned()).chain(words.iter().cloned());
                let parsed = attach(Cli::command()).try_get_matches_from(argv);
                if words.first().is_some_and(|w| w == "help") {
                    let kind = parsed.map(|_| None).unwrap_or_else(|e| Some(e.kind()));
                    assert_eq!(kind, Some(clap::error::ErrorKind::DisplayHelp), "{line:?}");
                    continue;
                }
                let matches = parsed.unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
                let mut got = Vec::new();
                let mut m = &matches;
                while let Some((name, sub)) = m.subcommand() {
                    got.push(name);
                    m = sub;
                }
                let got = got.join(" ");
                // A noun's examples may run its commands; a command's, only itself.
                assert!(
                    got == *path || path.is_empty() || got.starts_with(&format!("{path} ")),
                    "{line:?} runs `{got}`, listed under `{path}`"
                );
            }
        }
    }

    #[test]
    fn examples_show_in_help() {
        let help = attach(Cli::command())
            .find_subcommand_mut("token")
            .and_then(|t| t.find_subcommand_mut("create"))
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        assert!(
            help.contains("Examples:\n  TOKEN=$(wmill token create"),
            "{help}"
        );
    }

    #[test]
    fn words_follow_the_shell() {
        assert_eq!(
            words("TOKEN=$(wmill token create --label \"a b\" --expires-in 3600)"),
            ["token", "create", "--label", "a b", "--expires-in", "3600"]
        );
        assert_eq!(
            words("wmill instance export > users.yaml"),
            ["instance", "export"]
        );
        assert_eq!(
            words("wmill user add x        # a comment"),
            ["user", "add", "x"]
        );
        assert_eq!(
            words("printf %s \"$P\" | wmill user add c --password-stdin"),
            ["user", "add", "c", "--password-stdin"]
        );
    }
}
