//! The routers answer Lambda events: every API Gateway event in `events/` (HTTP API v2 and
//! REST v1 proxy payloads, the files `cargo lambda invoke --data-file` and
//! `sam local invoke -e` take), fed through `lambda_http`, gets the same status and body
//! as the same request over HTTP.

use std::path::Path;

use http_body_util::BodyExt;
use integration_tests::http::{Bench, BenchOptions};
use serde_json::json;
use tower::ServiceExt;

fn event_files() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files = Vec::new();
    for group in std::fs::read_dir(&root).expect("events/ exists") {
        let group = group.unwrap().path();
        if !group.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&group).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".http-api.json") || name.ends_with(".rest-api.json") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

/// The event with its development token (signed with the local secret, which the bench does
/// not use) replaced by `token`.
fn with_token(event: &str, token: &str) -> String {
    let mut out = String::with_capacity(event.len());
    let mut rest = event;
    while let Some(at) = rest.find("Bearer ") {
        out.push_str(&rest[..at + "Bearer ".len()]);
        out.push_str(token);
        rest = &rest[at + "Bearer ".len()..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn api_gateway_events_get_the_same_answers_as_http() {
    // REST API stages would otherwise prefix the path (`/prod/api/sync/...`); deployments
    // behind a REST API set the same variable (docs/api.md).
    std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    let (bench, data) = Bench::seeded().await;
    let northwind = &data.tenants[0].tenant;
    let reader = bench.service(Some(&northwind.tenant_id), json!({}));
    let writer =
        bench.service(Some(&northwind.tenant_id), json!({ "service": "wrapper", "permissions": ["platform:write"] }));
    let files = event_files();
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let original = std::fs::read_to_string(&file).unwrap();
        let token = if original.contains("${WRITE_TOKEN}") { &writer } else { &reader };
        let text = with_token(&original, token);
        assert!(
            !text.contains("/tenants/")
                || text.contains(&format!("/tenants/{}", northwind.tenant_id))
                || text.contains(&format!("/tenants/{}", northwind.kinde_org_id)),
            "{}: tenant events are Northwind's",
            file.display()
        );
        let event_body = serde_json::from_str::<serde_json::Value>(&text).unwrap()["body"].as_str().map(str::to_owned);
        let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let method = request.method().clone();
        let path_and_query = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let app = Bench::app(&bench.store, &bench.issuer, &BenchOptions::default());
        let response = app.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let request_id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();

        let over_http = bench
            .send(|c, url| {
                let request = c
                    .request(
                        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
                        format!("{url}{path_and_query}"),
                    )
                    .bearer_auth(token);
                match event_body {
                    Some(body) => request.header("content-type", "application/json").body(body),
                    None => request,
                }
            })
            .await;
        assert_eq!(status, 200, "{}: {}", file.display(), String::from_utf8_lossy(&body));
        assert_eq!(status, over_http.status, "{}", file.display());
        if method == lambda_http::http::Method::GET {
            // POST answers carry per-request values (run ids, snapshot times).
            assert_eq!(String::from_utf8_lossy(&body), over_http.text, "{}", file.display());
        }
        assert!(request_id.is_some_and(|id| id.starts_with("event-")), "the event's request id is used");
    }
}
