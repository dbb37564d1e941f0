/** How requests are retried on 429, 503 and failed connections. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  maxAttempts?: number;
  /** Longest single wait, whatever `Retry-After` says (default 30 s). */
  maxDelayMs?: number;
  /** First wait when the answer names none; doubled per attempt (default 250 ms). */
  baseDelayMs?: number;
}

const RETRIED_STATUSES = new Set([429, 503]);

/** The wait `Retry-After` asks for (seconds or an HTTP date), or `null`. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * `fetch` that sends a request again after a 429 or 503 (waiting what `Retry-After` says, at
 * most `maxDelayMs`) or a failed connection (backing off), at most `maxAttempts` times in all.
 * A request body is re-sent from a copy, so POSTs retry too (App Sync's writes are idempotent
 * by version, and sync triggers by `Idempotency-Key`).
 */
export function retryingFetch(inner: typeof fetch, options: RetryOptions = {}): (request: Request) => Promise<Response> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const baseDelayMs = options.baseDelayMs ?? 250;
  return async (request: Request) => {
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxAttempts;
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      let response: Response;
      try {
        response = await inner(last ? request : request.clone());
      } catch (error) {
        if (last || request.signal?.aborted) throw error;
        await sleep(backoff);
        continue;
      }
      if (last || !RETRIED_STATUSES.has(response.status)) return response;
      const asked = retryAfterMs(response.headers.get("retry-after"));
      await response.body?.cancel();
      await sleep(Math.min(maxDelayMs, asked ?? backoff));
    }
  };
}
