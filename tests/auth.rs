//! Authentication and tenant isolation over real HTTP: every attack is a named test, with
//! keys and a JWK set the tests make themselves on loopback (contract section 3).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::http::{
    pause, service_keys, Bench, BenchOptions, Reply, A, AUDIENCE, B, PLATFORM_ORG, PREVIOUS_SECRET, SECRET,
};
use serde_json::{json, Value};
use shared::auth::dev::{self, DevSigningKey};
use shared::auth::jwks::JwksTiming;

fn tenant_path(tenant: &str) -> String {
    format!("/tenants/{tenant}")
}

fn assert_invalid_token(reply: &Reply) {
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    assert_eq!(reply.body["message"], "Invalid or expired authentication token");
    assert_eq!(reply.body["error"], "Unauthorized");
}

async fn on_a(bench: &Bench, token: &str) -> Reply {
    bench.get(&tenant_path(A.0), Some(token)).await
}

// ----- presenting a token ---------------------------------------------------------------

#[tokio::test]
async fn missing_token_is_401_with_bearer_challenge() {
    let bench = Bench::start().await;
    let reply = bench.get(&tenant_path(A.0), None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    let keys: Vec<&str> = reply.body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert_eq!(
        reply.stable_body(),
        json!({
            "success": false, "error": "Unauthorized", "message": "Authentication token required", "statusCode": 401
        })
    );
    assert_eq!(reply.body["requestId"], reply.header("x-request-id").unwrap());
}

#[tokio::test]
async fn token_in_a_cookie_only_is_401() {
    let bench = Bench::start().await;
    let token = bench.service(Some(A.0), json!({}));
    let reply = bench
        .send(|c, url| {
            c.get(format!("{url}/api/sync/tenants/{}", A.0)).header("cookie", format!("token={token}; auth={token}"))
        })
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["message"], "Authentication token required");
}

#[tokio::test]
async fn non_bearer_schemes_are_rejected() {
    let bench = Bench::start().await;
    let token = bench.service(Some(A.0), json!({}));
    for header in [format!("Basic {token}"), format!("Bearer  {token}"), token.clone(), "Bearer".into()] {
        let reply = bench
            .send(|c, url| c.get(format!("{url}/api/sync/tenants/{}", A.0)).header("authorization", &header))
            .await;
        assert_invalid_token(&reply);
    }
    let lower = bench
        .send(|c, url| {
            c.get(format!("{url}/api/sync/tenants/{}", A.0)).header("authorization", format!("bearer {token}"))
        })
        .await;
    assert_eq!(lower.status, 200, "the scheme is case-insensitive");
}

#[tokio::test]
async fn token_over_8kb_is_rejected_without_parsing() {
    let bench = Bench::start().await;
    let huge = bench.kinde(Some(A.1), json!({ "padding": "x".repeat(9_000) }));
    assert!(huge.len() > 8 * 1024);
    assert_invalid_token(&on_a(&bench, &huge).await);
    assert_eq!(bench.issuer.fetches(), 0, "the token was not even looked at");
}

#[tokio::test]
async fn malformed_base64_and_json_segments_are_rejected() {
    let bench = Bench::start().await;
    let good = bench.service(Some(A.0), json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    for token in [
        format!("{}.{}.{}", "%%%", parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], "***", parts[2]),
        format!("{}.{}.{}", not_json, parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], not_json, parts[2]),
        format!("{}.{}", parts[0], parts[1]),
        "a.b.c".to_owned(),
    ] {
        assert_invalid_token(&on_a(&bench, &token).await);
    }
}

// ----- algorithm attacks ----------------------------------------------------------------

