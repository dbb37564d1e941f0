//! Paged reads of a tenant collection in one of its list orders.
//!
//! A page is one `Query` on the collection's index, more only when a filter leaves it short.
//! The walk resumes after the key of the last record *returned* (not DynamoDB's
//! `LastEvaluatedKey`), so a page that stops inside a DynamoDB response never skips the rest
//! of that response. One extra record is read to know whether more exist.
//!
//! Every request has an evaluation budget ([`EVALUATION_BUDGET`] items read from the index,
//! matched by a filter or not). A filter that matches little cannot make one request read a
//! whole collection: when the budget runs out, the page holds what was found so far and the
//! walk resumes after the last item *evaluated*. Counts have their own budget and report
//! whether they finished.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};

use super::error::sdk;
use super::item::{attr, CollectionRecord, RawItem, Stored};
use super::keys::{tenant_pk, Collection};
use super::table::{BY_ACTIVE, BY_CHANGE, BY_ORDER};
use super::{Store, StoreError};
use crate::time::Timestamp;

/// Items one page request may read from the index (skipped, returned or filtered out).
pub const EVALUATION_BUDGET: usize = 5_000;
/// Items one count may read before it stops and reports an incomplete count.
pub const COUNT_BUDGET: usize = 10_000;

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
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
    /// Page size.
    pub limit: usize,
    /// Resume after this key (cursor mode).
    pub start_after: Option<PageKey>,
    /// Matching records to skip first (page mode), bounded by the caller.
    pub offset: usize,
    /// Items the request may read from the index.
    pub budget: usize,
    /// Incremental pulls only: leave out tombstones whose retention ended before this
    /// instant (expired but not yet purged by DynamoDB's TTL sweeper).
    pub retained_at: Option<Timestamp>,
}

impl Default for ListRequest {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            limit: 50,
            start_after: None,
            offset: 0,
            budget: EVALUATION_BUDGET,
            retained_at: None,
        }
    }
}

/// A page of stored items.
#[derive(Debug, Clone)]
pub struct Page<R, D> {
    /// The items, in the mode's order.
    pub items: Vec<Stored<R, D>>,
    /// Where the next page starts; `None` when no record follows this page.
    pub next: Option<PageKey>,
    /// The evaluation budget ran out before the page was full: records may follow `next`.
    pub budget_exhausted: bool,
    /// Records of the offset still to skip (when the budget ran out while skipping).
    pub offset_left: usize,
}

/// The outcome of a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Matching items counted.
    pub matched: u64,
    /// Items read from the index.
    pub evaluated: u64,
    /// Whether the count reached the end of the range within its budget.
    pub complete: bool,
}

/// How many items one DynamoDB call may evaluate when a filter is active: filters apply
/// after `Limit`, so asking for only the page size would make many short round trips.
const FILTERED_BATCH: usize = 500;

/// Items one `Select=COUNT` call may read: short calls stay well inside the attempt
/// timeout (DynamoDB itself stops each call at 1 MB).
const COUNT_BATCH: usize = 2_000;

/// Reads one page of `R`'s collection for the tenant, within the request's budget.
pub async fn list<R: CollectionRecord>(
    store: &Store,
    tenant_id: &str,
    mode: ListMode,
    request: &ListRequest,
) -> Result<Page<R, R::Derived>, StoreError> {
    let (_, sort_attr) = mode.index();
    let scope = QueryScope { store, tenant_id, collection: R::COLLECTION, mode, request };
    let mut budget = request.budget;
    let mut start = request.start_after.as_ref().map(to_key);
    if request.offset > 0 {
        match scope.skip(start, request.offset, &mut budget).await? {
            Skipped::Done(key) => start = Some(key),
            Skipped::End => return Ok(Page { items: Vec::new(), next: None, budget_exhausted: false, offset_left: 0 }),
            Skipped::OutOfBudget { resume, left } => {
                let next = Some(page_key(&resume, sort_attr));
                return Ok(Page { items: Vec::new(), next, budget_exhausted: true, offset_left: left });
            }
        }
    }
    let want = request.limit + 1;
    let mut raw: Vec<RawItem> = Vec::with_capacity(want.min(501));
    // Where the walk resumes if the budget runs out before the page is full.
    let mut resume = start.clone();
    loop {
        if budget == 0 {
            break;
        }
        let wanted = if request.filters.is_empty() { want - raw.len() } else { FILTERED_BATCH };
        let output = scope
            .query()
            .limit(wanted.min(budget) as i32)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(sdk)?;
        budget = budget.saturating_sub(output.scanned_count().max(0) as usize);
        let exhausted = output.last_evaluated_key().is_none();
        for item in output.items.unwrap_or_default() {
            raw.push(item);
            if raw.len() == want {
                break;
            }
        }
        if raw.len() == want || exhausted {
            resume = None;
            break;
        }
        resume = output.last_evaluated_key.clone();
        start = output.last_evaluated_key;
    }
    let more = raw.len() == want;
    if more {
        raw.pop();
    }
    let budget_exhausted = !more && resume.is_some();
    let next = if more {
        raw.last().map(|item| page_key(item, sort_attr))
    } else {
        resume.as_ref().map(|key| page_key(key, sort_attr))
    };
    let items = raw.into_iter().map(Stored::from_item).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next, budget_exhausted, offset_left: 0 })
}

