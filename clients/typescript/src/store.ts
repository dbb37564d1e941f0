/** One stored record of a mirrored collection. */
export interface MirrorRecord {
  /** The record's id in its collection (`userId`, `orgCode`, `assignmentId`, …). */
  id: string;
  /** Its `updatedAt` as App Sync wrote it. */
  updatedAt: string;
  /** The record as the route returned it. */
  data: unknown;
}

/** What the store keeps about a collection besides its records. */
export interface CollectionState {
  /** Where the next incremental pull starts (`pagination.watermark` of the last one). */
  watermark: string | null;
  /** The latest change time applied to the collection, upserts and deletions alike. */
  latestChange: string | null;
}

/** One batch of a mirror run for one collection, stored as a whole. */
export interface MirrorBatch {
  upserts: MirrorRecord[];
  deletes: string[];
  /** The collection's new state; stored with (after) the records, never before them. */
  state: CollectionState;
}

/**
 * Where a mirror lives. `write` must store a batch's records and its state together (a
 * transaction where the store has them): the watermark may never be ahead of the records.
 * `lock` keeps two mirror runs of one tenant from interleaving.
 */
export interface MirrorStore {
  /** Takes the tenant's lock for `owner` for `ttlMs`; `false` while another live owner holds it. */
  lock(tenantId: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock if `owner` holds it. */
  unlock(tenantId: string, owner: string): Promise<void>;
  /** The collection's state (nulls before its first load). */
  state(tenantId: string, collection: string): Promise<CollectionState>;
  /** The stored records with these ids. */
  get(tenantId: string, collection: string, ids: string[]): Promise<Map<string, MirrorRecord>>;
  /** Every stored record of the collection. */
  records(tenantId: string, collection: string): Promise<MirrorRecord[]>;
  /** Stores a batch: upserts, deletes, then the state. */
  write(tenantId: string, collection: string, batch: MirrorBatch): Promise<void>;
}

/** A store in memory: for tests, scripts, and apps that rebuild their copy on start. */
export class MemoryStore implements MirrorStore {
  private readonly collections = new Map<string, Map<string, MirrorRecord>>();
  private readonly states = new Map<string, CollectionState>();
  private readonly locks = new Map<string, { owner: string; until: number }>();

  private key(tenantId: string, collection: string): string {
    return `${tenantId}\u0000${collection}`;
  }

  private collection(tenantId: string, collection: string): Map<string, MirrorRecord> {
    const key = this.key(tenantId, collection);
    let records = this.collections.get(key);
    if (!records) {
      records = new Map();
      this.collections.set(key, records);
    }
    return records;
  }

  async lock(tenantId: string, owner: string, ttlMs: number): Promise<boolean> {
    const held = this.locks.get(tenantId);
    const now = Date.now();
    if (held && held.owner !== owner && held.until > now) return false;
    this.locks.set(tenantId, { owner, until: now + ttlMs });
    return true;
  }

  async unlock(tenantId: string, owner: string): Promise<void> {
    if (this.locks.get(tenantId)?.owner === owner) this.locks.delete(tenantId);
  }

  async state(tenantId: string, collection: string): Promise<CollectionState> {
    return this.states.get(this.key(tenantId, collection)) ?? { watermark: null, latestChange: null };
  }

  async get(tenantId: string, collection: string, ids: string[]): Promise<Map<string, MirrorRecord>> {
    const records = this.collection(tenantId, collection);
    const found = new Map<string, MirrorRecord>();
    for (const id of ids) {
      const record = records.get(id);
      if (record) found.set(id, record);
    }
    return found;
  }

  async records(tenantId: string, collection: string): Promise<MirrorRecord[]> {
    return [...this.collection(tenantId, collection).values()];
  }

  async write(tenantId: string, collection: string, batch: MirrorBatch): Promise<void> {
    const records = this.collection(tenantId, collection);
    for (const record of batch.upserts) records.set(record.id, record);
    for (const id of batch.deletes) records.delete(id);
    this.states.set(this.key(tenantId, collection), batch.state);
  }
}