#[tokio::test]
async fn alg_none_is_rejected() {
    let bench = Bench::start().await;
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    let claims = URL_SAFE_NO_PAD.encode(
        json!({ "type": "service_token", "service": "crm", "exp": dev::now_seconds() + 300, "permissions": ["platform:all_tenants"] })
            .to_string(),
    );
    for token in [format!("{header}.{claims}."), format!("{header}.{claims}.c2ln")] {
        assert_invalid_token(&on_a(&bench, &token).await);
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let bench = Bench::start().await;
    // The classic confusion attack: sign an HMAC token with the public key as the secret.
    let jwk = bench.key.jwk();
    let public_key_material = [jwk.to_string(), jwk["n"].as_str().unwrap().to_owned()];
    for secret in public_key_material {
        let claims = json!({ "type": "service_token", "service": "crm", "exp": dev::now_seconds() + 300, "tenant_id": A.0,
            "iss": bench.issuer.url, "org_code": A.1 });
        let token = dev::sign_service_token(&claims, secret.as_bytes(), jsonwebtoken::Algorithm::HS256).unwrap();
        assert_invalid_token(&on_a(&bench, &token).await);
    }
}

#[tokio::test]
async fn rs256_signed_by_an_unknown_key_is_rejected() {
    let bench = Bench::start().await;
    let stranger = DevSigningKey::generate().unwrap();
    let claims = json!({ "iss": bench.issuer.url, "sub": "x", "org_code": A.1, "exp": dev::now_seconds() + 300 });
    // Claiming the published key's kid, and its own.
    let forged = stranger.sign_with_header(&json!({ "alg": "RS256", "kid": bench.key.kid() }), &claims).unwrap();
    assert_invalid_token(&on_a(&bench, &forged).await);
    assert_invalid_token(&on_a(&bench, &stranger.sign(&claims).unwrap()).await);
}

#[tokio::test]
async fn rs256_without_kid_is_rejected() {
    let bench = Bench::start().await;
    let claims = json!({ "iss": bench.issuer.url, "sub": "x", "org_code": A.1, "exp": dev::now_seconds() + 300 });
    let token = bench.key.sign_with_header(&json!({ "alg": "RS256" }), &claims).unwrap();
    assert_invalid_token(&on_a(&bench, &token).await);
}

// ----- the key set ----------------------------------------------------------------------

/// An API over the bench's table and issuer with its own key cache timing, and a GET of
/// tenant A's profile with a given token.
async fn api_with_timing(
    bench: &Bench,
    timing: JwksTiming,
) -> impl Fn(String) -> futures::future::BoxFuture<'static, u16> {
    let url = Bench::serve(&bench.store, &bench.issuer, &BenchOptions { timing, ..Default::default() }).await;
    let client = bench.client.clone();
    move |token: String| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move {
            Reply::fetch(client.get(format!("{url}/api/sync/tenants/{}", A.0)).bearer_auth(token)).await.status
        })
    }
}

fn made_up_kid_tokens(bench: &Bench) -> impl Fn(usize) -> String {
    let stranger = DevSigningKey::generate().unwrap();
    let claims = json!({ "iss": bench.issuer.url, "aud": AUDIENCE, "sub": "x", "org_code": A.1,
        "exp": dev::now_seconds() + 300 });
    move |n| stranger.sign_with_header(&json!({ "alg": "RS256", "kid": format!("made-up-{n}") }), &claims).unwrap()
}

#[tokio::test]
async fn unknown_kids_refetch_within_the_budget_and_a_burst_shares_one_fetch() {
    let bench = Bench::start().await;
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await.status, 200);
    assert_eq!(bench.issuer.fetches(), 1, "first token fetches the set; later ones use the cache");
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await.status, 200);
    assert_eq!(bench.issuer.fetches(), 1);

    // A fresh process (its own cache), with a budget of 3 and one more per minute.
    let timing = JwksTiming { refetch_every: Duration::from_secs(60), ..JwksTiming::default() };
    let get = api_with_timing(&bench, timing).await;
    assert_eq!(get(bench.kinde(Some(A.1), json!({}))).await, 200);
    let before = bench.issuer.fetches();
    let unknown = made_up_kid_tokens(&bench);
    assert_eq!(get(unknown(0)).await, 401);
    assert_eq!(bench.issuer.fetches(), before + 1, "exactly one refetch for the unknown kid");

    // 40 at once share their fetches (requests that waited for one use it); 40 one after
    // another spend the rest of the budget only.
    let burst: Vec<_> = (1..=40).map(|n| tokio::spawn(get(unknown(n)))).collect();
    for task in burst {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert!(
        bench.issuer.fetches() <= before + 3,
        "a burst stays within the budget: {}",
        bench.issuer.fetches() - before
    );
    for n in 41..=80 {
        assert_eq!(get(unknown(n)).await, 401);
    }
    assert_eq!(bench.issuer.fetches(), before + 3, "the budget of 3 is spent, then nothing more is fetched");
}

