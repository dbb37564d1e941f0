import createClient, { type Client } from "openapi-fetch";

import { AppSyncError, type ErrorBody } from "./errors.js";
import { retryingFetch, type RetryOptions } from "./retry.js";
import type { components, paths } from "./schema.js";

/** The generated schemas of `docs/openapi.yaml`. */
export type Schemas = components["schemas"];

/** A bearer token, or a function that returns the current one (called per request, so rotating tokens work). */
export type TokenProvider = string | (() => string | Promise<string>);

/** How to reach App Sync. */
export interface AppSyncClientOptions {
  /** The base URL, with either base path: `https://…/api/sync` or `https://…/api/wrapper`. */
  baseUrl: string;
  /** The bearer token (a Kinde access token or a service token). */
  token: TokenProvider;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Retries on 429, 503 and failed connections (honouring `Retry-After`). */
  retry?: RetryOptions;
}

/** What every answer says besides its body. */
export interface Meta {
  /** HTTP status (200, 202 or 304). */
  status: number;
  /** The answer's `ETag`, for a later `ifNoneMatch`. */
  etag: string | null;
  /** The request id (`x-request-id`). */
  requestId: string | null;
}

/** A successful answer: its body, or nothing when `ifNoneMatch` named the current tag (304). */
export type Answer<T> =
  | { notModified: false; data: T; meta: Meta }
  | { notModified: true; data: undefined; meta: Meta };

/** Options of a `GET`. */
export interface GetOptions {
  /** An earlier answer's `ETag`: the answer is then a 304 without a body when nothing changed. */
  ifNoneMatch?: string;
  /** A request id to send (`x-request-id`), to find the request in App Sync's logs. */
  requestId?: string;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** The paged routes, by the name the client gives them. */
export const PAGED_ROUTES = {
  users: "/tenants/{tenantId}/users",
  tenantUsers: "/tenants/{tenantId}/tenant-users",
  organizations: "/tenants/{tenantId}/organizations",
  employeeAssignments: "/tenants/{tenantId}/employee-assignments",
  roles: "/tenants/{tenantId}/roles",
  roleAssignments: "/tenants/{tenantId}/role-assignments",
  entityCredits: "/tenants/{tenantId}/entity-credits",
} as const;

/** A paged route's name. */
export type PagedRoute = keyof typeof PAGED_ROUTES;
type PagedPath<R extends PagedRoute> = (typeof PAGED_ROUTES)[R];
/** One page of a paged route. */
export type PageOf<R extends PagedRoute> =
  paths[PagedPath<R>]["get"]["responses"][200]["content"]["application/json"];
/** The query parameters of a paged route. */
export type QueryOf<R extends PagedRoute> = NonNullable<paths[PagedPath<R>]["get"]["parameters"]["query"]>;
/** One item of a paged route's `data`: a record, or a tombstone in an incremental pull. */
export type ItemOf<R extends PagedRoute> = PageOf<R>["data"][number];

type Json = Record<string, unknown>;

/** Options of `POST /…/changes`. */
export interface ChangesOptions {
  /** Replays the first answer for the same body when sent again (contract 9.13). */
  idempotencyKey?: string;
  /** A request id to send. */
  requestId?: string;
}

/** Options of `POST /tenants/{tenantId}/sync`. */
export interface SyncOptions {
  skipReferenceData?: boolean;
  forceSync?: boolean;
  /** Wait for the run (up to 25 s deployed) and answer with its results. */
  wait?: boolean;
  idempotencyKey?: string;
  requestId?: string;
}

/**
 * A typed client of every App Sync route: one method per route, async iterators over the paged
 * routes, conditional requests, retries on 429 and 503, and {@link AppSyncError}s that carry
 * the contract's error body and the request id.
 */
export class AppSyncClient {
  /** The generated `openapi-fetch` client underneath, for anything the methods do not cover. */
  readonly raw: Client<paths>;

  constructor(options: AppSyncClientOptions) {
    const inner = options.fetch ?? globalThis.fetch;
    this.raw = createClient<paths>({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      fetch: retryingFetch(inner, options.retry),
    });
    const token = options.token;
    this.raw.use({
      async onRequest({ request }) {
        const value = typeof token === "function" ? await token() : token;
        request.headers.set("Authorization", `Bearer ${value}`);
        return request;
      },
    });
  }

