//! Secrets at runtime: an API configured with `APP_SYNC_SECRET_ID` reads its cursor key and
//! the calling services' keys from Secrets Manager (moto, which `scripts/test.sh` starts),
//! picks up a rotated key without a restart, and answers 503 while the secret cannot be read;
//! with `CURSOR_KEY_SOURCE=table` the cursor keys come from the table's item (DynamoDB
//! Local), which concurrent cold starts create once and a rotation replaces without a restart.

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use integration_tests::http::{service_keys, Bench, BenchOptions, Reply, A, CURSOR_KEY, SERVICES};
use serde_json::json;
use shared::auth::dev::{self, DevServiceKeys};
use shared::secrets::RuntimeSecrets;

fn moto() -> String {
    std::env::var("MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto"))
}

fn client() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(moto())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A new secret holding `document`; returns its name.
async fn create_secret(document: serde_json::Value) -> String {
    let name = format!("app-sync-test-{}", uuid::Uuid::new_v4());
    client().create_secret().name(&name).secret_string(document.to_string()).send().await.expect("moto answers");
    name
}

fn document(services: &str) -> serde_json::Value {
    json!({ "CURSOR_SIGNING_KEY": CURSOR_KEY, "SERVICE_KEYS": serde_json::from_str::<serde_json::Value>(services).unwrap() })
}

/// Runtime secrets read from `secret_id`, refreshed every second.
fn from_secrets_manager(secret_id: &str) -> RuntimeSecrets {
    from_secrets_manager_with(secret_id, None)
}

/// [`from_secrets_manager`], with `SERVICE_KEYS` in the environment when given.
fn from_secrets_manager_with(secret_id: &str, environment_keys: Option<String>) -> RuntimeSecrets {
    let endpoint = moto();
    let aws = shared::config::StoreConfig::from_lookup(|name| match name {
        "DYNAMODB_ENDPOINT" => Some(integration_tests::endpoint()),
        _ => None,
    })
    .unwrap();
    RuntimeSecrets::from_lookup(
        |name| match name {
            "APP_SYNC_SECRET_ID" => Some(secret_id.to_owned()),
            "SECRETS_MANAGER_ENDPOINT" => Some(endpoint.clone()),
            "SECRETS_REFRESH_SECONDS" => Some("1".to_owned()),
            "SERVICE_KEYS" => environment_keys.clone(),
            _ => None,
        },
        &aws,
        &shared::store::Store::new(&aws),
    )
    .expect("the settings are valid")
}

async fn api_with(bench: &Bench, secrets: RuntimeSecrets) -> String {
    Bench::serve(&bench.store, &bench.issuer, &BenchOptions { secrets: Some(secrets), ..Default::default() }).await
}

async fn users(client: &reqwest::Client, api: &str, token: &str, query: &str) -> Reply {
    Reply::fetch(client.get(format!("{api}/api/sync/tenants/{}/users?{query}", A.0)).bearer_auth(token)).await
}

fn crm_token(keys: &DevServiceKeys) -> String {
    let now = dev::now_seconds();
    keys.sign(
        "crm",
        &json!({ "type": "service_token", "service": "crm", "tenant_id": A.0, "iat": now, "exp": now + 300 }),
    )
    .unwrap()
}