#[tokio::test]
async fn a_key_rotation_right_after_a_flood_of_made_up_kids_gets_through_within_the_budget() {
    let bench = Bench::start().await;
    let every = Duration::from_millis(400);
    let get = api_with_timing(&bench, JwksTiming { refetch_every: every, ..JwksTiming::default() }).await;
    assert_eq!(get(bench.kinde(Some(A.1), json!({}))).await, 200);
    let unknown = made_up_kid_tokens(&bench);
    let flood = bench.issuer.fetches();
    for n in 0..60 {
        assert_eq!(get(unknown(n)).await, 401);
    }
    let spent = bench.issuer.fetches() - flood;
    assert!(spent <= 3 + 2, "a flood costs the burst and what refilled meanwhile: {spent}");

    // The issuer rotates: a token of the new key must get in within one refill interval.
    let next = DevSigningKey::generate().unwrap();
    bench.issuer.publish(&[&bench.key, &next]);
    let claims = json!({ "iss": bench.issuer.url, "aud": AUDIENCE, "sub": "x", "org_code": A.1,
        "exp": dev::now_seconds() + 300 });
    let token = next.sign(&claims).unwrap();
    let rotated = std::time::Instant::now();
    let mut status = get(token.clone()).await;
    while status != 200 && rotated.elapsed() < every * 3 {
        pause(50).await;
        status = get(token.clone()).await;
    }
    assert_eq!(status, 200, "the new key was not accepted within {:?}", rotated.elapsed());
    assert!(rotated.elapsed() <= every + Duration::from_millis(300), "took {:?}", rotated.elapsed());
    assert_eq!(get(bench.kinde(Some(A.1), json!({}))).await, 200, "the old key still works while published");
}

#[tokio::test]
async fn a_key_set_over_64_kib_is_refused() {
    let bench = Bench::start().await;
    let mut document = dev::jwk_set(&[&bench.key]);
    document["padding"] = json!("x".repeat(shared::auth::jwks::MAX_BODY_BYTES));
    bench.issuer.publish_document(document);
    assert!(bench.issuer.body_len() > shared::auth::jwks::MAX_BODY_BYTES, "{}", bench.issuer.body_len());
    let reply = on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await;
    assert_eq!(reply.status, 503, "no key set could be used: {}", reply.text);
    bench.issuer.publish(&[&bench.key]);
    pause(50).await;
}

#[tokio::test]
async fn jwks_down_with_keys_cached_still_works() {
    let bench = Bench::start().await;
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await.status, 200);
    bench.issuer.set_down(true);
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await.status, 200);
    // Service tokens never depend on the key set.
    assert_eq!(on_a(&bench, &bench.service(Some(A.0), json!({}))).await.status, 200);
}

#[tokio::test]
async fn jwks_down_with_nothing_cached_is_503_with_retry_after() {
    let bench = Bench::start().await;
    bench.issuer.set_down(true);
    let reply = on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await;
    assert_eq!(reply.status, 503);
    assert!(reply.header("retry-after").is_some());
    assert_eq!(reply.body["error"], "Service Unavailable");
    assert!(!reply.body.to_string().contains("jwks"), "no internal detail: {}", reply.body);
    assert_eq!(on_a(&bench, &bench.service(Some(A.0), json!({}))).await.status, 200);
}

// ----- Kinde claims ---------------------------------------------------------------------

#[tokio::test]
async fn expired_token_is_rejected() {
    let bench = Bench::start().await;
    let now = dev::now_seconds();
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "exp": now - 120 }))).await);
    assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "exp": now - 120 }))).await);
    // Within the 60-second leeway.
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({ "exp": now - 20 }))).await.status, 200);
}

