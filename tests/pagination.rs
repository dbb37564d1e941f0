//! Cursor and page-mode walks over 1,000+ stored items: no skips, no repeats, contract
//! order, full pages under filters, and cursors that cannot be tampered with or reused
//! elsewhere.

use std::collections::HashSet;

use integration_tests::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shared::model::User;
use shared::pagination::{CursorCodec, CursorError, CursorPosition, CursorScope, SigningKey};
use shared::seed::seed_clock;
use shared::store::bulk::{self, TenantDataset};
use shared::store::query::{self, Filter, ListMode, ListRequest};
use shared::store::Store;

const T: &str = "tenant-walk";
const USERS: usize = 1_200;
const ORGS: [&str; 3] = ["e1", "e2", "e3"];
const PRIMARY_ORG: &[&str] = &["rec", "primaryOrganizationId"];

fn users() -> Vec<User> {
    let mut rng = StdRng::seed_from_u64(11);
    (0..USERS)
        .map(|n| {
            // Few distinct creation times, so many ties are broken by userId.
            let day = rng.random_range(1..=28);
            let mut u =
                user(&format!("user-{:05}", rng.random_range(0..1_000_000)), &format!("2025-02-{day:02}T00:00:00Z"));
            u.user_id = format!("{}-{n}", u.user_id);
            u.is_active = (n % 3 == 0).then_some(false);
            u.primary_organization_id = Some(ORGS[n % ORGS.len()].to_owned());
            u
        })
        .collect()
}

async fn seeded() -> (Store, Vec<User>) {
    let store = fresh_store().await;
    let users = users();
    let data = TenantDataset { users: users.clone(), ..TenantDataset::empty(tenant(T, "org_walk")) };
    bulk::load_tenant(&store, &data, seed_clock(), &|_| {}).await.unwrap();
    (store, users)
}

/// The contract order of `users`: createdAt, then userId.
fn expected(users: &[User], keep: impl Fn(&User) -> bool) -> Vec<String> {
    let mut kept: Vec<&User> = users.iter().filter(|u| keep(u)).collect();
    kept.sort_by(|a, b| (a.created_at, a.user_id.as_bytes()).cmp(&(b.created_at, b.user_id.as_bytes())));
    kept.into_iter().map(|u| u.user_id.clone()).collect()
}

fn codec() -> CursorCodec {
    CursorCodec::new(SigningKey::new(b"an-integration-test-signing-key-32b").unwrap(), None)
}

struct Walk {
    ids: Vec<String>,
    page_sizes: Vec<usize>,
    limits: Vec<usize>,
}

async fn walk(
    store: &Store,
    mode: ListMode,
    filters: Vec<Filter>,
    scope: &CursorScope,
    mut limit: impl FnMut() -> usize,
) -> Walk {
    let codec = codec();
    let mut cursor: Option<String> = None;
    let mut walk = Walk { ids: Vec::new(), page_sizes: Vec::new(), limits: Vec::new() };
    for page_number in 1.. {
        let start_after = cursor.as_ref().map(|c| codec.decode(scope, c).expect("own cursor decodes").last_key);
        let limit = limit();
        let request = ListRequest { filters: filters.clone(), limit, start_after, ..Default::default() };
        let page = query::list::<User>(store, T, mode, &request).await.unwrap();
        walk.page_sizes.push(page.items.len());
        walk.limits.push(limit);
        walk.ids.extend(page.items.iter().filter_map(|s| s.live()).map(|u| u.user_id.clone()));
        match page.next {
            Some(last_key) => {
                cursor =
                    Some(codec.encode(scope, &CursorPosition { last_key, page: page_number + 1, ..Default::default() }))
            }
            None => break,
        }
        assert!(page_number < 5_000, "walk does not end");
    }
    walk
}

fn assert_exact(walk: &Walk, expected: &[String]) {
    let unique: HashSet<&String> = walk.ids.iter().collect();
    assert_eq!(unique.len(), walk.ids.len(), "a record was returned twice");
    assert_eq!(walk.ids.len(), expected.len(), "a record was skipped");
    assert_eq!(walk.ids, expected, "order differs from the contract order");
}

#[tokio::test]
async fn cursor_walks_with_random_page_sizes_return_every_record_once_in_order() {
    let (store, users) = seeded().await;
    let mut rng = StdRng::seed_from_u64(99);
    let scope = CursorScope::new("users", T).with("includeInactive", "false");
    let active = walk(&store, ListMode::Active, Vec::new(), &scope, || rng.random_range(1..=97)).await;
    assert_exact(&active, &expected(&users, User::active));
    assert!(active.ids.len() > 700);

    let scope = CursorScope::new("users", T).with("includeInactive", "true");
    let all = walk(&store, ListMode::All, Vec::new(), &scope, || rng.random_range(1..=500)).await;
    assert_exact(&all, &expected(&users, |_| true));
    assert_eq!(all.ids.len(), USERS);
}

