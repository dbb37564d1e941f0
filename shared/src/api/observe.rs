//! The metrics of every API request, as EMF lines (`crate::metrics`): per route and status
//! class its count, latency, DynamoDB requests and consumed capacity, and 503s by cause.
//!
//! Dimensions are the route's template (`GET /tenants/{tenantId}/users`, a few dozen values)
//! and the status class; each line also rolls up by status class alone and over everything.
//! A tenant is never a dimension: the line carries the request's path and id as properties,
//! so a tenant's view is a Logs Insights query over the same lines.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::meter::Metered;
use crate::metrics::{MetricLine, Unit};

/// The route a request matched, as `METHOD /path/template` without the base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RouteLabel(pub String);

/// Route layer: notes the matched route on the response, for [`record`].
pub(super) async fn mark_route(matched: MatchedPath, request: Request, next: Next) -> Response {
    let label = route_label(request.method().as_str(), matched.as_str());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(RouteLabel(label));
    response
}

/// `GET /tenants/{tenantId}/users` of `GET` and `/api/wrapper/tenants/{tenantId}/users`.
fn route_label(method: &str, matched: &str) -> String {
    let path =
        [super::BASE_PATH, super::ALIAS_PATH].iter().find_map(|base| matched.strip_prefix(base)).unwrap_or(matched);
    format!("{method} {path}")
}

/// `2xx`, `4xx`, ...
fn status_class(status: StatusCode) -> String {
    format!("{}xx", status.as_u16() / 100)
}

/// What one finished request emits.
pub(super) struct Observed<'a> {
    pub route: Option<&'a RouteLabel>,
    pub status: StatusCode,
    pub latency: Duration,
    pub metered: Metered,
    pub cause: Option<&'static str>,
    pub request_id: &'a str,
    pub path: &'a str,
    /// The X-Ray trace id (`-` without one).
    pub trace_id: &'a str,
}

/// The request's metric lines: its count, latency and DynamoDB use; a 503 also by cause.
pub(super) fn lines(observed: &Observed<'_>) -> Vec<MetricLine> {
    let route = observed.route.map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    let mut lines = vec![MetricLine::new()
        .dimension("Route", route)
        .dimension("StatusClass", status_class(observed.status))
        .rollup(&["StatusClass"])
        .rollup(&[])
        .metric("Requests", Unit::Count, 1.0)
        .metric("Latency", Unit::Milliseconds, observed.latency.as_secs_f64() * 1000.0)
        .metric("DynamoDbRequests", Unit::Count, observed.metered.requests as f64)
        .metric("ConsumedCapacity", Unit::Count, observed.metered.capacity_units)
        .property("requestId", observed.request_id)
        .property("path", observed.path)
        .property("traceId", observed.trace_id)
        .property("status", observed.status.as_u16())];
    if let Some(cause) = observed.cause {
        lines.push(
            MetricLine::new()
                .dimension("Cause", cause)
                .metric("Unavailable", Unit::Count, 1.0)
                .property("requestId", observed.request_id),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_without_their_base_path() {
        assert_eq!(route_label("GET", "/api/sync/tenants/{tenantId}/users"), "GET /tenants/{tenantId}/users");
        assert_eq!(route_label("POST", "/api/wrapper/changes"), "POST /changes");
        assert_eq!(route_label("GET", "/elsewhere"), "GET /elsewhere");
    }

    #[test]
    fn a_503_adds_a_line_by_cause_and_no_line_names_a_tenant_as_a_dimension() {
        let route = RouteLabel("GET /tenants/{tenantId}".into());
        let observed = Observed {
            route: Some(&route),
            status: StatusCode::SERVICE_UNAVAILABLE,
            latency: Duration::from_millis(12),
            metered: Metered { requests: 3, capacity_units: 1.5 },
            cause: Some("store"),
            request_id: "r-1",
            path: "/api/sync/tenants/t-1",
            trace_id: "Root=1-abc",
        };
        let lines: Vec<serde_json::Value> = lines(&observed).iter().map(|l| l.to_json(1)).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["Route"], "GET /tenants/{tenantId}");
        assert_eq!(lines[0]["StatusClass"], "5xx");
        assert_eq!(lines[0]["DynamoDbRequests"], 3.0);
        assert_eq!(lines[1]["Cause"], "store");
        for line in &lines {
            let sets = line["_aws"]["CloudWatchMetrics"][0]["Dimensions"].to_string();
            assert!(!sets.contains("tenant") && !sets.contains("path"), "{sets}");
        }
    }
}
