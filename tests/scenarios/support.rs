//! Set-up shared by the scenarios that configure an app through the admin API.

use alter_idp_sim::{IdpSim, TenantKind, TenantOptions};
use alter_proto::admin::v1 as admin;

/// A simulator tenant `tenant` of Clerk and an app trusting it for `audience`, configured
/// through config-api with the default claim mappings; returns the app's ID.
pub async fn clerk_app(
    api: &mut alter_config_api::AdminClient,
    sim: &IdpSim,
    tenant: &str,
    audience: &str,
) -> String {
    let issuer = sim
        .create_tenant(tenant, TenantKind::Clerk, TenantOptions::default())
        .unwrap()
        .issuer;
    let app = api
        .create_app(admin::CreateAppRequest {
            name: tenant.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    api.create_idp(admin::CreateIdpRequest {
        app_id: app.clone(),
        issuer,
        kind: admin::IdpKind::Clerk as i32,
        audience: audience.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    app
}