#[tokio::test]
async fn an_api_reads_its_keys_from_secrets_manager() {
    let bench = Bench::start().await;
    for n in 0..3 {
        integration_tests::writer(&bench.store)
            .put_user(A.0, &integration_tests::user(&format!("u{n}"), "2025-01-01T00:00:00Z"))
            .await
            .unwrap();
    }
    let secret = create_secret(document(&service_keys().config(&SERVICES).unwrap())).await;
    let api = api_with(&bench, from_secrets_manager(&secret)).await;
    let token = crm_token(service_keys());
    let first = users(&bench.client, &api, &token, "limit=2").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    let second = users(&bench.client, &api, &token, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(second.status, 200, "the cursor key came from the secret: {}", second.text);
    // The bench's own API signs with the same key, so its cursors are valid here too.
    let elsewhere = bench.get(&format!("/tenants/{}/users?limit=2&cursor={cursor}", A.0), Some(&token)).await;
    assert_eq!(elsewhere.status, 200);
}

#[tokio::test]
async fn a_service_key_rotated_in_the_secret_is_accepted_without_a_restart() {
    let bench = Bench::start().await;
    let secret = create_secret(document(&service_keys().config(&SERVICES).unwrap())).await;
    let api = api_with(&bench, from_secrets_manager(&secret)).await;
    assert_eq!(users(&bench.client, &api, &crm_token(service_keys()), "").await.status, 200);

    // crm rotates: its new key joins the old one in the secret, then the old one goes.
    let next = DevServiceKeys::generate().unwrap();
    let both = json!({ "crm": { "keys": [service_keys().jwk("crm").unwrap(), next.jwk("crm").unwrap()] } });
    client()
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(document(&both.to_string()).to_string())
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let mut status = users(&bench.client, &api, &crm_token(&next), "").await.status;
    while status != 200 && started.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = users(&bench.client, &api, &crm_token(&next), "").await.status;
    }
    assert_eq!(status, 200, "the new key was not picked up within {:?}", started.elapsed());
    assert_eq!(users(&bench.client, &api, &crm_token(service_keys()), "").await.status, 200, "the old key still works");

    let only_new = json!({ "crm": { "keys": [next.jwk("crm").unwrap()] } });
    client()
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(document(&only_new.to_string()).to_string())
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let mut status = users(&bench.client, &api, &crm_token(service_keys()), "").await.status;
    while status != 401 && started.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = users(&bench.client, &api, &crm_token(service_keys()), "").await.status;
    }
    assert_eq!(status, 401, "the withdrawn key is refused");
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_answers_503() {
    let bench = Bench::start().await;
    let api = api_with(&bench, from_secrets_manager("no-such-secret")).await;
    let reply = users(&bench.client, &api, &crm_token(service_keys()), "").await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(reply.header("retry-after").is_some());
    assert!(!reply.text.contains("no-such-secret"));
}

#[tokio::test]
async fn tokens_are_verified_without_waiting_for_a_secret_they_do_not_need() {
    // The secret cannot be read at all, so anything that waited for it would answer 503.
    let bench = Bench::start().await;
    let keys = service_keys().config(&SERVICES).unwrap();
    let api = api_with(&bench, from_secrets_manager_with("no-such-secret", Some(keys))).await;
    let tenant = |token: String| {
        let request = bench.client.get(format!("{api}/api/sync/tenants/{}", A.0)).bearer_auth(token);
        Reply::fetch(request)
    };
    let started = Instant::now();
    let service = tenant(crm_token(service_keys())).await;
    assert_eq!(service.status, 200, "service keys from the environment: {}", service.text);
    let kinde = tenant(bench.kinde(Some(A.1), json!({}))).await;
    assert_eq!(kinde.status, 200, "a Kinde token needs no runtime secret: {}", kinde.text);
    assert!(started.elapsed() < shared::secrets::FIRST_READ_WAIT, "neither waited for the secret");
    // A last page signs no cursor, so it needs no cursor key either.
    for n in 0..2 {
        let user = integration_tests::user(&format!("u{n}"), "2025-01-01T00:00:00Z");
        integration_tests::writer(&bench.store).put_user(A.0, &user).await.unwrap();
    }
    let started = Instant::now();
    let last = users(&bench.client, &api, &crm_token(service_keys()), "limit=2").await;
    assert_eq!(last.status, 200, "a last page does not wait for the cursor key: {}", last.text);
    assert!(last.body["pagination"]["nextCursor"].is_null());
    assert!(started.elapsed() < shared::secrets::FIRST_READ_WAIT, "the last page did not wait for the secret");
    // A page with a next cursor signs it, and its key is only in the secret: no key is made up.
    let page = users(&bench.client, &api, &crm_token(service_keys()), "limit=1").await;
    assert_eq!(page.status, 503, "{}", page.text);
}

#[tokio::test]
async fn service_keys_in_the_environment_win_over_the_secrets_member() {
    let bench = Bench::start().await;
    let other = DevServiceKeys::generate().unwrap();
    let secret = create_secret(document(&other.config(&SERVICES).unwrap())).await;
    let environment = service_keys().config(&SERVICES).unwrap();
    let api = api_with(&bench, from_secrets_manager_with(&secret, Some(environment))).await;
    let page = users(&bench.client, &api, &crm_token(service_keys()), "").await;
    assert_eq!(page.status, 200, "the environment's key, with the cursor key from the secret: {}", page.text);
    assert_eq!(users(&bench.client, &api, &crm_token(&other), "").await.status, 401, "the secret's key is ignored");
}

/// Runtime secrets with the service keys fixed and the cursor keys from `store`'s item,
/// refreshed every second.
fn with_table_cursor_keys(store: &shared::store::Store) -> RuntimeSecrets {
    let environment = service_keys().config(&SERVICES).unwrap();
    let material = shared::secrets::SecretMaterial::from_lookup(|name| match name {
        "SERVICE_KEYS" => Some(environment.clone()),
        _ => None,
    })
    .unwrap();
    RuntimeSecrets::fixed_with_table_cursor_keys(material, store.clone(), Duration::from_secs(1))
}