  // ----- one method per route ------------------------------------------------------------

  /** `GET /data-requirements` (no token needed). */
  getDataRequirements(options?: GetOptions) {
    return this.get<paths["/data-requirements"]["get"]["responses"][200]["content"]["application/json"]>(
      "/data-requirements",
      {},
      options,
    );
  }

  /** `GET /credit-configs/global`. */
  getGlobalCreditConfigs(query: Json = {}, options?: GetOptions) {
    return this.get<paths["/credit-configs/global"]["get"]["responses"][200]["content"]["application/json"]>(
      "/credit-configs/global",
      { query },
      options,
    );
  }

  /** `GET /tenants/{tenantId}`. */
  getTenant(tenantId: string, options?: GetOptions) {
    return this.get<paths["/tenants/{tenantId}"]["get"]["responses"][200]["content"]["application/json"]>(
      "/tenants/{tenantId}",
      { path: { tenantId } },
      options,
    );
  }

  /** One page of a paged route (`users`, `organizations`, …), with its query. */
  list<R extends PagedRoute>(route: R, tenantId: string, query: QueryOf<R> = {} as QueryOf<R>, options?: GetOptions) {
    return this.get<PageOf<R>>(PAGED_ROUTES[route], { path: { tenantId }, query: query as Json }, options);
  }

