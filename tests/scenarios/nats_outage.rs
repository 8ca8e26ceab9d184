//! A NATS outage, for real: a private `nats-server -js` is killed while tokens are verified
//! and an admin revokes a grant, then started again on the same port and store. Known and new
//! users keep signing in, the revocation answers OK and is refused by every verifier on its
//! next call (caches are not trusted while disconnected), and once NATS is back the outbox
//! drains: the audit records written meanwhile reach the trail.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use alter_idp_sim::{IdpSim, TokenSpec};
use alter_jwt_verifier::Verifier;
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::{PrincipalKind, VerifyRequest, VerifyResponse};
use alter_testkit::{Spawned, TestEnv, eventually, spawn};
use serde_json::json;

use crate::support::clerk_app;

const ADMIN_TOKEN: &str = "alt_adm_e2e-outage-token";
const AUDIENCE: &str = "api://outage";

/// A nats-server of this test's own, on a fixed port and store directory across restarts.
struct PrivateNats {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateNats {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let dir = std::env::temp_dir().join(format!("alter-nats-outage-{port}"));
        let mut nats = Self {
            port,
            dir,
            child: None,
        };
        nats.up();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server (scripts/services.sh installs it): {e}")
            });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A verifier replica whose in-process handle tells whether it trusts its caches.
struct Replica {
    verifier: Arc<Verifier>,
    service: Spawned,
}

async fn replica(common: alter_config::CommonSettings) -> Replica {
    let app = alter_jwt_verifier::Application::build(alter_jwt_verifier::Config::for_tests(common))
        .await
        .unwrap();
    let verifier = app.verifier();
    let service = alter_testkit::run(app);
    Replica { verifier, service }
}

async fn verify(replica: &Replica, app: &str, token: &str) -> VerifyResponse {
    alter_jwt_verifier::connect(replica.service.url())
        .await
        .unwrap()
        .verify(VerifyRequest {
            app_id: app.into(),
            token: token.into(),
        })
        .await
        .unwrap_or_else(|status| panic!("verify failed: {status:?}"))
        .into_inner()
}

#[tokio::test]
async fn with_nats_down_sign_ins_work_revocations_apply_and_the_outbox_drains_when_it_is_back() {
    let env = TestEnv::new().await;
    let mut nats = PrivateNats::start();
    let mut common = env.common();
    common.nats.url = nats.url();
    let config_api = spawn::<alter_config_api::Application>(
        alter_config_api::Config::for_tests(common.clone()).with_admin_token(ADMIN_TOKEN),
    )
    .await;
    let writer = spawn::<alter_audit_writer::Application>(alter_audit_writer::Config::for_tests(
        common.clone(),
    ))
    .await;
    let replicas = [replica(common.clone()).await, replica(common.clone()).await];
    let mut api = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let sim = IdpSim::start().await.unwrap();
    let app = clerk_app(&mut api, &sim, "outage", AUDIENCE).await;
    let mint = |sub: &str| {
        sim.mint("outage", &TokenSpec::new(sub, json!(AUDIENCE)))
            .unwrap()
    };
    let known = mint("user_known");
    let user = verify(&replicas[0], &app, &known).await.user.unwrap().id;
    let grant = api
        .create_grant(admin::CreateGrantRequest {
            app_id: app.clone(),
            credential_ref: "db:orders".into(),
            principal_kind: PrincipalKind::User as i32,
            principal_id: user.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for replica in &replicas {
        eventually(
            "the grant on every replica",
            Duration::from_secs(10),
            || async { (!verify(replica, &app, &known).await.grants.is_empty()).then_some(()) },
        )
        .await;
    }

    nats.kill();
    for replica in &replicas {
        eventually(
            "the replica to stop trusting its caches",
            Duration::from_secs(10),
            || async { (!replica.verifier.is_live()).then_some(()) },
        )
        .await;
    }
    // Still ready: a NATS outage must not take every verifier out of its Service.
    for replica in &replicas {
        let ready = reqwest::get(format!("{}/readyz", replica.service.admin_url()))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    }
    // A first sign-in: provisioned, its audit record kept in the outbox.
    let newcomer = verify(&replicas[1], &app, &mint("user_new")).await;
    let newcomer = newcomer.user.unwrap().id;
    // Known users keep verifying.
    assert_eq!(verify(&replicas[0], &app, &known).await.grants.len(), 1);
    // The revocation is committed and answered OK, and every replica refuses it at once.
    api.revoke_grant(admin::RevokeGrantRequest {
        app_id: app.clone(),
        grant_id: grant.id.clone(),
    })
    .await
    .expect("a revocation during a NATS outage answers OK");
    for replica in &replicas {
        let answer = verify(replica, &app, &known).await;
        assert!(answer.grants.is_empty(), "revoked grant served: {answer:?}");
    }

    nats.up();
    for replica in &replicas {
        eventually(
            "the replica to trust its caches again",
            Duration::from_secs(30),
            || async { replica.verifier.is_live().then_some(()) },
        )
        .await;
    }
    // What was written during the outage reaches the trail once NATS is back.
    for (kind, user_id) in [("user_provisioned", &newcomer), ("grant_revoked", &user)] {
        eventually(kind, Duration::from_secs(30), || {
            let mut api = api.clone();
            let query = admin::ListAuditEventsRequest {
                app_id: app.clone(),
                user_id: user_id.clone(),
                kind: kind.into(),
                ..Default::default()
            };
            async move {
                let events = api
                    .list_audit_events(query)
                    .await
                    .unwrap()
                    .into_inner()
                    .events;
                (events.len() == 1).then_some(())
            }
        })
        .await;
    }
    let store = env.db.store();
    eventually("the outbox to drain", Duration::from_secs(30), || async {
        let backlog = alter_store::OutboxStore::outbox_backlog(&store)
            .await
            .unwrap();
        (backlog.pending == 0).then_some(())
    })
    .await;

    for replica in replicas {
        replica.service.stop().await.unwrap();
    }
    writer.stop().await.unwrap();
    config_api.stop().await.unwrap();
    env.cleanup().await;
}
