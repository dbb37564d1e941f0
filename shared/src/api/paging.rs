//! The machinery every paged route shares (contract sections 6 and 7): parameters, cursor
//! binding, page or cursor or incremental mode, the page query and its total issued
//! concurrently, tombstones, the watermark, and the `pagination` object.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::error::{ApiError, FieldProblem};
use super::extract::{Authenticated, TenantPath};
use super::params::{self, QueryParams};
use super::respond::cached_json;
use super::AppState;
use crate::auth::{authorize_tenant, TenantRef};
use crate::pagination::{page_offset, CursorPosition, CursorScope};
use crate::store::item::{CollectionRecord, Stored};
use crate::store::query::{self, Filter, ListMode, ListRequest};
use crate::store::reader;
use crate::time::Timestamp;

/// Seconds subtracted from the first page's server time to form the watermark (7.4).
pub const WATERMARK_SETTLE_MS: i64 = 5_000;

/// What a route knows about the request beyond the record (tenant, app filter).
#[derive(Debug, Clone)]
pub struct ViewContext {
    /// The tenant's id.
    pub tenant_id: String,
    /// The effective `appCode`, on routes that take one.
    pub app_code: Option<String>,
    /// Whether this is an incremental pull.
    pub incremental: bool,
}

/// The route-specific filter values of a request.
#[derive(Debug, Clone, Default)]
pub struct RouteFilters {
    /// Effective values by parameter name, for the cursor scope.
    pub effective: BTreeMap<&'static str, String>,
    /// Filters evaluated by DynamoDB.
    pub store: Vec<Filter>,
    /// The effective `appCode`, if the route takes one.
    pub app_code: Option<String>,
}

/// A paged route: its record type, how it reads filters, and how it renders items.
pub trait PagedRoute: Send + Sync + 'static {
    /// The collection's record type.
    type Record: CollectionRecord;
    /// The rendered item.
    type View: Serialize + Send;
    /// The route name (`users`), bound into cursors.
    const NAME: &'static str;
    /// Members of a tombstone before `deleted`, in order (`tenantId` comes from the context,
    /// the others from the deleted record's ids).
    const TOMBSTONE: &'static [&'static str];

    /// Reads the route's own filters; problems go to `problems`.
    fn filters(params: &QueryParams, incremental: bool, problems: &mut Vec<FieldProblem>) -> RouteFilters;

    /// Renders a live record.
    fn view(
        ctx: &ViewContext,
        stored: &Stored<Self::Record, <Self::Record as CollectionRecord>::Derived>,
    ) -> Option<Self::View>;
}

/// A live item or a tombstone, serialized as the one or the other.
pub enum Entry<V> {
    /// A live record.
    Live(V),
    /// A deleted record.
    Tombstone(TombstoneView),
}

impl<V: Serialize> Serialize for Entry<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Live(view) => view.serialize(serializer),
            Self::Tombstone(tombstone) => tombstone.serialize(serializer),
        }
    }
}

/// A tombstone: the record's identifying members in the route's order, then `deleted` and
/// `deletedAt`.
pub struct TombstoneView {
    members: Vec<(&'static str, String)>,
    deleted_at: Timestamp,
}

impl Serialize for TombstoneView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len() + 2))?;
        for (name, value) in &self.members {
            map.serialize_entry(name, value)?;
        }
        map.serialize_entry("deleted", &true)?;
        map.serialize_entry("deletedAt", &self.deleted_at)?;
        map.end()
    }
}

/// The `pagination` object (6.4).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationView {
    page: u32,
    limit: usize,
    total: u64,
    total_pages: u64,
    has_more: bool,
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    watermark: Option<String>,
}

#[derive(Serialize)]
struct PageBody<V> {
    success: bool,
    data: Vec<Entry<V>>,
    pagination: PaginationView,
}

/// The handler of every paged route.
pub async fn list<P: PagedRoute>(
    State(state): State<AppState>,
    caller: Authenticated,
    tenant: TenantPath,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(raw.as_deref());
    let mut problems = Vec::new();
    let paging = params::paging(&params, &mut problems);
    let incremental = paging.as_ref().is_ok_and(|p| p.since.is_some());
    let filters = P::filters(&params, incremental, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let paging = paging?;
    let tenant = authorize_tenant(&state.directory, &caller.0, &tenant.0).await?;
    if let Some(app) = &filters.app_code {
        check_app_code(&state, app).await?;
    }
    let page = read_page::<P>(&state, &tenant, &paging, filters).await?;
    Ok(cached_json(&headers, &page))
}

/// 400 `UNKNOWN_APP_CODE` unless the catalog has `app`.
pub async fn check_app_code(state: &AppState, app: &str) -> Result<(), ApiError> {
    if state.catalog.app(app).await?.is_some() {
        Ok(())
    } else {
        Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, format!("Unknown appCode: {app}"))
            .with_code("UNKNOWN_APP_CODE"))
    }
}

