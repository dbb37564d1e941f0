//! The HTTP change routes (`POST /tenants/{tenantId}/changes`, `POST /changes`) through the
//! real router with real tokens on DynamoDB Local: who may write, the limits, validation
//! before any write, results in order, `Idempotency-Key` replays, bulk-loading waits, and
//! the change showing up in an incremental pull.

use integration_tests::http::{Bench, Reply, A, B};
use serde_json::{json, Value};
use shared::store::loading;

fn write_token(bench: &Bench, tenant: Option<&str>) -> String {
    let permissions =
        if tenant.is_some() { json!(["platform:write"]) } else { json!(["platform:all_tenants", "platform:write"]) };
    bench.service(tenant, json!({ "service": "wrapper", "permissions": permissions }))
}

fn user(id: &str, version: u64, last_name: &str) -> Value {
    json!({ "changeId": format!("c-{id}-{version}"), "type": "user", "op": "upsert", "tenantId": A.0,
            "sourceVersion": version, "occurredAt": "2026-12-02T10:00:00.000Z",
            "record": { "userId": id, "email": format!("{id}@example.com"), "lastName": last_name,
                        "createdAt": "2025-01-01T00:00:00Z" } })
}

async fn post(bench: &Bench, path: &str, token: &str, body: Vec<u8>, content_type: &str, key: Option<&str>) -> Reply {
    bench
        .send(|client, url| {
            let mut request = client
                .post(format!("{url}/api/sync{path}"))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            request
        })
        .await
}

async fn post_json(bench: &Bench, path: &str, token: &str, changes: &Value) -> Reply {
    post(bench, path, token, serde_json::to_vec(changes).unwrap(), "application/json", None).await
}

fn changes_of(tenant: &str) -> String {
    format!("/tenants/{tenant}/changes")
}

