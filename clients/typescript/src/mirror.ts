import { randomUUID } from "node:crypto";

import { AppSyncClient, type ItemOf, type PagedRoute, type Schemas } from "./client.js";
import { AppSyncError } from "./errors.js";
import type { CollectionState, MirrorRecord, MirrorStore } from "./store.js";

/** The start of every initial load: every live record and every retained tombstone. */
export const INITIAL_LOAD = "1970-01-01T00:00:00Z";

type Item = Record<string, unknown>;
type StepResult = Schemas["StepResult"];
type SyncResults = Schemas["SyncResults"];

/** How one paged collection is mirrored and checked. */
export interface PagedCollection {
  /** The route the collection is pulled from. */
  route: PagedRoute;
  /** The member holding a record's (and its tombstone's) id. */
  idMember: string;
  /** Whether a record is in the route's default pull (what a sync run counts). */
  active(item: Item): boolean;
  /** The run's sub-result for the collection. */
  step(results: SyncResults): StepResult | undefined;
}

/** Every collection a sync run covers that is pulled page by page, by its name in a mirror. */
export const PAGED_COLLECTIONS = {
  users: {
    route: "users",
    idMember: "userId",
    active: (item) => (item.status as { isActive?: boolean } | undefined)?.isActive === true,
    step: (r) => r.phases.essential.data.userProfiles,
  },
  tenantUsers: {
    route: "tenantUsers",
    idMember: "userId",
    active: (item) => (item.security as { isActive?: boolean } | undefined)?.isActive === true,
    step: (r) => r.phases.reference.data.tenantUsers,
  },
  organizations: {
    route: "organizations",
    idMember: "orgCode",
    active: (item) => item.status === "active",
    step: (r) => r.phases.essential.data.organizations,
  },
  roles: {
    route: "roles",
    idMember: "roleId",
    active: (item) => item.isActive === true,
    step: (r) => r.phases.reference.data.roles,
  },
  roleAssignments: {
    route: "roleAssignments",
    idMember: "assignmentId",
    active: (item) => item.isActive === true,
    step: (r) => r.phases.reference.data.roleAssignments,
  },
  employeeAssignments: {
    route: "employeeAssignments",
    idMember: "assignmentId",
    active: (item) => item.isActive === true,
    step: (r) => r.phases.reference.data.employeeAssignments,
  },
  entityCredits: {
    route: "entityCredits",
    idMember: "entityId",
    active: (item) => item.isActive === true,
    step: (r) => r.phases.reference.data.entityCredits,
  },
} satisfies Record<string, PagedCollection>;

/** A mirrored collection's name. */
export type CollectionName = keyof typeof PAGED_COLLECTIONS | "tenant" | "creditConfigs";

/** Every collection a mirror holds by default. */
export const ALL_COLLECTIONS: CollectionName[] = [
  "tenant",
  ...(Object.keys(PAGED_COLLECTIONS) as (keyof typeof PAGED_COLLECTIONS)[]),
  "creditConfigs",
];

/** Options of {@link mirror}. */
export interface MirrorOptions {
  /** The collections to keep (default: every one a sync run covers). */
  collections?: CollectionName[];
  /** Apps whose credit configurations to keep (default: the ones the sync status names). */
  appCodes?: string[];
  /** How long the tenant's lock in the store lasts if a run dies holding it (default 15 min). */
  lockTtlMs?: number;
}

/** What one collection's pull did. */
export interface CollectionReport {
  /** `full` (first load, or a reload after `UPDATED_SINCE_TOO_OLD`) or `incremental`. */
  mode: "full" | "incremental";
  /** Records stored or replaced. */
  upserted: number;
  /** Records removed. */
  deleted: number;
  /** The watermark stored for the next pull. */
  watermark: string | null;
}

/** Another mirror run of the tenant holds the store's lock. */
export class MirrorLockedError extends Error {
  constructor(tenantId: string) {
    super(`another mirror run of tenant ${tenantId} holds the store's lock`);
    this.name = "MirrorLockedError";
  }
}

/**
 * Brings the store's copy of a tenant up to date: the documented consumer protocol
 * (`docs/api.md`, "Keeping a copy current") for every collection. The first call loads each
 * collection in full (the initial-load walk, `updatedSince` the epoch); later calls pull the
 * changes since the stored watermark, keep per id the newest version, apply tombstones, and
 * store the new watermark together with (never before) the records. A watermark older than
 * App Sync keeps tombstones for (`UPDATED_SINCE_TOO_OLD`) makes that collection reload, and
 * records the reload did not return are deleted. The tenant and the credit configurations are
 * read whole each time. Two runs on one store cannot interleave: the store's lock.
 */
export async function mirror(
  client: AppSyncClient,
  tenantId: string,
  store: MirrorStore,
  options: MirrorOptions = {},
): Promise<Partial<Record<CollectionName, CollectionReport>>> {
  const owner = randomUUID();
  if (!(await store.lock(tenantId, owner, options.lockTtlMs ?? 15 * 60_000))) throw new MirrorLockedError(tenantId);
  try {
    const report: Partial<Record<CollectionName, CollectionReport>> = {};
    for (const name of options.collections ?? ALL_COLLECTIONS) {
      if (name === "tenant") report.tenant = await mirrorTenant(client, tenantId, store);
      else if (name === "creditConfigs") report.creditConfigs = await mirrorCreditConfigs(client, tenantId, store, options);
      else report[name] = await mirrorPaged(client, tenantId, store, name);
    }
    return report;
  } finally {
    await store.unlock(tenantId, owner);
  }
}

