import type { components } from "./schema.js";

/** The contract's one error body (section 4). */
export type ErrorBody = components["schemas"]["Error"];

/**
 * A request App Sync answered with an error status. It carries the contract's error body (when
 * the answer had one) and the request id, so a failure can be found in the service's logs.
 */
export class AppSyncError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** The error body, or `null` when the answer was not the contract's JSON. */
  readonly body: ErrorBody | null;
  /** The request id (`x-request-id`, or the body's `requestId`). */
  readonly requestId: string | null;

  constructor(status: number, body: ErrorBody | null, requestId: string | null) {
    super(body ? `${status} ${body.error}: ${body.message}` : `App Sync answered ${status}`);
    this.name = "AppSyncError";
    this.status = status;
    this.body = body;
    this.requestId = requestId ?? body?.requestId ?? null;
  }

  /** The error's stable code (`UPDATED_SINCE_TOO_OLD`, `TENANT_ACCESS_DENIED`, ...), if any. */
  get code(): ErrorBody["code"] | undefined {
    return this.body?.code;
  }
}
