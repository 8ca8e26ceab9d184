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
        ("scopes", format!("openid {}", s.scopes.join(" ")).trim().to_owned()),
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
        SigninCommand::Disable { app } => {
            let r = c
                .disable_sign_in(pb::DisableSignInRequest { app_id: app.app })
                .await
                .map_err(server)?
                .into_inner();
            record(&r, "sign-in is off: its routes refuse this app until `alter signin set`")
        }
    })
}