#[tokio::test]
async fn filtered_walks_return_full_pages() {
    let (store, users) = seeded().await;
    let scope = CursorScope::new("users", T).with("includeInactive", "false").with("entityId", "e2");
    let filters = vec![Filter::Equals(PRIMARY_ORG, "e2".into())];
    let mut rng = StdRng::seed_from_u64(5);
    let filtered = walk(&store, ListMode::Active, filters, &scope, || rng.random_range(5..=60)).await;
    assert_exact(&filtered, &expected(&users, |u| u.active() && u.primary_organization_id.as_deref() == Some("e2")));
    let last = filtered.page_sizes.len() - 1;
    for (n, (size, limit)) in filtered.page_sizes.iter().zip(&filtered.limits).enumerate() {
        if n < last {
            assert_eq!(size, limit, "page {n} is short although more records follow");
        }
    }
}

#[tokio::test]
async fn page_mode_walks_the_same_order() {
    let (store, users) = seeded().await;
    let want = expected(&users, User::active);
    let limit = 37;
    let mut ids = Vec::new();
    for page in 0.. {
        let request = ListRequest { limit, offset: page * limit, ..Default::default() };
        let result = query::list::<User>(&store, T, ListMode::Active, &request).await.unwrap();
        ids.extend(result.items.iter().filter_map(|s| s.live()).map(|u| u.user_id.clone()));
        if result.next.is_none() {
            break;
        }
    }
    assert_eq!(ids, want);

    // A page past the end is empty, and so is the page right at the end.
    let past = ListRequest { limit, offset: want.len() + 100, ..Default::default() };
    assert!(query::list::<User>(&store, T, ListMode::Active, &past).await.unwrap().items.is_empty());
    let exact_end = ListRequest { limit, offset: want.len(), ..Default::default() };
    let end = query::list::<User>(&store, T, ListMode::Active, &exact_end).await.unwrap();
    assert!(end.items.is_empty() && end.next.is_none());

    // Page mode with a filter skips only matching records.
    let filters = vec![Filter::Equals(PRIMARY_ORG, "e3".into())];
    let want = expected(&users, |u| u.active() && u.primary_organization_id.as_deref() == Some("e3"));
    let second = ListRequest { filters, limit: 10, offset: 10, ..Default::default() };
    let page = query::list::<User>(&store, T, ListMode::Active, &second).await.unwrap();
    let ids: Vec<String> = page.items.iter().filter_map(|s| s.live()).map(|u| u.user_id.clone()).collect();
    assert_eq!(ids, want[10..20]);
}

#[tokio::test]
async fn counts_match_the_walks() {
    let (store, users) = seeded().await;
    let request = ListRequest { filters: vec![Filter::Equals(PRIMARY_ORG, "e1".into())], ..Default::default() };
    let users_collection = shared::store::keys::Collection::Users;
    let counted = query::count(&store, T, users_collection, ListMode::All, &request, usize::MAX).await.unwrap();
    assert!(counted.complete);
    let expected = users.iter().filter(|u| u.primary_organization_id.as_deref() == Some("e1")).count();
    assert_eq!(counted.matched as usize, expected);
    assert_eq!(counted.evaluated as usize, users.len());
    // A budget stops the count early and says so.
    let partial = query::count(&store, T, users_collection, ListMode::All, &request, 100).await.unwrap();
    assert!(!partial.complete);
    assert_eq!(partial.evaluated, 100);
}

#[tokio::test]
async fn tampered_and_foreign_cursors_are_rejected() {
    let (store, _) = seeded().await;
    let scope = CursorScope::new("users", T).with("includeInactive", "false");
    let page = query::list::<User>(&store, T, ListMode::Active, &ListRequest { limit: 5, ..Default::default() })
        .await
        .unwrap();
    let codec = codec();
    let cursor = codec.encode(&scope, &CursorPosition { last_key: page.next.unwrap(), page: 2, ..Default::default() });

    let mut tampered = cursor.clone().into_bytes();
    let middle = tampered.len() / 3;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(matches!(codec.decode(&scope, &tampered), Err(CursorError::BadSignature | CursorError::Malformed)));

    let other_tenant = CursorScope::new("users", "another-tenant").with("includeInactive", "false");
    assert_eq!(codec.decode(&other_tenant, &cursor), Err(CursorError::Mismatch));
    let other_route = CursorScope::new("tenant-users", T).with("includeInactive", "false");
    assert_eq!(codec.decode(&other_route, &cursor), Err(CursorError::Mismatch));
    let other_key = CursorCodec::new(SigningKey::new(b"some-other-deployment-signing-key!!").unwrap(), None);
    assert_eq!(other_key.decode(&scope, &cursor), Err(CursorError::BadSignature));
}
