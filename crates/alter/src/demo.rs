//! `alter demo`: starts `alter dev --with-sim` and walks through the product in the terminal.
//! Every step runs the very command it prints (the `alter` CLI as a child process, the
//! simulator's control API, the verifier's gRPC API), so what it shows is what a user gets
//! by typing it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alter_idp_sim::{TokenSpec, UserStatus, WebhookTarget};
use alter_proto::identity::v1::VerifyRequest;
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::dev::{DevArgs, DevEnv};

/// `alter demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub dev: DevArgs,
    /// Run every step without waiting for Enter, and stop at the end (for scripts and tests).
    #[arg(long)]
    pub non_interactive: bool,
}

const STEPS: usize = 7;
/// The audience the simulated Okta authorization server `default` issues tokens for.
const AUDIENCE: &str = "api://default";
/// The Authorization value the demo sets on Okta's event hook.
const OKTA_HOOK_AUTHORIZATION: &str = "alter-demo-okta-hook";
/// The seeded Engineering group's Okta ID (`alter dev`'s simulator directory).
const ENGINEERING: &str = "00g000000engineering";

/// `alter demo`.
pub fn run(mut args: DemoArgs) -> ExitCode {
    args.dev.with_sim = true;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let env = match DevEnv::start(&args.dev).await {
            Ok(env) => env,
            Err(e) => {
                eprintln!("alter demo: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        env.print_banner();
        let mut demo = Demo {
            env,
            interactive: !args.non_interactive,
            app: String::new(),
            step: 0,
            verifier: None,
        };
        let outcome = demo.walk().await;
        if let Err(e) = &outcome {
            eprintln!("\nalter demo: step {} failed: {e:#}", demo.step);
        }
        let Demo {
            env, interactive, ..
        } = demo;
        if outcome.is_ok() && interactive {
            println!("alter dev keeps running with the demo's state; Ctrl-C stops it");
            return env.run_until_stopped().await;
        }
        let code = env.stop().await;
        if outcome.is_err() {
            ExitCode::FAILURE
        } else {
            code
        }
    })
}

struct Demo {
    env: DevEnv,
    interactive: bool,
    app: String,
    step: usize,
    /// One connection to jwt-verifier for every Verify (as a service keeps one).
    verifier: Option<
        alter_proto::identity::v1::verifier_client::VerifierClient<tonic::transport::Channel>,
    >,
}

impl Demo {
    async fn walk(&mut self) -> anyhow::Result<()> {
        let okta = self.sim_credentials("okta")?;
        let issuer = text(&okta, "issuer")?;
        let org_url = text(&okta, "org_url")?;
        let sim = self.sim_base()?;

        // 1. An app.
        self.begin("create an app (a tenant: nothing of one app is visible from another)")
            .await;
        let app = self.cli(&["apps", "create", "Demo"]).await?;
        self.app = text(&app, "id")?;
        println!(
            "  export ALTER_APP={}   # the commands below name the app this way",
            self.app
        );
        self.done(&format!("app {}", self.app));

        // 2. Okta, recognised by its issuer.
        self.begin("discover the Okta IDP by its issuer and connect it (tokens carry group IDs)")
            .await;
        let preview = self.cli(&["idp", "discover", &issuer]).await?;
        println!(
            "  the user ID claim is pre-filled as {:?}, groups come from {:?}",
            preview
                .pointer("/suggested_claim_mappings/user_id_claim")
                .unwrap_or(&Value::Null),
            preview
                .pointer("/suggested_claim_mappings/group_claim")
                .unwrap_or(&Value::Null),
        );
        let idp = self
            .cli(&[
                "idp",
                "create",
                "--issuer",
                &issuer,
                "--audience",
                AUDIENCE,
                "--group-claim-stable-ids",
                "true",
            ])
            .await?;
        self.done(&format!(
            "IDP {} ({})",
            text(&idp, "id")?,
            text(&idp, "kind")?
        ));

        // 3. A token, verified: Ada is provisioned just in time with her groups.
        self.begin("mint a token for Ada and Verify it (she is provisioned just in time)")
            .await;
        let ada = "00u00000000000000ada";
        let claims = json!({ "sub": "ada@example.test", "uid": ada, "aud": AUDIENCE, "groups": [ENGINEERING] });
        println!(
            "$ curl -s -X POST {sim}/_control/tenants/okta/tokens -H 'content-type: application/json' -d '{}'",
            json!({ "claims": claims, "auth_server": "default" })
        );
        let token = self.mint(&claims)?;
        println!("$ {}", self.grpcurl_verify("$TOKEN"));
        let verified = self
            .verify(&token)
            .await?
            .context("Ada's token was refused")?;
        let user = verified.user.clone().unwrap_or_default();
        let engineering = verified
            .groups
            .iter()
            .find(|g| g.external_id == ENGINEERING)
            .context("the Engineering group was not provisioned from the token's groups claim")?
            .id
            .clone();
        println!(
            "  user {} ({}), groups: {}",
            user.id,
            user.external_id,
            verified
                .groups
                .iter()
                .map(|g| g.external_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.done(&format!("Ada provisioned as {}", user.id));

        // 4. Grants: to her group and to her.
        self.begin("grant a credential to the Engineering group and one to Ada, then Verify again")
            .await;
        let group_grant = self
            .cli(&[
                "grants",
                "create",
                "--credential",
                "db:analytics",
                "--group",
                &engineering,
            ])
            .await?;
        let user_grant = self
            .cli(&[
                "grants",
                "create",
                "--credential",
                "vault:ada-personal",
                "--user",
                &user.id,
            ])
            .await?;
        println!("$ {}", self.grpcurl_verify("$TOKEN"));
        let verified = self
            .verify(&token)
            .await?
            .context("Ada's token was refused")?;
        let mut held: Vec<&str> = verified
            .grants
            .iter()
            .map(|g| g.credential_ref.as_str())
            .collect();
        held.sort_unstable();
        println!("  Ada's grants: {}", held.join(", "));
        for grant in [&group_grant, &user_grant] {
            let id = text(grant, "id")?;
            if !verified.grants.iter().any(|g| g.id == id) {
                bail!("grant {id} is not in Ada's Verify answer");
            }
        }
        self.done(&format!("Verify lists {} grants", verified.grants.len()));

        // 5. Real-time deprovisioning through Okta's event hook.
        self.begin("enable webhooks and send Okta's user.lifecycle.deactivate: Verify refuses Ada")
            .await;
        let hooks = self
            .cli_with_env(
                &["webhooks", "enable"],
                &[("ALTER_WEBHOOK_SECRET", OKTA_HOOK_AUTHORIZATION)],
                "ALTER_WEBHOOK_SECRET=alter-demo-okta-hook ",
            )
            .await?;
        let endpoint = hooks
            .pointer("/status/endpoint_url")
            .or_else(|| hooks.get("endpoint_url"))
            .and_then(Value::as_str)
            .context("webhooks enable did not say the endpoint URL")?
            .to_owned();
        let target = WebhookTarget {
            url: endpoint.clone(),
            authorization: Some(OKTA_HOOK_AUTHORIZATION.to_owned()),
            headers: vec![],
            retry_delays_ms: None,
            timeout_ms: None,
        };
        let sim_handle = &self
            .env
            .sim
            .as_ref()
            .context("the simulator is not running")?
            .sim;
        let verification = sim_handle.verify_okta_event_hook(&target).await?;
        println!(
            "  Okta's one-time verification of {endpoint}: {}",
            if verification.delivered {
                "echoed"
            } else {
                "FAILED"
            }
        );
        let events = vec![json!({
            "eventType": "user.lifecycle.deactivate",
            "target": [{ "id": ada, "type": "User", "alternateId": "ada@example.test", "displayName": "Ada Lovelace" }],
        })];
        println!(
            "$ curl -s -X POST {sim}/_control/tenants/okta/webhooks/okta -H 'content-type: application/json' -d '{}'",
            json!({ "target": { "url": endpoint, "authorization": OKTA_HOOK_AUTHORIZATION }, "events": events })
        );
        // The provider deactivates her first, as Okta does before it sends the event.
        sim_handle.set_user_status("okta", ada, UserStatus::Deprovisioned)?;
        let sent = Instant::now();
        let report = sim_handle
            .send_okta_event_hook("okta", &target, events)
            .await?;
        if !report.delivered {
            bail!("webhook-ingest did not accept the event hook: {report:?}");
        }
        let refused = loop {
            match self.verify(&token).await? {
                Err(status) => break status,
                Ok(_) if sent.elapsed() > Duration::from_secs(10) => {
                    bail!("Ada's token is still accepted 10 s after the deactivation")
                }
                Ok(_) => tokio::time::sleep(Duration::from_micros(200)).await,
            }
        };
        let elapsed = sent.elapsed();
        println!(
            "  Verify now answers {:?}: {}",
            refused.code(),
            refused.message()
        );
        self.done(&format!(
            "Verify refused Ada {:.1} ms after Okta sent the event",
            elapsed.as_secs_f64() * 1000.0
        ));

        // 6. The whole directory.
        self.begin("set the directory credential and import Okta's directory")
            .await;
        let jwk_file = text(&okta, "private_jwk_file")?;
        let client_id = text(&okta, "client_id")?;
        self.cli(&[
            "directory",
            "credential",
            "set",
            "--okta-org-url",
            &org_url,
            "--client-id",
            &client_id,
            "--private-jwk-file",
            &jwk_file,
        ])
        .await?;
        self.cli_shown(&["directory", "import", "run", "--wait"])
            .await?;
        let users = self.cli(&["users", "list"]).await?;
        let count = users
            .get("users")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        self.done(&format!("the app knows {count} users"));

        // 7. The audit trail.
        self.begin("print the provisioning audit trail and verify its hash chain")
            .await;
        self.cli_shown(&["audit", "list"]).await?;
        let verified = self.cli(&["audit", "verify"]).await?;
        if verified.get("intact") != Some(&Value::Bool(true)) {
            bail!("the audit chain does not verify: {verified}");
        }
        self.done(&format!(
            "audit chain intact ({} rows)",
            verified.get("rows").unwrap_or(&Value::Null)
        ));
        println!(
            "\nThe demo is over. Everything it made is in {}.",
            self.env.data.display()
        );
        Ok(())
    }

    async fn begin(&mut self, what: &str) {
        self.step += 1;
        if self.interactive && self.step > 1 {
            println!("\n(press Enter for the next step)");
            let _ = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)
            })
            .await;
        }
        println!("\n── step {}/{STEPS}: {what}", self.step);
    }

    fn done(&self, outcome: &str) {
        println!("✔ step {}/{STEPS}: {outcome}", self.step);
    }

    fn sim_credentials(&self, tenant: &str) -> anyhow::Result<Value> {
        let sim = self
            .env
            .sim
            .as_ref()
            .context("the simulator is not running")?;
        sim.credentials
            .get(tenant)
            .cloned()
            .with_context(|| format!("the simulator has no {tenant} tenant"))
    }

    fn sim_base(&self) -> anyhow::Result<String> {
        Ok(self
            .env
            .sim
            .as_ref()
            .context("the simulator is not running")?
            .sim
            .base_url()
            .to_owned())
    }

    fn mint(&self, claims: &Value) -> anyhow::Result<String> {
        let sim = &self
            .env
            .sim
            .as_ref()
            .context("the simulator is not running")?
            .sim;
        let mut spec = TokenSpec::default();
        if let Value::Object(map) = claims {
            spec.claims = map.clone();
        }
        spec.auth_server = Some("default".to_owned());
        Ok(sim.mint("okta", &spec)?)
    }

    fn grpcurl_verify(&self, token: &str) -> String {
        format!(
            "grpcurl -plaintext -d '{{\"app_id\":\"{}\",\"token\":\"{token}\"}}' 127.0.0.1:{} alter.identity.v1.Verifier/Verify",
            self.app,
            self.env.port("jwt-verifier").unwrap_or_default()
        )
    }

    /// Verify over gRPC: `Ok(Ok(answer))`, `Ok(Err(refusal))`, or `Err` when unreachable.
    async fn verify(
        &mut self,
        token: &str,
    ) -> anyhow::Result<Result<alter_proto::identity::v1::VerifyResponse, tonic::Status>> {
        let mut client = match &self.verifier {
            Some(client) => client.clone(),
            None => {
                let client = alter_jwt_verifier::connect(self.env.endpoint("jwt-verifier"))
                    .await
                    .context("connecting to jwt-verifier")?;
                self.verifier = Some(client.clone());
                client
            }
        };
        Ok(client
            .verify(VerifyRequest {
                app_id: self.app.clone(),
                token: token.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner))
    }

    /// Runs `alter --json <args>` (printing the command and the answer) and parses the answer.
    async fn cli(&self, args: &[&str]) -> anyhow::Result<Value> {
        self.cli_with_env(args, &[], "").await
    }

    async fn cli_with_env(
        &self,
        args: &[&str],
        vars: &[(&str, &str)],
        shown_prefix: &str,
    ) -> anyhow::Result<Value> {
        println!("$ {shown_prefix}alter --json {}", shell_words(args));
        let output = self
            .command(args, vars, true)?
            .output()
            .context("running alter")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "`alter {}` failed: {}",
                shell_words(args),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let value: Value = serde_json::from_str(&stdout).with_context(|| {
            format!("`alter {}` did not print JSON: {stdout}", shell_words(args))
        })?;
        for line in serde_json::to_string_pretty(&value)
            .unwrap_or_default()
            .lines()
            .take(24)
        {
            println!("  {line}");
        }
        Ok(value)
    }

    /// Runs `alter <args>` with its output shown as it comes (tables, progress bars).
    async fn cli_shown(&self, args: &[&str]) -> anyhow::Result<()> {
        println!("$ alter {}", shell_words(args));
        let status = self
            .command(args, &[], false)?
            .status()
            .context("running alter")?;
        if !status.success() {
            bail!("`alter {}` failed ({status})", shell_words(args));
        }
        Ok(())
    }

    fn command(
        &self,
        args: &[&str],
        vars: &[(&str, &str)],
        json: bool,
    ) -> anyhow::Result<std::process::Command> {
        let exe: PathBuf = std::env::current_exe().context("locating the alter binary")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.env("ALTER_ENDPOINT", self.env.endpoint("config-api"))
            .env("ALTER_ADMIN_TOKEN", &self.env.admin_token)
            .env("ALTER_APP", &self.app)
            .envs(vars.iter().copied());
        if json {
            cmd.arg("--json");
        }
        cmd.args(args);
        Ok(cmd)
    }
}

fn text(value: &Value, key: &str) -> anyhow::Result<String> {
    match value.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => bail!("the answer has no {key}: {value}"),
    }
}

/// The arguments as one would type them in a POSIX shell.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@|".contains(&b))
            {
                (*a).to_owned()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
