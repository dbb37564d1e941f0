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

// ----- request limits -----------------------------------------------------------------------

#[tokio::test]
async fn a_caller_over_its_limit_gets_429_and_others_do_not() {
    let bench = Bench::with(BenchOptions { rate_limits: Some((5.0, 1_000.0)), ..Default::default() }).await;
    let crm = bench.service(Some(A.0), serde_json::json!({}));
    let path = format!("/tenants/{}", A.0);
    let statuses = futures::future::join_all((0..12).map(|_| bench.get(&path, Some(&crm)))).await;
    let limited: Vec<&integration_tests::http::Reply> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!(!limited.is_empty(), "12 requests at once against a burst of 5");
    assert!(statuses.iter().filter(|r| r.status == 200).count() >= 5);
    let reply = limited[0];
    assert!(reply.header("retry-after").and_then(|v| v.parse::<u32>().ok()).is_some_and(|s| s >= 1));
    assert_eq!(reply.body["error"], "Too Many Requests");
    let hr = bench.service(Some(A.0), serde_json::json!({ "service": "hr" }));
    assert_eq!(bench.get(&format!("/tenants/{}", A.0), Some(&hr)).await.status, 200, "hr has its own bucket");
}

#[tokio::test]
async fn a_tenant_over_its_limit_gets_429_whoever_calls() {
    let bench = Bench::with(BenchOptions { rate_limits: Some((1_000.0, 4.0)), ..Default::default() }).await;
    let callers = [
        bench.service(Some(A.0), serde_json::json!({})),
        bench.service(Some(A.0), serde_json::json!({ "service": "hr" })),
        bench.kinde(Some(A.1), serde_json::json!({})),
    ];
    let path = format!("/tenants/{}", A.0);
    let requests = (0..9).map(|n| bench.get(&path, Some(&callers[n % 3])));
    let replies = futures::future::join_all(requests).await;
    assert!(replies.iter().any(|r| r.status == 429), "9 requests for one tenant against a burst of 4");
    let other = bench.service(Some(integration_tests::http::B.0), serde_json::json!({}));
    assert_eq!(bench.get(&format!("/tenants/{}", integration_tests::http::B.0), Some(&other)).await.status, 200);
}

// ----- audit ---------------------------------------------------------------------------------

#[tokio::test]
async fn every_sync_trigger_of_a_tenant_is_audited_with_its_outcome() {
    let bench = Bench::start().await;
    let w = integration_tests::writer(&bench.store);
    w.put_user(A.0, &integration_tests::user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    let trigger = |token: String, tenant: &'static str| {
        let bench = &bench;
        async move {
            bench
                .send(|client, url| {
                    client
                        .post(format!("{url}/api/sync/tenants/{tenant}/sync"))
                        .bearer_auth(token)
                        .header("x-request-id", "audit-1")
                })
                .await
        }
    };
    let crm = bench.service(Some(A.0), serde_json::json!({}));
    assert_eq!(trigger(crm.clone(), A.0).await.status, 200);
    // An inactive tenant refuses the trigger: audited with the refusal's code.
    let mut inactive = integration_tests::tenant(A.0, A.1);
    inactive.is_active = Some(false);
    w.put_tenant(&inactive).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = trigger(bench.platform(), A.0).await;
    assert_eq!(refused.status, 409);
    // A caller of tenant B cannot write into tenant A's audit trail.
    let other = bench.service(Some(integration_tests::http::B.0), serde_json::json!({}));
    assert_eq!(trigger(other, A.0).await.status, 403);

    let entries = integration_tests::audit_entries(&bench.store, Some(A.0)).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    let outcomes: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["principal"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert!(outcomes.contains(&("crm", "completed")), "{outcomes:?}");
    assert!(outcomes.contains(&("wrapper", "tenant_inactive")), "{outcomes:?}");
    assert!(entries
        .iter()
        .all(|e| e["action"] == "sync.trigger" && e["requestId"] == "audit-1" && e["ttl"].is_number()));
    assert!(entries.iter().any(|e| e["syncId"].is_string()), "the started run is named");
    assert!(!serde_json::to_string(&entries).unwrap().contains(&crm), "no token in the trail");
}
