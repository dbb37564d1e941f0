//! `wrapper-sync changes send` against the real local server (`wrapper-sync serve`) on a
//! seeded table in DynamoDB Local: the file arrives in several requests, in order, and a
//! second send of the same file changes nothing; a file with one invalid change sends nothing.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_wrapper-sync");

/// Stops the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh")
}

fn cli(dir: &Path, table: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TABLE_NAME", table)
        .env("DYNAMODB_ENDPOINT", endpoint())
        .env("DEV_SERVICE_KEYS", dir.join("service-keys.seed"))
        .env("DEV_ISSUER_KEY", dir.join("issuer.pem"))
        .env_remove("APP_SYNC_TOKEN")
        .output()
        .expect("wrapper-sync runs")
}

fn stdout_of(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn users(api: &str, token: &str, tenant: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{api}/tenants/{tenant}/users?limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let body = client.get(url).bearer_auth(token).send().await.unwrap().bytes().await.unwrap();
        let page: Value = serde_json::from_slice(&body).unwrap();
        users.extend(page["data"].as_array().expect("a page of users").iter().cloned());
        match page["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return users,
        }
    }
}

fn change(tenant: &str, n: usize, version: u64, last_name: &str) -> Value {
    json!({ "changeId": format!("send-{n}-{version}"), "type": "user", "tenantId": tenant, "sourceVersion": version,
        "record": { "userId": format!("u-send-{n}"), "email": format!("send-{n}@example.com"), "firstName": "Sent",
                    "lastName": last_name, "createdAt": "2026-01-01T00:00:00Z" } })
}

fn write_lines(path: &Path, changes: &[Value]) {
    std::fs::write(path, changes.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")).unwrap();
}

#[tokio::test]
async fn a_file_of_changes_arrives_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let table = format!("send-{}", std::process::id());
    let seeded: Value = serde_json::from_str(&stdout_of(cli(dir.path(), &table, &["seed", "--json"]))).unwrap();
    let tenant = seeded[0]["tenantId"].as_str().unwrap().to_owned();
    let port = free_port().to_string();
    let server = Command::new(BIN)
        .args(["serve", "--port", &port])
        .env("TABLE_NAME", &table)
        .env("DYNAMODB_ENDPOINT", endpoint())
        .env("DEV_SERVICE_KEYS", dir.path().join("service-keys.seed"))
        .env("DEV_ISSUER_KEY", dir.path().join("issuer.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(server);
    let api = format!("http://127.0.0.1:{port}/api/sync");
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/.well-known/jwks")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the local server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = |extra: &[&str]| {
        let mut args = vec!["token", "service", "--tenant", &tenant];
        args.extend_from_slice(extra);
        stdout_of(cli(dir.path(), &table, &args)).trim().to_owned()
    };
    let (write, read) = (token(&["--write"]), token(&[]));

    // 60 new users, each renamed twice; the renames come before their creation for half of
    // them, which the versions sort out; then one deleted.
    let mut changes = Vec::new();
    for n in 0..60 {
        let (create, rename) = (change(&tenant, n, 1, "First"), change(&tenant, n, 2, "Second"));
        if n % 2 == 0 {
            changes.extend([create, rename]);
        } else {
            changes.extend([rename, create]);
        }
        changes.push(change(&tenant, n, 3, &format!("Third-{n}")));
    }
    changes.push(json!({ "changeId": "send-del", "type": "user", "op": "delete", "tenantId": tenant,
        "sourceVersion": 4, "key": { "userId": "u-send-7" } }));
    let file = dir.path().join("changes.ndjson");
    write_lines(&file, &changes);
    let file = file.to_str().unwrap();
    let send = |token: &str, file: &str| {
        cli(dir.path(), &table, &["changes", "send", file, "--api", &api, "--token", token, "--batch-size", "50"])
    };

    let first = stdout_of(send(&write, file));
    assert!(first.contains("sent 181 change(s) in 4 request(s)"), "{first}");
    assert!(first.contains("applied 151, unchanged 0, stale 30, rejected 0"), "{first}");
    let sent: Vec<Value> = users(&api, &read, &tenant)
        .await
        .into_iter()
        .filter(|u| u["userId"].as_str().unwrap().starts_with("u-send-"))
        .collect();
    assert_eq!(sent.len(), 59, "60 created, one deleted");
    for user in &sent {
        let n = user["userId"].as_str().unwrap().trim_start_matches("u-send-");
        assert_eq!(user["personalInfo"]["lastName"], format!("Third-{n}"), "the newest version of {n}");
    }

    let again = stdout_of(send(&write, file));
    assert!(again.contains("applied 0,"), "a second send applies nothing: {again}");

    // One invalid change: nothing of the file is sent.
    let bad = dir.path().join("bad.ndjson");
    write_lines(&bad, &[change(&tenant, 0, 9, "Never"), json!({ "type": "user", "tenantId": tenant })]);
    let refused = send(&write, bad.to_str().unwrap());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("line 2:"), "the bad line is named");
    let user0 = users(&api, &read, &tenant).await.into_iter().find(|u| u["userId"] == "u-send-0").unwrap();
    assert_eq!(user0["personalInfo"]["lastName"], "Third-0");

    // A read token may not write: the server's 403 stops the send.
    let forbidden = send(&read, file);
    assert!(!forbidden.status.success());
    assert!(String::from_utf8_lossy(&forbidden.stderr).contains("403"), "{forbidden:?}");
}