#[tokio::test]
async fn nbf_in_the_future_is_rejected() {
    let bench = Bench::start().await;
    let now = dev::now_seconds();
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "nbf": now + 300 }))).await);
    assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "nbf": now + 300 }))).await);
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({ "nbf": now + 20 }))).await.status, 200);
}

#[tokio::test]
async fn kinde_token_without_exp_is_rejected() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "exp": null }))).await);
}

#[tokio::test]
async fn wrong_iss_is_rejected() {
    let bench = Bench::start().await;
    for iss in [json!("https://evil.kinde.com"), json!(format!("{}/", bench.issuer.url)), Value::Null] {
        assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "iss": iss }))).await);
    }
}

#[tokio::test]
async fn a_kinde_token_without_the_audience_is_rejected() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": "another-api" }))).await);
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": null }))).await);
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": AUDIENCE }))).await.status, 200);
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": ["x", AUDIENCE] }))).await.status, 200);
}

#[tokio::test]
async fn a_member_without_the_required_permission_is_403() {
    let options = BenchOptions { required_permission: Some("app-sync:read".into()), ..Default::default() };
    let bench = Bench::with(options).await;
    let without = on_a(&bench, &bench.kinde(Some(A.1), json!({ "permissions": ["crm:read"] }))).await;
    assert_eq!(without.status, 403, "{}", without.text);
    assert_eq!(without.body["code"], "TENANT_ACCESS_DENIED");
    let with = bench.kinde(Some(A.1), json!({ "permissions": ["app-sync:read"] }));
    assert_eq!(on_a(&bench, &with).await.status, 200);
    // Service tokens are not members: the setting does not concern them.
    assert_eq!(on_a(&bench, &bench.service(Some(A.0), json!({}))).await.status, 200);
}

#[tokio::test]
async fn the_platform_permission_from_another_org_is_not_platform_wide() {
    let bench = Bench::start().await;
    let platform = json!({ "permissions": ["platform:all_tenants"] });
    // A member of tenant A claiming the platform permission sees tenant A only.
    let member = bench.kinde(Some(A.1), platform.clone());
    assert_eq!(on_a(&bench, &member).await.status, 200);
    assert_eq!(bench.get(&tenant_path(B.0), Some(&member)).await.status, 403);
    // The same permission in a token of the platform org is platform-wide.
    let admin = bench.kinde(Some(PLATFORM_ORG), platform);
    assert_eq!(bench.get(&tenant_path(B.0), Some(&admin)).await.status, 200);
    assert_eq!(on_a(&bench, &admin).await.status, 200);
    // A platform-org token without the permission is not.
    assert_eq!(bench.get(&tenant_path(B.0), Some(&bench.kinde(Some(PLATFORM_ORG), json!({})))).await.status, 403);
}

// ----- service tokens -------------------------------------------------------------------

#[tokio::test]
async fn service_token_without_exp_is_rejected() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "exp": null }))).await);
}

#[tokio::test]
async fn a_service_token_without_iat_is_rejected() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "iat": null }))).await);
    let future = dev::now_seconds() + 600;
    assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "iat": future, "exp": future + 60 }))).await);
}

#[tokio::test]
async fn a_service_token_living_longer_than_the_maximum_is_rejected() {
    let bench = Bench::start().await;
    let now = dev::now_seconds();
    let year_3000 = 32_503_680_000i64;
    for (iat, exp) in [(now, year_3000), (now, now + 3_601), (now - 7_200, now + 60)] {
        assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "iat": iat, "exp": exp }))).await);
    }
    assert_eq!(on_a(&bench, &bench.service(Some(A.0), json!({ "iat": now, "exp": now + 3_600 }))).await.status, 200);
}

