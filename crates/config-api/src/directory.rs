//! Directory sync in the admin API (R-DIR-01, R-DIR-03, R-DIR-05, R-DIR-08): the credential
//! (checked offline, then against the provider, then sealed; never returned), import
//! requests (a second one while one is under way answers that one), outcomes, and the
//! decision on a held import, whose removals go to the outbox with the decision.

use alter_bus::AdminAction;
use alter_core::{AppId, FieldError, IdpKind, RunId};
use alter_directory_sync::credential::seal_credential;
use alter_directory_sync::{held_removal_time, removal_messages};
use alter_proto::admin::v1 as pb;
use alter_providers::directory::{CredentialError, DirectoryCredential, verify_credential};
use alter_secrets::SecretString;
use alter_store::{DirectoryRun, Removal, RunTrigger, SecretPurpose};

use crate::api::{AdminApi, admin_record};
use crate::convert::{parse_id, time};
use crate::error::Error;

/// The most removals a held import's approval applies in one transaction.
const MAX_APPROVED_REMOVALS: u32 = 1_000_000;

impl AdminApi {
    fn directory_credential(
        &self,
        kind: IdpKind,
        req: pb::SetDirectoryCredentialRequest,
    ) -> Result<DirectoryCredential, Error> {
        use pb::set_directory_credential_request::Credential;
        let given = req.credential.ok_or_else(|| {
            FieldError::new(
                "credential",
                "is missing: give auth0 {domain, client_id, client_secret}, clerk {secret_key} or okta {org_url, client_id, private_jwk}",
            )
        })?;
        let (credential, given_kind) = match given {
            Credential::Auth0(c) => (
                DirectoryCredential::Auth0 {
                    domain: c.domain,
                    client_id: c.client_id,
                    client_secret: SecretString::new(c.client_secret),
                },
                IdpKind::Auth0,
            ),
            Credential::Clerk(c) => (
                DirectoryCredential::Clerk {
                    secret_key: SecretString::new(c.secret_key),
                    api_url: (!c.api_url.is_empty()).then_some(c.api_url),
                },
                IdpKind::Clerk,
            ),
            Credential::Okta(c) => (
                DirectoryCredential::Okta {
                    org_url: c.org_url,
                    client_id: c.client_id,
                    private_jwk: SecretString::new(c.private_jwk),
                    key_id: (!c.key_id.is_empty()).then_some(c.key_id),
                },
                IdpKind::Okta,
            ),
        };
        if kind == IdpKind::CustomOidc {
            return Err(Error::FailedPrecondition(
                "a custom OIDC identity provider has no directory to sync: OIDC defines no directory API, so users arrive by signing in (just in time) and leave through webhooks (docs/webhooks-custom-oidc.md)".to_owned(),
            ));
        }
        if given_kind != kind {
            return Err(FieldError::new(
                "credential",
                format!("is a {given_kind} credential, but the app's identity provider is {kind}: give a {kind} credential"),
            )
            .into());
        }
        credential.validate()?;
        Ok(credential)
    }

    async fn verify(&self, credential: &DirectoryCredential) -> Result<(), Error> {
        match verify_credential(&self.http, credential).await {
            Ok(()) => Ok(()),
            Err(CredentialError::Invalid(field)) => Err(field.into()),
            Err(CredentialError::Unavailable(what)) => Err(Error::Unavailable(format!(
                "the identity provider could not be reached to check the credential: {what}; nothing was saved, try again"
            ))),
        }
    }