async fn user_names(bench: &Bench) -> Vec<(String, String)> {
    let reply = bench.get(&format!("/tenants/{}/users?limit=500", A.0), Some(&bench.platform())).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (u["userId"].as_str().unwrap().to_owned(), u["personalInfo"]["lastName"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

#[tokio::test]
async fn only_write_tokens_covering_the_tenant_may_post_changes() {
    let bench = Bench::start().await;
    let body = json!([user("u-1", 1, "Lovelace")]);
    let refused = [
        ("a read-only service token", bench.service(Some(A.0), json!({}))),
        ("a platform read token", bench.platform()),
        ("a service without the write grant", bench.service(Some(A.0), json!({ "permissions": ["platform:write"] }))),
        ("a Kinde token", bench.kinde(Some(A.1), json!({}))),
        ("a write token of another tenant", write_token(&bench, Some(B.0))),
    ];
    for (what, token) in refused {
        let reply = post_json(&bench, &changes_of(A.0), &token, &body).await;
        assert_eq!(reply.status, 403, "{what}: {}", reply.text);
    }
    let anonymous = bench
        .send(|c, url| {
            c.post(format!("{url}/api/sync{}", changes_of(A.0)))
                .header("content-type", "application/json")
                .body(body.to_string())
        })
        .await;
    assert_eq!(anonymous.status, 401);
    assert!(user_names(&bench).await.is_empty(), "nothing was written");
    let tenant_token = write_token(&bench, Some(A.0));
    let platform_only = json!([{ "type": "catalogApp",
        "record": { "appCode": "crm", "appName": "CRM", "status": "active", "modules": [] } }]);
    assert_eq!(post_json(&bench, "/changes", &tenant_token, &platform_only).await.status, 403, "tenant scope");
    let reply = post_json(&bench, &changes_of(A.0), &tenant_token, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(user_names(&bench).await, vec![("u-1".to_owned(), "Lovelace".to_owned())]);
}

#[tokio::test]
async fn results_come_in_order_and_an_incremental_pull_shows_the_rename() {
    let bench = Bench::start().await;
    let token = write_token(&bench, Some(A.0));
    let first =
        post_json(&bench, &changes_of(A.0), &token, &json!([user("u-1", 1, "Lovelace"), user("u-2", 1, "Hopper")]))
            .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let initial = format!("/tenants/{}/users?updatedSince=1970-01-01T00:00:00Z", A.0);
    let full = bench.get(&initial, Some(&bench.platform())).await;
    let since = full.body["pagination"]["watermark"].as_str().expect("a watermark").to_owned();

    // NDJSON: a rename, a stale older version and a duplicate, in that order.
    let lines = [user("u-1", 3, "Byron"), user("u-1", 2, "Older"), user("u-2", 1, "Hopper")];
    let ndjson = lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let reply = post(&bench, &changes_of(A.0), &token, ndjson.into_bytes(), "application/x-ndjson", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let outcomes: Vec<&str> =
        reply.body["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["applied", "stale", "stale"], "an equal version is stale too");
    let indexes: Vec<u64> =
        reply.body["results"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(reply.body["summary"], json!({ "applied": 1, "unchanged": 0, "stale": 2, "rejected": 0 }));

    let path = format!("/tenants/{}/users?updatedSince={}", A.0, urlencode(&since));
    let pull = bench.get(&path, Some(&bench.platform())).await;
    assert_eq!(pull.status, 200, "{}", pull.text);
    let changed: Vec<(&str, &str)> = pull.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["userId"].as_str().unwrap(), u["personalInfo"]["lastName"].as_str().unwrap()))
        .collect();
    // The watermark settles a few seconds behind the store, so the first batch may come again
    // (consumers de-duplicate); the rename must be there, and nothing else may differ.
    assert!(changed.contains(&("u-1", "Byron")), "the incremental pull shows the rename: {changed:?}");
    assert!(changed.iter().all(|c| [("u-1", "Byron"), ("u-2", "Hopper")].contains(c)), "{changed:?}");
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn an_invalid_batch_writes_nothing_and_names_each_bad_index() {
    let bench = Bench::start().await;
    let token = write_token(&bench, Some(A.0));
    let mut other_tenant = user("u-3", 1, "Other");
    other_tenant["tenantId"] = json!(B.0);
    let body = json!([user("u-1", 1, "Valid"), { "type": "user", "tenantId": A.0 }, other_tenant,
        { "changeId": "x", "type": "user", "op": "delete", "tenantId": A.0, "sourceVersion": 1, "key": {} }]);
    let reply = post_json(&bench, &changes_of(A.0), &token, &body).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let fields: Vec<&str> =
        reply.body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["body[1]", "body[2]", "body[3]"]);
    assert!(user_names(&bench).await.is_empty(), "the valid change was not written either");

    let wrong_type = post(&bench, &changes_of(A.0), &token, b"[]".to_vec(), "text/plain", None).await;
    assert_eq!(wrong_type.status, 415);
    let not_array = post_json(&bench, &changes_of(A.0), &token, &json!({ "changes": [] })).await;
    assert_eq!(not_array.status, 400);
}

#[tokio::test]
async fn bodies_over_either_limit_are_413() {
    let bench = Bench::start().await;
    let token = write_token(&bench, Some(A.0));
    let many: Vec<Value> = (0..1001).map(|n| user(&format!("u-{n}"), 1, "Many")).collect();
    let reply = post_json(&bench, &changes_of(A.0), &token, &json!(many)).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    let padding = "x".repeat(600);
    let big: Vec<Value> = (0..900).map(|n| user(&format!("u-{n}-{padding}"), 1, &padding)).collect();
    let bytes = serde_json::to_vec(&big).unwrap();
    assert!(bytes.len() > 1024 * 1024);
    let reply = post(&bench, &changes_of(A.0), &token, bytes, "application/json", None).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(user_names(&bench).await.is_empty());
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let bench = Bench::start().await;
    let token = write_token(&bench, Some(A.0));
    let body = serde_json::to_vec(&json!([user("u-1", 1, "Lovelace")])).unwrap();
    let first = post(&bench, &changes_of(A.0), &token, body.clone(), "application/json", Some("load-1")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["results"][0]["outcome"], "applied");
    let again = post(&bench, &changes_of(A.0), &token, body.clone(), "application/json", Some("load-1")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.text, first.text, "the first answer, not a second round of outcomes");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let without_key = post(&bench, &changes_of(A.0), &token, body, "application/json", None).await;
    assert_eq!(without_key.body["results"][0]["outcome"], "stale");
    let other = serde_json::to_vec(&json!([user("u-1", 2, "Byron")])).unwrap();
    let reused = post(&bench, &changes_of(A.0), &token, other, "application/json", Some("load-1")).await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(user_names(&bench).await, vec![("u-1".to_owned(), "Lovelace".to_owned())]);
}

#[tokio::test]
async fn changes_wait_while_the_tenant_is_bulk_loading_and_a_503_is_not_replayed() {
    let bench = Bench::start().await;
    let token = write_token(&bench, Some(A.0));
    let body = serde_json::to_vec(&json!([user("u-1", 1, "Lovelace")])).unwrap();
    loading::begin(&bench.store, A.0).await.expect("marker");
    let waiting = post(&bench, &changes_of(A.0), &token, body.clone(), "application/json", Some("k-1")).await;
    assert_eq!(waiting.status, 503, "{}", waiting.text);
    assert!(waiting.header("retry-after").is_some());
    assert!(user_names(&bench).await.is_empty(), "nothing raced the load");
    loading::finish(&bench.store, A.0).await.expect("marker removed");
    let applied = post(&bench, &changes_of(A.0), &token, body, "application/json", Some("k-1")).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.body["results"][0]["outcome"], "applied");
    assert!(applied.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn platform_wide_changes_go_to_the_platform_route() {
    let bench = Bench::start().await;
    let token = write_token(&bench, None);
    let tenant = json!({ "changeId": "t-new-1", "type": "tenant", "sourceVersion": 1, "record": {
        "tenantId": "33333333-3333-4333-8333-333333333333", "kindeOrgId": "org_charlie", "companyName": "Charlie",
        "createdAt": "2026-01-01T00:00:00Z" } });
    let on_tenant_route = post_json(&bench, &changes_of(A.0), &token, &json!([tenant.clone()])).await;
    assert_eq!(on_tenant_route.status, 400, "{}", on_tenant_route.text);
    let tenant_scoped = post_json(&bench, "/changes", &token, &json!([user("u-1", 1, "Lovelace")])).await;
    assert_eq!(tenant_scoped.status, 400, "{}", tenant_scoped.text);
    let reply = post_json(&bench, "/changes", &token, &json!([tenant])).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["results"][0]["outcome"], "applied");
    let read = bench.get("/tenants/33333333-3333-4333-8333-333333333333", Some(&bench.platform())).await;
    assert_eq!(read.status, 200, "{}", read.text);
}

#[tokio::test]
async fn every_write_is_audited_with_who_what_and_outcome_while_writes_run_concurrently() {
    let bench = Bench::start().await;
    let token = write_token(&bench, Some(A.0));
    // Eight batches at once, each of five new users. Their transactions meet on the tenant's
    // counters, so a batch may answer 503; the client sends it again, as documented.
    let batches = (0..8).map(|b| {
        let changes: Vec<Value> = (0..5).map(|i| user(&format!("u-{b}-{i}"), 1, "Concurrent")).collect();
        let (bench, token) = (&bench, &token);
        async move {
            for _ in 0..20 {
                let reply = bench
                    .send(|client, url| {
                        client
                            .post(format!("{url}/api/sync{}", changes_of(A.0)))
                            .bearer_auth(token)
                            .header("content-type", "application/json")
                            .header("x-request-id", format!("write-{b}"))
                            .body(Value::Array(changes.clone()).to_string())
                    })
                    .await;
                if reply.status != 503 {
                    return reply;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("batch {b} still answered 503 after 20 tries");
        }
    });
    for reply in futures::future::join_all(batches).await {
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // An invalid batch writes nothing and is audited as refused; a read token never reaches
    // the tenant, so it leaves no entry in the tenant's trail.
    let invalid = post_json(&bench, &changes_of(A.0), &token, &json!([user("u-x", 1, "X"), { "type": "user" }])).await;
    assert_eq!(invalid.status, 400, "{}", invalid.text);
    let reader = bench.service(Some(A.0), json!({}));
    let read_only = post_json(&bench, &changes_of(A.0), &reader, &json!([user("u-y", 1, "Y")])).await;
    assert_eq!(read_only.status, 403);
    // A platform-wide change lands in the platform's trail.
    let tenant = json!({ "changeId": "t-audit-1", "type": "tenant", "sourceVersion": 1, "record": {
        "tenantId": "33333333-3333-4333-8333-333333333333", "kindeOrgId": "org_charlie", "companyName": "Charlie",
        "createdAt": "2026-01-01T00:00:00Z" } });
    assert_eq!(post_json(&bench, "/changes", &write_token(&bench, None), &json!([tenant])).await.status, 200);
    // The queue: two changes forwarded by the platform's rule, one malformed body.
    let event = |id: &str| {
        json!({ "version": "0", "id": "e", "detail-type": "UserChanged", "source": "wrapper.platform",
                "detail": user(id, 1, "Queued") })
        .to_string()
    };
    let message = |n: usize, body: String| shared::ingest::queue::SqsMessage { message_id: format!("m-{n}"), body };
    let batch = shared::ingest::queue::SqsBatch {
        records: vec![message(0, event("q-1")), message(1, "{".to_owned()), message(2, event("q-2"))],
    };
    let writer = integration_tests::writer(&bench.store);
    let audit = shared::audit::AuditLog::new(bench.store.clone(), 30);
    let answer = shared::ingest::queue::handle_batch(&writer, &audit, batch).await;
    assert_eq!(answer.batch_item_failures.len(), 1);

    assert_eq!(user_names(&bench).await.len(), 8 * 5 + 2, "every batch's users and the queued ones");
    let entries = integration_tests::audit_entries(&bench.store, Some(A.0)).await;
    let posts: Vec<&Value> = entries.iter().filter(|e| e["action"] == "changes.post").collect();
    let applied: Vec<&&Value> = posts.iter().filter(|e| e["outcome"] == "applied").collect();
    assert_eq!(applied.len(), 8, "one entry per batch: {entries:#?}");
    for b in 0..8 {
        let entry = applied.iter().find(|e| e["requestId"] == format!("write-{b}")).expect("each batch's entry");
        assert_eq!(entry["principal"], "wrapper");
        assert_eq!(entry["callerKind"], "service");
        assert_eq!(entry["changes"]["received"], 5);
        assert_eq!(entry["changes"]["kinds"], json!({ "user": 5 }));
        // A batch sent again after a 503 finds what its first try applied: `stale` (same version).
        let outcomes = entry["changes"]["outcomes"].as_object().unwrap();
        assert!(outcomes.keys().all(|k| k == "applied" || k == "stale"), "{outcomes:?}");
        assert_eq!(outcomes.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 5, "{outcomes:?}");
        let ids: Vec<String> = (0..5).map(|i| format!("c-u-{b}-{i}-1")).collect();
        assert_eq!(entry["changes"]["changeIds"], json!(ids));
        assert!(entry["ttl"].is_number());
    }
    // Besides the invalid batch, only the 503s of batches that were then sent again.
    let refused: Vec<&&Value> = posts.iter().filter(|e| e["outcome"] != "applied").collect();
    assert_eq!(refused.iter().filter(|e| e["outcome"] == "bad_request").count(), 1, "{refused:#?}");
    for entry in refused.iter().filter(|e| e["outcome"] != "bad_request") {
        assert_eq!(entry["outcome"], "service_unavailable", "{entry:#}");
        assert!(entry["requestId"].as_str().is_some_and(|id| id.starts_with("write-")), "{entry:#}");
    }
    let ingested: Vec<&Value> = entries.iter().filter(|e| e["action"] == "changes.ingest").collect();
    assert_eq!(ingested.len(), 1, "{entries:#?}");
    assert_eq!(ingested[0]["principal"], "eventbridge:wrapper.platform");
    assert_eq!(ingested[0]["callerKind"], "queue");
    assert_eq!(ingested[0]["changes"]["outcomes"], json!({ "applied": 2 }));
    assert_eq!(ingested[0]["changes"]["changeIds"], json!(["c-q-1-1", "c-q-2-1"]));
    let platform = integration_tests::audit_entries(&bench.store, None).await;
    assert_eq!(platform.len(), 1, "{platform:#?}");
    assert_eq!(platform[0]["changes"]["kinds"], json!({ "tenant": 1 }));
    assert!(platform[0].get("tenantId").is_none_or(Value::is_null));
    let trail = serde_json::to_string(&(&entries, &platform)).unwrap();
    assert!(!trail.contains("example.com") && !trail.contains("Concurrent"), "no record data in the trail");
    assert!(!trail.contains(&token), "no token in the trail");
}