/// Counts the records a list request would walk through, across all pages, reading at most
/// `budget` items.
pub async fn count(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    request: &ListRequest,
    budget: usize,
) -> Result<Count, StoreError> {
    let scope = QueryScope { store, tenant_id, collection, mode, request };
    let mut count = Count { matched: 0, evaluated: 0, complete: false };
    let mut start = None;
    while (count.evaluated as usize) < budget {
        let left = budget - count.evaluated as usize;
        let output = scope
            .query()
            .select(Select::Count)
            .limit(left.min(COUNT_BATCH) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        count.matched += output.count().max(0) as u64;
        count.evaluated += output.scanned_count().max(0) as u64;
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => {
                count.complete = true;
                break;
            }
        }
    }
    Ok(count)
}

/// The result of skipping the offset of a page-mode request.
enum Skipped {
    /// Skipped: resume after this key.
    Done(HashMap<String, AttributeValue>),
    /// The collection ended first.
    End,
    /// The budget ran out: resume after this key with `left` records still to skip.
    OutOfBudget { resume: HashMap<String, AttributeValue>, left: usize },
}

/// One request's view of a collection: where and how to query it.
struct QueryScope<'a> {
    store: &'a Store,
    tenant_id: &'a str,
    collection: Collection,
    mode: ListMode,
    request: &'a ListRequest,
}

impl QueryScope<'_> {
    fn query(&self) -> QueryFluentBuilder {
        base_query(
            self.store,
            self.tenant_id,
            self.collection,
            self.mode,
            &self.request.filters,
            self.request.retained_at,
        )
    }

    /// Walks past `offset` matching records (keys only) within `budget`.
    async fn skip(
        &self,
        mut start: Option<HashMap<String, AttributeValue>>,
        offset: usize,
        budget: &mut usize,
    ) -> Result<Skipped, StoreError> {
        let (_, sort_attr) = self.mode.index();
        let mut skipped = 0usize;
        loop {
            if *budget == 0 {
                return Ok(match start {
                    Some(resume) => Skipped::OutOfBudget { resume, left: offset - skipped },
                    None => Skipped::End,
                });
            }
            let wanted = if self.request.filters.is_empty() { (offset - skipped).min(1000) } else { FILTERED_BATCH };
            let output = self
                .query()
                .projection_expression("#kp, #ks, #ki")
                .expression_attribute_names("#kp", attr::PK)
                .expression_attribute_names("#ks", attr::SK)
                .expression_attribute_names("#ki", sort_attr)
                .limit(wanted.min(*budget) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            *budget = budget.saturating_sub(output.scanned_count().max(0) as usize);
            for item in output.items.unwrap_or_default() {
                skipped += 1;
                if skipped == offset {
                    return Ok(Skipped::Done(to_key(&page_key(&item, sort_attr))));
                }
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(Skipped::End),
            }
        }
    }
}

fn base_query(
    store: &Store,
    tenant_id: &str,
    collection: Collection,
    mode: ListMode,
    filters: &[Filter],
    retained_at: Option<Timestamp>,
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
    let (query, mut clauses) = filter_clauses(query, filters);
    let query = match retained_at {
        Some(at) => {
            clauses.push("(attribute_not_exists(#rttl) OR #rttl > :rnow)".to_owned());
            query
                .expression_attribute_names("#rttl", attr::TTL)
                .expression_attribute_values(":rnow", AttributeValue::N(at.epoch_seconds().to_string()))
        }
        None => query,
    };
    with_filter_expression(query, clauses)
}

/// Adds `filters` to a query as a FilterExpression with placeholder names and values.
pub fn apply_filters(query: QueryFluentBuilder, filters: &[Filter]) -> QueryFluentBuilder {
    let (query, clauses) = filter_clauses(query, filters);
    with_filter_expression(query, clauses)
}

fn with_filter_expression(query: QueryFluentBuilder, clauses: Vec<String>) -> QueryFluentBuilder {
    if clauses.is_empty() {
        query
    } else {
        query.filter_expression(clauses.join(" AND "))
    }
}

fn filter_clauses(mut query: QueryFluentBuilder, filters: &[Filter]) -> (QueryFluentBuilder, Vec<String>) {
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
    (query, clauses)
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
