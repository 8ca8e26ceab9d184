//! The admin commands (`alter apps|idp|grants|users|groups …`): thin gRPC calls to config-api,
//! answers printed as tables or, with `--json`, as JSON; errors print the server's message.

use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1 as id;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::process::ExitCode;

/// How to reach config-api, shared by every admin command.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// config-api's gRPC endpoint.
    #[arg(
        long,
        global = true,
        env = "ALTER_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,
    /// The admin bearer token (see `alter secrets new-admin-token`).
    #[arg(long, global = true, env = "ALTER_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print answers as JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only this field of the answer (a dotted path into its JSON form, e.g. `id` or
    /// `users.0.id`), for scripts: `export ALTER_APP=$(alter apps create Acme --field id)`.
    #[arg(long, global = true, value_name = "PATH")]
    pub field: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create an app (a tenant and isolation boundary).
    Create {
        /// A name for people (1 to 200 characters).
        name: String,
    },
    /// List apps.
    List(Page),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Auth0,
    Clerk,
    Okta,
    /// Also accepted as `custom_oidc`, the name config-api's messages use.
    #[value(alias = "custom_oidc")]
    CustomOidc,
}

impl Kind {
    fn pb(kind: Option<Kind>) -> i32 {
        match kind {
            None => pb::IdpKind::Unspecified,
            Some(Kind::Auth0) => pb::IdpKind::Auth0,
            Some(Kind::Clerk) => pb::IdpKind::Clerk,
            Some(Kind::Okta) => pb::IdpKind::Okta,
            Some(Kind::CustomOidc) => pb::IdpKind::CustomOidc,
        }
        .into()
    }
}

/// Claim mappings (R-CFG-07). Names are top-level claim keys and may contain dots and
/// slashes, e.g. `https://alter.dev/groups`. An empty value clears an optional claim.
#[derive(Debug, Clone, Args)]
pub struct ClaimArgs {
    /// The claim carrying the user's ID at the provider (default `sub`; Okta: `uid`).
    #[arg(long)]
    pub user_id_claim: Option<String>,
    /// The claim carrying group IDs or names (a string or an array).
    #[arg(long)]
    pub group_claim: Option<String>,
    /// The claim carrying roles.
    #[arg(long)]
    pub role_claim: Option<String>,
    /// The claim carrying the email address.
    #[arg(long)]
    pub email_claim: Option<String>,
    /// The claim carrying the display name.
    #[arg(long)]
    pub display_name_claim: Option<String>,
    /// The group claim carries stable group IDs (needed for group grants on Okta).
    #[arg(long)]
    pub group_claim_stable_ids: Option<bool>,
}

impl ClaimArgs {
    fn is_empty(&self) -> bool {
        self.user_id_claim.is_none()
            && self.group_claim.is_none()
            && self.role_claim.is_none()
            && self.email_claim.is_none()
            && self.display_name_claim.is_none()
            && self.group_claim_stable_ids.is_none()
    }

    /// `base` with every given flag applied.
    fn apply(&self, mut base: pb::ClaimMappings) -> pb::ClaimMappings {
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                field.clone_from(v);
            }
        };
        set(&mut base.user_id_claim, &self.user_id_claim);
        set(&mut base.group_claim, &self.group_claim);
        set(&mut base.role_claim, &self.role_claim);
        set(&mut base.email_claim, &self.email_claim);
        set(&mut base.display_name_claim, &self.display_name_claim);
        if let Some(stable) = self.group_claim_stable_ids {
            base.group_claim_stable_ids = stable;
        }
        base
    }
}

#[derive(Debug, Clone, Args)]
pub struct AppArg {
    /// The app's ID.
    #[arg(long, env = "ALTER_APP")]
    pub app: String,
}

