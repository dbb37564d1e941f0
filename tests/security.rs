//! Security hardening (issue "Security hardening"): a named test per attack or failure the
//! issue lists. Each builds the real router over DynamoDB Local (or over a store that never
//! answers) and sends real tokens.

use std::time::{Duration, Instant};

use integration_tests::http::{Bench, BenchOptions, A};
use shared::config::StoreConfig;
use shared::store::Store;

/// A TCP server on loopback that accepts connections and never answers.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
    let address = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn a_stalled_store_answers_503_with_retry_after_within_the_timeout() {
    let bench = Bench::start().await;
    let endpoint = silent_server().await;
    let config = StoreConfig::from_lookup(|name| match name {
        "DYNAMODB_ENDPOINT" => Some(endpoint.clone()),
        "TABLE_NAME" => Some("stalled".to_owned()),
        "DYNAMODB_ATTEMPT_TIMEOUT_MS" => Some("200".to_owned()),
        "DYNAMODB_OPERATION_TIMEOUT_MS" => Some("700".to_owned()),
        _ => None,
    })
    .unwrap();
    let stalled = Bench::serve(&Store::new(&config), &bench.issuer, &BenchOptions::default()).await;
    let started = Instant::now();
    let reply = integration_tests::http::Reply::fetch(
        bench.client.get(format!("{stalled}/api/sync/tenants/{}/users", A.0)).bearer_auth(bench.platform()),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(reply.header("retry-after").is_some());
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert!(!reply.text.contains("dispatch") && !reply.text.contains("timeout"), "no internal detail: {}", reply.text);
}
