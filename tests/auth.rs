//! Authentication and tenant isolation over real HTTP: every attack is a named test, with
//! keys and a JWK set the tests make themselves on loopback (contract section 3).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::http::{pause, Bench, BenchOptions, Reply, A, B, PREVIOUS_SECRET, SECRET};
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

#[tokio::test]
async fn unknown_kid_refetches_once_then_401_and_a_burst_fetches_once_per_cooldown() {
    let bench = Bench::start().await;
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await.status, 200);
    assert_eq!(bench.issuer.fetches(), 1, "first token fetches the set; later ones use the cache");
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await.status, 200);
    assert_eq!(bench.issuer.fetches(), 1);

    // A fresh process (its own cache): one unknown kid after the cooldown causes one refetch.
    let timing = JwksTiming { cooldown: Duration::from_millis(300), ..JwksTiming::default() };
    let url = Bench::serve(&bench.store, &bench.issuer, &BenchOptions { timing, ..Default::default() }).await;
    let get = |token: String| {
        let client = bench.client.clone();
        let url = url.clone();
        async move { Reply::fetch(client.get(format!("{url}/api/sync/tenants/{}", A.0)).bearer_auth(token)).await.status }
    };
    assert_eq!(get(bench.kinde(Some(A.1), json!({}))).await, 200);
    let before = bench.issuer.fetches();
    pause(350).await;
    let stranger = DevSigningKey::generate().unwrap();
    let claims = json!({ "iss": bench.issuer.url, "sub": "x", "org_code": A.1, "exp": dev::now_seconds() + 300 });
    let unknown = |n: usize| {
        stranger.sign_with_header(&json!({ "alg": "RS256", "kid": format!("made-up-{n}") }), &claims).unwrap()
    };
    assert_eq!(get(unknown(0)).await, 401);
    assert_eq!(bench.issuer.fetches(), before + 1, "exactly one refetch for the unknown kid");

    // A burst of unknown kids within the cooldown fetches nothing more.
    let burst: Vec<_> = (1..=40).map(|n| tokio::spawn(get(unknown(n)))).collect();
    for task in burst {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(bench.issuer.fetches(), before + 1, "no fetch per bogus token");
}

#[tokio::test]
async fn key_rotation_picks_up_a_new_kid() {
    let bench = Bench::start().await;
    let timing = JwksTiming { cooldown: Duration::from_millis(200), ..JwksTiming::default() };
    let url = Bench::serve(&bench.store, &bench.issuer, &BenchOptions { timing, ..Default::default() }).await;
    let get = |token: String| {
        let client = bench.client.clone();
        let url = url.clone();
        async move { Reply::fetch(client.get(format!("{url}/api/sync/tenants/{}", A.0)).bearer_auth(token)).await.status }
    };
    assert_eq!(get(bench.kinde(Some(A.1), json!({}))).await, 200);
    let next = DevSigningKey::generate().unwrap();
    bench.issuer.publish(&[&bench.key, &next]);
    pause(250).await;
    let claims = json!({ "iss": bench.issuer.url, "sub": "x", "org_code": A.1, "exp": dev::now_seconds() + 300 });
    assert_eq!(get(next.sign(&claims).unwrap()).await, 200, "the new kid is picked up");
    assert_eq!(get(bench.kinde(Some(A.1), json!({}))).await, 200, "the old key still works while published");
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
async fn wrong_aud_is_rejected() {
    let bench = Bench::with(BenchOptions { audience: Some("app-sync-api".into()), ..Default::default() }).await;
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": "another-api" }))).await);
    assert_invalid_token(&on_a(&bench, &bench.kinde(Some(A.1), json!({}))).await);
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": "app-sync-api" }))).await.status, 200);
    assert_eq!(on_a(&bench, &bench.kinde(Some(A.1), json!({ "aud": ["x", "app-sync-api"] }))).await.status, 200);
}

// ----- service tokens -------------------------------------------------------------------

#[tokio::test]
async fn service_token_without_exp_is_rejected() {
    let bench = Bench::start().await;
    assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "exp": null }))).await);
}

#[tokio::test]
async fn service_not_allowed_is_rejected() {
    let bench = Bench::start().await;
    for service in ["billing", "CRM", " crm", ""] {
        assert_invalid_token(&on_a(&bench, &bench.service(Some(A.0), json!({ "service": service }))).await);
    }
    for service in ["hr", "wrapper", "affiliate_connect"] {
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
async fn wrong_secret_is_rejected() {
    let bench = Bench::start().await;
    let claims =
        json!({ "type": "service_token", "service": "crm", "exp": dev::now_seconds() + 300, "tenant_id": A.0 });
    let token = dev::sign_service_token(&claims, b"some-other-secret-0123456789abcdef", jsonwebtoken::Algorithm::HS256)
        .unwrap();
    assert_invalid_token(&on_a(&bench, &token).await);
}

#[tokio::test]
async fn hs384_and_hs512_service_tokens_are_accepted() {
    let bench = Bench::start().await;
    let claims =
        json!({ "type": "service_token", "service": "crm", "exp": dev::now_seconds() + 300, "tenant_id": A.0 });
    for algorithm in [jsonwebtoken::Algorithm::HS384, jsonwebtoken::Algorithm::HS512] {
        let token = dev::sign_service_token(&claims, SECRET.as_bytes(), algorithm).unwrap();
        assert_eq!(on_a(&bench, &token).await.status, 200);
    }
}

#[tokio::test]
async fn previous_secret_is_accepted_while_configured_and_rejected_after() {
    let claims =
        json!({ "type": "service_token", "service": "crm", "exp": dev::now_seconds() + 300, "tenant_id": A.0 });
    let old = dev::sign_service_token(&claims, PREVIOUS_SECRET.as_bytes(), jsonwebtoken::Algorithm::HS256).unwrap();
    let rotating =
        Bench::with(BenchOptions { previous_secret: Some(PREVIOUS_SECRET.into()), ..Default::default() }).await;
    assert_eq!(on_a(&rotating, &old).await.status, 200);
    assert_eq!(on_a(&rotating, &rotating.service(Some(A.0), json!({}))).await.status, 200);
    let rotated = Bench::start().await;
    assert_invalid_token(&on_a(&rotated, &old).await);
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
    let kinde_admin = bench.kinde(None, json!({ "permissions": ["platform:all_tenants"] }));
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
    let service =
        dev::sign_service_token(&dev::service_claims(&spec), SECRET.as_bytes(), jsonwebtoken::Algorithm::HS256)
            .unwrap();
    assert_eq!(on_a(&bench, &service).await.status, 200);
    assert_eq!(bench.get(&tenant_path(B.0), Some(&service)).await.status, 403);

    let spec = ServiceTokenSpec { service: "wrapper".into(), all_tenants: true, ttl_seconds: 60, ..Default::default() };
    let platform =
        dev::sign_service_token(&dev::service_claims(&spec), SECRET.as_bytes(), jsonwebtoken::Algorithm::HS256)
            .unwrap();
    assert_eq!(bench.get(&tenant_path(B.0), Some(&platform)).await.status, 200);

    let spec = KindeTokenSpec {
        issuer: format!("{}/", bench.issuer.url),
        org_code: Some(A.1.into()),
        subject: "kp_dev".into(),
        ttl_seconds: 60,
        ..Default::default()
    };
    let kinde = bench.key.sign(&dev::kinde_claims(&spec)).unwrap();
    assert_eq!(on_a(&bench, &kinde).await.status, 200);
    assert_eq!(bench.get(&tenant_path(B.1), Some(&kinde)).await.status, 403);
}
