//! Tokens, signatures and secrets never reach a log line, whatever the outcome of
//! verification. In a binary of its own so its global log capture sees every event.

use integration_tests::http::{auth_config, Bench, BenchOptions, A, B, SECRET};
use serde_json::json;
use shared::auth::dev;

#[tokio::test]
async fn tokens_and_secrets_never_reach_the_logs() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).expect("this binary's only subscriber");

    let bench = Bench::with(BenchOptions { shared_secret: true, ..Default::default() }).await;
    let tokens = [
        bench.kinde(Some(A.1), json!({})),
        bench.service(Some(A.0), json!({})),
        bench.service(Some(B.0), json!({})),
        bench.shared_secret_token(Some(A.0), json!({}), SECRET),
        bench.kinde(Some(A.1), json!({ "exp": dev::now_seconds() - 500 })),
        "Bearer.garbage.token".to_owned(),
    ];
    for token in &tokens {
        bench.get(&format!("/tenants/{}", A.0), Some(token)).await;
    }
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request finished"), "the capture works: {logs}");
    for token in &tokens {
        for part in token.split('.').filter(|p| p.len() > 16) {
            assert!(!logs.contains(part), "a token segment reached the logs");
        }
    }
    assert!(!logs.contains(SECRET));
    let options = BenchOptions { shared_secret: true, ..Default::default() };
    assert!(!format!("{:?}", auth_config(&bench.issuer.url, &options)).contains(SECRET));
}
