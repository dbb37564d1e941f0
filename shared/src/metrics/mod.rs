//! Metrics in CloudWatch's Embedded Metric Format: one raw JSON object per stdout line,
//! which CloudWatch Logs turns into metrics without a network call on the request path.
//!
//! Each line names its namespace, dimension sets and metrics under `_aws`, and carries the
//! values (and any extra properties, searchable in Logs Insights but not metrics) as
//! top-level members, as the format's specification requires. Dimensions stay
//! low-cardinality: a tenant is never a dimension, it travels as a property, so the
//! per-tenant view comes from Logs Insights over the same lines.

pub mod meter;

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
    /// Further dimension sets (subsets of `dimensions`) the same values also aggregate by.
    rollups: Vec<Vec<&'static str>>,
    metrics: Vec<(&'static str, Unit, Vec<f64>)>,
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

    /// Also aggregates the metrics by this subset of the dimensions (an empty set: over
    /// everything), so one line feeds a per-route and an overall figure.
    pub fn rollup(mut self, dimensions: &[&'static str]) -> Self {
        self.rollups.push(dimensions.to_vec());
        self
    }

    /// Adds a metric value.
    pub fn metric(mut self, name: &'static str, unit: Unit, value: f64) -> Self {
        self.metrics.push((name, unit, vec![value]));
        self
    }

    /// Adds several values of one metric (at most 100, the format's limit; the rest are
    /// dropped): each counts as a sample, so percentiles see every one.
    pub fn values(mut self, name: &'static str, unit: Unit, mut values: Vec<f64>) -> Self {
        values.truncate(100);
        if !values.is_empty() {
            self.metrics.push((name, unit, values));
        }
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
        for (name, _, values) in &self.metrics {
            let value = match values.as_slice() {
                [one] => serde_json::json!(one),
                many => serde_json::json!(many),
            };
            root.insert((*name).to_owned(), value);
        }
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| serde_json::json!({ "Name": name, "Unit": unit.name() }))
            .collect();
        let mut sets: Vec<Vec<&str>> = vec![self.dimensions.iter().map(|(name, _)| *name).collect()];
        sets.extend(self.rollups.iter().cloned());
        root.insert(
            "_aws".to_owned(),
            serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": sets, "Metrics": definitions }],
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

/// Whether `line` keeps the Embedded Metric Format's rules (its specification, "Embedded
/// Metric Format Specification" in the CloudWatch user guide): an `_aws` member with an
/// integer `Timestamp` and a non-empty `CloudWatchMetrics` array of directives, each with a
/// namespace, at most 100 metrics each named by a top-level number (or array of up to 100
/// numbers) with a known unit, and dimension sets of at most 30 names, each a top-level
/// string. Tests hold every line App Sync emits to it.
pub fn check(line: &Value) -> Result<(), String> {
    let aws = line.get("_aws").ok_or("no _aws member")?;
    aws.get("Timestamp").and_then(Value::as_i64).ok_or("Timestamp is not an integer of milliseconds")?;
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no CloudWatchMetrics array")?;
    if directives.is_empty() {
        return Err("CloudWatchMetrics is empty".into());
    }
    for directive in directives {
        directive.get("Namespace").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or("no Namespace")?;
        let metrics = directive.get("Metrics").and_then(Value::as_array).ok_or("no Metrics array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err(format!("{} metrics in a directive (1 to 100)", metrics.len()));
        }
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str).ok_or("a metric without a Name")?;
            let value = line.get(name).ok_or(format!("metric {name} has no top-level value"))?;
            let numbers =
                value.as_array().is_some_and(|v| !v.is_empty() && v.len() <= 100 && v.iter().all(Value::is_number));
            if !value.is_number() && !numbers {
                return Err(format!("metric {name} is not a number or an array of 1 to 100 numbers"));
            }
            let unit = metric.get("Unit").and_then(Value::as_str).unwrap_or("None");
            if !["Count", "Gigabytes", "Milliseconds", "None"].contains(&unit) {
                return Err(format!("metric {name} has the unknown unit {unit}"));
            }
        }
        let sets = directive.get("Dimensions").and_then(Value::as_array).ok_or("no Dimensions array")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err("a dimension set of more than 30".into());
            }
            for dimension in set {
                let name = dimension.as_str().ok_or("a dimension name is not a string")?;
                if !line.get(name).is_some_and(Value::is_string) {
                    return Err(format!("dimension {name} is not a top-level string"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_valid_emf(line: &Value) {
        if let Err(problem) = check(line) {
            panic!("{problem}: {line}");
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
    fn rollups_and_value_arrays_follow_the_format() {
        let line = MetricLine::new()
            .dimension("Route", "users")
            .dimension("StatusClass", "2xx")
            .rollup(&["StatusClass"])
            .rollup(&[])
            .values("Lag", Unit::Milliseconds, vec![1.0, 2.0, 3.0])
            .values("Empty", Unit::Count, Vec::new())
            .to_json(1);
        assert_valid_emf(&line);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Route", "StatusClass"], ["StatusClass"], []])
        );
        assert_eq!(line["Lag"], serde_json::json!([1.0, 2.0, 3.0]));
        assert!(line.get("Empty").is_none(), "a metric without values is left out");
        let many = MetricLine::new().values("Lag", Unit::Milliseconds, vec![1.0; 150]).to_json(1);
        assert_eq!(many["Lag"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn lines_that_break_the_format_are_refused() {
        let good = MetricLine::new().dimension("Route", "users").metric("Requests", Unit::Count, 1.0).to_json(1);
        assert!(check(&good).is_ok());
        let mut broken = Vec::new();
        let mut no_value = good.clone();
        no_value.as_object_mut().unwrap().remove("Requests");
        broken.push(no_value);
        let mut numeric_dimension = good.clone();
        numeric_dimension["Route"] = serde_json::json!(3);
        broken.push(numeric_dimension);
        let mut text_metric = good.clone();
        text_metric["Requests"] = serde_json::json!("1");
        broken.push(text_metric);
        let mut no_timestamp = good.clone();
        no_timestamp["_aws"]["Timestamp"] = serde_json::json!("now");
        broken.push(no_timestamp);
        broken.push(serde_json::json!({ "Requests": 1 }));
        for line in broken {
            assert!(check(&line).is_err(), "accepted {line}");
        }
    }

    #[test]
    fn a_line_without_dimensions_has_one_empty_dimension_set() {
        let line = MetricLine::new().metric(ITEM_COLLECTION_SIZE, Unit::Gigabytes, 0.5).to_json(1);
        assert_valid_emf(&line);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
    }
}
