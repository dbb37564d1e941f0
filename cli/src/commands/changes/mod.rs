//! `wrapper-sync changes send FILE --api URL --token T`: posts a file of changes (NDJSON or a
//! JSON array, `docs/ingest-format.md`) to a running App Sync, for backfills and replays.
//!
//! The whole file is validated before anything is sent. Changes go in file order, in bodies
//! within the routes' limits (`batches`); each body carries its own `Idempotency-Key`, so a
//! body resent after a lost answer replays the first answer instead of applying again. A 503
//! or 429 is retried after its `Retry-After` (bounded attempts): every change is idempotent by
//! version, so a body that failed part-way is simply sent again.

mod batches;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use reqwest::StatusCode;
use serde::Deserialize;

use batches::{Batch, Route};

/// Subcommands of `changes`.
#[derive(Subcommand)]
pub enum ChangesAction {
    /// Post a file of changes in batches (NDJSON or a JSON array).
    Send(SendArgs),
}

/// Options of `changes send`.
#[derive(Args)]
pub struct SendArgs {
    /// The changes, one per line (NDJSON) or a JSON array.
    file: PathBuf,
    /// Base URL of the API, with its prefix: `http://127.0.0.1:3000/api/sync` (or the alias).
    #[arg(long, env = "APP_SYNC_API")]
    api: String,
    /// A service token with `platform:write` (`wrapper-sync token service --write`).
    #[arg(long, env = "APP_SYNC_TOKEN", hide_env_values = true)]
    token: String,
    /// Changes per request (at most 1,000, the routes' limit).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Attempts per request on 503, 429 and connection errors before giving up.
    #[arg(long, default_value_t = 8)]
    attempts: u32,
}

/// Runs a subcommand of `changes`.
pub async fn run(action: ChangesAction) -> anyhow::Result<()> {
    match action {
        ChangesAction::Send(args) => send(args).await,
    }
}

/// The answer to an applied body (the members `send` reads).
#[derive(Debug, Deserialize)]
struct Answer {
    results: Vec<ChangeResult>,
}

#[derive(Debug, Deserialize)]
struct ChangeResult {
    index: usize,
    outcome: String,
    reason: Option<String>,
}

/// How many changes had each outcome over the whole file.
#[derive(Debug, Default)]
struct Tally {
    applied: usize,
    unchanged: usize,
    stale: usize,
    rejected: usize,
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)?;
    let file = args.file.display();
    let lines = batches::read(&text).map_err(|errors| {
        for error in &errors {
            eprintln!("{file}: {error}");
        }
        anyhow::anyhow!("{} invalid change(s); nothing was sent", errors.len())
    })?;
    let total = lines.len();
    let batches = batches::cut(lines, args.batch_size);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let run_id = format!("changes-send-{}-{}", shared::time::Timestamp::now().millis(), std::process::id());
    let bar = ProgressBar::new(total as u64);
    let mut tally = Tally::default();
    for (n, batch) in batches.iter().enumerate() {
        let answer = post(&client, &args, batch, &format!("{run_id}-{n}")).await.map_err(|error| {
            bar.abandon();
            let (first, last) = (batch.lines[0], batch.lines[batch.lines.len() - 1]);
            anyhow::anyhow!("lines {first}-{last}: {error} (the lines before them were applied)")
        })?;
        for result in answer.results {
            let line = batch.lines.get(result.index).copied().unwrap_or_default();
            match result.outcome.as_str() {
                "applied" => tally.applied += 1,
                "unchanged" => tally.unchanged += 1,
                "stale" => tally.stale += 1,
                _ => {
                    tally.rejected += 1;
                    bar.suspend(|| {
                        eprintln!("{file}: line {line}: {}", result.reason.as_deref().unwrap_or("rejected"))
                    });
                }
            }
        }
        bar.inc(batch.lines.len() as u64);
    }
    bar.finish_and_clear();
    println!(
        "sent {total} change(s) in {} request(s): applied {}, unchanged {}, stale {}, rejected {}",
        batches.len(),
        tally.applied,
        tally.unchanged,
        tally.stale,
        tally.rejected
    );
    if tally.rejected == 0 {
        Ok(())
    } else {
        anyhow::bail!("{} change(s) were rejected", tally.rejected)
    }
}

