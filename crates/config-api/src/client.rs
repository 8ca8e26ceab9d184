//! A client for the admin API that sends `authorization: Bearer <token>` on every call — what
//! the `alter` CLI, tests and other tools use.

use alter_proto::admin::v1::admin_service_client::AdminServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Adds the admin bearer token (when there is one) to every request.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BearerToken([redacted])"
        } else {
            "BearerToken(none)"
        })
    }
}

impl BearerToken {
    /// `None` sends no `authorization` header (the server will refuse, saying how to pass one).
    pub fn new(token: Option<&str>) -> Result<Self, ClientError> {
        let value = token
            .map(|t| {
                format!("Bearer {}", t.trim())
                    .parse()
                    .map_err(|_| ClientError::TokenNotAscii)
            })
            .transpose()?;
        Ok(Self(value))
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

pub type AdminClient = AdminServiceClient<InterceptedService<Channel, BearerToken>>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the admin token contains characters that cannot be sent in a header")]
    TokenNotAscii,
    #[error("{endpoint} is not a valid endpoint URL: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("cannot reach config-api at {endpoint}: {reason}; is it running?")]
    Connect { endpoint: String, reason: String },
}

/// Connects to config-api at `endpoint` (e.g. `http://127.0.0.1:50051`).
pub async fn connect_admin(
    endpoint: &str,
    token: Option<&str>,
) -> Result<AdminClient, ClientError> {
    let bearer = BearerToken::new(token)?;
    let channel = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| ClientError::Endpoint {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?
        .connect()
        .await
        .map_err(|e| ClientError::Connect {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(AdminServiceClient::with_interceptor(channel, bearer))
}
