//! Change times a reader's watermark cannot overtake: the writer refuses to stamp on a host
//! whose clock is off from DynamoDB's, the API refuses to fix a watermark there, and a
//! commit slower than the bound is stamped again. DynamoDB Local answers through a proxy
//! that misstates its `Date` or holds a transaction back.

use std::time::Duration;

use integration_tests::http::{Bench, BenchOptions, A};
use integration_tests::proxy::{Distortion, Proxy};
use integration_tests::*;
use shared::model::User;
use shared::store::item::user_sk;
use shared::store::reader;
use shared::store::writer::{Clock, Writer};
use shared::store::StoreError;
use shared::time::Timestamp;

#[tokio::test]
async fn a_host_whose_clock_is_off_writes_nothing() {
    let store = fresh_store().await;
    for offset in [3, -3] {
        let proxy = Proxy::start(Distortion { date_offset_secs: offset, ..Default::default() }).await;
        let skewed = Writer::new(proxy.store(store.table()), Clock::System);
        let refused = skewed.put_user("t", &user("u", "2025-01-01T00:00:00Z")).await;
        assert!(matches!(refused, Err(StoreError::ClockSkew { .. })), "offset {offset}: {refused:?}");
        assert!(reader::get_record::<User>(&store, "t", &user_sk("u")).await.unwrap().is_none());
        assert_eq!(proxy.transactions(), 0, "offset {offset}: nothing was sent");
    }
    // Within the margin, the same proxy path writes.
    let proxy = Proxy::start(Distortion::default()).await;
    Writer::new(proxy.store(store.table()), Clock::System)
        .put_user("t", &user("u", "2025-01-01T00:00:00Z"))
        .await
        .unwrap();
    assert!(reader::get_record::<User>(&store, "t", &user_sk("u")).await.unwrap().is_some());
}

#[tokio::test]
async fn an_api_on_a_host_whose_clock_is_off_fixes_no_watermark() {
    let bench = Bench::start().await;
    writer(&bench.store).put_user(A.0, &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    let proxy = Proxy::start(Distortion { date_offset_secs: 4, ..Default::default() }).await;
    let skewed = Bench::serve(&proxy.store(bench.store.table()), &bench.issuer, &BenchOptions::default()).await;
    let token = bench.platform();
    let get = |path: String| {
        let client = bench.client.clone();
        let url = format!("{skewed}/api/sync{path}");
        let token = token.clone();
        async move { http::Reply::fetch(client.get(url).bearer_auth(token)).await }
    };
    let since = Timestamp::now().plus_millis(-60_000);
    let incremental = get(format!("/tenants/{}/users?updatedSince={since}", A.0)).await;
    assert_eq!(incremental.status, 503, "{}", incremental.text);
    assert!(incremental.header("retry-after").is_some());
    let full = get(format!("/tenants/{}/users", A.0)).await;
    assert_eq!(full.status, 200, "full pulls fix no watermark: {}", full.text);
}

#[tokio::test]
async fn a_commit_slower_than_the_bound_is_stamped_again() {
    let store = fresh_store().await;
    let delay = shared::store::writer::COMMIT_BOUND + Duration::from_millis(300);
    let proxy = Proxy::start(Distortion { slow_transactions: 1, delay, ..Default::default() }).await;
    let slow = Writer::new(proxy.store(store.table()), Clock::System);
    let before = Timestamp::now();
    slow.put_user("t", &user("u", "2025-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(proxy.transactions(), 2, "the slow transaction and its re-stamp");
    let stored = reader::get_record::<User>(&store, "t", &user_sk("u")).await.unwrap().unwrap();
    assert_eq!(stored.ver, 2);
    let lag = stored.updated_at.millis() - before.millis();
    assert!(lag >= delay.as_millis() as i64, "the change time is the re-stamp's ({lag} ms after the write began)");
    assert_eq!(stored.csk.as_deref(), Some(format!("USER#{}#u", stored.updated_at).as_str()));
    let counts = reader::counters(&store, "t").await.unwrap().get(shared::store::keys::Collection::Users);
    assert_eq!((counts.listed, counts.live), (1, 1), "a re-stamp counts nothing twice");
}