#[tokio::test]
async fn a_token_signed_with_service_a_s_key_but_naming_service_b_is_rejected() {
    let bench = Bench::start().await;
    let now = dev::now_seconds();
    let claims = |service: &str| json!({ "type": "service_token", "service": service, "tenant_id": A.0, "iat": now, "exp": now + 300 });
    // crm's key, naming hr (which the API knows) and wrapper (the platform service).
    for named in ["hr", "wrapper"] {
        let forged = service_keys().sign("crm", &claims(named)).unwrap();
        assert_invalid_token(&on_a(&bench, &forged).await);
    }
    // crm's key with the kid of hr's key.
    let header = json!({ "alg": "EdDSA", "kid": service_keys().kid("hr").unwrap() });
    let forged = service_keys().sign_with_header("crm", &header, &claims("hr")).unwrap();
    assert_invalid_token(&on_a(&bench, &forged).await);
    // A key the API does not know at all, even naming a configured service.
    let stranger = dev::DevServiceKeys::generate().unwrap();
    assert_invalid_token(&on_a(&bench, &stranger.sign("crm", &claims("crm")).unwrap()).await);
    // Each service's own key works.
    for service in ["crm", "hr"] {
        assert_eq!(on_a(&bench, &service_keys().sign(service, &claims(service)).unwrap()).await.status, 200);
    }
}

#[tokio::test]
async fn a_platform_claim_from_a_non_platform_service_is_not_platform_wide() {
    let bench = Bench::start().await;
    let claimed = bench.service(None, json!({ "service": "crm", "permissions": ["platform:all_tenants"] }));
    assert_eq!(on_a(&bench, &claimed).await.status, 403);
    assert_eq!(bench.get(&tenant_path(B.0), Some(&claimed)).await.status, 403);
    assert_eq!(on_a(&bench, &bench.platform()).await.status, 200, "the platform service is granted it");
}

#[tokio::test]
async fn service_not_configured_is_rejected() {
    let bench = Bench::start().await;
    for service in ["billing", "CRM", " crm", ""] {
        assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "service": service }))).await);
    }
    for service in ["hr", "wrapper"] {
        assert_eq!(on_a(&bench, &bench.service(Some(A.0), json!({ "service": service }))).await.status, 200);
    }
}

#[tokio::test]
async fn type_not_service_token_is_rejected() {
    let bench = Bench::start().await;
    for kind in [json!("access_token"), json!(""), Value::Null] {
        assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "type": kind }))).await);
    }
}

#[tokio::test]
async fn shared_secret_tokens_are_rejected_unless_the_deprecated_mode_is_on() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.shared_secret_token(Some(A.0), json!({}), SECRET)).await);
    let compat = Bench::with(BenchOptions { shared_secret: true, ..Default::default() }).await;
    assert_eq!(on_a(&compat, &compat.shared_secret_token(Some(A.0), json!({}), SECRET)).await.status, 200);
    // The same claim rules hold in that mode: a lifetime over the maximum, or no iat, fails.
    let now = dev::now_seconds();
    let long = compat.shared_secret_token(Some(A.0), json!({ "exp": now + 86_400 }), SECRET);
    assert_invalid_token(&on_a(&compat, &long).await);
    assert_invalid_token(&on_a(&compat, &compat.shared_secret_token(Some(A.0), json!({ "iat": null }), SECRET)).await);
    // ... and the secret can still not make a token platform-wide.
    let platform = compat.shared_secret_token(
        None,
        json!({ "service": "wrapper", "permissions": ["platform:all_tenants"] }),
        SECRET,
    );
    assert_eq!(on_a(&compat, &platform).await.status, 403);
}

#[tokio::test]
async fn wrong_secret_is_rejected_in_the_deprecated_mode() {
    let bench = Bench::with(BenchOptions { shared_secret: true, ..Default::default() }).await;
    let token = bench.shared_secret_token(Some(A.0), json!({}), "some-other-secret-0123456789abcdef");
    assert_invalid_token(&on_a(&bench, &token).await);
}

