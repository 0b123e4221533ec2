//! `switchboard_storage_*` metrics.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

/// The store's metrics.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    /// Committed batches.
    pub batches: IntCounter,
    /// Keys written or deleted.
    pub writes: IntCounter,
    /// Failed commits (retried).
    pub errors: IntCounter,
    /// Writes waiting for the next batch.
    pub pending: IntGauge,
    /// Size of the database file.
    pub file_bytes: IntGauge,
    /// Time to write and commit one batch.
    pub commit_seconds: Histogram,
}

impl StoreMetrics {
    /// Registers the metrics on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = StoreMetrics {
            batches: IntCounter::new(
                "switchboard_storage_batches_total",
                "Batches committed to the store",
            )?,
            writes: IntCounter::new(
                "switchboard_storage_writes_total",
                "Keys written or deleted in the store",
            )?,
            errors: IntCounter::new(
                "switchboard_storage_errors_total",
                "Failed store commits and reads (commits are retried)",
            )?,
            pending: IntGauge::new(
                "switchboard_storage_pending_writes",
                "Writes waiting for the next batch",
            )?,
            file_bytes: IntGauge::new(
                "switchboard_storage_file_bytes",
                "Size of the store's database file",
            )?,
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "switchboard_storage_commit_seconds",
                    "Time to write and commit one batch (with its fsync when there is one)",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
                ]),
            )?,
        };
        registry.register(Box::new(m.batches.clone()))?;
        registry.register(Box::new(m.writes.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        registry.register(Box::new(m.pending.clone()))?;
        registry.register(Box::new(m.file_bytes.clone()))?;
        registry.register(Box::new(m.commit_seconds.clone()))?;
        Ok(m)
    }
}