/// Posts one body, retrying 503, 429, 409 (the same key still in progress) and connection
/// errors, and reads its answer.
async fn post(client: &reqwest::Client, args: &SendArgs, batch: &Batch, key: &str) -> anyhow::Result<Answer> {
    let url = route_url(&args.api, &batch.route)?;
    let mut attempt = 1;
    loop {
        let sent = client
            .post(url.clone())
            .bearer_auth(&args.token)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .header("Idempotency-Key", key)
            .body(batch.body.clone())
            .send()
            .await;
        let wait = match sent {
            Ok(response) if response.status() == StatusCode::OK => {
                return Ok(serde_json::from_slice(&response.bytes().await?)?)
            }
            Ok(response) if retried(response.status()) => {
                let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
                let status = response.status();
                if attempt >= args.attempts {
                    anyhow::bail!("{status} after {attempt} attempts");
                }
                wait
            }
            Ok(response) => {
                let status = response.status();
                let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?).unwrap_or_default();
                anyhow::bail!("{status}: {}", refusal(&body, &batch.lines));
            }
            Err(error) if attempt < args.attempts && (error.is_connect() || error.is_timeout()) => backoff(attempt),
            Err(error) => return Err(error.into()),
        };
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn retried(status: StatusCode) -> bool {
    matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS | StatusCode::CONFLICT)
}

/// `api` joined with the route's path, the tenant id percent-encoded as one segment.
fn route_url(api: &str, route: &Route) -> anyhow::Result<reqwest::Url> {
    let mut url = reqwest::Url::parse(api.trim_end_matches('/'))?;
    {
        let mut segments = url.path_segments_mut().map_err(|()| anyhow::anyhow!("--api must be an http(s) URL"))?;
        match route {
            Route::Platform => segments.push("changes"),
            Route::Tenant(tenant) => segments.push("tenants").push(tenant).push("changes"),
        };
    }
    Ok(url)
}

/// The wait a `Retry-After` of whole seconds asks for, at most a minute.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(60)))
}

/// 0.5 s, doubled per attempt, at most 30 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.saturating_sub(1).min(6))).min(Duration::from_secs(30))
}

/// The error body's message, with each `details` entry's `body[i]` given as its file line.
fn refusal(body: &serde_json::Value, lines: &[usize]) -> String {
    let mut text = body["message"].as_str().unwrap_or("refused").to_owned();
    for detail in body["details"].as_array().into_iter().flatten() {
        let field = detail["field"].as_str().unwrap_or_default();
        let line = field
            .strip_prefix("body[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|index| index.parse::<usize>().ok())
            .and_then(|index| lines.get(index));
        let at = line.map_or_else(|| field.to_owned(), |line| format!("line {line}"));
        text.push_str(&format!("\n  {at}: {}", detail["problem"].as_str().unwrap_or_default()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keep_the_prefix_and_encode_the_tenant() {
        let tenant = Route::Tenant("a b/c".into());
        assert_eq!(
            route_url("http://127.0.0.1:3000/api/sync/", &tenant).unwrap().as_str(),
            "http://127.0.0.1:3000/api/sync/tenants/a%20b%2Fc/changes"
        );
        assert_eq!(
            route_url("http://h/api/wrapper-sync", &Route::Platform).unwrap().as_str(),
            "http://h/api/wrapper-sync/changes"
        );
        assert!(route_url("not a url", &Route::Platform).is_err());
    }

    #[test]
    fn waits_honour_retry_after_and_stay_bounded() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(60)));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }

    #[test]
    fn a_refusal_names_file_lines() {
        let body = serde_json::json!({ "message": "Request validation failed",
            "details": [ { "field": "body[1]", "problem": "unknown type" }, { "field": "Idempotency-Key", "problem": "bad" } ] });
        assert_eq!(
            refusal(&body, &[4, 9]),
            "Request validation failed\n  line 9: unknown type\n  Idempotency-Key: bad"
        );
    }
}
