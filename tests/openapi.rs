//! `docs/openapi.yaml` against the code: the routes the routers serve and the paths the file
//! describes are the same set, every documented operation answers under both base paths with a
//! response that validates against the file, and the checker rejects what breaks the schema.

use std::collections::BTreeSet;

use integration_tests::contract::{assert_valid, document, resolve, template_for};
use integration_tests::http::{Bench, Reply};
use serde_json::{json, Value};
use shared::api::{self, ALIAS_PATH, BASE_PATH};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn documented_operations() -> BTreeSet<(String, String)> {
    let paths = document()["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (method.to_ascii_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn served_operations() -> BTreeSet<(String, String)> {
    api::all_routes().specs().iter().map(|spec| (spec.method.to_owned(), spec.path.to_owned())).collect()
}

#[test]
fn the_file_and_the_routers_describe_the_same_routes() {
    let documented = documented_operations();
    let served = served_operations();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in docs/openapi.yaml: {undocumented:?}");
    assert!(unserved.is_empty(), "in docs/openapi.yaml but not served: {unserved:?}");
    assert_eq!(served.len(), api::all_routes().specs().len(), "no route is registered twice");
}

#[test]
fn the_file_declares_both_base_paths() {
    let servers = document()["servers"].as_array().expect("servers");
    let bases: BTreeSet<String> = servers
        .iter()
        .flat_map(|server| {
            let url = server["url"].as_str().unwrap_or_default();
            match server["variables"]["basePath"]["enum"].as_array() {
                Some(values) => values.iter().filter_map(Value::as_str).map(|v| format!("/{v}")).collect(),
                None => vec![format!("/{}", url.splitn(4, '/').nth(3).unwrap_or_default())],
            }
        })
        .collect();
    let expected: BTreeSet<String> = [BASE_PATH.to_owned(), ALIAS_PATH.to_owned()].into();
    assert_eq!(bases, expected);
    assert_eq!(document()["openapi"], json!("3.1.0"));
}

#[test]
fn every_operation_documents_the_errors_of_its_kind() {
    let paths = document()["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let operation = &item[*method];
            let responses = operation["responses"].as_object().expect("responses");
            let public = operation.get("security") == Some(&json!([]));
            let mut expected = vec!["429", "500", "503"];
            if !public {
                expected.extend(["400", "401"]);
            }
            if path.contains("{tenantId}") {
                expected.extend(["403", "404"]);
            }
            if *method == "get" {
                expected.push("304");
            }
            for status in expected {
                assert!(responses.contains_key(status), "{method} {path} does not document {status}");
            }
        }
    }
}

#[test]
fn templates_prefer_literal_segments() {
    assert_eq!(
        template_for("/tenants/t-1/credit-configs/tenant-specific").as_deref(),
        Some("/tenants/{tenantId}/credit-configs/tenant-specific")
    );
    assert_eq!(template_for("/tenants/t-1/sync/status").as_deref(), Some("/tenants/{tenantId}/sync/status"));
    assert_eq!(template_for("/tenants/t-1/users/").as_deref(), None);
    assert_eq!(template_for("/tenants//users").as_deref(), None);
}

#[test]
fn the_checker_rejects_bodies_that_break_the_schema() {
    let page = resolve("#/components/schemas/UsersPage");
    let good = json!({ "success": true, "data": [], "pagination": {
        "page": 1, "limit": 50, "total": 0, "totalPages": 0, "totalEstimated": false, "hasMore": false, "nextCursor": null } });
    assert_valid("good page", &page, &good);
    let broken = [
        json!({ "success": true, "data": [] }),
        json!({ "success": true, "data": [], "pagination": { "page": 1, "limit": 50, "total": "0", "totalPages": 0, "totalEstimated": false,
            "hasMore": false, "nextCursor": null } }),
        json!({ "success": true, "data": [{ "userId": "u", "deleted": true, "deletedAt": "2026-01-01T00:00:00Z" }],
            "pagination": good["pagination"] }),
        json!({ "success": true, "data": [], "pagination": good["pagination"], "extra": 1 }),
    ];
    for body in broken {
        let outcome = std::panic::catch_unwind(|| assert_valid("broken page", &page, &body));
        assert!(outcome.is_err(), "accepted a body that breaks the schema: {body}");
    }
}

