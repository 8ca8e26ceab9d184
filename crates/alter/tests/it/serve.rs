//! `alter serve` as a process: all six services answer their probes, and SIGTERM stops them
//! gracefully with exit status 0; a bad configuration is refused before anything binds.

use alter_testkit::TestEnv;

use crate::support::{Served, alter};

#[tokio::test]
async fn alter_serve_runs_all_six_services_and_exits_cleanly_on_sigterm() {
    let env = TestEnv::new().await;
    let served = Served::start(&env, &[]);
    let names = [
        "config-api",
        "jwt-verifier",
        "directory-sync",
        "webhook-ingest",
        "grant-revoker",
        "audit-writer",
    ];
    for name in names {
        let (_, admin) = served.ports[name];
        let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{admin}/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ready", "{name}: {health}");
        assert_eq!(health["service"], name);
    }
    let admin_ports: Vec<u16> = names.iter().map(|n| served.ports[*n].1).collect();
    let status = served.terminate();
    assert!(
        status.success(),
        "alter serve exited with {status:?} after SIGTERM"
    );
    for port in admin_ports {
        assert!(
            reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .is_err(),
            "port {port} still open"
        );
    }
    env.cleanup().await;
}

#[tokio::test]
async fn an_invalid_configuration_is_refused_naming_every_bad_key() {
    let env = TestEnv::new().await;
    let output = alter(&env)
        .env("ALTER_NATS__URL", "http://not-nats:4222")
        .env("ALTER_DATABASE__MAX_CONNECTIONS", "0")
        .args(["serve", "config-api"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nats.url"), "{stderr}");
    assert!(stderr.contains("database.max_connections"), "{stderr}");
    env.cleanup().await;
}

#[tokio::test]
async fn alter_serve_validates_every_service_before_any_binds() {
    let env = TestEnv::new().await;
    // One mistake in the second service's section and one in the last's: both are named, and
    // no service was started (none printed its ports) before they were found.
    let output = alter(&env)
        .env("ALTER_JWT_VERIFIER__LEEWAY_SECS", "9999")
        .env("ALTER_AUDIT_WRITER__BATCH_SIZE", "0")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("jwt_verifier.leeway_secs"), "{stderr}");
    assert!(stderr.contains("audit_writer.batch_size"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("listening on"),
        "a service started: {stdout}"
    );
    env.cleanup().await;
}
