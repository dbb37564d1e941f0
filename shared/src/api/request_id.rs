//! Request ids (contract section 2.4) and the final shaping of every response: the
//! `x-request-id` header, error bodies rendered with the id, and 405s in the standard shape.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::ApiError;

/// The request id of the current request, stored in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Media type of every JSON body.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The caller's id when it is 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, else a new UUID v4.
pub fn request_id(offered: Option<&HeaderValue>) -> String {
    offered
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Middleware: assigns the request id, runs the request inside a tracing span keyed by it,
/// and finishes the response.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request_id(request.headers().get(REQUEST_ID_HEADER));
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    // The X-Ray trace id (lambda_http puts it in this header) on every line of the request.
    let trace_id = request.headers().get("x-amzn-trace-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path, %trace_id);
    let started = std::time::Instant::now();
    let (response, metered) = crate::metrics::meter::metered(next.run(request).instrument(span.clone())).await;
    let cause = response.extensions().get::<ApiError>().and_then(ApiError::cause);
    let route = response.extensions().get::<super::observe::RouteLabel>().cloned();
    let mut response = finish(response, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request finished"));
    let observed = super::observe::Observed {
        route: route.as_ref(),
        status: response.status(),
        latency: started.elapsed(),
        metered,
        cause,
        request_id: &id,
        path: &path,
        trace_id: &trace_id,
    };
    super::observe::lines(&observed).iter().for_each(crate::metrics::MetricLine::emit);
    response
}

/// Renders error bodies and turns axum's bare 405s into the standard error shape.
fn finish(response: Response, id: &str) -> Response {
    let error = response.extensions().get::<ApiError>().cloned().or_else(|| {
        (response.status() == StatusCode::METHOD_NOT_ALLOWED)
            .then(|| ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed for this route"))
    });
    let Some(error) = error else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&error.body(id)).unwrap_or_default();
    parts.extensions.remove::<ApiError>();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut rendered = Response::from_parts(parts, Body::from(body));
    *rendered.status_mut() = error.status();
    rendered.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_ids_are_used_only_when_well_formed() {
        assert_eq!(request_id(Some(&HeaderValue::from_static("abc-123:x.y_z"))), "abc-123:x.y_z");
        for bad in ["", "has space", "semi;colon"] {
            let generated = request_id(Some(&HeaderValue::from_str(bad).unwrap()));
            assert_ne!(generated, bad);
            assert_eq!(generated.len(), 36);
        }
        assert_eq!(request_id(Some(&HeaderValue::from_str(&"a".repeat(129)).unwrap())).len(), 36);
        assert_eq!(request_id(None).len(), 36);
    }
}
