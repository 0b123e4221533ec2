//! The composition root: builds every service from a validated configuration, binds every listener
//! before serving anything, runs them, and shuts them down along one path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use switchboard_config::Config;
use switchboard_fabric::{AllowAll, Authorizer, Fabric};
use tokio::net::TcpListener;

use crate::error::RunError;
use crate::front::{self, FrontEndpoints};
use crate::serve::HttpServer;
use crate::shutdown::{Lifecycle, Phase, Readiness};
use crate::telemetry::{self, VERSION};
use crate::tls::{self, ReloadableCert};
use crate::{admin, reload};

/// Where each service of a bound gateway listens (ports resolved, so tests can bind port 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// The public HTTP front.
    pub http: SocketAddr,
    /// Whether the front speaks HTTPS.
    pub http_tls: bool,
    /// The admin server.
    pub admin: SocketAddr,
    /// The HTTP → HTTPS redirect listener.
    pub redirect: Option<SocketAddr>,
}

/// A gateway whose listeners are bound, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    registry: Registry,
    fabric: Fabric,
    authorizer: Arc<dyn Authorizer>,
    readiness: Readiness,
    addresses: Addresses,
    http: TcpListener,
    admin: TcpListener,
    redirect: Option<TcpListener>,
    http_cert: Option<Arc<ReloadableCert>>,
    proxy: Option<switchboard_proxy::Proxy>,
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).await.map_err(|source| {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                "another process already uses this port; stop it or choose another address"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges; choose a port above 1023"
            }
            std::io::ErrorKind::AddrNotAvailable => {
                "this machine has no such address; use 127.0.0.1 or 0.0.0.0"
            }
            _ => "check the address",
        };
        RunError::Bind {
            key,
            addr,
            source,
            hint,
        }
    })
}

fn local(key: &'static str, l: &TcpListener) -> Result<SocketAddr, RunError> {
    l.local_addr().map_err(|e| RunError::Component {
        component: key,
        message: e.to_string(),
    })
}

impl Gateway {
    /// Validates `config`, builds the shared state and binds every listener. Nothing is served yet;
    /// a port in use is reported here, naming its config key.
    pub async fn bind(config: Config) -> Result<Gateway, RunError> {
        switchboard_config::validate(&config).map_err(RunError::Config)?;
        let registry = telemetry::new_registry()?;
        let node_id = config
            .cluster
            .node_id
            .clone()
            .unwrap_or_else(|| format!("{:08x}", rand::random::<u32>()));
        let fabric = Fabric::new(config.fabric.clone(), node_id, &registry)?;
        // One user and ACL model for every protocol. Until password/ACL files are supported every
        // client is let in; see the auth issue.
        let authorizer: Arc<dyn Authorizer> = Arc::new(AllowAll);

        let http_cert = match (&config.http.tls_cert, &config.http.tls_key) {
            (Some(c), Some(k)) => Some(Arc::new(ReloadableCert::load("http.tls_cert", c, k)?)),
            _ => None,
        };

        // The reverse proxy of the front (only when routes are configured).
        let proxy = if config.proxy.routes.is_empty() {
            None
        } else {
            Some(
                switchboard_proxy::Proxy::new(&config.proxy, &registry).map_err(|e| {
                    RunError::Component {
                        component: "proxy",
                        message: e.to_string(),
                    }
                })?,
            )
        };

        let http = bind("http.listen", config.http.listen).await?;
        let admin = bind("admin.listen", config.admin.listen).await?;
        let redirect = match config.http.redirect_listen {
            Some(a) => Some(bind("http.redirect_listen", a).await?),
            None => None,
        };
        let addresses = Addresses {
            http: local("http.listen", &http)?,
            http_tls: http_cert.is_some(),
            admin: local("admin.listen", &admin)?,
            redirect: redirect
                .as_ref()
                .map(|l| local("http.redirect_listen", l))
                .transpose()?,
        };
        Ok(Gateway {
            config,
            registry,
            fabric,
            authorizer,
            readiness: Readiness::default(),
            addresses,
            http,
            admin,
            redirect,
            http_cert,
            proxy,
        })
    }

