//! Metrics in CloudWatch's Embedded Metric Format: one raw JSON object per stdout line,
//! which CloudWatch Logs turns into metrics without a network call on the request path.
//!
//! Each line names its namespace, dimension sets and metrics under `_aws`, and carries the
//! values (and any extra properties, searchable in Logs Insights but not metrics) as
//! top-level members, as the format's specification requires. Dimensions stay
//! low-cardinality: a tenant is never a dimension, it travels as a property, so the
//! per-tenant view comes from Logs Insights over the same lines.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};

/// Whether [`MetricLine::emit`] prints: on in the Lambda functions and the local server
/// ([`enable`], called with the logs' set-up), off in the CLI and the tests, whose stdout
/// carries their own output.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns metric lines on for this process.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The namespace of every metric App Sync emits.
pub const NAMESPACE: &str = "WrapperAppSync";

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A plain number.
    Count,
    /// Gigabytes (DynamoDB reports item collection sizes in GB).
    Gigabytes,
    /// Milliseconds.
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Gigabytes => "Gigabytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Name of the metric the writer emits after each transaction: the upper bound of DynamoDB's
/// estimate of the tenant's item collection, in GB (the template's alarm watches it).
pub const ITEM_COLLECTION_SIZE: &str = "ItemCollectionSizeGB";

/// One EMF line under construction.
#[derive(Debug, Default)]
pub struct MetricLine {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, Unit, f64)>,
    properties: Map<String, Value>,
}

impl MetricLine {
    /// A line with no dimensions: the metrics aggregate over every caller and tenant.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dimension (keep its values few: a route group, a function, an outcome).
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    /// Adds a metric value.
    pub fn metric(mut self, name: &'static str, unit: Unit, value: f64) -> Self {
        self.metrics.push((name, unit, value));
        self
    }

    /// Adds a property: searchable in the log line, not a metric or a dimension.
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    /// The line as JSON, stamped `timestamp_ms` (milliseconds since the epoch).
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let mut root = self.properties.clone();
        for (name, value) in &self.dimensions {
            root.insert((*name).to_owned(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            root.insert((*name).to_owned(), serde_json::json!(value));
        }
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| serde_json::json!({ "Name": name, "Unit": unit.name() }))
            .collect();
        let dimension_set: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        root.insert(
            "_aws".to_owned(),
            serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [dimension_set], "Metrics": definitions }],
            }),
        );
        Value::Object(root)
    }

    /// Prints the line on stdout, where Lambda's log capture hands it to CloudWatch, when
    /// metrics are enabled for the process.
    pub fn emit(&self) {
        if !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let line = self.to_json(crate::time::Timestamp::now().millis());
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format's rules a line must keep: `_aws` with an integer timestamp and a directive
    /// whose every metric and dimension is a top-level member (metrics numeric, dimensions
    /// strings), at most 100 metrics and 30 dimensions per set.
    fn assert_valid_emf(line: &Value) {
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].is_i64(), "Timestamp is an integer of milliseconds");
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
        assert!(!directives.is_empty());
        for directive in directives {
            assert!(directive["Namespace"].as_str().is_some_and(|n| !n.is_empty()));
            let metrics = directive["Metrics"].as_array().unwrap();
            assert!(!metrics.is_empty() && metrics.len() <= 100);
            for metric in metrics {
                let name = metric["Name"].as_str().unwrap();
                assert!(line[name].is_number(), "metric {name} is a top-level number");
                let unit = metric["Unit"].as_str().unwrap();
                assert!(["Count", "Gigabytes", "Milliseconds"].contains(&unit));
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(set.len() <= 30);
                for dimension in set {
                    let name = dimension.as_str().unwrap();
                    assert!(line[name].is_string(), "dimension {name} is a top-level string");
                }
            }
        }
    }

    #[test]
    fn a_line_follows_the_embedded_metric_format() {
        let line = MetricLine::new()
            .dimension("RouteGroup", "tenants")
            .metric("Requests", Unit::Count, 1.0)
            .metric("Latency", Unit::Milliseconds, 12.5)
            .property("requestId", "r-1")
            .to_json(1_795_521_600_000);
        assert_valid_emf(&line);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["RouteGroup"]]));
        assert_eq!(line["requestId"], "r-1");
        assert_eq!(line["Latency"], 12.5);
    }

    #[test]
    fn a_line_without_dimensions_has_one_empty_dimension_set() {
        let line = MetricLine::new().metric(ITEM_COLLECTION_SIZE, Unit::Gigabytes, 0.5).to_json(1);
        assert_valid_emf(&line);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
    }
}
