//! `alter verify TOKEN`: the call internal services make (jwt-verifier's `Verify`), from the
//! command line: who the token's user is, their groups and grants, or why it is refused.

use std::process::ExitCode;

use alter_proto::identity::v1::{RefusalReason, VerifyRequest, VerifyResponse};
use serde_json::{Value, json};

/// `alter verify` options.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The end user's JWT (compact form, without `Bearer `); `-` reads it from standard input.
    pub token: String,
    /// The app the token is presented to.
    #[arg(long, env = "ALTER_APP")]
    pub app: String,
    /// jwt-verifier's gRPC endpoint.
    #[arg(
        long,
        env = "ALTER_VERIFIER_ENDPOINT",
        default_value = "http://127.0.0.1:50052"
    )]
    pub verifier: String,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `alter verify`: exit 0 with the answer, 1 with the refusal, 2 when unreachable.
pub fn run(args: VerifyArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter verify: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let token = if args.token == "-" {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut line) {
                eprintln!("alter verify: cannot read the token from standard input: {e}");
                return ExitCode::from(2);
            }
            line.trim().to_owned()
        } else {
            args.token.trim().to_owned()
        };
        let mut client = match alter_jwt_verifier::connect(args.verifier.clone()).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!(
                    "alter verify: cannot reach jwt-verifier at {} ({e}); is it running? set --verifier or ALTER_VERIFIER_ENDPOINT",
                    args.verifier
                );
                return ExitCode::from(2);
            }
        };
        let answer = client
            .verify(VerifyRequest {
                app_id: args.app.clone(),
                token,
            })
            .await;
        match answer {
            Ok(answer) => {
                print_answer(&answer.into_inner(), args.json);
                ExitCode::SUCCESS
            }
            Err(status) => {
                let reason = alter_jwt_verifier::refusal_of(&status)
                    .map_or(RefusalReason::Unspecified, |d| d.reason());
                if args.json {
                    println!(
                        "{}",
                        json!({
                            "refused": true,
                            "code": format!("{:?}", status.code()),
                            "reason": alter_jwt_verifier::reason_label(reason),
                            "message": status.message(),
                        })
                    );
                } else {
                    eprintln!(
                        "refused: {:?} {}: {}",
                        status.code(),
                        alter_jwt_verifier::reason_label(reason),
                        status.message()
                    );
                }
                if status.code() == tonic::Code::Unavailable {
                    ExitCode::from(2)
                } else {
                    ExitCode::FAILURE
                }
            }
        }
    })
}

pub(crate) fn print_answer(answer: &VerifyResponse, as_json: bool) {
    let user = answer.user.clone().unwrap_or_default();
    if as_json {
        let value: Value = json!({
            "user": { "id": user.id, "external_id": user.external_id, "email": user.email, "display_name": user.display_name },
            "groups": answer.groups.iter().map(|g| json!({ "id": g.id, "external_id": g.external_id })).collect::<Vec<_>>(),
            "grants": answer.grants.iter().map(|g| json!({ "id": g.id, "credential_ref": g.credential_ref, "principal_id": g.principal_id })).collect::<Vec<_>>(),
            "roles": answer.roles,
            "token_expires_at": answer.token_expires_at,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    println!("user    {} ({})", user.id, user.external_id);
    let groups: Vec<&str> = answer
        .groups
        .iter()
        .map(|g| g.external_id.as_str())
        .collect();
    println!("groups  {}", groups.join(", "));
    let grants: Vec<&str> = answer
        .grants
        .iter()
        .map(|g| g.credential_ref.as_str())
        .collect();
    println!("grants  {}", grants.join(", "));
}
