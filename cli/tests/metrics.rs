//! The metric lines a request through the local server prints (`wrapper-sync serve`, on a
//! seeded table in DynamoDB Local): every line keeps the Embedded Metric Format's rules
//! (`shared::metrics::check`), each kind of work emits its figures (a page, an unknown route,
//! a Kinde token's key-set fetch, a batch of changes, a sync run), and every App Sync metric the
//! template's dashboard and alarms read is among them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_wrapper-sync");

fn endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh")
}

fn cli(dir: &Path, table: &str, args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .env("TABLE_NAME", table)
        .env("DYNAMODB_ENDPOINT", endpoint())
        .env("DEV_SERVICE_KEYS", dir.join("service-keys.seed"))
        .env("DEV_ISSUER_KEY", dir.join("issuer.pem"))
        .output()
        .expect("wrapper-sync runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn text(output: Output) -> String {
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// App Sync's metric names the template reads (`WrapperAppSync` metrics of the dashboard and
/// of the alarms).
fn metrics_the_template_reads() -> BTreeSet<String> {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let mut names = BTreeSet::new();
    // Dashboard widgets: ["WrapperAppSync", "<Metric>", ...]; alarms: Namespace then MetricName.
    for (at, _) in template.match_indices("\"WrapperAppSync\", \"") {
        let rest = &template[at + "\"WrapperAppSync\", \"".len()..];
        names.insert(rest[..rest.find('"').unwrap()].to_owned());
    }
    let lines: Vec<&str> = template.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if line.trim() == "Namespace: WrapperAppSync" {
            if let Some(metric) = lines[n + 1..].iter().take(3).find_map(|l| l.trim().strip_prefix("MetricName: ")) {
                names.insert(metric.to_owned());
            }
        }
    }
    names
}

#[tokio::test]
async fn a_request_through_the_local_server_prints_the_lines_the_dashboard_reads() {
    let dir = tempfile::tempdir().unwrap();
    let table = format!("metrics-{}", std::process::id());
    cli(dir.path(), &table, &["table", "create"]);
    let seeded: Value =
        serde_json::from_str(&text(cli(dir.path(), &table, &["seed", "--seed", "42", "--json"]))).unwrap();
    let (tenant, org) = (seeded[0]["tenantId"].as_str().unwrap(), seeded[0]["kindeOrgId"].as_str().unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(BIN)
        .args(["serve", "--port", &port.to_string()])
        .env("TABLE_NAME", &table)
        .env("DYNAMODB_ENDPOINT", endpoint())
        .env("DEV_SERVICE_KEYS", dir.path().join("service-keys.seed"))
        .env("DEV_ISSUER_KEY", dir.path().join("issuer.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let reader = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    let api = format!("http://127.0.0.1:{port}/api/sync");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let service = text(cli(dir.path(), &table, &["token", "service", "--tenant", tenant]));
    let writer = text(cli(dir.path(), &table, &["token", "service", "--write", "--tenant", tenant]));
    let issuer = format!("http://127.0.0.1:{port}");
    let kinde = text(cli(dir.path(), &table, &["token", "kinde", "--org", org, "--issuer", &issuer]));
    let client = reqwest::Client::new();
    let get = |path: String, token: String| client.get(format!("{api}{path}")).bearer_auth(token).send();
    assert_eq!(get(format!("/tenants/{tenant}/users?limit=5"), service.clone()).await.unwrap().status(), 200);
    assert_eq!(get(format!("/tenants/{org}/organizations"), kinde).await.unwrap().status(), 200);
    assert_eq!(get("/no-such-route".into(), service.clone()).await.unwrap().status(), 404);
    let change = json!([{ "changeId": "metrics-1", "type": "user", "tenantId": tenant, "sourceVersion": 1,
        "occurredAt": "2026-01-01T00:00:00.000Z",
        "record": { "userId": "metrics-user", "email": "m@example.com", "createdAt": "2026-01-01T00:00:00Z" } }]);
    let posted = client
        .post(format!("{api}/tenants/{tenant}/changes"))
        .bearer_auth(&writer)
        .header("content-type", "application/json")
        .body(change.to_string())
        .send();
    assert_eq!(posted.await.unwrap().status(), 200);
    let synced = client.post(format!("{api}/tenants/{tenant}/sync")).bearer_auth(&service).send().await.unwrap();
    assert_eq!(synced.status(), 200);
    server.kill().unwrap();
    server.wait().unwrap();
    let printed = reader.join().unwrap();
    cli(dir.path(), &table, &["table", "delete"]);

    let lines: Vec<Value> = printed
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert!(lines.len() >= 6, "metric lines: {printed:#?}");
    for line in &lines {
        shared::metrics::check(line).unwrap_or_else(|problem| panic!("{problem}: {line}"));
    }
    let find = |metric: &str, member: &str, value: &str| {
        lines.iter().find(|l| l.get(metric).is_some() && l[member] == value).unwrap_or_else(|| {
            panic!("no {metric} line with {member} = {value}: {lines:#?}");
        })
    };
    let page = find("Requests", "Route", "GET /tenants/{tenantId}/users");
    assert_eq!(page["StatusClass"], "2xx");
    assert!(page["DynamoDbRequests"].as_f64().unwrap() >= 1.0, "{page}");
    assert!(page["ConsumedCapacity"].as_f64().unwrap() > 0.0, "DynamoDB Local reports capacity: {page}");
    assert!(page["path"].as_str().unwrap().contains(tenant), "the tenant is a property, for Logs Insights");
    assert_eq!(find("Requests", "Route", "unmatched")["StatusClass"], "4xx");
    find("JwksFetches", "Outcome", "fetched");
    let batch = find("IngestChanges", "Way", "http");
    assert_eq!(batch["IngestApplied"], 1.0);
    // One change, one sample: a number (several are an array).
    assert!(batch["IngestLag"].as_f64().unwrap() > 0.0, "{batch}");
    let run = find("SyncRuns", "Outcome", "succeeded");
    assert!(run["SyncRecords"].as_f64().unwrap() > 0.0);
    find("SyncPhaseDuration", "Phase", "all");

    let emitted: BTreeSet<String> = lines
        .iter()
        .flat_map(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().iter())
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect();
    // Not reproducible here: DynamoDB Local answers no ItemCollectionMetrics, and a 503 needs a
    // store that fails (shared::api::observe's unit tests emit that line).
    let elsewhere = ["ItemCollectionSizeGB", "Unavailable"];
    let read = metrics_the_template_reads();
    assert!(read.len() >= 5, "the template reads App Sync's metrics: {read:?}");
    for metric in read.iter().filter(|m| !elsewhere.contains(&m.as_str())) {
        assert!(emitted.contains(metric), "the template reads {metric}, which no request printed: {emitted:?}");
    }
}
