//! `alter directory …`: the directory credential (R-DIR-01), imports with a progress bar
//! (R-DIR-05), and the decision on an import the safety valve holds (R-DIR-08).

use std::time::{Duration, Instant};

use alter_proto::admin::v1 as pb;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::admin::{AppArg, Client, Output, server};

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Set or check the credential directory sync reads the provider with.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Imports: run one, list them, show one, approve or reject a held one.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Whether a credential is set, and the latest import.
    Status {
        #[command(flatten)]
        app: AppArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Store a credential after checking it against the provider (never shown again).
    Set(CredentialArgs),
    /// Check the stored credential against the provider again.
    Test {
        #[command(flatten)]
        app: AppArg,
    },
}

#[derive(Debug, Args)]
pub struct CredentialArgs {
    #[command(flatten)]
    app: AppArg,
    /// Auth0: the tenant's domain (acme.us.auth0.com).
    #[arg(long, conflicts_with_all = ["clerk_secret_key", "okta_org_url"])]
    auth0_domain: Option<String>,
    /// Auth0: the machine-to-machine application's client secret (read from
    /// ALTER_DIRECTORY_CLIENT_SECRET if set, so it stays out of shell history).
    #[arg(long, env = "ALTER_DIRECTORY_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Auth0 / Okta: the application's client ID.
    #[arg(long)]
    client_id: Option<String>,
    /// Clerk: the instance's secret key, sk_live_… (or ALTER_CLERK_SECRET_KEY).
    #[arg(long, env = "ALTER_CLERK_SECRET_KEY", hide_env_values = true)]
    clerk_secret_key: Option<String>,
    /// Clerk: the Backend API URL (default https://api.clerk.com/).
    #[arg(long)]
    clerk_api_url: Option<String>,
    /// Okta: the org URL (https://acme.okta.com).
    #[arg(long)]
    okta_org_url: Option<String>,
    /// Okta: a file holding the service app's private key as a JWK.
    #[arg(long)]
    private_jwk_file: Option<std::path::PathBuf>,
    /// Okta: the key ID, when the JWK has no `kid`.
    #[arg(long)]
    key_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Request an import (or get the one under way); with --wait, follow it to its end.
    Run {
        #[command(flatten)]
        app: AppArg,
        /// Report what the import would change without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Show progress until the import ends.
        #[arg(long)]
        wait: bool,
    },
    /// The latest imports, newest first.
    Runs {
        #[command(flatten)]
        app: AppArg,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One import, with who a held import would remove.
    Show {
        #[command(flatten)]
        app: AppArg,
        /// The import's ID.
        import: String,
    },
    /// Apply a held import's removals.
    Approve {
        #[command(flatten)]
        app: AppArg,
        import: String,
    },
    /// Discard a held import: nobody is removed.
    Reject {
        #[command(flatten)]
        app: AppArg,
        import: String,
    },
}

pub(crate) async fn run(
    c: &mut Client,
    cmd: DirectoryCommand,
    as_json: bool,
) -> Result<Output, String> {
    Ok(match cmd {
        DirectoryCommand::Credential(CredentialCommand::Set(args)) => {
            let app_id = args.app.app.clone();
            let request = pb::SetDirectoryCredentialRequest {
                app_id,
                credential: Some(credential(args)?),
            };
            let status = c
                .set_directory_credential(request)
                .await
                .map_err(server)?
                .into_inner();
            status_record(
                &status,
                "credential verified against the provider and stored (sealed)",
            )
        }
        DirectoryCommand::Credential(CredentialCommand::Test { app }) => {
            let status = c
                .test_directory_credential(pb::TestDirectoryCredentialRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            status_record(&status, "the stored credential works")
        }
        DirectoryCommand::Status { app } => {
            let status = c
                .get_directory_status(pb::GetDirectoryStatusRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            status_record(&status, "")
        }
        DirectoryCommand::Import(ImportCommand::Run { app, dry_run, wait }) => {
            let app_id = app.app;
            let run = c
                .run_directory_import(pb::RunDirectoryImportRequest {
                    app_id: app_id.clone(),
                    dry_run,
                })
                .await
                .map_err(server)?
                .into_inner();
            if !run.created {
                eprintln!("an import is already under way; showing it");
            }
            if wait {
                let done = follow(c, &app_id, &run.id, as_json).await?;
                import_record(&done, &[])
            } else {
                import_record(&run, &[])
            }
        }
        DirectoryCommand::Import(ImportCommand::Runs { app, limit }) => {
            let r = c
                .list_directory_imports(pb::ListDirectoryImportsRequest {
                    app_id: app.app,
                    limit,
                })
                .await
                .map_err(server)?
                .into_inner();
            Output::page(
                "imports",
                &r.imports,
                import_json,
                vec![
                    "ID",
                    "STATE",
                    "TRIGGER",
                    "REQUESTED",
                    "IMPORTED",
                    "UPDATED",
                    "SUSPENDED",
                    "DEPROVISIONED",
                    "ERROR / HELD",
                ],
                |r| {
                    vec![
                        r.id.clone(),
                        format!("{}{}", r.state, if r.dry_run { " (dry run)" } else { "" }),
                        r.trigger.clone(),
                        r.requested_at.clone(),
                        r.users_imported.to_string(),
                        r.users_updated.to_string(),
                        r.users_suspended.to_string(),
                        r.users_deprovisioned.to_string(),
                        if r.last_error.is_empty() {
                            r.held_reason.clone()
                        } else {
                            r.last_error.clone()
                        },
                    ]
                },
                String::new(),
            )
        }
        DirectoryCommand::Import(ImportCommand::Show { app, import }) => {
            let run = c
                .get_directory_import(pb::GetDirectoryImportRequest {
                    app_id: app.app.clone(),
                    import_id: import.clone(),
                })
                .await
                .map_err(server)?
                .into_inner();
            let removals = if run.state == "awaiting_approval" {
                c.list_directory_import_removals(pb::ListDirectoryImportRemovalsRequest {
                    app_id: app.app,
                    import_id: import,
                    page_size: 1000,
                    offset: 0,
                })
                .await
                .map_err(server)?
                .into_inner()
                .removals
            } else {
                Vec::new()
            };
            import_record(&run, &removals)
        }
        DirectoryCommand::Import(ImportCommand::Approve { app, import }) => {
            decide(c, app.app, import, true).await?
        }
        DirectoryCommand::Import(ImportCommand::Reject { app, import }) => {
            decide(c, app.app, import, false).await?
        }
    })
}

fn credential(
    args: CredentialArgs,
) -> Result<pb::set_directory_credential_request::Credential, String> {
    use pb::set_directory_credential_request::Credential;
    let need = |value: Option<String>, flag: &str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{flag} is needed for this provider"))
    };
    if let Some(domain) = args.auth0_domain {
        return Ok(Credential::Auth0(pb::Auth0DirectoryCredential {
            domain,
            client_id: need(args.client_id, "--client-id")?,
            client_secret: need(
                args.client_secret,
                "--client-secret (or ALTER_DIRECTORY_CLIENT_SECRET)",
            )?,
        }));
    }
    if let Some(secret_key) = args.clerk_secret_key {
        return Ok(Credential::Clerk(pb::ClerkDirectoryCredential {
            secret_key,
            api_url: args.clerk_api_url.unwrap_or_default(),
        }));
    }
    if let Some(org_url) = args.okta_org_url {
        let path = args.private_jwk_file.ok_or(
            "--private-jwk-file is needed for Okta: the service app's private key as a JWK",
        )?;
        let private_jwk = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read --private-jwk-file {}: {e}", path.display()))?;
        return Ok(Credential::Okta(pb::OktaDirectoryCredential {
            org_url,
            client_id: need(args.client_id, "--client-id")?,
            private_jwk,
            key_id: args.key_id.unwrap_or_default(),
        }));
    }
    Err("say which provider: --auth0-domain, --clerk-secret-key (or ALTER_CLERK_SECRET_KEY) or --okta-org-url".to_owned())
}

/// Polls the import until it ends, drawing a progress bar with rates on stderr.
async fn follow(
    c: &mut Client,
    app: &str,
    id: &str,
    quiet: bool,
) -> Result<pb::DirectoryImport, String> {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    loop {
        let run = c
            .get_directory_import(pb::GetDirectoryImportRequest {
                app_id: app.to_owned(),
                import_id: id.to_owned(),
            })
            .await
            .map_err(server)?
            .into_inner();
        let seen = run.users_imported + run.users_updated;
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{}: {} users imported, {} updated, {} suspended, {} groups, {} memberships; {} requests ({:.0} users/s, {:.1} requests/s)",
            run.state,
            run.users_imported,
            run.users_updated,
            run.users_suspended,
            run.groups,
            run.memberships_added,
            run.requests,
            seen as f64 / secs,
            run.requests as f64 / secs,
        ));
        if !matches!(run.state.as_str(), "pending" | "running") {
            bar.finish_and_clear();
            return Ok(run);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn decide(
    c: &mut Client,
    app: String,
    import: String,
    approve: bool,
) -> Result<Output, String> {
    let run = c
        .decide_directory_import(pb::DecideDirectoryImportRequest {
            app_id: app,
            import_id: import,
            approve,
        })
        .await
        .map_err(server)?
        .into_inner();
    Ok(import_record(&run, &[]))
}

fn import_json(r: &pb::DirectoryImport) -> Value {
    json!({
        "id": r.id, "state": r.state, "trigger": r.trigger, "dry_run": r.dry_run,
        "requested_at": r.requested_at, "started_at": r.started_at, "finished_at": r.finished_at,
        "users_imported": r.users_imported, "users_updated": r.users_updated,
        "users_suspended": r.users_suspended, "users_deprovisioned": r.users_deprovisioned,
        "groups": r.groups, "memberships_added": r.memberships_added,
        "memberships_removed": r.memberships_removed, "requests": r.requests,
        "last_error": r.last_error, "held_reason": r.held_reason, "decided_by": r.decided_by,
    })
}

fn import_record(r: &pb::DirectoryImport, removals: &[pb::DirectoryImportRemoval]) -> Output {
    let mut json = import_json(r);
    let who: Vec<String> = removals
        .iter()
        .map(|x| {
            if x.external_group_id.is_empty() {
                format!("deprovision {}", x.external_user_id)
            } else {
                format!("remove {} from {}", x.external_user_id, x.external_group_id)
            }
        })
        .collect();
    json["would_remove"] = json!(who);
    let mut fields = vec![
        ("id", r.id.clone()),
        (
            "state",
            format!(
                "{}{}",
                r.state,
                if r.dry_run {
                    " (dry run: nothing written)"
                } else {
                    ""
                }
            ),
        ),
        ("trigger", r.trigger.clone()),
        ("requested", r.requested_at.clone()),
        ("started", r.started_at.clone()),
        ("finished", r.finished_at.clone()),
        ("users imported", r.users_imported.to_string()),
        ("users updated", r.users_updated.to_string()),
        ("users suspended", r.users_suspended.to_string()),
        ("users deprovisioned", r.users_deprovisioned.to_string()),
        ("groups", r.groups.to_string()),
        ("memberships added", r.memberships_added.to_string()),
        ("memberships removed", r.memberships_removed.to_string()),
        ("requests", r.requests.to_string()),
    ];
    for (key, value) in [
        ("error", &r.last_error),
        ("held", &r.held_reason),
        ("decided by", &r.decided_by),
    ] {
        if !value.is_empty() {
            fields.push((key, value.clone()));
        }
    }
    if !who.is_empty() {
        fields.push(("would remove", who.join(", ")));
    }
    Output::Record { json, fields }
}

fn status_record(s: &pb::DirectoryStatus, note: &str) -> Output {
    let latest = s.latest_import.as_ref();
    let mut fields = vec![
        (
            "credential",
            if s.credential_set {
                format!("set {}", s.credential_set_at)
            } else {
                "not set".to_owned()
            },
        ),
        (
            "latest import",
            latest
                .map(|r| format!("{} {} ({})", r.id, r.state, r.requested_at))
                .unwrap_or_else(|| "none".to_owned()),
        ),
    ];
    if !note.is_empty() {
        fields.push(("note", note.to_owned()));
    }
    Output::Record {
        json: json!({
            "credential_set": s.credential_set,
            "credential_set_at": s.credential_set_at,
            "latest_import": latest.map(import_json),
        }),
        fields,
    }
}