    /// Where each service listens.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// The fabric shared by every protocol.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// The authorizer every protocol consults.
    pub fn authorizer(&self) -> &Arc<dyn Authorizer> {
        &self.authorizer
    }

    /// The metrics registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The readiness state `/readyz` reports.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The configuration in effect.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` resolves, then shuts down: readiness false, stop accepting,
    /// protocol goodbyes, drain within `shutdown.grace_ms`, close the fabric.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), RunError> {
        let Gateway {
            config,
            registry,
            fabric,
            authorizer,
            readiness,
            addresses,
            http,
            admin,
            redirect,
            http_cert,
            proxy,
        } = self;
        let services = Lifecycle::new();
        // The admin server outlives the drain so that probes see "not ready" while it happens.
        let admin_life = Lifecycle::new();

        let _ = &authorizer; // handed to each protocol service as it is mounted below
        let mut endpoints = FrontEndpoints::default();
        let mounts = Vec::new();
        if proxy.is_some() {
            for route in &config.proxy.routes {
                endpoints
                    .paths
                    .push((route.path_prefix.clone(), "reverse proxy"));
            }
        }
        endpoints.paths.sort();

        let tls = match &http_cert {
            Some(cert) => Some(tls::http_acceptor(cert.clone())?),
            None => None,
        };
        let http_metrics = fabric.metrics().protocol("http");
        let front = HttpServer {
            name: "front",
            listener: http,
            router: front::router(mounts, endpoints.clone(), proxy.clone()),
            tls,
            max_connections: config.http.max_connections,
            metrics: http_metrics.clone(),
        };
        services.tracker.spawn(front.run(services.clone()));
        if let Some(listener) = redirect {
            let server = HttpServer {
                name: "redirect",
                listener,
                router: front::redirect::router(addresses.http.port()),
                tls: None,
                max_connections: config.http.max_connections,
                metrics: http_metrics.clone(),
            };
            services.tracker.spawn(server.run(services.clone()));
        }
        let admin_server = HttpServer {
            name: "admin",
            listener: admin,
            router: admin::router(registry.clone(), readiness.clone()),
            tls: None,
            max_connections: 1024,
            metrics: fabric.metrics().protocol("admin"),
        };
        admin_life
            .tracker
            .spawn(admin_server.run(admin_life.clone()));

        if config.fabric.sys_interval_ms > 0 {
            services
                .tracker
                .spawn(switchboard_fabric::sys::run_publisher(
                    fabric.clone(),
                    VERSION,
                    Duration::from_millis(config.fabric.sys_interval_ms),
                    services.stop.clone(),
                ));
        }
        services.tracker.spawn(reload::run(
            reload::Reloadables { http_cert },
            services.stop.clone(),
        ));

        announce(&addresses, &endpoints);
        readiness.set(Phase::Ready);
        tracing::info!("switchboard {VERSION} ready");

        shutdown.await;

        readiness.set(Phase::ShuttingDown);
        let grace = Duration::from_millis(config.shutdown.grace_ms);
        tracing::info!(
            grace_ms = config.shutdown.grace_ms,
            "shutting down: no longer accepting"
        );
        services.stop.cancel();
        services.tracker.close();
        if tokio::time::timeout(grace, services.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = services.tracker.len(),
                "grace period over; closing the remaining connections"
            );
        } else {
            tracing::info!("all connections drained");
        }
        fabric.close();
        admin_life.stop.cancel();
        admin_life.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), admin_life.tracker.wait()).await;
        tracing::info!("switchboard stopped");
        Ok(())
    }
}

fn announce(addresses: &Addresses, endpoints: &FrontEndpoints) {
    let scheme = if addresses.http_tls { "https" } else { "http" };
    tracing::info!("HTTP front      {scheme}://{}/", addresses.http);
    for (path, what) in &endpoints.paths {
        tracing::info!("  {path:<16}{what}");
    }
    if let Some(r) = addresses.redirect {
        tracing::info!("HTTP redirect   http://{r}/ → HTTPS");
    }
    tracing::info!(
        "admin           http://{}/  (/metrics /healthz /readyz)",
        addresses.admin
    );
}

/// Binds and serves until `shutdown` resolves: the single seam the binary and the tests use.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    Gateway::bind(config).await?.serve(shutdown).await
}