#[tokio::test]
async fn hs384_and_hs512_service_tokens_are_accepted_in_the_deprecated_mode() {
    let bench = Bench::with(BenchOptions { shared_secret: true, ..Default::default() }).await;
    let now = dev::now_seconds();
    let claims = json!({ "type": "service_token", "service": "crm", "iat": now, "exp": now + 300, "tenant_id": A.0 });
    for algorithm in [jsonwebtoken::Algorithm::HS384, jsonwebtoken::Algorithm::HS512] {
        let token = dev::sign_service_token(&claims, SECRET.as_bytes(), algorithm).unwrap();
        assert_eq!(on_a(&bench, &token).await.status, 200);
    }
}

#[tokio::test]
async fn previous_secret_is_accepted_while_configured_and_rejected_after() {
    let options =
        BenchOptions { shared_secret: true, previous_secret: Some(PREVIOUS_SECRET.into()), ..Default::default() };
    let rotating = Bench::with(options).await;
    let old = rotating.shared_secret_token(Some(A.0), json!({}), PREVIOUS_SECRET);
    assert_eq!(on_a(&rotating, &old).await.status, 200);
    assert_eq!(on_a(&rotating, &rotating.shared_secret_token(Some(A.0), json!({}), SECRET)).await.status, 200);
    let rotated = Bench::with(BenchOptions { shared_secret: true, ..Default::default() }).await;
    assert_invalid_token(&on_a(&rotated, &old).await);
}

#[tokio::test]
async fn a_service_key_is_rotated_by_listing_two_keys() {
    // The service's configuration lists its old and new keys during the rotation; tokens
    // of both verify, each under its own kid.
    let old = dev::DevServiceKeys::generate().unwrap();
    let new = dev::DevServiceKeys::generate().unwrap();
    let mut keys = vec![old.jwk("crm").unwrap(), new.jwk("crm").unwrap()];
    let config = json!({ "crm": { "keys": keys.clone() } }).to_string();
    let credentials = shared::auth::services::ServiceCredentials::parse(&config).unwrap();
    for signer in [&old, &new] {
        let key = credentials.key(&signer.kid("crm").unwrap()).expect("both kids are known");
        assert_eq!(key.service, "crm");
    }
    keys.remove(0);
    let rotated = shared::auth::services::ServiceCredentials::parse(&json!({ "crm": { "keys": keys } }).to_string());
    assert!(rotated.unwrap().key(&old.kid("crm").unwrap()).is_none(), "the withdrawn key is gone");
}

#[tokio::test]
async fn empty_tenant_id_and_malformed_permissions_are_rejected() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.service(None, json!({ "tenant_id": "" }))).await);
    assert_invalid_token(
        &on_a(&bench, &bench.service(Some(A.0), json!({ "permissions": "platform:all_tenants" }))).await,
    );
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "permissions": [1, 2] }))).await);
}

// ----- isolation ------------------------------------------------------------------------

#[tokio::test]
async fn own_tenant_by_uuid_and_by_org_code() {
    let bench = Bench::start().await;
    for token in
        [bench.kinde(Some(A.1), json!({})), bench.service(Some(A.0), json!({})), bench.service(Some(A.1), json!({}))]
    {
        for path in [A.0, A.1] {
            let reply = bench.get(&tenant_path(path), Some(&token)).await;
            assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
            assert_eq!(reply.body["data"]["tenantId"], A.0, "the body names the tenant by its id");
        }
    }
}

#[tokio::test]
async fn tenant_a_token_on_tenant_b_is_403_by_uuid_and_by_org_code() {
    let bench = Bench::start().await;
    for token in
        [bench.kinde(Some(A.1), json!({})), bench.service(Some(A.0), json!({})), bench.service(Some(A.1), json!({}))]
    {
        for path in [B.0, B.1] {
            let reply = bench.get(&tenant_path(path), Some(&token)).await;
            assert_eq!(reply.status, 403, "{path}");
            assert_eq!(reply.body["code"], "TENANT_ACCESS_DENIED");
            assert_eq!(reply.body["message"], "Access to this tenant is not permitted");
        }
    }
}