/** A pulled item's id, change time and whether it is a tombstone. */
function describe(item: Item, idMember: string): { id: string; time: string; deleted: boolean } {
  const deleted = item.deleted === true;
  return { id: String(item[idMember]), time: String(deleted ? item.deletedAt : item.updatedAt), deleted };
}

/** The later of two RFC 3339 times (App Sync writes them in one form, so text order is time order). */
function later(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a >= b ? a : b;
}

async function mirrorPaged(
  client: AppSyncClient,
  tenantId: string,
  store: MirrorStore,
  name: keyof typeof PAGED_COLLECTIONS,
): Promise<CollectionReport> {
  const spec: PagedCollection = PAGED_COLLECTIONS[name];
  const state = await store.state(tenantId, name);
  if (state.watermark !== null) {
    try {
      return await pull(client, tenantId, store, name, spec, state, "incremental");
    } catch (error) {
      if (!(error instanceof AppSyncError && error.code === "UPDATED_SINCE_TOO_OLD")) throw error;
    }
  }
  return pull(client, tenantId, store, name, spec, state, "full");
}

/** One walk from the stored watermark (or the epoch), then one batch into the store. */
async function pull(
  client: AppSyncClient,
  tenantId: string,
  store: MirrorStore,
  name: string,
  spec: PagedCollection,
  state: CollectionState,
  mode: "full" | "incremental",
): Promise<CollectionReport> {
  const since = mode === "full" ? INITIAL_LOAD : (state.watermark as string);
  // Per id, the newest version the walk met (a record changed during the walk can come twice).
  const newest = new Map<string, { time: string; deleted: boolean; item: Item }>();
  let watermark: string | null = null;
  for await (const page of client.pages(spec.route, tenantId, { updatedSince: since, limit: 500 } as never)) {
    for (const item of page.data as ItemOf<typeof spec.route>[] as Item[]) {
      const seen = describe(item, spec.idMember);
      const kept = newest.get(seen.id);
      if (!kept || seen.time >= kept.time) newest.set(seen.id, { time: seen.time, deleted: seen.deleted, item });
    }
    watermark = page.pagination.watermark ?? watermark;
  }
  const stored =
    mode === "full"
      ? new Map((await store.records(tenantId, name)).map((r) => [r.id, r]))
      : await store.get(tenantId, name, [...newest.keys()]);
  const upserts: MirrorRecord[] = [];
  const deletes = new Set<string>();
  let latestChange = state.latestChange;
  for (const [id, version] of newest) {
    const current = stored.get(id);
    // Never let an older version replace a newer one already stored.
    if (current && current.updatedAt > version.time) continue;
    latestChange = later(latestChange, version.time);
    if (version.deleted) {
      if (current) deletes.add(id);
    } else {
      upserts.push({ id, updatedAt: version.time, data: version.item });
    }
  }
  if (mode === "full") {
    // A reload: what it did not return is gone.
    for (const id of stored.keys()) {
      if (!newest.has(id) || newest.get(id)?.deleted) deletes.add(id);
    }
  }
  const next = { watermark: watermark ?? since, latestChange };
  await store.write(tenantId, name, { upserts, deletes: [...deletes], state: next });
  return { mode, upserted: upserts.length, deleted: deletes.size, watermark: next.watermark };
}

async function mirrorTenant(client: AppSyncClient, tenantId: string, store: MirrorStore): Promise<CollectionReport> {
  const answer = await client.getTenant(tenantId);
  const tenant = answer.data?.data as Item;
  const record: MirrorRecord = { id: String(tenant.tenantId), updatedAt: String(tenant.updatedAt), data: tenant };
  const stored = await store.records(tenantId, "tenant");
  const deletes = stored.filter((r) => r.id !== record.id).map((r) => r.id);
  const state = await store.state(tenantId, "tenant");
  await store.write(tenantId, "tenant", {
    upserts: [record],
    deletes,
    state: { watermark: null, latestChange: later(state.latestChange, record.updatedAt) },
  });
  return { mode: "full", upserted: 1, deleted: deletes.length, watermark: null };
}

/** The apps whose credit configurations a run counts: given, or named by the sync status. */
async function creditConfigApps(client: AppSyncClient, tenantId: string, options: MirrorOptions): Promise<string[]> {
  if (options.appCodes) return options.appCodes;
  const status = await client.getSyncStatus(tenantId);
  return status.data?.status.creditConfigApps ?? [];
}

async function mirrorCreditConfigs(
  client: AppSyncClient,
  tenantId: string,
  store: MirrorStore,
  options: MirrorOptions,
): Promise<CollectionReport> {
  const upserts: MirrorRecord[] = [];
  let latestChange = (await store.state(tenantId, "creditConfigs")).latestChange;
  for (const appCode of await creditConfigApps(client, tenantId, options)) {
    const answer = await client.getTenantCreditConfigs(tenantId, { appCode });
    for (const entry of answer.data?.data ?? []) {
      const updatedAt = entry.updatedAt ?? "";
      upserts.push({ id: `${appCode}/${entry.operationCode}`, updatedAt, data: { ...entry, appCode } });
      if (entry.updatedAt) latestChange = later(latestChange, entry.updatedAt);
    }
  }
  const kept = new Set(upserts.map((r) => r.id));
  const deletes = (await store.records(tenantId, "creditConfigs")).map((r) => r.id).filter((id) => !kept.has(id));
  await store.write(tenantId, "creditConfigs", { upserts, deletes, state: { watermark: null, latestChange } });
  return { mode: "full", upserted: upserts.length, deleted: deletes.length, watermark: null };
}
