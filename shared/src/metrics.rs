//! Sync metrics in CloudWatch Embedded Metric Format: one JSON line on stdout per sync,
//! which Lambda's log pipeline turns into metrics without any API call.

use std::io::Write;
use std::sync::Mutex;

pub const NAMESPACE: &str = "HerokuDbUrlSync";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncMetrics {
    /// Env vars written.
    pub syncs_done: u64,
    /// Links that could not be synced, or 1 for a sync that failed as a whole.
    pub syncs_failed: u64,
    /// Seconds from the release's `created_at` to the env var written.
    pub release_to_written: Option<f64>,
    /// Validly signed deliveries we can never use (not JSON, no app or version):
    /// answered 2xx so Heroku stops retrying, and counted so someone can look.
    pub deliveries_unusable: u64,
    /// Change events not published although their env var was written (docs/contract.md,
    /// "Change events"): the platform was not told to restart on the new value.
    pub change_events_failed: u64,
    /// Set by a reconcile worker's batch: emitted even when zero, so an alarm on drift
    /// sees every pass.
    pub reconcile: Option<ReconcileMetrics>,
}

/// One reconcile batch (docs/contract.md, "The promise, and what keeps it").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReconcileMetrics {
    pub links_checked: u64,
    /// Links found behind their app's newest release: a delivery did not come.
    pub links_behind: u64,
    /// Links behind it whose last attempt had failed (retried; not drift).
    pub links_failing: u64,
    /// Apps the pass could not reconcile (an outage, or a fault of ours).
    pub apps_failed: u64,
    pub subscriptions_repaired: u64,
    /// Apps left for the next pass because their account's budget or pool ran out.
    pub apps_deferred: u64,
    /// Age in seconds of the oldest release found unsynced.
    pub oldest_unsynced_release_s: Option<f64>,
}

pub trait MetricsSink: Send + Sync {
    fn record(&self, m: &SyncMetrics);
}

/// Writes EMF lines to stdout (what runs in Lambda).
#[derive(Debug, Default)]
pub struct EmfStdout;

impl EmfStdout {
    pub fn line(m: &SyncMetrics, timestamp_ms: i64) -> String {
        let mut metrics = vec![
            serde_json::json!({"Name": "SyncsDone", "Unit": "Count"}),
            serde_json::json!({"Name": "SyncsFailed", "Unit": "Count"}),
        ];
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service"]],
                    "Metrics": [],
                }],
            },
            "Service": "heroku-db-url-sync",
            "SyncsDone": m.syncs_done,
            "SyncsFailed": m.syncs_failed,
        });
        if m.deliveries_unusable > 0 {
            metrics.push(serde_json::json!({"Name": "DeliveriesUnusable", "Unit": "Count"}));
            doc["DeliveriesUnusable"] = serde_json::json!(m.deliveries_unusable);
        }
        if m.change_events_failed > 0 {
            metrics.push(serde_json::json!({"Name": "ChangeEventsFailed", "Unit": "Count"}));
            doc["ChangeEventsFailed"] = serde_json::json!(m.change_events_failed);
        }
        if let Some(s) = m.release_to_written {
            metrics.push(serde_json::json!({"Name": "ReleaseToWrittenSeconds", "Unit": "Seconds"}));
            doc["ReleaseToWrittenSeconds"] = serde_json::json!(s);
        }
        if let Some(r) = &m.reconcile {
            for (name, value) in [
                ("LinksChecked", r.links_checked),
                ("LinksBehind", r.links_behind),
                ("LinksFailing", r.links_failing),
                ("AppsFailed", r.apps_failed),
                ("SubscriptionsRepaired", r.subscriptions_repaired),
                ("AppsDeferred", r.apps_deferred),
            ] {
                metrics.push(serde_json::json!({"Name": name, "Unit": "Count"}));
                doc[name] = serde_json::json!(value);
            }
            if let Some(s) = r.oldest_unsynced_release_s {
                metrics.push(
                    serde_json::json!({"Name": "OldestUnsyncedReleaseSeconds", "Unit": "Seconds"}),
                );
                doc["OldestUnsyncedReleaseSeconds"] = serde_json::json!(s);
            }
        }
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] = serde_json::Value::Array(metrics);
        doc.to_string()
    }
}

impl MetricsSink for EmfStdout {
    fn record(&self, m: &SyncMetrics) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let line = Self::line(m, now as i64);
        // One write of one line, so it cannot interleave with a log line.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// Discards metrics (local tools).
#[derive(Debug, Default)]
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn record(&self, _: &SyncMetrics) {}
}

/// Keeps metrics for tests to inspect.
#[derive(Debug, Default)]
pub struct RecordedMetrics(pub Mutex<Vec<SyncMetrics>>);

impl MetricsSink for RecordedMetrics {
    fn record(&self, m: &SyncMetrics) {
        if let Ok(mut v) = self.0.lock() {
            v.push(m.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let line = EmfStdout::line(
            &SyncMetrics {
                syncs_done: 2,
                syncs_failed: 0,
                release_to_written: Some(1.5),
                deliveries_unusable: 1,
                change_events_failed: 2,
                reconcile: Some(ReconcileMetrics {
                    links_behind: 3,
                    oldest_unsynced_release_s: Some(900.0),
                    ..ReconcileMetrics::default()
                }),
            },
            1000,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &declared {
            assert!(v.get(*name).is_some(), "{name} declared but missing");
        }
        assert_eq!(v["SyncsDone"], 2);
        assert_eq!(v["ReleaseToWrittenSeconds"], 1.5);
        assert_eq!(v["DeliveriesUnusable"], 1);
        assert_eq!(v["ChangeEventsFailed"], 2);
        assert!(declared.contains(&"ChangeEventsFailed"));
        assert!(declared.contains(&"DeliveriesUnusable"));
        assert_eq!(v["LinksBehind"], 3);
        assert_eq!(v["LinksChecked"], 0);
        assert_eq!(v["OldestUnsyncedReleaseSeconds"], 900.0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }
}
