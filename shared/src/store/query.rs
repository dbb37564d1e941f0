//! Paged reads of a tenant collection in one of its list orders.
//!
//! A page is one `Query` on the collection's index, more only when a filter leaves it short.
//! The walk resumes after the key of the last record *returned* (not DynamoDB's
//! `LastEvaluatedKey`), so a page that stops inside a DynamoDB response never skips the rest
//! of that response. One extra record is read to know whether more exist.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};

use super::error::sdk;
use super::item::{attr, CollectionRecord, RawItem, Stored};
use super::keys::{tenant_pk, Collection};
use super::table::{BY_ACTIVE, BY_CHANGE, BY_ORDER};
use super::{Store, StoreError};
use crate::time::Timestamp;

/// Which records of a collection, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMode {
    /// Active live records in full-pull order (the default pull).
    Active,
    /// All live records in full-pull order (`includeInactive=true`).
    All,
    /// Live records and tombstones changed at or after the instant, by change time.
    ChangedSince(Timestamp),
}

impl ListMode {
    fn index(self) -> (&'static str, &'static str) {
        match self {
            Self::Active => (BY_ACTIVE, attr::ASK),
            Self::All => (BY_ORDER, attr::OSK),
            Self::ChangedSince(_) => (BY_CHANGE, attr::CSK),
        }
    }
}

/// A condition on a member of the stored item, evaluated inside DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The member at `path` equals the string.
    Equals(&'static [&'static str], String),
    /// The list at `path` contains the string.
    Contains(&'static [&'static str], String),
}

/// Where a walk resumes: the key attributes (base and index) of the last record returned.
pub type PageKey = BTreeMap<String, String>;

/// One page of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
    /// Page size.
    pub limit: usize,
    /// Resume after this key (cursor mode).
    pub start_after: Option<PageKey>,
    /// Records to skip first (page mode), bounded by the caller.
    pub offset: usize,
}

/// A page of stored items.
#[derive(Debug, Clone)]
pub struct Page<R, D> {
    /// The items, in the mode's order.
    pub items: Vec<Stored<R, D>>,
    /// Where the next page starts; `None` when no record follows this page.
    pub next: Option<PageKey>,
}

/// How many items one DynamoDB call may evaluate when a filter is active: filters apply
/// after `Limit`, so asking for only the page size would make many short round trips.
const FILTERED_BATCH: i32 = 500;

/// Reads one page of `R`'s collection for the tenant.
pub async fn list<R: CollectionRecord>(
    store: &Store,
    tenant_id: &str,
    mode: ListMode,
    request: &ListRequest,
) -> Result<Page<R, R::Derived>, StoreError> {
    let (_, sort_attr) = mode.index();
    let mut start = request.start_after.as_ref().map(to_key);
    if request.offset > 0 {
        match skip(store, tenant_id, R::COLLECTION, mode, &request.filters, start, request.offset).await? {
            Some(key) => start = Some(key),
            None => return Ok(Page { items: Vec::new(), next: None }),
        }
    }
    let want = request.limit + 1;
    let mut raw: Vec<RawItem> = Vec::with_capacity(want.min(501));
    loop {
        let batch = if request.filters.is_empty() { (want - raw.len()) as i32 } else { FILTERED_BATCH };
        let output = base_query(store, tenant_id, R::COLLECTION, mode, &request.filters)
            .limit(batch)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(sdk)?;
        let exhausted = output.last_evaluated_key().is_none();
        for item in output.items.unwrap_or_default() {
            raw.push(item);
            if raw.len() == want {
                break;
            }
        }
        if raw.len() == want || exhausted {
            break;
        }
        start = output.last_evaluated_key;
    }
    let more = raw.len() == want;
    if more {
        raw.pop();
    }
    let next = if more { raw.last().map(|item| page_key(item, sort_attr)) } else { None };
    let items = raw.into_iter().map(Stored::from_item).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next })
}

/// Counts the records a list request would walk through, across all pages.
pub async fn count(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    filters: &[Filter],
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    let mut start = None;
    loop {
        let output = base_query(store, tenant_id, collection, mode, filters)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        total += output.count().max(0) as u64;
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok(total),
        }
    }
}

/// Walks past `offset` records (keys only) and returns the key of the last one skipped, or
/// `None` when the collection ends first.
async fn skip(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    filters: &[Filter],
    mut start: Option<HashMap<String, AttributeValue>>,
    offset: usize,
) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
    let (_, sort_attr) = mode.index();
    let mut skipped = 0usize;
    loop {
        let output = base_query(store, tenant_id, collection, mode, filters)
            .projection_expression("#kp, #ks, #ki")
            .expression_attribute_names("#kp", attr::PK)
            .expression_attribute_names("#ks", attr::SK)
            .expression_attribute_names("#ki", sort_attr)
            .limit(if filters.is_empty() { (offset - skipped).min(1000) as i32 } else { FILTERED_BATCH })
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(sdk)?;
        let exhausted = output.last_evaluated_key().is_none();
        for item in output.items.unwrap_or_default() {
            skipped += 1;
            if skipped == offset {
                return Ok(Some(to_key(&page_key(&item, sort_attr))));
            }
        }
        if exhausted {
            return Ok(None);
        }
        start = output.last_evaluated_key;
    }
}

fn base_query(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    filters: &[Filter],
) -> QueryFluentBuilder {
    let (index, sort_attr) = mode.index();
    let mut query = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(index)
        .consistent_read(true)
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#sk", sort_attr)
        .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant_id)));
    query = match mode {
        ListMode::ChangedSince(since) => query
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_values(":from", AttributeValue::S(format!("{}#{since}", collection.prefix())))
            .expression_attribute_values(":to", AttributeValue::S(format!("{}#~", collection.prefix()))),
        ListMode::Active | ListMode::All => query
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(collection.key_prefix())),
    };
    apply_filters(query, filters)
}

/// Adds `filters` to a query as a FilterExpression with placeholder names and values.
pub fn apply_filters(mut query: QueryFluentBuilder, filters: &[Filter]) -> QueryFluentBuilder {
    let mut clauses = Vec::new();
    for (n, filter) in filters.iter().enumerate() {
        let (path, value, contains) = match filter {
            Filter::Equals(path, value) => (path, value, false),
            Filter::Contains(path, value) => (path, value, true),
        };
        let mut names = Vec::new();
        for (p, segment) in path.iter().enumerate() {
            let placeholder = format!("#f{n}_{p}");
            query = query.expression_attribute_names(&placeholder, *segment);
            names.push(placeholder);
        }
        let value_name = format!(":f{n}");
        query = query.expression_attribute_values(&value_name, AttributeValue::S(value.clone()));
        let path = names.join(".");
        clauses.push(if contains {
            format!("contains({path}, {value_name})")
        } else {
            format!("{path} = {value_name}")
        });
    }
    if clauses.is_empty() {
        query
    } else {
        query.filter_expression(clauses.join(" AND "))
    }
}

fn page_key(item: &RawItem, sort_attr: &str) -> PageKey {
    [attr::PK, attr::SK, sort_attr]
        .into_iter()
        .filter_map(|name| match item.get(name) {
            Some(AttributeValue::S(value)) => Some((name.to_owned(), value.clone())),
            _ => None,
        })
        .collect()
}

fn to_key(key: &PageKey) -> HashMap<String, AttributeValue> {
    key.iter().map(|(name, value)| (name.clone(), AttributeValue::S(value.clone()))).collect()
}
