//! An HTTP proxy on loopback in front of DynamoDB Local that can misstate the time and slow
//! transactions down: the real store answers, only the `Date` header and the timing change.
//! It lets the tests show what the writer and the API do on a host whose clock is off, and
//! when a commit takes longer than the writer's bound; it can also answer the next requests
//! with DynamoDB's `InternalServerError` (a transient failure) instead of forwarding them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use shared::config::StoreConfig;
use shared::store::Store;

/// What the proxy changes.
#[derive(Debug, Clone, Default)]
pub struct Distortion {
    /// Seconds added to DynamoDB's `Date` (positive: the store seems ahead of this host).
    pub date_offset_secs: i64,
    /// How many `TransactWriteItems` answers to hold back by `delay`.
    pub slow_transactions: usize,
    /// How long to hold them.
    pub delay: Duration,
    /// How many of the next requests to answer with HTTP 500 `InternalServerError` (set at
    /// any time through [`Proxy::fail_next`]).
    pub failures: Arc<AtomicUsize>,
}

/// A running proxy.
#[derive(Clone)]
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    slowed: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts a proxy to the DynamoDB Local of the test run.
    pub async fn start(distortion: Distortion) -> Self {
        let slowed = Arc::new(AtomicUsize::new(0));
        let failures = distortion.failures.clone();
        let upstream = crate::endpoint();
        let client = reqwest::Client::new();
        let state = (upstream, client, distortion, slowed.clone());
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (upstream, client, distortion, slowed) = state.clone();
            async move { forward(&upstream, &client, &distortion, &slowed, method, uri, headers, body).await }
        });
        let url = crate::http::serve_loopback(app).await;
        Self { url, slowed, failures }
    }

    /// A store over `table` whose client goes through the proxy.
    pub fn store(&self, table: &str) -> Store {
        let url = self.url.clone();
        let config = StoreConfig::from_lookup(|name| match name {
            "DYNAMODB_ENDPOINT" => Some(url.clone()),
            "TABLE_NAME" => Some(table.to_owned()),
            _ => None,
        })
        .expect("proxy config is valid");
        Store::new(&config)
    }

    /// Answers the next `count` requests with a transient DynamoDB error.
    pub fn fail_next(&self, count: usize) {
        self.failures.store(count, Ordering::SeqCst);
    }

    /// How many transactions went through so far (held back or not).
    pub fn transactions(&self) -> usize {
        self.slowed.load(Ordering::SeqCst)
    }
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    upstream: &str,
    client: &reqwest::Client,
    distortion: &Distortion,
    slowed: &AtomicUsize,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let failing = distortion.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if failing {
        let body =
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test"}"#;
        return (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "application/x-amz-json-1.0")], body)
            .into_response();
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = client.request(method, format!("{upstream}{path}")).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if target.ends_with("TransactWriteItems") && slowed.fetch_add(1, Ordering::SeqCst) < distortion.slow_transactions {
        tokio::time::sleep(distortion.delay).await;
    }
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out.insert(name.clone(), value.clone());
        }
    }
    if let Some(date) = out.get("date").and_then(|d| d.to_str().ok()).and_then(|d| shifted(d, distortion)) {
        out.insert("date", date);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    (status, out, bytes).into_response()
}

fn shifted(date: &str, distortion: &Distortion) -> Option<HeaderValue> {
    let at = chrono::DateTime::parse_from_rfc2822(date).ok()? + chrono::Duration::seconds(distortion.date_offset_secs);
    HeaderValue::from_str(&at.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}