#[tokio::test]
async fn nonexistent_tenant_is_403_with_the_same_body() {
    let bench = Bench::start().await;
    let token = bench.kinde(Some(A.1), json!({}));
    let other = bench.get(&tenant_path(B.0), Some(&token)).await;
    let missing = bench.get(&tenant_path("99999999-9999-4999-8999-999999999999"), Some(&token)).await;
    let missing_org = bench.get(&tenant_path("org_nobody"), Some(&token)).await;
    assert_eq!(missing.status, 403);
    assert_eq!(other.stable_body(), missing.stable_body());
    assert_eq!(other.stable_body(), missing_org.stable_body());
    let headers = |r: &Reply| {
        let mut names: Vec<String> =
            r.headers.keys().map(|k| k.to_string()).filter(|k| k != "date" && k != "x-request-id").collect();
        names.sort();
        names
    };
    assert_eq!(headers(&other), headers(&missing));
}

#[tokio::test]
async fn kinde_token_without_org_code_is_403() {
    let bench = Bench::start().await;
    for token in
        [bench.kinde(None, json!({})), bench.kinde(Some("org_unknown"), json!({})), bench.service(None, json!({}))]
    {
        assert_eq!(on_a(&bench, &token).await.status, 403);
    }
}

#[tokio::test]
async fn platform_token_on_b_is_200_and_on_an_unknown_tenant_404() {
    let bench = Bench::start().await;
    let kinde_admin = bench.kinde(Some(PLATFORM_ORG), json!({ "permissions": ["platform:all_tenants"] }));
    for token in [bench.platform(), kinde_admin] {
        for path in [B.0, B.1] {
            assert_eq!(bench.get(&tenant_path(path), Some(&token)).await.status, 200);
        }
        let unknown = bench.get(&tenant_path("no-such-tenant"), Some(&token)).await;
        assert_eq!(unknown.status, 404);
        assert_eq!(unknown.body["message"], "Tenant not found");
    }
}

#[tokio::test]
async fn a_tenant_id_claim_with_the_platform_permission_stays_tenant_scoped() {
    let bench = Bench::start().await;
    let token = bench.service(Some(A.0), json!({ "permissions": ["platform:all_tenants"] }));
    assert_eq!(bench.get(&tenant_path(B.0), Some(&token)).await.status, 403);
    assert_eq!(on_a(&bench, &token).await.status, 200);
}

#[tokio::test]
async fn a_token_for_a_removed_tenant_gets_404_for_its_own_id() {
    let bench = Bench::start().await;
    let token = bench.service(Some("33333333-3333-4333-8333-333333333333"), json!({}));
    assert_eq!(bench.get(&tenant_path("33333333-3333-4333-8333-333333333333"), Some(&token)).await.status, 404);
    assert_eq!(on_a(&bench, &token).await.status, 403);
}

#[tokio::test]
async fn invalid_tenant_ids_are_400_after_authentication() {
    let bench = Bench::start().await;
    let token = bench.service(Some(A.0), json!({}));
    let long = "x".repeat(129);
    for path in [long.as_str(), "a%07b", "%FF"] {
        let reply = bench.get(&tenant_path(path), Some(&token)).await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.body["details"][0]["field"], "tenantId");
    }
    assert_eq!(bench.get(&tenant_path(&long), None).await.status, 401, "authentication is checked first");
}

/// The tenant info route; `tests/api.rs` walks every route with every kind of caller on the
/// seeded data (where the catalog and entitlements those routes need exist).
fn tenant_routes(t: &str) -> Vec<String> {
    vec![format!("/tenants/{t}")]
}

#[tokio::test]
async fn every_tenant_route_by_caller_matrix() {
    let bench = Bench::start().await;
    let callers: [(&str, Option<String>); 6] = [
        ("none", None),
        ("A kinde", Some(bench.kinde(Some(A.1), json!({})))),
        ("A service", Some(bench.service(Some(A.0), json!({})))),
        ("B service", Some(bench.service(Some(B.1), json!({})))),
        ("unscoped", Some(bench.service(None, json!({})))),
        ("platform", Some(bench.platform())),
    ];
    for (tenant, name) in [(A.0, "A"), (A.1, "A by org"), (B.0, "B")] {
        for route in tenant_routes(tenant) {
            for prefix in ["/api/sync", "/api/wrapper"] {
                for (caller, token) in &callers {
                    let status = bench.status("GET", &format!("{prefix}{route}"), token.as_deref()).await;
                    let expected = match (*caller, name) {
                        ("none", _) => 401,
                        ("platform", _) => 200,
                        ("A kinde" | "A service", "A" | "A by org") => 200,
                        ("B service", "B") => 200,
                        _ => 403,
                    };
                    assert_eq!(status, expected, "{caller} on {name} {prefix}{route}");
                }
            }
        }
    }
}