fn cursor_invalid() -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "The cursor is invalid for this request")
        .with_code("CURSOR_INVALID")
}

async fn read_page<P: PagedRoute>(
    state: &AppState,
    tenant: &TenantRef,
    paging: &params::Paging,
    filters: RouteFilters,
) -> Result<PageBody<P::View>, ApiError> {
    let mut scope = CursorScope::new(P::NAME, &tenant.tenant_id)
        .with("includeInactive", if paging.since.is_some() { "-" } else { bool_text(paging.include_inactive) })
        .with("updatedSince", paging.since.map(|t| t.to_string()).unwrap_or_default());
    for (name, value) in &filters.effective {
        scope = scope.with(name, value.clone());
    }
    let position = match &paging.cursor {
        Some(cursor) => Some(state.cursors.decode(&scope, cursor).map_err(|_| cursor_invalid())?),
        None => None,
    };
    let mode = match paging.since {
        Some(since) => ListMode::ChangedSince(since),
        None if paging.include_inactive => ListMode::All,
        None => ListMode::Active,
    };
    let (page_number, offset) = match &position {
        Some(position) => (position.page, 0),
        None => {
            let offset = page_offset(paging.page, paging.limit).map_err(|e| {
                ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.to_string()).with_code("PAGE_WINDOW_EXCEEDED")
            })?;
            (paging.page, offset)
        }
    };
    let watermark = match (&position, paging.since) {
        (Some(position), Some(_)) => Some(position.watermark.clone().ok_or_else(cursor_invalid)?),
        (None, Some(since)) => Some(since.max(Timestamp::now().plus_millis(-WATERMARK_SETTLE_MS)).to_string()),
        _ => None,
    };
    let request = ListRequest {
        filters: filters.store.clone(),
        limit: paging.limit,
        start_after: position.map(|p| p.last_key),
        offset,
    };
    let store = &state.store;
    let (page, total) = tokio::join!(
        query::list::<P::Record>(store, &tenant.tenant_id, mode, &request),
        total(store, &tenant.tenant_id, <P::Record as CollectionRecord>::COLLECTION, mode, &filters.store),
    );
    let (page, total) = (page?, total?);
    let ctx = ViewContext {
        tenant_id: tenant.tenant_id.clone(),
        app_code: filters.app_code.clone(),
        incremental: paging.since.is_some(),
    };
    let data = page.items.iter().filter_map(|stored| entry::<P>(&ctx, stored)).collect();
    let next_cursor = page.next.map(|last_key| {
        state.cursors.encode(
            &scope,
            &CursorPosition { last_key, page: page_number.saturating_add(1), watermark: watermark.clone() },
        )
    });
    Ok(PageBody {
        success: true,
        data,
        pagination: PaginationView {
            page: page_number,
            limit: paging.limit,
            total,
            total_pages: total.div_ceil(paging.limit as u64),
            has_more: next_cursor.is_some(),
            next_cursor,
            watermark,
        },
    })
}

fn bool_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

fn entry<P: PagedRoute>(
    ctx: &ViewContext,
    stored: &Stored<P::Record, <P::Record as CollectionRecord>::Derived>,
) -> Option<Entry<P::View>> {
    if stored.is_tombstone() {
        let ids = stored.ids.clone().unwrap_or_default();
        let members = P::TOMBSTONE
            .iter()
            .map(|name| {
                (
                    *name,
                    if *name == "tenantId" {
                        ctx.tenant_id.clone()
                    } else {
                        ids.get(*name).cloned().unwrap_or_default()
                    },
                )
            })
            .collect();
        return Some(Entry::Tombstone(TombstoneView {
            members,
            deleted_at: stored.deleted_at.unwrap_or(stored.updated_at),
        }));
    }
    P::view(ctx, stored).map(Entry::Live)
}

/// Records matching the request across all pages: the counters for unfiltered full pulls
/// (one GetItem), a COUNT query otherwise.
async fn total(
    store: &crate::store::Store,
    tenant_id: &str,
    collection: crate::store::keys::Collection,
    mode: ListMode,
    filters: &[Filter],
) -> Result<u64, crate::store::StoreError> {
    match mode {
        ListMode::Active | ListMode::All if filters.is_empty() => {
            let counts = reader::counters(store, tenant_id).await?.get(collection);
            let value = if mode == ListMode::Active { counts.active } else { counts.listed };
            Ok(value.max(0) as u64)
        }
        _ => query::count(store, tenant_id, collection, mode, filters).await,
    }
}
