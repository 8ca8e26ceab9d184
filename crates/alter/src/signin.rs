//! `alter signin set|show|disable`: the app's OIDC sign-in settings (R-CFG-10). Every
//! answer prints the two redirect URIs and the Wallet logout URL to paste into the identity
//! provider; the client secret is never printed.

use alter_proto::admin::v1 as pb;
use serde_json::json;

use crate::admin::{AppArg, Client, Output, server};

#[derive(Debug, clap::Subcommand)]
pub enum SigninCommand {
    /// Set up (or change) sign-in: the OIDC application's client ID and secret, the app's
    /// allowed return URLs and extra scopes. Omit the secret to keep the stored one.
    Set {
        #[command(flatten)]
        app: AppArg,
        /// The Client ID of the OIDC application at the identity provider.
        #[arg(long)]
        client_id: String,
        /// The Client Secret (read from ALTER_CLIENT_SECRET if set, so it stays out of shell
        /// history). Required the first time.
        #[arg(long, env = "ALTER_CLIENT_SECRET", hide_env_values = true)]
        client_secret: Option<String>,
        /// An allowed return URL, compared exactly (repeat for several).
        #[arg(long = "return-url", required = true)]
        return_urls: Vec<String>,
        /// A scope requested besides openid (repeat; default: profile and email).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// The sign-in settings and the URLs to give the identity provider.
    Show {
        #[command(flatten)]
        app: AppArg,
    },
    /// Turn sign-in off; the client secret is deleted.
    Disable {
        #[command(flatten)]
        app: AppArg,
    },
    /// Redeem a result code as the app's backend does (alter.identity.v1.SignIn/Redeem on
    /// the sign-in service): the signed-in user with their groups and grants. Once only.
    Redeem(RedeemArgs),
}

/// `alter signin redeem` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RedeemArgs {
    /// The `code` query parameter the browser brought back to the app's return URL.
    pub code: String,
    /// The app the sign-in was for.
    #[arg(long, env = "ALTER_APP")]
    pub app: String,
    /// The sign-in service's gRPC endpoint.
    #[arg(
        long,
        env = "ALTER_SIGNIN_ENDPOINT",
        default_value = "http://127.0.0.1:8081"
    )]
    pub signin: String,
    /// Print the answer as JSON (the identity provider's tokens are never printed).
    #[arg(long)]
    pub json: bool,
}

/// Runs `alter signin redeem`: exit 0 with the user, 1 when refused, 2 when unreachable.
pub fn redeem(args: RedeemArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter signin redeem: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut client = match alter_signin::connect(args.signin.clone()).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!(
                    "alter signin redeem: cannot reach the sign-in service at {} ({e}); is it running? set --signin or ALTER_SIGNIN_ENDPOINT",
                    args.signin
                );
                return ExitCode::from(2);
            }
        };
        let answer = client
            .redeem(alter_proto::identity::v1::RedeemRequest {
                app_id: args.app.clone(),
                code: args.code.trim().to_owned(),
            })
            .await;
        match answer {
            Ok(answer) => {
                let answer = answer.into_inner();
                crate::verify::print_answer(&answer.identity.clone().unwrap_or_default(), args.json);
                if !args.json {
                    println!("return  {}", answer.return_url);
                    println!(
                        "tokens  id_token, access_token{} (for the app's backend; not printed)",
                        if answer.refresh_token.is_empty() { "" } else { ", refresh_token" }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(status) => {
                eprintln!("refused: {:?}: {}", status.code(), status.message());
                if status.code() == tonic::Code::Unavailable {
                    ExitCode::from(2)
                } else {
                    ExitCode::FAILURE
                }
            }
        }
    })
}

fn record(s: &pb::SignInSettings, note: &str) -> Output {
    let mut fields = vec![
        ("enabled", s.enabled.to_string()),
        ("client_id", s.client_id.clone()),
        (
            "client_secret",
            if s.client_secret_set {
                format!("set at {} (never shown)", s.client_secret_set_at)
            } else {
                "not set".to_owned()
            },
        ),
        ("return_urls", s.return_urls.join(" ")),
        (
            "scopes",
            format!("openid {}", s.scopes.join(" ")).trim().to_owned(),
        ),
        ("app_redirect_uri", s.app_redirect_uri.clone()),
        ("wallet_redirect_uri", s.wallet_redirect_uri.clone()),
        ("wallet_logout_url", s.wallet_logout_url.clone()),
        ("authorize_url", s.authorize_url.clone()),
    ];
    if !note.is_empty() {
        fields.push(("next", note.to_owned()));
    }
    Output::Record {
        json: json!({
            "enabled": s.enabled,
            "client_id": s.client_id,
            "client_secret_set": s.client_secret_set,
            "client_secret_set_at": s.client_secret_set_at,
            "return_urls": s.return_urls,
            "scopes": s.scopes,
            "app_redirect_uri": s.app_redirect_uri,
            "wallet_redirect_uri": s.wallet_redirect_uri,
            "wallet_logout_url": s.wallet_logout_url,
            "authorize_url": s.authorize_url,
        }),
        fields,
    }
}

pub async fn run(c: &mut Client, cmd: SigninCommand) -> Result<Output, String> {
    Ok(match cmd {
        SigninCommand::Set {
            app,
            client_id,
            client_secret,
            return_urls,
            scopes,
        } => {
            let scopes = if scopes.is_empty() {
                vec!["profile".to_owned(), "email".to_owned()]
            } else {
                scopes
            };
            let r = c
                .set_sign_in(pb::SetSignInRequest {
                    app_id: app.app,
                    client_id,
                    client_secret: client_secret.unwrap_or_default(),
                    return_urls,
                    scopes,
                })
                .await
                .map_err(server)?
                .into_inner();
            record(
                &r,
                "register app_redirect_uri and wallet_redirect_uri as the OIDC application's redirect URIs and wallet_logout_url as its logout URL; the app starts a sign-in at authorize_url?return_to=<a return URL>",
            )
        }
        SigninCommand::Show { app } => {
            let r = c
                .get_sign_in(pb::GetSignInRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            record(&r, "")
        }
        SigninCommand::Redeem(_) => {
            return Err(
                "alter signin redeem talks to the sign-in service, not config-api".to_owned(),
            );
        }
        SigninCommand::Disable { app } => {
            let r = c
                .disable_sign_in(pb::DisableSignInRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            record(
                &r,
                "sign-in is off: its routes refuse this app until `alter signin set`",
            )
        }
    })
}