  /** `GET /tenants/{tenantId}/users`. */
  listUsers(tenantId: string, query?: QueryOf<"users">, options?: GetOptions) {
    return this.list("users", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/tenant-users`. */
  listTenantUsers(tenantId: string, query?: QueryOf<"tenantUsers">, options?: GetOptions) {
    return this.list("tenantUsers", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/organizations`. */
  listOrganizations(tenantId: string, query?: QueryOf<"organizations">, options?: GetOptions) {
    return this.list("organizations", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/employee-assignments`. */
  listEmployeeAssignments(tenantId: string, query?: QueryOf<"employeeAssignments">, options?: GetOptions) {
    return this.list("employeeAssignments", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/roles`. */
  listRoles(tenantId: string, query?: QueryOf<"roles">, options?: GetOptions) {
    return this.list("roles", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/role-assignments`. */
  listRoleAssignments(tenantId: string, query?: QueryOf<"roleAssignments">, options?: GetOptions) {
    return this.list("roleAssignments", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/entity-credits`. */
  listEntityCredits(tenantId: string, query?: QueryOf<"entityCredits">, options?: GetOptions) {
    return this.list("entityCredits", tenantId, query, options);
  }

  /** `GET /tenants/{tenantId}/credit-configs` (the effective costs of one app). */
  getTenantCreditConfigs(tenantId: string, query: { appCode?: string } = {}, options?: GetOptions) {
    return this.get<
      paths["/tenants/{tenantId}/credit-configs"]["get"]["responses"][200]["content"]["application/json"]
    >("/tenants/{tenantId}/credit-configs", { path: { tenantId }, query }, options);
  }

  /** `GET /tenants/{tenantId}/credit-configs/tenant-specific`. */
  getTenantCreditOverrides(tenantId: string, query: { appCode?: string } = {}, options?: GetOptions) {
    return this.get<
      paths["/tenants/{tenantId}/credit-configs/tenant-specific"]["get"]["responses"][200]["content"]["application/json"]
    >("/tenants/{tenantId}/credit-configs/tenant-specific", { path: { tenantId }, query }, options);
  }

  /** `POST /tenants/{tenantId}/bootstrap`. */
  async bootstrapTenant(tenantId: string, body: { appCode?: string; requestedBy?: string } = {}) {
    const { data, error, response } = await this.raw.POST("/tenants/{tenantId}/bootstrap", {
      params: { path: { tenantId } },
      body: body as never,
    });
    return this.answer(data, error, response);
  }

  /** `POST /tenants/{tenantId}/changes`: the platform's changes for one tenant (`platform:write`). */
  async postTenantChanges(tenantId: string, changes: unknown[], options: ChangesOptions = {}) {
    const { data, error, response } = await this.raw.POST("/tenants/{tenantId}/changes", {
      params: { path: { tenantId }, header: headers(options) as never },
      body: changes as never,
    });
    return this.answer(data, error, response);
  }

  /** `POST /changes`: platform-wide changes (tenants, catalog apps, global credit configurations). */
  async postPlatformChanges(changes: unknown[], options: ChangesOptions = {}) {
    const { data, error, response } = await this.raw.POST("/changes", {
      params: { header: headers(options) as never },
      body: changes as never,
    });
    return this.answer(data, error, response);
  }

  /** `POST /tenants/{tenantId}/sync`: starts a run (answers 200 with results, or 202 while it runs). */
  async startSync(tenantId: string, options: SyncOptions = {}) {
    const query: Json = {};
    for (const name of ["skipReferenceData", "forceSync", "wait"] as const) {
      if (options[name] !== undefined) query[name] = options[name];
    }
    const { data, error, response } = await this.raw.POST("/tenants/{tenantId}/sync", {
      params: { path: { tenantId }, query: query as never, header: headers(options) as never },
    });
    return this.answer(data, error, response);
  }

  /** `GET /tenants/{tenantId}/sync/status`. */
  getSyncStatus(tenantId: string, options?: GetOptions) {
    return this.get<Schemas["SyncStatusResponse"]>("/tenants/{tenantId}/sync/status", { path: { tenantId } }, options);
  }

  /** `GET /tenants/{tenantId}/sync/runs/{syncId}`: one run, with its results once finished. */
  getSyncRun(tenantId: string, syncId: string, options?: GetOptions) {
    return this.get<Schemas["SyncRunResponse"]>(
      "/tenants/{tenantId}/sync/runs/{syncId}",
      { path: { tenantId, syncId } },
      options,
    );
  }

  // ----- paging ----------------------------------------------------------------------------

  /**
   * Every page of a walk, following `nextCursor` to the end. With `updatedSince` it is an
   * incremental pull: the last page's `pagination.watermark` is the next pull's start.
   */
  async *pages<R extends PagedRoute>(route: R, tenantId: string, query: QueryOf<R> = {} as QueryOf<R>) {
    let next: Json = { limit: 500, ...(query as Json) };
    for (;;) {
      const answer = await this.list(route, tenantId, next as QueryOf<R>);
      const page = answer.data as PageOf<R>;
      yield page;
      const cursor = page.pagination.nextCursor;
      if (!page.pagination.hasMore || cursor === null) return;
      // A cursor carries the walk's position and filters; page numbers do not combine with it.
      const { page: _page, ...rest } = next;
      next = { ...rest, cursor };
    }
  }

  /** Every item of a walk (records, and tombstones in an incremental pull), page after page. */
  async *items<R extends PagedRoute>(route: R, tenantId: string, query?: QueryOf<R>): AsyncGenerator<ItemOf<R>> {
    for await (const page of this.pages(route, tenantId, query)) {
      yield* page.data as ItemOf<R>[];
    }
  }

  // ----- plumbing --------------------------------------------------------------------------

  private async get<T>(path: string, params: { path?: Json; query?: Json }, options: GetOptions = {}): Promise<Answer<T>> {
    const header: Record<string, string> = {};
    if (options.ifNoneMatch) header["If-None-Match"] = options.ifNoneMatch;
    if (options.requestId) header["x-request-id"] = options.requestId;
    const get = this.raw.GET as unknown as (
      path: string,
      init: object,
    ) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
    const { data, error, response } = await get(path, { params: { ...params, header }, signal: options.signal });
    return this.answer(data as T | undefined, error, response);
  }

  private answer<T>(data: T | undefined, error: unknown, response: Response): Answer<T> {
    const meta: Meta = {
      status: response.status,
      etag: response.headers.get("etag"),
      requestId: response.headers.get("x-request-id"),
    };
    if (response.status === 304) return { notModified: true, data: undefined, meta };
    if (!response.ok) throw new AppSyncError(response.status, errorBody(error), meta.requestId);
    return { notModified: false, data: data as T, meta };
  }
}

/** `error` when it is the contract's error body (openapi-fetch has parsed it). */
function errorBody(error: unknown): ErrorBody | null {
  return error && typeof error === "object" && (error as { success?: unknown }).success === false
    ? (error as ErrorBody)
    : null;
}

function headers(options: { idempotencyKey?: string; requestId?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  if (options.idempotencyKey) out["Idempotency-Key"] = options.idempotencyKey;
  if (options.requestId) out["x-request-id"] = options.requestId;
  return out;
}