#[derive(Debug, Clone, Args)]
pub struct Page {
    /// Rows per page (default 50, at most 500).
    #[arg(long, default_value_t = 0)]
    pub page_size: u32,
    /// The token printed after the previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Fetch and check the issuer's discovery document without saving anything.
    Discover {
        /// The issuer exactly as in your tokens' `iss` (Auth0: with the trailing slash).
        issuer: String,
        /// The provider kind; needed only for custom domains.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
    },
    /// Connect the app's identity provider (one per app).
    Create {
        #[command(flatten)]
        app: AppArg,
        /// The issuer exactly as in your tokens' `iss`.
        #[arg(long)]
        issuer: String,
        /// The audience your tokens carry in `aud` (required).
        #[arg(long)]
        audience: String,
        /// The provider kind; needed only for custom domains.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// custom_oidc only: the JWKS URL, given by hand instead of discovery.
        #[arg(long)]
        jwks_uri: Option<String>,
        /// Claim mappings: the provider's suggested ones, changed by any flag given.
        #[command(flatten)]
        claims: ClaimArgs,
    },
    /// Show the app's identity provider.
    Show {
        #[command(flatten)]
        app: AppArg,
    },
    /// Change claim mappings (only until the first user signs in). Unnamed mappings keep their value.
    SetClaims {
        #[command(flatten)]
        app: AppArg,
        #[command(flatten)]
        claims: ClaimArgs,
    },
    /// Remove the app's identity provider (refused once users signed in through it).
    Delete {
        #[command(flatten)]
        app: AppArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Grant a credential to a user, a group, or the app itself (system).
    #[command(group(clap::ArgGroup::new("principal").required(true).args(["user", "group", "system"])))]
    Create {
        #[command(flatten)]
        app: AppArg,
        /// The credential reference the grant gives access to.
        #[arg(long)]
        credential: String,
        /// Bind to this user ID.
        #[arg(long)]
        user: Option<String>,
        /// Bind to this group ID (Clerk, or Okta with stable group IDs).
        #[arg(long)]
        group: Option<String>,
        /// Bind to the app itself.
        #[arg(long)]
        system: bool,
        /// RFC 3339 expiry, e.g. 2030-01-31T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
        /// Makes the call safe to retry: a second call with the same ID returns the grant the
        /// first one created instead of creating another (e.g. `--request-id "$(uuidgen)"`).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// List grants (active ones unless --all).
    List {
        #[command(flatten)]
        app: AppArg,
        /// Include revoked and expired grants.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        page: Page,
    },
    /// Revoke a grant; every verifier drops it at once.
    Revoke {
        #[command(flatten)]
        app: AppArg,
        /// The grant's ID.
        grant_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List the app's users.
    List {
        #[command(flatten)]
        app: AppArg,
        #[command(flatten)]
        page: Page,
    },
    /// Show a user with their groups and active grants.
    Show {
        #[command(flatten)]
        app: AppArg,
        /// The user's ID (ours).
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List the app's groups.
    List {
        #[command(flatten)]
        app: AppArg,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Enable the identity provider's webhooks. Auth0 / custom OIDC: a secret is generated and
    /// shown once. Clerk: pass the endpoint's whsec_… signing secret. Okta: pass the
    /// Authorization value set on the event hook.
    Enable {
        #[command(flatten)]
        app: AppArg,
        /// Clerk's signing secret or Okta's Authorization value (read from ALTER_WEBHOOK_SECRET
        /// if set, so it stays out of shell history).
        #[arg(long, env = "ALTER_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Replace the secret; the previous one stays valid for the grace period.
    Rotate {
        #[command(flatten)]
        app: AppArg,
        #[arg(long, env = "ALTER_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Seconds the previous secret stays valid (default: config-api's setting, 24 h).
        #[arg(long, default_value_t = 0)]
        grace_secs: u32,
    },
    /// Disable webhooks; deliveries are answered 404 until enabled again.
    Disable {
        #[command(flatten)]
        app: AppArg,
    },
    /// Whether webhooks are enabled, and the endpoint URL to give the provider.
    Status {
        #[command(flatten)]
        app: AppArg,
    },
    /// Recent deliveries, newest first: time, provider event ID, outcome, what it changed.
    Deliveries {
        #[command(flatten)]
        app: AppArg,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The provisioning audit trail, oldest first, filtered by user, kind, source and time.
    List {
        #[command(flatten)]
        app: AppArg,
        /// Only rows about this user (our ID).
        #[arg(long)]
        user: Option<String>,
        /// Only this kind, e.g. user_deprovisioned, grant_revoked, grant_created.
        #[arg(long)]
        kind: Option<String>,
        /// Only this source: jwt, webhook, directory_sync or admin.
        #[arg(long)]
        source: Option<String>,
        /// RFC 3339: rows that happened at or after this time.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339: rows that happened before this time.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Recompute the app's hash chain and name the first row that does not match (R-AUD-04).
    Verify {
        #[command(flatten)]
        app: AppArg,
    },
}

/// Any admin command.
#[derive(Debug)]
pub enum AdminCommand {
    Audit(AuditCommand),
    Apps(AppsCommand),
    Idp(IdpCommand),
    Grants(GrantsCommand),
    Webhooks(WebhooksCommand),
    Users(UsersCommand),
    Groups(GroupsCommand),
    Directory(crate::directory::DirectoryCommand),
    Signin(crate::signin::SigninCommand),
}

pub(crate) type Client = alter_config_api::AdminClient;

/// Runs one admin command and prints its answer; the exit code says whether it worked.
pub fn run(connection: Connection, command: AdminCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(&connection, command)) {
        Ok(output) => match &connection.field {
            Some(path) => match field(&output, path) {
                Ok(value) => {
                    println!("{value}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("alter: {message}");
                    ExitCode::FAILURE
                }
            },
            None => {
                print_output(&output, connection.json);
                ExitCode::SUCCESS
            }
        },
        Err(message) => {
            eprintln!("alter: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(connection: &Connection) -> Result<Client, String> {
    alter_config_api::connect_admin(&connection.endpoint, connection.token.as_deref())
        .await
        .map_err(|e| format!("{e} (set --endpoint / ALTER_ENDPOINT, --token / ALTER_ADMIN_TOKEN)"))
}

pub(crate) fn server(status: tonic::Status) -> String {
    format!("{} ({:?})", status.message(), status.code())
}

/// What a command prints: a table (headers, rows), a record (key, value) list, or a note.
pub(crate) enum Output {
    Table {
        json: Value,
        headers: Vec<&'static str>,
        rows: Vec<Vec<String>>,
        next: String,
    },
    Record {
        json: Value,
        fields: Vec<(&'static str, String)>,
    },
    Done {
        json: Value,
        note: String,
    },
}

impl Output {
    /// A page of `items` as a table, and as `{"<key>": [...], "next_page_token": …}` for --json.
    pub(crate) fn page<T>(
        key: &str,
        items: &[T],
        to_json: fn(&T) -> Value,
        headers: Vec<&'static str>,
        row: impl Fn(&T) -> Vec<String>,
        next: String,
    ) -> Self {
        let mut json = serde_json::Map::new();
        json.insert(
            key.to_owned(),
            Value::Array(items.iter().map(to_json).collect()),
        );
        json.insert("next_page_token".to_owned(), json!(next));
        Output::Table {
            json: Value::Object(json),
            headers,
            rows: items.iter().map(row).collect(),
            next,
        }
    }
}

async fn execute(connection: &Connection, command: AdminCommand) -> Result<Output, String> {
    let mut c = connect(connection).await?;
    Ok(match command {
        AdminCommand::Apps(AppsCommand::Create { name }) => app_record(
            &c.create_app(pb::CreateAppRequest {
                name,
                request_id: String::new(),
            })
            .await
            .map_err(server)?
            .into_inner(),
        ),
        AdminCommand::Apps(AppsCommand::List(page)) => {
            let r = c
                .list_apps(pb::ListAppsRequest {
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(server)?
                .into_inner();
            Output::page(
                "apps",
                &r.apps,
                app_json,
                vec!["ID", "NAME", "CREATED"],
                |a| vec![a.id.clone(), a.name.clone(), a.created_at.clone()],
                r.next_page_token,
            )
        }
        AdminCommand::Idp(cmd) => idp(&mut c, cmd).await?,
        AdminCommand::Grants(cmd) => grants(&mut c, cmd).await?,
        AdminCommand::Webhooks(cmd) => webhooks(&mut c, cmd).await?,
        AdminCommand::Audit(cmd) => audit(&mut c, cmd).await?,
        AdminCommand::Directory(cmd) => crate::directory::run(&mut c, cmd, connection.json).await?,
        AdminCommand::Signin(cmd) => crate::signin::run(&mut c, cmd).await?,
        AdminCommand::Users(UsersCommand::List { app, page }) => {
            let r = c
                .list_users(pb::ListUsersRequest {
                    app_id: app.app,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(server)?
                .into_inner();
            Output::page(
                "users",
                &r.users,
                user_json,
                vec!["ID", "EXTERNAL ID", "EMAIL", "NAME", "STATUS"],
                |u| {
                    vec![
                        u.id.clone(),
                        u.external_id.clone(),
                        u.email.clone(),
                        u.display_name.clone(),
                        status(u.status()),
                    ]
                },
                r.next_page_token,
            )
        }
        AdminCommand::Users(UsersCommand::Show { app, user_id }) => {
            let r = c
                .get_user(pb::GetUserRequest {
                    app_id: app.app,
                    user_id,
                })
                .await
                .map_err(server)?
                .into_inner();
            let user = r.user.unwrap_or_default();
            Output::Record {
                json: json!({
                    "user": user_json(&user),
                    "groups": r.groups.iter().map(group_json).collect::<Vec<_>>(),
                    "grants": r.grants.iter().map(grant_json).collect::<Vec<_>>(),
                }),
                fields: vec![
                    ("id", user.id.clone()),
                    ("external id", user.external_id.clone()),
                    ("email", user.email.clone()),
                    ("name", user.display_name.clone()),
                    ("status", status(user.status())),
                    (
                        "groups",
                        r.groups
                            .iter()
                            .map(|g| format!("{} ({})", g.external_id, g.id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    (
                        "grants",
                        r.grants
                            .iter()
                            .map(|g| format!("{} ({})", g.credential_ref, g.id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ],
            }
        }
        AdminCommand::Groups(GroupsCommand::List { app, page }) => {
            let r = c
                .list_groups(pb::ListGroupsRequest {
                    app_id: app.app,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(server)?
                .into_inner();
            Output::page(
                "groups",
                &r.groups,
                group_json,
                vec!["ID", "EXTERNAL ID", "NAME"],
                |g| vec![g.id.clone(), g.external_id.clone(), g.name.clone()],
                r.next_page_token,
            )
        }
    })
}

async fn idp(c: &mut Client, cmd: IdpCommand) -> Result<Output, String> {
    Ok(match cmd {
        IdpCommand::Discover { issuer, kind } => {
            let r = c
                .discover_idp(pb::DiscoverIdpRequest {
                    issuer,
                    kind: Kind::pb(kind),
                })
                .await
                .map_err(server)?
                .into_inner();
            let mappings = r.suggested_claim_mappings.clone().unwrap_or_default();
            let mut fields = vec![
                ("issuer", r.issuer.clone()),
                ("jwks uri", r.jwks_uri.clone()),
                ("recognised kind", kind_name(r.recognised_kind())),
                ("kind", kind_name(r.kind())),
                ("suggested audience", r.suggested_audience.clone()),
                ("authorization endpoint", r.authorization_endpoint.clone()),
                ("token endpoint", r.token_endpoint.clone()),
                ("end session endpoint", r.end_session_endpoint.clone()),
            ];
            fields.extend(mapping_fields(&mappings));
            Output::Record {
                json: json!({
                    "issuer": r.issuer, "jwks_uri": r.jwks_uri,
                    "recognised_kind": kind_name(r.recognised_kind()), "kind": kind_name(r.kind()),
                    "suggested_audience": r.suggested_audience,
                    "suggested_claim_mappings": mappings_json(&mappings),
                    "authorization_endpoint": r.authorization_endpoint, "token_endpoint": r.token_endpoint,
                    "end_session_endpoint": r.end_session_endpoint,
                }),
                fields,
            }
        }
        IdpCommand::Create {
            app,
            issuer,
            audience,
            kind,
            jwks_uri,
            claims,
        } => {
            // Flags change the provider's suggested mappings (which the server uses when no
            // mapping is sent); a provider without discovery starts from none.
            let claim_mappings = if claims.is_empty() {
                None
            } else {
                let base = if jwks_uri.is_some() {
                    pb::ClaimMappings::default()
                } else {
                    c.discover_idp(pb::DiscoverIdpRequest {
                        issuer: issuer.clone(),
                        kind: Kind::pb(kind),
                    })
                    .await
                    .map_err(server)?
                    .into_inner()
                    .suggested_claim_mappings
                    .unwrap_or_default()
                };
                Some(claims.apply(base))
            };
            let r = c
                .create_idp(pb::CreateIdpRequest {
                    app_id: app.app,
                    issuer,
                    kind: Kind::pb(kind),
                    audience,
                    jwks_uri: jwks_uri.unwrap_or_default(),
                    claim_mappings,
                    request_id: String::new(),
                })
                .await
                .map_err(server)?
                .into_inner();
            idp_record(&r)
        }
        IdpCommand::Show { app } => idp_record(
            &c.get_idp(pb::GetIdpRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner(),
        ),
        IdpCommand::SetClaims { app, claims } => {
            if claims.is_empty() {
                return Err("set-claims needs at least one mapping flag, e.g. --group-claim https://alter.dev/groups (see --help)".to_owned());
            }
            let current = c
                .get_idp(pb::GetIdpRequest {
                    app_id: app.app.clone(),
                })
                .await
                .map_err(server)?
                .into_inner();
            let mappings = claims.apply(current.claim_mappings.unwrap_or_default());
            let r = c
                .set_claim_mappings(pb::SetClaimMappingsRequest {
                    app_id: app.app,
                    claim_mappings: Some(mappings),
                })
                .await
                .map_err(server)?
                .into_inner();
            idp_record(&r)
        }
        IdpCommand::Delete { app } => {
            c.delete_idp(pb::DeleteIdpRequest {
                app_id: app.app.clone(),
            })
            .await
            .map_err(server)?;
            Output::Done {
                json: json!({ "deleted": true, "app_id": app.app }),
                note: format!("identity provider of app {} deleted", app.app),
            }
        }
    })
}

async fn audit(c: &mut Client, cmd: AuditCommand) -> Result<Output, String> {
    Ok(match cmd {
        AuditCommand::List {
            app,
            user,
            kind,
            source,
            since,
            until,
            page,
        } => {
            let r = c
                .list_audit_events(pb::ListAuditEventsRequest {
                    app_id: app.app,
                    user_id: user.unwrap_or_default(),
                    kind: kind.unwrap_or_default(),
                    since: since.unwrap_or_default(),
                    until: until.unwrap_or_default(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                    source: source.unwrap_or_default(),
                })
                .await
                .map_err(server)?
                .into_inner();
            let events = r.events;
            Output::page(
                "events",
                &events,
                |e| {
                    json!({
                        "id": e.id, "kind": e.kind, "source": e.source, "user_id": e.user_id,
                        "event_id": e.event_id, "occurred_at": e.occurred_at,
                        "detail": serde_json::from_str::<Value>(&e.detail_json).unwrap_or(Value::Null),
                    })
                },
                vec!["SEQ", "OCCURRED", "KIND", "SOURCE", "USER", "EVENT"],
                |e| {
                    vec![
                        e.id.clone(),
                        e.occurred_at.clone(),
                        e.kind.clone(),
                        e.source.clone(),
                        e.user_id.clone(),
                        e.event_id.clone(),
                    ]
                },
                r.next_page_token,
            )
        }
        AuditCommand::Verify { app } => {
            let r = c
                .verify_audit_chain(pb::VerifyAuditChainRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            if !r.intact {
                return Err(format!(
                    "the audit chain is broken at row {}: {} — the trail was changed outside Alter from that row on",
                    r.first_broken_seq, r.reason
                ));
            }
            Output::Done {
                json: json!({ "intact": true, "rows": r.rows }),
                note: format!("audit chain intact: {} rows verified", r.rows),
            }
        }
    })
}

fn webhook_status_record(status: &pb::WebhookStatus, secret: &str, note: &str) -> Output {
    let mut fields = vec![
        ("enabled", status.enabled.to_string()),
        ("endpoint_url", status.endpoint_url.clone()),
        ("idp_id", status.idp_id.clone()),
        ("enabled_at", status.enabled_at.clone()),
        ("rotated_at", status.rotated_at.clone()),
        ("previous_valid_until", status.previous_valid_until.clone()),
    ];
    if !secret.is_empty() {
        fields.push(("secret", secret.to_owned()));
    }
    if !note.is_empty() {
        fields.push(("next", note.to_owned()));
    }
    Output::Record {
        json: json!({
            "enabled": status.enabled,
            "endpoint_url": status.endpoint_url,
            "idp_id": status.idp_id,
            "enabled_at": status.enabled_at,
            "rotated_at": status.rotated_at,
            "previous_valid_until": status.previous_valid_until,
            "secret": (!secret.is_empty()).then_some(secret),
            "instructions": note,
        }),
        fields,
    }
}

async fn webhooks(c: &mut Client, cmd: WebhooksCommand) -> Result<Output, String> {
    Ok(match cmd {
        WebhooksCommand::Enable { app, secret } => {
            let r = c
                .enable_webhooks(pb::EnableWebhooksRequest {
                    app_id: app.app,
                    secret: secret.unwrap_or_default(),
                })
                .await
                .map_err(server)?
                .into_inner();
            let note = if r.secret.is_empty() {
                r.instructions.clone()
            } else {
                format!("{} — the secret is shown only now", r.instructions)
            };
            webhook_status_record(&r.status.unwrap_or_default(), &r.secret, &note)
        }
        WebhooksCommand::Rotate {
            app,
            secret,
            grace_secs,
        } => {
            let r = c
                .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
                    app_id: app.app,
                    secret: secret.unwrap_or_default(),
                    grace_period_secs: grace_secs,
                })
                .await
                .map_err(server)?
                .into_inner();
            webhook_status_record(&r.status.unwrap_or_default(), &r.secret, &r.instructions)
        }
        WebhooksCommand::Disable { app } => {
            let app_id = app.app;
            c.disable_webhooks(pb::DisableWebhooksRequest {
                app_id: app_id.clone(),
            })
            .await
            .map_err(server)?;
            Output::Done {
                json: json!({ "app_id": app_id, "enabled": false }),
                note: format!("webhooks of app {app_id} disabled"),
            }
        }
        WebhooksCommand::Status { app } => {
            let r = c
                .get_webhook_status(pb::GetWebhookStatusRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            webhook_status_record(&r, "", "")
        }
        WebhooksCommand::Deliveries { app, page } => {
            let r = c
                .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                    app_id: app.app,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(server)?
                .into_inner();
            Output::page(
                "deliveries",
                &r.deliveries,
                |d| {
                    json!({
                        "received_at": d.received_at,
                        "provider_event_id": d.provider_event_id,
                        "event_type": d.event_type,
                        "event_id": d.event_id,
                        "outcome": d.outcome,
                        "reason": d.reason,
                        "changes": d.changes,
                    })
                },
                vec![
                    "RECEIVED",
                    "PROVIDER EVENT",
                    "TYPE",
                    "OUTCOME",
                    "CHANGED / REASON",
                ],
                |d| {
                    vec![
                        d.received_at.clone(),
                        d.provider_event_id.clone(),
                        d.event_type.clone(),
                        d.outcome.clone(),
                        if d.changes.is_empty() {
                            d.reason.clone()
                        } else {
                            d.changes.join(", ")
                        },
                    ]
                },
                r.next_page_token,
            )
        }
    })
}

async fn grants(c: &mut Client, cmd: GrantsCommand) -> Result<Output, String> {
    Ok(match cmd {
        GrantsCommand::Create {
            app,
            credential,
            user,
            group,
            system: _,
            expires_at,
            request_id,
        } => {
            let (kind, principal_id) = match (user, group) {
                (Some(user), _) => (id::PrincipalKind::User, user),
                (None, Some(group)) => (id::PrincipalKind::Group, group),
                (None, None) => (id::PrincipalKind::System, String::new()),
            };
            let g = c
                .create_grant(pb::CreateGrantRequest {
                    app_id: app.app,
                    credential_ref: credential,
                    principal_kind: kind.into(),
                    principal_id,
                    expires_at: expires_at.unwrap_or_default(),
                    request_id: request_id.unwrap_or_default(),
                })
                .await
                .map_err(server)?
                .into_inner();
            grant_record(&g)
        }
        GrantsCommand::List { app, all, page } => {
            let r = c
                .list_grants(pb::ListGrantsRequest {
                    app_id: app.app,
                    include_inactive: all,
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(server)?
                .into_inner();
            let revoked = |i: usize| {
                r.statuses
                    .get(i)
                    .map(|s| s.revoked_at.clone())
                    .unwrap_or_default()
            };
            Output::Table {
                json: json!({
                    "grants": r.grants.iter().enumerate().map(|(i, g)| {
                        let mut v = grant_json(g);
                        if let (Some(s), Some(obj)) = (r.statuses.get(i), v.as_object_mut()) {
                            obj.insert("created_at".into(), json!(s.created_at));
                            obj.insert("revoked_at".into(), json!(s.revoked_at));
                            obj.insert("revoked_by".into(), json!(s.revoked_by));
                        }
                        v
                    }).collect::<Vec<_>>(),
                    "next_page_token": r.next_page_token,
                }),
                headers: vec![
                    "ID",
                    "CREDENTIAL",
                    "PRINCIPAL",
                    "PRINCIPAL ID",
                    "EXPIRES",
                    "REVOKED",
                ],
                rows: r
                    .grants
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        vec![
                            g.id.clone(),
                            g.credential_ref.clone(),
                            principal(g.principal_kind()),
                            g.principal_id.clone(),
                            g.expires_at.clone(),
                            revoked(i),
                        ]
                    })
                    .collect(),
                next: r.next_page_token.clone(),
            }
        }
        GrantsCommand::Revoke { app, grant_id } => {
            let g = c
                .revoke_grant(pb::RevokeGrantRequest {
                    app_id: app.app,
                    grant_id,
                })
                .await
                .map_err(server)?
                .into_inner();
            Output::Done {
                json: grant_json(&g),
                note: format!("grant {} revoked", g.id),
            }
        }
    })
}

fn kind_name(kind: pb::IdpKind) -> String {
    match kind {
        pb::IdpKind::Unspecified => "",
        pb::IdpKind::Auth0 => "auth0",
        pb::IdpKind::Clerk => "clerk",
        pb::IdpKind::Okta => "okta",
        pb::IdpKind::CustomOidc => "custom_oidc",
    }
    .to_owned()
}

fn status(s: id::UserStatus) -> String {
    match s {
        id::UserStatus::Unspecified => "",
        id::UserStatus::Active => "active",
        id::UserStatus::Suspended => "suspended",
        id::UserStatus::Deprovisioned => "deprovisioned",
    }
    .to_owned()
}

fn principal(k: id::PrincipalKind) -> String {
    match k {
        id::PrincipalKind::Unspecified => "",
        id::PrincipalKind::User => "user",
        id::PrincipalKind::Group => "group",
        id::PrincipalKind::System => "system",
    }
    .to_owned()
}

fn app_json(a: &pb::App) -> Value {
    json!({ "id": a.id, "name": a.name, "created_at": a.created_at })
}

fn app_record(a: &pb::App) -> Output {
    Output::Record {
        json: app_json(a),
        fields: vec![
            ("id", a.id.clone()),
            ("name", a.name.clone()),
            ("created", a.created_at.clone()),
        ],
    }
}

fn mappings_json(m: &pb::ClaimMappings) -> Value {
    json!({
        "user_id_claim": m.user_id_claim, "group_claim": m.group_claim, "role_claim": m.role_claim,
        "email_claim": m.email_claim, "display_name_claim": m.display_name_claim,
        "group_claim_stable_ids": m.group_claim_stable_ids,
    })
}

fn mapping_fields(m: &pb::ClaimMappings) -> Vec<(&'static str, String)> {
    vec![
        ("user id claim", m.user_id_claim.clone()),
        ("group claim", m.group_claim.clone()),
        (
            "group claim stable ids",
            m.group_claim_stable_ids.to_string(),
        ),
        ("role claim", m.role_claim.clone()),
        ("email claim", m.email_claim.clone()),
        ("display name claim", m.display_name_claim.clone()),
    ]
}

fn idp_record(i: &pb::IdentityProvider) -> Output {
    let mappings = i.claim_mappings.clone().unwrap_or_default();
    let mut fields = vec![
        ("id", i.id.clone()),
        ("app", i.app_id.clone()),
        ("kind", kind_name(i.kind())),
        ("issuer", i.issuer.clone()),
        ("jwks uri", i.jwks_uri.clone()),
        ("audience", i.audience.clone()),
        ("claim mappings locked", i.claim_mappings_locked.to_string()),
        ("created", i.created_at.clone()),
    ];
    fields.extend(mapping_fields(&mappings));
    Output::Record {
        json: json!({
            "id": i.id, "app_id": i.app_id, "kind": kind_name(i.kind()), "issuer": i.issuer,
            "jwks_uri": i.jwks_uri, "audience": i.audience, "claim_mappings": mappings_json(&mappings),
            "claim_mappings_locked": i.claim_mappings_locked, "created_at": i.created_at,
        }),
        fields,
    }
}

fn grant_json(g: &id::Grant) -> Value {
    json!({
        "id": g.id, "credential_ref": g.credential_ref, "principal_kind": principal(g.principal_kind()),
        "principal_id": g.principal_id, "expires_at": g.expires_at,
    })
}

fn grant_record(g: &id::Grant) -> Output {
    Output::Record {
        json: grant_json(g),
        fields: vec![
            ("id", g.id.clone()),
            ("credential", g.credential_ref.clone()),
            ("principal", principal(g.principal_kind())),
            ("principal id", g.principal_id.clone()),
            ("expires", g.expires_at.clone()),
        ],
    }
}

fn user_json(u: &id::User) -> Value {
    json!({
        "id": u.id, "external_id": u.external_id, "email": u.email,
        "display_name": u.display_name, "status": status(u.status()),
    })
}

fn group_json(g: &id::Group) -> Value {
    json!({ "id": g.id, "external_id": g.external_id, "name": g.name })
}

/// The value at `path` (dot-separated keys and array indexes) in the answer's JSON form:
/// strings unquoted, anything else as JSON.
fn field(output: &Output, path: &str) -> Result<String, String> {
    let (Output::Table { json, .. } | Output::Record { json, .. } | Output::Done { json, .. }) =
        output;
    let mut value = json;
    for key in path.split('.') {
        let next = match value {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        value = next.ok_or_else(|| {
            let keys = match json {
                Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
                _ => String::new(),
            };
            format!("--field {path}: the answer has no {key:?} there (its fields: {keys}); see the answer with --json")
        })?;
    }
    Ok(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn print_output(output: &Output, as_json: bool) {
    match output {
        Output::Table { json, .. } | Output::Record { json, .. } | Output::Done { json, .. }
            if as_json =>
        {
            println!("{}", serde_json::to_string_pretty(json).unwrap_or_default());
        }
        Output::Table {
            headers,
            rows,
            next,
            ..
        } => {
            print!("{}", table(headers, rows));
            if !next.is_empty() {
                eprintln!("more: --page-token {next}");
            }
        }
        Output::Record { fields, .. } => {
            let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (key, value) in fields {
                println!("{key:<width$}  {value}");
            }
        }
        Output::Done { note, .. } => println!("{note}"),
    }
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", text.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "acme".into()],
                vec!["22".into(), "b".into()],
            ],
        );
        assert_eq!(out, "ID  NAME\n1   acme\n22  b\n");
    }

    #[test]
    fn claim_flags_override_only_what_is_given() {
        let args = ClaimArgs {
            user_id_claim: None,
            group_claim: Some("https://alter.dev/groups".into()),
            role_claim: Some(String::new()),
            email_claim: None,
            display_name_claim: None,
            group_claim_stable_ids: Some(true),
        };
        let base = pb::ClaimMappings {
            user_id_claim: "uid".into(),
            role_claim: "roles".into(),
            ..Default::default()
        };
        let out = args.apply(base);
        assert_eq!(
            (
                out.user_id_claim.as_str(),
                out.group_claim.as_str(),
                out.role_claim.as_str()
            ),
            ("uid", "https://alter.dev/groups", "")
        );
        assert!(out.group_claim_stable_ids);
    }
}
