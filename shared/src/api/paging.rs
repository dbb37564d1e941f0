//! The machinery every paged route shares (contract sections 6 and 7): parameters, cursor
//! binding, page or cursor or incremental mode, the page query and its total issued
//! concurrently (`totals`), tombstones, the watermark, and the `pagination` object.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::error::{ApiError, FieldProblem};
use super::extract::{Authenticated, TenantPath};
use super::params::{self, QueryParams};
use super::respond::cached_json_sized;
use super::totals::{self, is_initial_load};
use super::AppState;
use crate::pagination::{page_offset, CursorPosition, CursorScope};
use crate::store::item::{CollectionRecord, Stored};
use crate::store::query::{self, Filter, ListMode, ListRequest, EVALUATION_BUDGET};
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
    total_estimated: bool,
    has_more: bool,
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    watermark: Option<Timestamp>,
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
    let app_check = async {
        match &filters.app_code {
            Some(app) => check_app_code(&state, app).await,
            None => Ok(()),
        }
    };
    // When the tenant can be presumed, its page is read while access is decided (a cold
    // start saves the tenant lookup's round trip); errors still come in the contract's order.
    let page = match crate::auth::presumed_tenant(&caller.0, &tenant.0) {
        Some(presumed) => {
            let (access, app, page) = tokio::join!(
                super::tenant_access(&state, &caller, &tenant),
                app_check,
                read_page::<P>(&state, presumed, &paging, filters.clone()),
            );
            let names = access?;
            app?;
            match names.tenant_id == presumed {
                true => page?,
                false => read_page::<P>(&state, &names.tenant_id, &paging, filters).await?,
            }
        }
        None => {
            let names = super::tenant_access(&state, &caller, &tenant).await?;
            app_check.await?;
            read_page::<P>(&state, &names.tenant_id, &paging, filters).await?
        }
    };
    Ok(cached_json_sized(&headers, &page, 1024 + page.data.len() * BYTES_PER_ITEM))
}

/// A page body's expected bytes per item, to size its buffer (the largest views, tenant
/// users, take about this much).
const BYTES_PER_ITEM: usize = 600;

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
    tenant_id: &str,
    paging: &params::Paging,
    filters: RouteFilters,
) -> Result<PageBody<P::View>, ApiError> {
    let mut scope = CursorScope::new(P::NAME, tenant_id)
        .with("includeInactive", if paging.since.is_some() { "-" } else { bool_text(paging.include_inactive) })
        .with("updatedSince", paging.since.map(|t| t.to_string()).unwrap_or_default());
    for (name, value) in &filters.effective {
        scope = scope.with(name, value.clone());
    }
    let position = match &paging.cursor {
        Some(cursor) => {
            let cursors = state.secrets.cursors().await?;
            Some(cursors.decode(&scope, cursor).map_err(|_| cursor_invalid())?)
        }
        None => None,
    };
    let mode = match paging.since {
        Some(since) => ListMode::ChangedSince(since),
        None if paging.include_inactive => ListMode::All,
        None => ListMode::Active,
    };
    let (page_number, offset) = match &position {
        Some(position) => (position.page, position.skip as usize),
        None => {
            let offset = page_offset(paging.page, paging.limit).map_err(|e| {
                ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.to_string()).with_code("PAGE_WINDOW_EXCEEDED")
            })?;
            (paging.page, offset)
        }
    };
    // Taken before the first query is sent: the watermark must not pass a change the
    // query could miss (docs/api.md, "Change times and the watermark").
    let started = Timestamp::now();
    let watermark = match (&position, paging.since) {
        (Some(position), Some(_)) => Some(position.watermark.ok_or_else(cursor_invalid)?),
        (None, Some(since)) => Some(since.max(started.plus_millis(-WATERMARK_SETTLE_MS))),
        _ => None,
    };
    let request = ListRequest {
        filters: filters.store.clone(),
        limit: paging.limit,
        start_after: position.as_ref().map(|p| p.last_key.clone()),
        offset,
        budget: EVALUATION_BUDGET,
        retained_at: is_initial_load(mode).then_some(started),
    };
    let fixed = position.as_ref().and_then(|p| p.total.map(|total| (total, p.total_estimated)));
    let store = &state.store;
    let collection = <P::Record as CollectionRecord>::COLLECTION;
    // The cursor key is needed only to sign a next cursor: its first read from the secret,
    // started during init, runs on while the page is read, and a last page never waits for it.
    let (page, total) = tokio::join!(
        query::list::<P::Record>(store, tenant_id, mode, &request),
        totals::total(store, tenant_id, collection, mode, &request, fixed, started),
    );
    let (page, total) = (page?, total?);
    if watermark.is_some() && position.is_none() {
        store.check_clock()?;
    }
    let ctx = ViewContext {
        tenant_id: tenant_id.to_owned(),
        app_code: filters.app_code.clone(),
        incremental: paging.since.is_some(),
    };
    let data = page.items.iter().filter_map(|stored| entry::<P>(&ctx, stored)).collect();
    let next_page = if page.offset_left > 0 { page_number } else { page_number.saturating_add(1) };
    let cursors = match page.next.is_some() {
        true => Some(state.secrets.cursors().await?),
        false => None,
    };
    let next_cursor = page.next.zip(cursors).map(|(last_key, cursors)| {
        let position = CursorPosition {
            last_key,
            page: next_page,
            watermark,
            total: total.carried.then_some(total.value),
            total_estimated: total.carried && total.estimated,
            skip: page.offset_left.min(u32::MAX as usize) as u32,
        };
        cursors.encode(&scope, &position)
    });
    Ok(PageBody {
        success: true,
        data,
        pagination: PaginationView {
            page: page_number,
            limit: paging.limit,
            total: total.value,
            total_pages: total.value.div_ceil(paging.limit as u64),
            total_estimated: total.estimated,
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
    // In an incremental pull, a live record that is not listed (its user, role or entity is
    // missing) is reported as deleted: for consumers it left the data set.
    if stored.is_tombstone() || (ctx.incremental && stored.osk.is_none()) {
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
