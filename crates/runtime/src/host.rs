//! `ServiceHost`: the listeners, readiness, health reporter and shutdown token of one service.

use alter_config::ServiceListen;
use alter_proto::HealthReporter;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::admin::admin_router;
use crate::readiness::Readiness;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot listen on {addr} ({key}): {source}; is another process using the port?")]
    Bind {
        key: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC reflection could not be built: {0}")]
    Reflection(#[source] crate::BoxError),
    #[error("the {0} server failed: {1}")]
    Serve(&'static str, #[source] crate::BoxError),
}

/// Bound listeners plus what every service shares. Build it first (ports are known before
/// anything runs), then hand it the service's routes with [`ServiceHost::serve_grpc`] or
/// [`ServiceHost::serve_http`].
pub struct ServiceHost {
    name: &'static str,
    listener: TcpListener,
    admin_listener: TcpListener,
    readiness: Readiness,
    shutdown: CancellationToken,
    health: HealthReporter,
    health_routes: Routes,
}

impl std::fmt::Debug for ServiceHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHost")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ServiceHost {
    /// Binds both listeners. `section` is the config section name, used in errors.
    pub async fn bind(
        name: &'static str,
        section: &str,
        listen: &ServiceListen,
    ) -> Result<Self, HostError> {
        let listener =
            TcpListener::bind(listen.listen)
                .await
                .map_err(|source| HostError::Bind {
                    key: format!("{section}.listen"),
                    addr: listen.listen,
                    source,
                })?;
        let admin_listener = TcpListener::bind(listen.admin_listen)
            .await
            .map_err(|source| HostError::Bind {
                key: format!("{section}.admin_listen"),
                addr: listen.admin_listen,
                source,
            })?;
        let (health_routes, health) = alter_proto::health_and_reflection()
            .await
            .map_err(|e| HostError::Reflection(e.into()))?;
        Ok(Self {
            name,
            listener,
            admin_listener,
            readiness: Readiness::default(),
            shutdown: CancellationToken::new(),
            health,
            health_routes,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn health(&self) -> &HealthReporter {
        &self.health
    }

    /// Cancel it to stop the service; `run` returns once in-flight requests finished.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves gRPC health and reflection plus whatever `add_services` adds (e.g.
    /// `|routes| routes.add_service(VerifierServer::new(svc))`) on the main port, and the admin
    /// endpoints on the admin port, until the shutdown token is cancelled.
    pub async fn serve_grpc(
        self,
        add_services: impl FnOnce(Routes) -> Routes,
    ) -> Result<(), HostError> {
        let ServiceHost {
            name,
            listener,
            admin_listener,
            readiness,
            shutdown,
            health,
            health_routes,
        } = self;
        let all = add_services(health_routes);
        let admin = spawn_admin(name, admin_listener, readiness, shutdown.clone());
        tracing::info!(
            service = name,
            port = listener.local_addr().map(|a| a.port()).unwrap_or(0),
            "serving gRPC"
        );
        let stopping = {
            let shutdown = shutdown.clone();
            let health = health.clone();
            async move {
                shutdown.cancelled().await;
                health
                    .set_service_status("", alter_proto::ServingStatus::NotServing)
                    .await;
            }
        };
        let result = tonic::transport::Server::builder()
            .add_routes(all)
            .serve_with_incoming_shutdown(no_delay(TcpListenerStream::new(listener)), stopping)
            .await
            .map_err(|e| HostError::Serve("gRPC", e.into()));
        shutdown.cancel();
        let _ = admin.await;
        tracing::info!(service = name, "stopped");
        result
    }

    /// Serves an HTTP router on the main port (over HTTP/1 and h2c), with gRPC health and
    /// reflection beside it for requests whose content type is `application/grpc`, and the
    /// admin endpoints on the admin port. Everything that is not gRPC — unknown paths
    /// included — is the router's to answer, so its fallback (never gRPC's "200 with
    /// grpc-status 12") decides what an unknown path gets.
    pub async fn serve_http(self, router: axum::Router) -> Result<(), HostError> {
        self.serve_http_and_grpc(router, |routes| routes).await
    }

    /// [`ServiceHost::serve_http`] with more gRPC services beside health and reflection
    /// (requests whose content type is `application/grpc` go to them): one port for a
    /// service with a browser-facing HTTP surface and an internal gRPC API. An ingress
    /// routes only the HTTP paths, so the gRPC API stays internal.
    pub async fn serve_http_and_grpc(
        self,
        router: axum::Router,
        add_services: impl FnOnce(Routes) -> Routes,
    ) -> Result<(), HostError> {
        let ServiceHost {
            name,
            listener,
            admin_listener,
            readiness,
            shutdown,
            health: _,
            health_routes,
        } = self;
        let admin = spawn_admin(name, admin_listener, readiness, shutdown.clone());
        let grpc = add_services(health_routes).into_axum_router();
        let app = axum::Router::new().fallback_service(tower::service_fn(
            move |request: axum::extract::Request| {
                let is_grpc = request
                    .headers()
                    .get(axum::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/grpc"));
                let target = if is_grpc {
                    grpc.clone()
                } else {
                    router.clone()
                };
                tower::ServiceExt::oneshot(target, request)
            },
        ));
        tracing::info!(
            service = name,
            port = listener.local_addr().map(|a| a.port()).unwrap_or(0),
            "serving HTTP"
        );
        let token = shutdown.clone();
        let listener = axum::serve::ListenerExt::tap_io(listener, set_no_delay);
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
            .map_err(|e| HostError::Serve("HTTP", e.into()));
        shutdown.cancel();
        let _ = admin.await;
        tracing::info!(service = name, "stopped");
        result
    }
}

/// Sends every response at once (`TCP_NODELAY`). A gRPC or HTTP/1 answer is written in a
/// few small writes (headers, data, trailers); with Nagle's algorithm on, the later ones wait
/// for the client's ACK of the first, which Linux may delay by 40 ms. tonic sets this only
/// for listeners it binds itself, axum not at all.
fn set_no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// [`set_no_delay`] on every connection the stream accepts.
fn no_delay(
    incoming: TcpListenerStream,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::StreamExt::map(incoming, |accepted| {
        accepted.map(|mut stream| {
            set_no_delay(&mut stream);
            stream
        })
    })
}

fn spawn_admin(
    name: &'static str,
    listener: TcpListener,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let app = admin_router(name, readiness);
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
        {
            tracing::error!(service = name, error = %e, "admin server failed");
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use futures::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn accepted_grpc_connections_send_without_nagle_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Box::pin(no_delay(TcpListenerStream::new(listener)));
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY is set on the accepted connection"
        );
        // What the setting changes: a fresh socket has Nagle's algorithm on.
        let plain = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(!plain.nodelay().unwrap());
    }
}
