//! `alter.identity.v1.SignIn`: the app's backend redeems a result code.

use std::sync::Arc;

use alter_proto::identity::v1::sign_in_server::{SignIn as SignInApi, SignInServer};
use alter_proto::identity::v1::{RedeemRequest, RedeemResponse};
use tonic::{Request, Response, Status};

use crate::flow::SignIn;

/// The gRPC service over [`SignIn`].
#[derive(Clone, Debug)]
pub struct SignInService {
    signin: Arc<SignIn>,
}

impl SignInService {
    pub fn new(signin: Arc<SignIn>) -> Self {
        Self { signin }
    }

    pub fn into_server(self) -> SignInServer<Self> {
        SignInServer::new(self)
    }
}

#[tonic::async_trait]
impl SignInApi for SignInService {
    async fn redeem(
        &self,
        request: Request<RedeemRequest>,
    ) -> Result<Response<RedeemResponse>, Status> {
        let req = request.into_inner();
        let result = self.signin.redeem(&req.app_id, &req.code).await;
        let outcome = match &result {
            Ok(_) => "redeemed",
            Err(crate::flow::RedeemError::Unknown(_)) => "unknown_code",
            Err(crate::flow::RedeemError::Verify(_)) => "refused",
            Err(crate::flow::RedeemError::Invalid { .. }) => "invalid_argument",
            Err(crate::flow::RedeemError::Refused(_)) => "unavailable",
        };
        metrics::counter!("alter_signin_total", "step" => "redeem", "outcome" => outcome)
            .increment(1);
        result.map(Response::new).map_err(Status::from)
    }
}

/// A client of the SignIn service at `endpoint` (e.g. `http://127.0.0.1:8081`).
pub async fn connect(
    endpoint: String,
) -> Result<
    alter_proto::identity::v1::sign_in_client::SignInClient<tonic::transport::Channel>,
    tonic::transport::Error,
> {
    alter_proto::identity::v1::sign_in_client::SignInClient::connect(endpoint).await
}
