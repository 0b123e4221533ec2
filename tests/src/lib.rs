//! Test harness for switchboard: start real gateways in-process and talk to them.
//!
//! ```no_run
//! # async fn demo() {
//! use switchboard_tests::TestGateway;
//! let gw = TestGateway::builder().start().await;
//! let (status, body) = switchboard_tests::http::get(&gw.admin_url("/healthz")).await;
//! assert_eq!(status, 200);
//! gw.shutdown().await;
//! # }
//! ```
//!
//! # Layout
//! - [`TestGateway`] / [`GatewayBuilder`] (this file): a gateway on ephemeral ports with a config
//!   built in code, its addresses, and a shutdown handle.
//! - [`agent`]: interactive client scripts of other ecosystems, driven step by step.
//! - [`http`]: a minimal HTTP client for tests.
//! - [`interop`]: running Node and Python client scripts and reading their JSON output.
//! - [`wait`]: waiting for a condition without fixed sleeps.

pub mod agent;
pub mod http;
pub mod interop;
pub mod wait;

use std::net::SocketAddr;
use std::sync::Arc;

use switchboard::{Addresses, Gateway, RunError};
use switchboard_config::Config;
use switchboard_fabric::{Authorizer, Fabric};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Builds a test gateway: every listener on `127.0.0.1:0`, `$SYS` publishing off, then any change
/// the test makes.
#[derive(Debug)]
pub struct GatewayBuilder {
    config: Config,
}

/// The loopback address with an ephemeral port.
pub fn ephemeral() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A configuration with every listener on an ephemeral loopback port.
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.http.listen = ephemeral();
    c.admin.listen = ephemeral();
    c.mqtt.listen = ephemeral();
    c.ipc.listen = ephemeral();
    c.fabric.sys_interval_ms = 0;
    c.shutdown.grace_ms = 2_000;
    c.auth.anonymous = Some(true);
    c
}

impl GatewayBuilder {
    /// Changes the configuration.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// The configuration as it stands.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Binds the gateway, or returns why it could not.
    pub async fn try_start(self) -> Result<TestGateway, RunError> {
        let gateway = Gateway::bind(self.config).await?;
        let addresses = gateway.addresses().clone();
        let fabric = gateway.fabric().clone();
        let authorizer = gateway.authorizer().clone();
        let readiness = gateway.readiness().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(gateway.serve(async move {
            let _ = rx.await;
        }));
        // Serving starts synchronously in `serve`; wait until it reports ready.
        wait::until("the gateway to be ready", || readiness.is_ready()).await;
        Ok(TestGateway {
            addresses,
            fabric,
            authorizer,
            readiness,
            stop: Some(tx),
            handle: Some(handle),
        })
    }

    /// Binds and serves the gateway; panics with the error when it cannot start.
    pub async fn start(self) -> TestGateway {
        match self.try_start().await {
            Ok(g) => g,
            Err(e) => panic!("the test gateway did not start: {e}"),
        }
    }
}

/// A gateway running in this process.
#[derive(Debug)]
pub struct TestGateway {
    /// Where each service listens.
    pub addresses: Addresses,
    /// The gateway's fabric, to publish or observe from the test.
    pub fabric: Fabric,
    /// The authorizer every protocol of the gateway consults (`[auth]`).
    pub authorizer: Arc<dyn Authorizer>,
    /// The gateway's readiness state.
    pub readiness: switchboard::shutdown::Readiness,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), RunError>>>,
}

impl TestGateway {
    /// A builder with the test defaults.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            config: test_config(),
        }
    }

    /// `http://<front>` + `path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addresses.http)
    }

    /// `http://<admin>` + `path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addresses.admin)
    }

    /// Waits until some subscriber of the fabric (any protocol) matches `topic`.
    pub async fn subscribed(&self, topic: &str) {
        let topic = switchboard_fabric::Topic::new(topic)
            .unwrap_or_else(|e| panic!("bad test topic {topic}: {e}"));
        wait::until(&format!("a subscriber on {topic}"), || {
            self.fabric.has_subscribers(&topic)
        })
        .await;
    }

    /// The Prometheus text of the admin `/metrics`.
    pub async fn metrics(&self) -> String {
        let (status, body) = http::get(&self.admin_url("/metrics")).await;
        assert_eq!(status, 200, "GET /metrics");
        body
    }

    /// Starts shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits until `serve` returns; panics if it failed.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        if let Some(h) = self.handle.take() {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("the gateway stopped with an error: {e}"),
                Err(e) => panic!("the gateway task failed: {e}"),
            }
        }
    }

    /// Waits until `serve` returns and gives its result.
    pub async fn join(mut self) -> Result<(), RunError> {
        match self.handle.take() {
            Some(h) => h
                .await
                .unwrap_or_else(|e| panic!("the gateway task failed: {e}")),
            None => Ok(()),
        }
    }
}