    pub(crate) async fn set_directory_credential_inner(
        &self,
        req: pb::SetDirectoryCredentialRequest,
        actor: String,
    ) -> Result<pb::DirectoryStatus, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        let credential = self.directory_credential(idp.kind, req)?;
        let Some(keyring) = &self.webhooks.keyring else {
            return Err(Error::FailedPrecondition(format!(
                "directory credentials are stored encrypted, and no master key is configured: set {} \
                 (generate one with `alter secrets gen-key`) and restart config-api and directory-sync",
                alter_secrets::MASTER_KEY_CONFIG_KEY
            )));
        };
        self.verify(&credential).await?;
        let sealed =
            seal_credential(keyring, idp.id, &credential).map_err(Error::FailedPrecondition)?;
        let record = admin_record(
            app,
            &actor,
            AdminAction::DirectoryCredentialSet,
            format!("directory credential of identity provider {}", idp.id),
            None,
            serde_json::json!({ "kind": idp.kind.as_str() }),
        );
        self.store
            .put_secret_with(
                app,
                idp.id,
                SecretPurpose::DirectoryCredential,
                &sealed,
                vec![record],
            )
            .await?;
        self.directory_status(app).await
    }

    pub(crate) async fn test_directory_credential_inner(
        &self,
        req: pb::TestDirectoryCredentialRequest,
    ) -> Result<pb::DirectoryStatus, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        let Some(keyring) = &self.webhooks.keyring else {
            return Err(Error::FailedPrecondition(format!(
                "no master key is configured ({}), so the stored credential cannot be opened",
                alter_secrets::MASTER_KEY_CONFIG_KEY
            )));
        };
        let Some(stored) = self
            .store
            .get_secret(app, idp.id, SecretPurpose::DirectoryCredential)
            .await?
        else {
            return Err(not_set(app));
        };
        let credential =
            alter_directory_sync::credential::open_credential(keyring, idp.id, &stored.sealed)
                .map_err(Error::FailedPrecondition)?;
        self.verify(&credential).await?;
        self.directory_status(app).await
    }

    pub(crate) async fn directory_status(&self, app: AppId) -> Result<pb::DirectoryStatus, Error> {
        let idp = self.idp(app).await?;
        let stored = self
            .store
            .get_secret(app, idp.id, SecretPurpose::DirectoryCredential)
            .await?;
        let latest = self.store.list_runs(app, 1).await?.into_iter().next();
        Ok(pb::DirectoryStatus {
            credential_set: stored.is_some(),
            credential_set_at: stored.map(|s| time(s.created_at)).unwrap_or_default(),
            latest_import: latest.map(|r| import_to_pb(&r, true)),
        })
    }

    pub(crate) async fn get_directory_status_inner(
        &self,
        req: pb::GetDirectoryStatusRequest,
    ) -> Result<pb::DirectoryStatus, Error> {
        let app = self.app(&req.app_id).await?;
        self.directory_status(app).await
    }

    pub(crate) async fn run_directory_import_inner(
        &self,
        req: pb::RunDirectoryImportRequest,
        actor: String,
    ) -> Result<pb::DirectoryImport, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        if self
            .store
            .get_secret(app, idp.id, SecretPurpose::DirectoryCredential)
            .await?
            .is_none()
        {
            return Err(not_set(app));
        }
        let (run, created) = self
            .store
            .request_run(app, idp.id, RunTrigger::Admin, req.dry_run)
            .await?;
        if created {
            tracing::info!(app = %app, run = %run.id, actor, dry_run = req.dry_run, "directory import requested");
        }
        Ok(import_to_pb(&run, created))
    }

    async fn run(&self, app: AppId, raw: &str) -> Result<DirectoryRun, Error> {
        let id = parse_id("import_id", raw, RunId::parse)?;
        self.store.get_run(app, id).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "import {id} was not found in app {app}: list them with `alter directory import runs`"
            ))
        })
    }

    pub(crate) async fn get_directory_import_inner(
        &self,
        req: pb::GetDirectoryImportRequest,
    ) -> Result<pb::DirectoryImport, Error> {
        let app = self.app(&req.app_id).await?;
        Ok(import_to_pb(&self.run(app, &req.import_id).await?, true))
    }

    pub(crate) async fn list_directory_imports_inner(
        &self,
        req: pb::ListDirectoryImportsRequest,
    ) -> Result<pb::ListDirectoryImportsResponse, Error> {
        let app = self.app(&req.app_id).await?;
        let limit = if req.limit == 0 { 20 } else { req.limit };
        let runs = self.store.list_runs(app, limit).await?;
        Ok(pb::ListDirectoryImportsResponse {
            imports: runs.iter().map(|r| import_to_pb(r, true)).collect(),
        })
    }

    pub(crate) async fn list_directory_import_removals_inner(
        &self,
        req: pb::ListDirectoryImportRemovalsRequest,
    ) -> Result<pb::ListDirectoryImportRemovalsResponse, Error> {
        let app = self.app(&req.app_id).await?;
        let run = self.run(app, &req.import_id).await?;
        let limit = if req.page_size == 0 {
            100
        } else {
            req.page_size
        };
        let offset =
            i64::try_from(req.offset).map_err(|_| FieldError::new("offset", "is too large"))?;
        let removals = self.store.run_removals(app, run.id, offset, limit).await?;
        Ok(pb::ListDirectoryImportRemovalsResponse {
            removals: removals
                .into_iter()
                .map(|r| pb::DirectoryImportRemoval {
                    external_user_id: r.user.as_str().to_owned(),
                    external_group_id: r.group.map(|g| g.as_str().to_owned()).unwrap_or_default(),
                })
                .collect(),
        })
    }

    pub(crate) async fn decide_directory_import_inner(
        &self,
        req: pb::DecideDirectoryImportRequest,
        actor: String,
    ) -> Result<pb::DirectoryImport, Error> {
        let app = self.app(&req.app_id).await?;
        let run = self.run(app, &req.import_id).await?;
        let mut removals: Vec<Removal> = Vec::new();
        if req.approve {
            removals = self
                .store
                .run_removals(app, run.id, 0, MAX_APPROVED_REMOVALS)
                .await?;
        }
        let (action, verb) = if req.approve {
            (AdminAction::DirectoryImportApproved, "approved")
        } else {
            (AdminAction::DirectoryImportRejected, "rejected")
        };
        let mut effects = removal_messages(app, run.id, held_removal_time(&run), &removals);
        effects.push(admin_record(
            app,
            &actor,
            action,
            format!("directory import {}", run.id),
            None,
            serde_json::json!({ "removals": removals.len(), "decision": verb }),
        ));
        let decided = self
            .store
            .decide_run(app, run.id, req.approve, &actor, &effects)
            .await?;
        Ok(import_to_pb(&decided, true))
    }
}

