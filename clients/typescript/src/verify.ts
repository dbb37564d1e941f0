import { AppSyncClient, type Schemas } from "./client.js";
import { Checksum } from "./checksum.js";
import { ALL_COLLECTIONS, PAGED_COLLECTIONS, type CollectionName } from "./mirror.js";
import type { MirrorRecord, MirrorStore } from "./store.js";

type StepResult = Schemas["StepResult"];
type SyncResults = Schemas["SyncResults"];

/** A collection's figures: count, checksum (contract 10.4) and watermark. */
export interface Figures {
  count: number;
  checksum: string | null;
  watermark: string | null;
}

/** How a mirrored collection compares with a sync run. */
export type CollectionVerdict =
  | { verdict: "match"; figures: Figures }
  /** The copy holds other records than the run counted; `run` and `mirror` say how. */
  | { verdict: "differs"; run: Figures; mirror: Figures }
  /** The data changed after the run, or the run did not read the collection: no conclusion. */
  | { verdict: "inconclusive"; reason: string; run?: Figures; mirror?: Figures }
  /** The store does not hold this collection. */
  | { verdict: "not-mirrored" };

/** What {@link verify} found. */
export interface VerifyReport {
  /** The run compared with. */
  syncId: string;
  /** When it started: changes after it are not in its figures. */
  runStartedAt: string;
  /** Per collection. */
  collections: Record<CollectionName, CollectionVerdict>;
}

/** Options of {@link verify}. */
export interface VerifyOptions {
  /** Trigger a new run (and wait for it) instead of using the latest finished one. */
  trigger?: boolean;
  /** Compare with this run instead (it must have finished, or it is waited for). */
  syncId?: string;
  /** How long to wait for a triggered run (default 10 minutes). */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The run's sub-result of a collection. */
function stepOf(results: SyncResults, name: CollectionName): StepResult | undefined {
  if (name === "tenant") return results.phases.essential.data.tenant;
  if (name === "creditConfigs") return results.phases.reference.data.creditConfigs;
  return PAGED_COLLECTIONS[name].step(results);
}

/** The records of a collection that a run counts: its default pull. */
function counted(name: CollectionName, records: MirrorRecord[]): { id: string; updatedAt: string }[] {
  if (name === "tenant") return records;
  if (name === "creditConfigs") {
    return records.flatMap((r) => {
      const entry = r.data as { configId: string | null; source: string; updatedAt: string | null };
      return entry.configId !== null && entry.source !== "default" && entry.updatedAt
        ? [{ id: entry.configId, updatedAt: entry.updatedAt }]
        : [];
    });
  }
  const spec = PAGED_COLLECTIONS[name];
  return records.filter((r) => spec.active(r.data as Record<string, unknown>));
}

/** Count, checksum and watermark of the records, as a run computes them. */
export function figuresOf(records: { id: string; updatedAt: string }[]): Figures {
  const checksum = new Checksum();
  let watermark: string | null = null;
  for (const record of records) {
    checksum.add(record.id, record.updatedAt);
    if (watermark === null || record.updatedAt > watermark) watermark = record.updatedAt;
  }
  return { count: checksum.count, checksum: checksum.hex(), watermark };
}

/** The latest finished run, or a new one when asked or when there is none. */
async function finishedRun(client: AppSyncClient, tenantId: string, options: VerifyOptions) {
  let syncId =
    options.syncId ??
    (options.trigger ? null : ((await client.getSyncStatus(tenantId)).data?.status.lastRun?.syncId ?? null));
  if (syncId === null) {
    const started = await client.startSync(tenantId, { wait: true });
    const body = started.data as { results?: { syncId: string }; syncId?: string } | undefined;
    syncId = body?.results?.syncId ?? body?.syncId ?? null;
    if (syncId === null) throw new Error("the sync trigger named no run");
  }
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  for (let wait = 500; ; wait = Math.min(wait * 2, 10_000)) {
    const run = (await client.getSyncRun(tenantId, syncId)).data;
    if (run?.results) return { run: run.run, results: run.results };
    if (Date.now() > deadline) throw new Error(`sync run ${syncId} did not finish in time`);
    await sleep(wait);
  }
}

/**
 * Compares the mirror with a sync run (the latest finished one, or a new one): for each
 * collection the run covers, the count, checksum and watermark of the mirrored records it would
 * count (contract 10.4) against the run's. `match`: the copy holds exactly those records at
 * those versions. `differs`: it does not. `inconclusive`: the copy has seen changes made after
 * the run started (or the run could not read the collection), so no conclusion either way;
 * mirror after a newer run and verify again.
 */
export async function verify(
  client: AppSyncClient,
  tenantId: string,
  store: MirrorStore,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const { run, results } = await finishedRun(client, tenantId, options);
  const collections = {} as Record<CollectionName, CollectionVerdict>;
  for (const name of ALL_COLLECTIONS) {
    const state = await store.state(tenantId, name);
    const records = await store.records(tenantId, name);
    if (records.length === 0 && state.latestChange === null && state.watermark === null) {
      collections[name] = { verdict: "not-mirrored" };
      continue;
    }
    const step = stepOf(results, name);
    const mirror = figuresOf(counted(name, records));
    if (!step || !step.success) {
      collections[name] = { verdict: "inconclusive", reason: "the run did not read this collection", mirror };
      continue;
    }
    const expected: Figures = { count: step.count, checksum: step.checksum, watermark: step.watermark };
    if (mirror.count === expected.count && mirror.checksum === expected.checksum) {
      collections[name] = { verdict: "match", figures: mirror };
    } else if (state.latestChange !== null && state.latestChange >= run.startedAt) {
      collections[name] = {
        verdict: "inconclusive",
        reason: `the copy holds changes from ${state.latestChange}, after the run started`,
        run: expected,
        mirror,
      };
    } else {
      collections[name] = { verdict: "differs", run: expected, mirror };
    }
  }
  return { syncId: run.syncId, runStartedAt: run.startedAt, collections };
}