#[tokio::test]
async fn development_tokens_work_for_their_tenant_only() {
    use shared::auth::dev::{KindeTokenSpec, ServiceTokenSpec};
    let bench = Bench::start().await;
    let spec =
        ServiceTokenSpec { service: "crm".into(), tenant: Some(A.1.into()), ttl_seconds: 60, ..Default::default() };
    let service = service_keys().sign("crm", &dev::service_claims(&spec)).unwrap();
    assert_eq!(on_a(&bench, &service).await.status, 200);
    assert_eq!(bench.get(&tenant_path(B.0), Some(&service)).await.status, 403);

    let spec = ServiceTokenSpec { service: "wrapper".into(), all_tenants: true, ttl_seconds: 60, ..Default::default() };
    let platform = service_keys().sign("wrapper", &dev::service_claims(&spec)).unwrap();
    assert_eq!(bench.get(&tenant_path(B.0), Some(&platform)).await.status, 200);

    let spec = KindeTokenSpec {
        issuer: format!("{}/", bench.issuer.url),
        org_code: Some(A.1.into()),
        subject: "kp_dev".into(),
        audience: Some(AUDIENCE.into()),
        ttl_seconds: 60,
        ..Default::default()
    };
    let kinde = bench.key.sign(&dev::kinde_claims(&spec)).unwrap();
    assert_eq!(on_a(&bench, &kinde).await.status, 200);
    assert_eq!(bench.get(&tenant_path(B.1), Some(&kinde)).await.status, 403);
}

/// The page is read while access is decided only where the tenant can be presumed; a wrong
/// presumption (a claim or path that is an org code, a tenant that does not exist) must not
/// change any answer.
#[tokio::test]
async fn pages_read_before_the_access_decision_answer_as_without_it() {
    let bench = Bench::start().await;
    let w = integration_tests::writer(&bench.store);
    for n in 0..3 {
        w.put_user(A.0, &integration_tests::user(&format!("u-{n}"), "2026-01-01T00:00:00Z")).await.unwrap();
    }
    w.put_user(B.0, &integration_tests::user("u-b", "2026-01-01T00:00:00Z")).await.unwrap();
    let ids = |reply: &integration_tests::http::Reply| -> Vec<String> {
        reply.body["data"].as_array().unwrap().iter().map(|u| u["userId"].as_str().unwrap().to_owned()).collect()
    };
    let by_id = bench.get(&format!("/tenants/{}/users", A.0), Some(&bench.service(Some(A.0), json!({})))).await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    assert_eq!(ids(&by_id), vec!["u-0", "u-1", "u-2"]);
    let by_org_claim = bench.get(&format!("/tenants/{}/users", A.1), Some(&bench.service(Some(A.1), json!({})))).await;
    assert_eq!(by_org_claim.status, 200, "{}", by_org_claim.text);
    assert_eq!(ids(&by_org_claim), ids(&by_id), "an org-code claim reads the tenant it names");
    let platform = bench.platform();
    let by_org_path = bench.get(&format!("/tenants/{}/users", A.1), Some(&platform)).await;
    assert_eq!(ids(&by_org_path), ids(&by_id));
    let unknown = bench.get("/tenants/33333333-3333-4333-8333-333333333333/users", Some(&platform)).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let other = bench.get(&format!("/tenants/{}/users", B.0), Some(&bench.service(Some(A.0), json!({})))).await;
    assert_eq!(other.status, 403, "{}", other.text);
}