fn not_set(app: AppId) -> Error {
    Error::FailedPrecondition(format!(
        "app {app} has no directory credential: set one with `alter directory credential set`"
    ))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

pub(crate) fn import_to_pb(run: &DirectoryRun, created: bool) -> pb::DirectoryImport {
    let c = &run.counts;
    pb::DirectoryImport {
        id: run.id.to_string(),
        app_id: run.app_id.to_string(),
        state: run.state.as_str().to_owned(),
        trigger: run.trigger.as_str().to_owned(),
        dry_run: run.dry_run,
        requested_at: time(run.requested_at),
        started_at: run.started_at.map(time).unwrap_or_default(),
        finished_at: run.finished_at.map(time).unwrap_or_default(),
        users_imported: count(c.users_imported),
        users_updated: count(c.users_updated),
        users_suspended: count(c.users_suspended),
        users_deprovisioned: count(c.users_deprovisioned),
        groups: count(c.groups),
        memberships_added: count(c.memberships),
        memberships_removed: count(c.memberships_removed),
        requests: count(c.requests),
        last_error: run.last_error.clone().unwrap_or_default(),
        held_reason: run.held_reason.clone().unwrap_or_default(),
        decided_by: run.decided_by.clone().unwrap_or_default(),
        created,
    }
}
