//! The composition root: builds every service from a validated configuration, binds every listener
//! before serving anything, runs them, and shuts them down along one path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use switchboard_config::Config;
use switchboard_fabric::{Authorizer, Fabric};
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
    /// The IPC bus (TCP), when `ipc.enabled`.
    pub ipc: Option<SocketAddr>,
    /// The MQTT TCP listener, when `mqtt.enabled`.
    pub mqtt: Option<SocketAddr>,
    /// The MQTT TLS listener, when `mqtt.tls_listen` is set.
    pub mqtt_tls: Option<SocketAddr>,
    /// The path of MQTT over WebSocket on the front, when on.
    pub mqtt_ws: Option<String>,
    /// The IPC bus unix socket, when `ipc.unix_socket` is set.
    pub ipc_unix: Option<std::path::PathBuf>,
    /// The dashboard's path on the front, when served (`http.dashboard`, needs Engine.IO).
    pub dashboard: Option<String>,
}

/// A gateway whose listeners are bound, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    registry: Registry,
    fabric: Fabric,
    authorizer: Arc<dyn Authorizer>,
    auth: Arc<switchboard_auth::Auth>,
    readiness: Readiness,
    addresses: Addresses,
    http: TcpListener,
    admin: TcpListener,
    redirect: Option<TcpListener>,
    http_cert: Option<Arc<ReloadableCert>>,
    proxy: Option<switchboard_proxy::Proxy>,
    ipc: Option<IpcListeners>,
    mqtt: Option<MqttListeners>,
    store: Option<Arc<switchboard_storage::Store>>,
}

/// The MQTT broker's bound listeners and the TLS listener's certificate.
#[derive(Debug)]
struct MqttListeners {
    tcp: TcpListener,
    tls: Option<(TcpListener, Arc<ReloadableCert>)>,
}

async fn bind_mqtt(config: &switchboard_mqtt::MqttConfig) -> Result<MqttListeners, RunError> {
    let tcp = bind("mqtt.listen", config.listen).await?;
    let tls = match (config.tls_listen, &config.cert, &config.key) {
        (Some(addr), Some(cert), Some(key)) => {
            let cert = Arc::new(ReloadableCert::load("mqtt.cert", cert, key)?);
            Some((bind("mqtt.tls_listen", addr).await?, cert))
        }
        _ => None,
    };
    Ok(MqttListeners { tcp, tls })
}

/// The IPC bus's bound listeners: TCP and the optional unix socket.
#[derive(Debug)]
struct IpcListeners {
    tcp: TcpListener,
    unix: Option<tokio::net::UnixListener>,
}