/// `path` with `{tenantId}` and `{syncId}` replaced, and the query each operation needs to
/// answer 200.
fn concrete(path: &str, tenant: &str, sync_id: &str) -> String {
    let path = path.replace("{tenantId}", tenant).replace("{syncId}", sync_id);
    if path.ends_with("/credit-configs/global") || path.ends_with("/tenant-specific") {
        format!("{path}?appCode=crm")
    } else {
        path
    }
}

/// A one-change batch the change route `path` accepts (applied once, then `unchanged`).
fn change_for(path: &str, tenant: &str) -> Value {
    if path.starts_with("/tenants/") {
        json!([{ "changeId": "openapi-1", "type": "user", "tenantId": tenant, "sourceVersion": 1,
            "record": { "userId": "openapi-user", "email": "openapi@example.com", "createdAt": "2026-01-01T00:00:00Z" } }])
    } else {
        json!([{ "changeId": "openapi-2", "type": "catalogApp", "sourceVersion": 1,
            "record": { "appCode": "docs", "appName": "Docs", "status": "active", "modules": [] } }])
    }
}

#[tokio::test]
async fn every_documented_operation_answers_under_both_base_paths_as_documented() {
    let (bench, data) = Bench::seeded().await;
    let tenant = &data.tenants[0].tenant.tenant_id;
    let read = bench.platform();
    let write =
        bench.service(None, json!({ "service": "wrapper", "permissions": ["platform:all_tenants", "platform:write"] }));
    // A finished run for the route that reads one.
    let run =
        Reply::fetch(bench.client.post(format!("{}{BASE_PATH}/tenants/{tenant}/sync", bench.url)).bearer_auth(&read));
    let run = run.await;
    let sync_id = run.body["results"]["syncId"].as_str().unwrap_or_else(|| panic!("a run: {}", run.text)).to_owned();
    for (method, path) in documented_operations() {
        for base in [BASE_PATH, ALIAS_PATH] {
            let url = format!("{}{base}{}", bench.url, concrete(&path, tenant, &sync_id));
            let (token, body) = match path.ends_with("/changes") {
                true => (&write, change_for(&path, tenant).to_string()),
                false => (&read, r#"{"appCode":"crm"}"#.to_owned()),
            };
            let request = match method.as_str() {
                "GET" => bench.client.get(&url),
                "POST" => bench.client.post(&url).header("content-type", "application/json").body(body),
                other => panic!("no request for {other}"),
            };
            let reply = Reply::fetch(request.bearer_auth(token)).await;
            assert!(reply.status == 200, "{method} {base}{path} answered {}: {}", reply.status, reply.text);
            if method == "GET" {
                let head = Reply::fetch(bench.client.head(&url).bearer_auth(token)).await;
                assert_eq!(head.status, 200, "HEAD {base}{path}");
                assert_eq!(head.header("etag"), reply.header("etag"), "HEAD {base}{path} carries the GET's ETag");
            }
        }
    }
}

#[tokio::test]
async fn the_server_serves_the_committed_file() {
    let bench = Bench::start().await;
    let reply = bench.get("/openapi.yaml", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some(api::openapi::YAML_UTF8));
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).unwrap();
    assert_eq!(reply.text, on_disk);
    let again = bench
        .send(|c, url| {
            c.get(format!("{url}/api/wrapper/openapi.yaml")).header("if-none-match", reply.header("etag").unwrap())
        })
        .await;
    assert_eq!(again.status, 304);
}
