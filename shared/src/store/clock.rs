//! How far this host's clock is from DynamoDB's, read off the `Date` header of every answer.
//!
//! Change times are stamped on the writer's clock and watermarks are computed on the
//! reader's, so incremental pulls are only complete if both clocks are close to a common
//! time. DynamoDB's `Date` is that common time. An interceptor on the store's client records
//! the offset after every response; the writer refuses to stamp and the read API refuses to
//! fix a watermark while the offset is over [`MAX_CLOCK_SKEW_MS`] (`docs/api.md`,
//! "Change times and the watermark", says why that margin is safe).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::time::Timestamp;

/// Largest offset from DynamoDB's clock at which this host still writes and serves
/// incremental pulls.
pub const MAX_CLOCK_SKEW_MS: i64 = 1_000;
/// Longest round trip whose `Date` is used: the server's time lies somewhere inside the
/// round trip, so a slow answer says little about the offset and is skipped.
pub const MAX_SAMPLE_ROUND_TRIP: Duration = Duration::from_millis(200);

/// The latest measured offset of this host's clock from DynamoDB's.
#[derive(Debug, Default)]
pub struct ClockWatch {
    skew_ms: AtomicI64,
    measured: AtomicBool,
}

impl ClockWatch {
    /// The latest measured offset in milliseconds (positive: this host is ahead), or `None`
    /// before the first answer.
    pub fn skew_ms(&self) -> Option<i64> {
        self.measured.load(Ordering::Acquire).then(|| self.skew_ms.load(Ordering::Acquire))
    }

    /// Records the offset measured from one answer's `Date` header, received at `local`.
    pub fn record(&self, date: &str, local: Timestamp) {
        if let Some(skew) = skew_from_date(date, local) {
            self.skew_ms.store(skew, Ordering::Release);
            self.measured.store(true, Ordering::Release);
        }
    }

    /// Whether the latest measured offset is within [`MAX_CLOCK_SKEW_MS`] (also `true` before
    /// the first answer: every write reads before it stamps, so by then one was measured).
    pub fn within_margin(&self) -> bool {
        self.skew_ms().is_none_or(|skew| skew.abs() <= MAX_CLOCK_SKEW_MS)
    }
}

/// The offset of `local` from the instant an HTTP `Date` value stands for. `Date` has whole
/// seconds and the server's time lies somewhere in that second, so the middle of the second
/// is taken; `local` is the middle of the round trip. The estimate is off by at most half a
/// second plus half the round trip (at most [`MAX_SAMPLE_ROUND_TRIP`]).
pub fn skew_from_date(date: &str, local: Timestamp) -> Option<i64> {
    let server = chrono::DateTime::parse_from_rfc2822(date).ok()?;
    Some(local.millis() - (server.timestamp_millis() + 500))
}

/// When a request was sent, kept in the request's config bag until its answer arrives.
#[derive(Debug, Clone, Copy)]
struct SentAt {
    instant: Instant,
    wall: Timestamp,
}

impl Storable for SentAt {
    type Storer = StoreReplace<Self>;
}

/// The interceptor that feeds a [`ClockWatch`] from every response of the store's client
/// that came back within [`MAX_SAMPLE_ROUND_TRIP`].
#[derive(Debug, Clone)]
pub struct ClockInterceptor(pub Arc<ClockWatch>);

impl Intercept for ClockInterceptor {
    fn name(&self) -> &'static str {
        "ClockInterceptor"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        config.interceptor_state().store_put(SentAt { instant: Instant::now(), wall: Timestamp::now() });
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(date), Some(sent)) = (context.response().headers().get("date"), config.load::<SentAt>()) else {
            return Ok(());
        };
        let round_trip = sent.instant.elapsed();
        if round_trip <= MAX_SAMPLE_ROUND_TRIP {
            self.0.record(date, sent.wall.plus_millis(round_trip.as_millis() as i64 / 2));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_measured_from_the_middle_of_the_second() {
        let local = Timestamp::parse("2026-12-02T00:51:30.700Z").unwrap();
        assert_eq!(skew_from_date("Wed, 02 Dec 2026 00:51:30 GMT", local), Some(200));
        let behind = Timestamp::parse("2026-12-02T00:51:28.500Z").unwrap();
        assert_eq!(skew_from_date("Wed, 02 Dec 2026 00:51:30 GMT", behind), Some(-2_000));
        assert_eq!(skew_from_date("yesterday", local), None);
    }

    #[test]
    fn the_margin_holds_until_an_offset_exceeds_it() {
        let watch = ClockWatch::default();
        assert!(watch.within_margin());
        watch.record("Wed, 02 Dec 2026 00:51:30 GMT", Timestamp::parse("2026-12-02T00:51:31.400Z").unwrap());
        assert_eq!(watch.skew_ms(), Some(900));
        assert!(watch.within_margin());
        watch.record("Wed, 02 Dec 2026 00:51:30 GMT", Timestamp::parse("2026-12-02T00:51:32.000Z").unwrap());
        assert!(!watch.within_margin());
    }
}
