//! The walking skeleton: all six services start against one environment, answer their probes,
//! and stop together.

use alter_testkit::{TestEnv, assert_serves_health, spawn};

#[tokio::test]
async fn all_six_services_start_on_one_environment_answer_probes_and_stop() {
    let env = TestEnv::new().await;
    let common = env.common();
    let services = vec![
        (
            "config-api",
            spawn::<alter_config_api::Application>(alter_config_api::Config::for_tests(
                common.clone(),
            ))
            .await,
        ),
        (
            "jwt-verifier",
            spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(
                common.clone(),
            ))
            .await,
        ),
        (
            "directory-sync",
            spawn::<alter_directory_sync::Application>(alter_directory_sync::Config::for_tests(
                common.clone(),
            ))
            .await,
        ),
        (
            "webhook-ingest",
            spawn::<alter_webhook_ingest::Application>(alter_webhook_ingest::Config::for_tests(
                common.clone(),
            ))
            .await,
        ),
        (
            "grant-revoker",
            spawn::<alter_grant_revoker::Application>(alter_grant_revoker::Config::for_tests(
                common.clone(),
            ))
            .await,
        ),
        (
            "audit-writer",
            spawn::<alter_audit_writer::Application>(alter_audit_writer::Config::for_tests(
                common.clone(),
            ))
            .await,
        ),
    ];
    let mut ports = std::collections::HashSet::new();
    for (name, service) in &services {
        assert_serves_health(service, name).await;
        assert!(ports.insert(service.port), "{name} has its own port");
        assert!(
            ports.insert(service.admin_port),
            "{name} has its own admin port"
        );
    }
    for (name, service) in services {
        service
            .stop()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    env.cleanup().await;
}
