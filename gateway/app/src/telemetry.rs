//! Logs, traces and the metrics registry.
//!
//! Logging is process-global, so [`init`] is called once by the binary (tests skip it or call it
//! again harmlessly). Libraries only use `tracing` macros and the registry passed to them.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use switchboard_config::{LogFormat, TelemetryConfig};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::RunError;

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Keeps the trace exporter alive; flushes it when dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("switchboard: flushing traces failed: {e}");
        }
    }
}

/// Installs the global `tracing` subscriber: env-filter from `log_level` (overridden by `RUST_LOG`
/// when set), text or JSON lines on stderr, and an OTLP/HTTP trace exporter when `otlp_endpoint` is
/// set. Must be called inside a Tokio runtime when OTLP is on.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, RunError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v),
        _ => EnvFilter::try_new(&config.log_level),
    }
    .map_err(|e| RunError::Telemetry(format!("telemetry.log_level: {e}")))?;

    let (otel_layer, provider) = match &config.otlp_endpoint {
        Some(endpoint) => {
            let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(url)
                .build()
                .map_err(|e| RunError::Telemetry(format!("telemetry.otlp_endpoint: {e}")))?;
            let processor =
                opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                    exporter,
                    opentelemetry_sdk::runtime::Tokio,
                )
                .build();
            let provider = SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(config.service_name.clone())
                        .build(),
                )
                .build();
            let tracer = provider.tracer("switchboard");
            (
                Some(tracing_opentelemetry::layer().with_tracer(tracer)),
                Some(provider),
            )
        }
        None => (None, None),
    };

    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let result = match config.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if let Err(e) = result {
        // Already installed (several gateways in one test process): keep the first.
        tracing::debug!(error = %e, "tracing subscriber already installed");
    }
    Ok(TelemetryGuard { provider })
}

/// A fresh metrics registry with the gateway's own build and process metrics registered.
pub fn new_registry() -> Result<Registry, RunError> {
    let registry = Registry::new();
    let build = IntGaugeVec::new(
        Opts::new(
            "switchboard_build_info",
            "Build information; the value is always 1",
        ),
        &["version"],
    )?;
    build.with_label_values(&[VERSION]).set(1);
    registry.register(Box::new(build))?;
    let start = IntGauge::new(
        "switchboard_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds",
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    start.set(now);
    registry.register(Box::new(start))?;
    Ok(registry)
}