async fn bind_ipc(config: &switchboard_ipc::IpcConfig) -> Result<IpcListeners, RunError> {
    let tcp = bind("ipc.listen", config.listen).await?;
    let unix = match &config.unix_socket {
        Some(path) => {
            let mode = config.unix_socket_mode_bits().unwrap_or(0o660);
            Some(
                switchboard_ipc::bind_unix(path, mode).map_err(|e| RunError::Component {
                    component: "ipc.unix_socket",
                    message: format!("cannot listen on {}: {e}", path.display()),
                })?,
            )
        }
        None => None,
    };
    Ok(IpcListeners { tcp, unix })
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
        // The embedded store (`[storage] path`): retained messages are recovered here, MQTT
        // sessions when the broker is built, both before any listener accepts.
        let store = crate::storage::open(&config.storage, &registry)?;
        let node_id = crate::storage::node_id(config.cluster.node_id.as_deref(), store.as_deref());
        let fabric = Fabric::new(config.fabric.clone(), node_id, &registry)?;
        if let Some(s) = &store {
            crate::storage::recover_retained(&fabric, s);
        }
        // One user and ACL model for every protocol: password file, ACL file and JWT from `[auth]`
        // (switchboard-auth), reloaded on SIGHUP. A malformed file is a configuration error naming
        // its key, file and line.
        let auth = Arc::new(
            switchboard_auth::Auth::new(&config.auth, &registry).map_err(|e| match e {
                switchboard_auth::LoadError::Metrics(m) => RunError::Metrics(m),
                other => RunError::Config(vec![other.to_config_error()]),
            })?,
        );
        let authorizer: Arc<dyn Authorizer> = auth.clone();

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
        let ipc = if config.ipc.enabled {
            Some(bind_ipc(&config.ipc).await?)
        } else {
            None
        };
        let mqtt = if config.mqtt.enabled {
            Some(bind_mqtt(&config.mqtt).await?)
        } else {
            None
        };
        let addresses = Addresses {
            mqtt: mqtt
                .as_ref()
                .map(|l| local("mqtt.listen", &l.tcp))
                .transpose()?,
            mqtt_tls: mqtt
                .as_ref()
                .and_then(|l| l.tls.as_ref())
                .map(|(l, _)| local("mqtt.tls_listen", l))
                .transpose()?,
            mqtt_ws: (config.mqtt.enabled && !config.mqtt.ws_path.is_empty())
                .then(|| config.mqtt.ws_path.clone()),
            ipc: ipc
                .as_ref()
                .map(|l| local("ipc.listen", &l.tcp))
                .transpose()?,
            ipc_unix: ipc
                .as_ref()
                .and_then(|l| l.unix.as_ref())
                .and(config.ipc.unix_socket.clone()),
            dashboard: (config.engineio.enabled && !config.http.dashboard.is_empty())
                .then(|| config.http.dashboard.trim_end_matches('/').to_owned()),
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
            auth,
            readiness: Readiness::default(),
            addresses,
            http,
            admin,
            redirect,
            http_cert,
            proxy,
            ipc,
            mqtt,
            store,
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
            auth,
            readiness,
            addresses,
            http,
            admin,
            redirect,
            http_cert,
            proxy,
            ipc,
            mqtt,
            store,
        } = self;
        let services = Lifecycle::new();
        // The admin server outlives the drain so that probes see "not ready" while it happens.
        let admin_life = Lifecycle::new();

        let _ = &authorizer; // handed to each protocol service as it is mounted below
        let mut endpoints = FrontEndpoints::default();
        let mut mounts = Vec::new();

        // Scale-out over NATS, before the protocols: their Engine.IO routers forward requests of
        // sessions owned by other nodes.
        let cluster =
            crate::cluster::start(&config, &fabric, &registry, &readiness, &admin_life.tracker)
                .await?;

        // The MQTT broker: TCP and TLS listeners, MQTT over WebSocket on the front, $SYS/broker.
        let mut mqtt_cert = None;
        if let Some(listeners) = mqtt {
            let broker = switchboard_mqtt::Broker::new(
                config.mqtt.clone(),
                fabric.clone(),
                authorizer.clone(),
                &registry,
                services.stop.clone(),
                services.tracker.clone(),
            )
            .map_err(|e| RunError::Component {
                component: "mqtt",
                message: e.to_string(),
            })?;
            if let Some(s) = &store {
                crate::storage::recover_sessions(&broker, s);
            }
            services.tracker.spawn(broker.serve(listeners.tcp, None));
            if let Some((listener, cert)) = listeners.tls {
                let acceptor = tls::mqtt_acceptor(cert.clone(), config.mqtt.client_ca.as_deref())?;
                let setup = switchboard_mqtt::TlsSetup {
                    acceptor,
                    use_identity_as_username: config.mqtt.use_identity_as_username,
                };
                services.tracker.spawn(broker.serve(listener, Some(setup)));
                mqtt_cert = Some(cert);
            }
            if let Some(router) = broker.ws_router() {
                mounts.push(router);
                endpoints
                    .paths
                    .push((config.mqtt.ws_path.clone(), "MQTT over WebSocket"));
            }
            if config.fabric.sys_interval_ms > 0 {
                services.tracker.spawn(broker.sys_publisher(
                    VERSION,
                    Duration::from_millis(config.fabric.sys_interval_ms),
                ));
            }
        }
        // Engine.IO for browsers, bridged to the fabric, with the JavaScript client.
        let mut eio_metrics = None; // shared with Socket.IO: metric names register once
        if config.engineio.enabled {
            let eio = switchboard_engineio::mount(
                &config.engineio,
                fabric.clone(),
                authorizer.clone(),
                &registry,
                services.stop.clone(),
                services.tracker.clone(),
            )
            .map_err(|e| RunError::Component {
                component: "engineio",
                message: e.to_string(),
            })?;
            eio_metrics = Some(eio.engine.metrics().clone());
            mounts.push(match &cluster {
                Some(c) => c.forwarding(eio.router, crate::cluster::owner_of),
                None => eio.router,
            });
            endpoints.paths.extend(eio.paths);
        }
        // The live dashboard: embedded page and assets, talking through the Engine.IO client.
        if let Some(path) = &addresses.dashboard {
            mounts.push(front::dashboard::router(
                &front::dashboard::DashboardSettings {
                    path: path.clone(),
                    engineio_path: config.engineio.path.clone(),
                    client_path: config.engineio.client_path.clone(),
                    auth_required: !config.anonymous_allowed(),
                    version: VERSION,
                },
            ));
            endpoints.paths.push((path.clone(), "dashboard"));
        }
        // Socket.IO on a second Engine.IO engine (the [engineio] options underneath).
        if config.socketio.enabled {
            let sio = switchboard_socketio::mount(
                &config.socketio,
                &config.engineio,
                fabric.clone(),
                authorizer.clone(),
                &registry,
                eio_metrics,
                services.stop.clone(),
                services.tracker.clone(),
            )
            .map_err(|e| RunError::Component {
                component: "socketio",
                message: e.to_string(),
            })?;
            mounts.push(match &cluster {
                Some(c) => c.forwarding(sio.router, crate::cluster::owner_of),
                None => sio.router,
            });
            endpoints.paths.extend(sio.paths);
        }
        if proxy.is_some() {
            for route in &config.proxy.routes {
                endpoints
                    .paths
                    .push((route.path_prefix.clone(), "reverse proxy"));
            }
        }
        // The admin API (`/api/v1/`): on the admin port unless `admin.api = false`, and on the
        // front with `http.api`; both need `admin.token` off loopback.
        let api = crate::api::Api::new(
            &config.admin,
            fabric.clone(),
            &registry,
            services.stop.clone(),
            &services.tracker,
        )
        .map_err(RunError::Metrics)?;
        if config.admin.api.is_none()
            && config.admin.token().is_none()
            && !addresses.admin.ip().is_loopback()
        {
            tracing::warn!(
                "admin.listen is not a loopback address and admin.token is not set: the admin \
                 API refuses every request (set admin.token to use it)"
            );
        }
        if config.http.api {
            mounts.push(api.router(crate::api::AccessPolicy::new(
                config.admin.token(),
                addresses.http.ip().is_loopback(),
                "http.listen",
                authorizer.clone(),
            )));
            endpoints
                .paths
                .push((format!("{}/", crate::api::PREFIX), "admin API"));
        }
        endpoints.paths.sort();

        let tls = match &http_cert {
            Some(cert) => Some(tls::http_acceptor(cert.clone())?),
            None => None,
        };
        let http_metrics = fabric.metrics().protocol("http");
        let front_router = front::router(mounts, endpoints.clone(), proxy.clone());
        if let Some(c) = &cluster {
            c.serve_forwarded(front_router.clone())
                .await
                .map_err(|e| RunError::Component {
                    component: "cluster",
                    message: e.to_string(),
                })?;
        }
        let front = HttpServer {
            name: "front",
            listener: http,
            router: front_router,
            tls,
            max_connections: config.http.max_connections,
            header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms),
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
                header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms),
                metrics: http_metrics.clone(),
            };
            services.tracker.spawn(server.run(services.clone()));
        }
        let admin_server = HttpServer {
            name: "admin",
            listener: admin,
            router: match config.admin.api {
                Some(false) => admin::router(registry.clone(), readiness.clone()),
                _ => admin::router(registry.clone(), readiness.clone()).merge(api.router(
                    crate::api::AccessPolicy::new(
                        config.admin.token(),
                        addresses.admin.ip().is_loopback(),
                        "admin.listen",
                        authorizer.clone(),
                    ),
                )),
            },
            tls: None,
            max_connections: 1024,
            header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms),
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
            reload::Reloadables {
                http_cert,
                auth: Some(auth),
                mqtt_cert,
            },
            services.stop.clone(),
        ));

        // The IPC bus (electron-common-ipc 16), bridged to the fabric.
        if let Some(listeners) = ipc {
            let service = switchboard_ipc::IpcService::new(
                config.ipc.clone(),
                fabric.clone(),
                authorizer.clone(),
                &registry,
            )
            .map_err(|e| RunError::Component {
                component: "ipc",
                message: e.to_string(),
            })?;
            api.set_services(service.services());
            services.tracker.spawn(service.serve(
                listeners.tcp,
                listeners.unix,
                services.stop.clone(),
            ));
        }

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
        crate::cluster::stop(cluster).await;
        fabric.close();
        if let Some(s) = store {
            crate::storage::close(s).await;
        }
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
    if let Some(path) = &addresses.dashboard {
        tracing::info!("dashboard       {scheme}://{}{path}", addresses.http);
    }
    tracing::info!(
        "admin           http://{}/  (/metrics /healthz /readyz /api/v1/)",
        addresses.admin
    );
    if let Some(mqtt) = addresses.mqtt {
        tracing::info!("MQTT            mqtt://{mqtt}  (3.1.1 and 5.0)");
    }
    if let Some(mqtts) = addresses.mqtt_tls {
        tracing::info!("MQTT over TLS   mqtts://{mqtts}");
    }
    if let Some(path) = &addresses.mqtt_ws {
        let scheme = if addresses.http_tls { "wss" } else { "ws" };
        tracing::info!("MQTT over WS    {scheme}://{}{path}", addresses.http);
    }
    if let Some(ipc) = addresses.ipc {
        tracing::info!("IPC bus         tcp://{ipc}  (electron-common-ipc 16)");
    }
    if let Some(path) = &addresses.ipc_unix {
        tracing::info!("IPC bus         unix:{}", path.display());
    }
}

/// Binds and serves until `shutdown` resolves: the single seam the binary and the tests use.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    // Boxed: the serving future holds every service's state, too large to keep on the stack.
    Box::pin(Gateway::bind(config).await?.serve(shutdown)).await
}