/// Follows `cursor` on `api` until it answers `status` or six seconds pass (the refresh is 1 s).
async fn cursor_answers(bench: &Bench, api: &str, cursor: &str, status: u16) -> u16 {
    let token = crm_token(service_keys());
    let started = Instant::now();
    loop {
        let reply = users(&bench.client, api, &token, &format!("limit=1&cursor={cursor}")).await;
        if reply.status == status || started.elapsed() > Duration::from_secs(6) {
            return reply.status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn concurrent_cold_starts_create_one_cursor_key_in_the_table() {
    let bench = Bench::start().await;
    for n in 0..3 {
        let user = integration_tests::user(&format!("u{n}"), "2025-01-01T00:00:00Z");
        integration_tests::writer(&bench.store).put_user(A.0, &user).await.unwrap();
    }
    assert!(bench.store.cursor_keys().await.unwrap().is_none(), "a fresh table has no key item");
    // Four processes start at once over the same table; each reads (or creates) the item.
    let apis = futures::future::join_all((0..4).map(|_| api_with(&bench, with_table_cursor_keys(&bench.store)))).await;
    let token = crm_token(service_keys());
    let firsts = futures::future::join_all(apis.iter().map(|api| users(&bench.client, api, &token, "limit=1"))).await;
    let stored = bench.store.cursor_keys().await.unwrap().expect("the first use created the item");
    assert_eq!(stored.version, 1, "one create won, the others read it");
    for (first, api) in firsts.iter().zip(&apis) {
        assert_eq!(first.status, 200, "{}", first.text);
        let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap();
        // Every process signed with the one key: each cursor is accepted by every other one.
        for other in &apis {
            let next = users(&bench.client, other, &token, &format!("limit=1&cursor={cursor}")).await;
            assert_eq!(next.status, 200, "a cursor of {api} on {other}: {}", next.text);
        }
    }
    // The environment's key signed none of them.
    let cursor = firsts[0].body["pagination"]["nextCursor"].as_str().unwrap();
    let elsewhere = bench.get(&format!("/tenants/{}/users?limit=1&cursor={cursor}", A.0), Some(&token)).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.text);
    assert_eq!(elsewhere.body["code"], "CURSOR_INVALID");
}

#[tokio::test]
async fn a_cursor_key_rotated_in_the_table_is_used_without_a_restart() {
    let bench = Bench::start().await;
    for n in 0..3 {
        let user = integration_tests::user(&format!("u{n}"), "2025-01-01T00:00:00Z");
        integration_tests::writer(&bench.store).put_user(A.0, &user).await.unwrap();
    }
    let api = api_with(&bench, with_table_cursor_keys(&bench.store)).await;
    let token = crm_token(service_keys());
    let first = users(&bench.client, &api, &token, "limit=1").await;
    let old_cursor = first.body["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    let old_key = bench.store.cursor_keys().await.unwrap().unwrap();

    assert_eq!(bench.store.rotate_cursor_keys().await.unwrap(), 2);
    let rotated = bench.store.cursor_keys().await.unwrap().unwrap();
    assert_eq!(rotated.previous.as_ref(), Some(&old_key.current));
    assert_ne!(rotated.current, old_key.current);
    // Once the process has read the new item, its new cursors differ from those of the old key
    // (same page, same position), and the old cursor is still accepted.
    let started = Instant::now();
    let mut new_cursor = old_cursor.clone();
    while new_cursor == old_cursor && started.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = users(&bench.client, &api, &token, "limit=1").await;
        new_cursor = again.body["pagination"]["nextCursor"].as_str().unwrap().to_owned();
    }
    assert_ne!(new_cursor, old_cursor, "the new key was not picked up within {:?}", started.elapsed());
    assert_eq!(cursor_answers(&bench, &api, &old_cursor, 200).await, 200, "the previous key still verifies");
    assert_eq!(cursor_answers(&bench, &api, &new_cursor, 200).await, 200);

    // Retiring the previous key (after a leak) invalidates the old cursor, not the new one.
    assert_eq!(bench.store.retire_previous_cursor_key().await.unwrap(), 3);
    assert_eq!(cursor_answers(&bench, &api, &old_cursor, 400).await, 400, "the retired key is refused");
    assert_eq!(cursor_answers(&bench, &api, &new_cursor, 200).await, 200);
}
