import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

import type { Database } from "sql.js";

import type { CollectionState, MirrorBatch, MirrorRecord, MirrorStore } from "./store.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  tenant TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL,
  updated_at TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (tenant, collection, id)
);
CREATE TABLE IF NOT EXISTS collections (
  tenant TEXT NOT NULL, collection TEXT NOT NULL, watermark TEXT, latest_change TEXT,
  PRIMARY KEY (tenant, collection)
);
CREATE TABLE IF NOT EXISTS locks (tenant TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
`;

/**
 * A mirror in SQLite (`sql.js`, SQLite compiled to WebAssembly: no native build, an optional
 * peer dependency). Each batch is one transaction (records, then the collection's state), and
 * with a `path` the database is written to that file after each one (to a temporary file,
 * then renamed, so the file is always a whole database). The lock lives in the database; it
 * keeps apart the runs of the processes that share this store object.
 */
export class SqliteStore implements MirrorStore {
  private constructor(
    private readonly db: Database,
    private readonly path: string | undefined,
  ) {}

  /** Opens (or creates) the store at `path`, or an in-memory one without it. */
  static async open(path?: string): Promise<SqliteStore> {
    const { default: initSqlJs } = await import("sql.js");
    const SQL = await initSqlJs();
    const db = path && existsSync(path) ? new SQL.Database(readFileSync(path)) : new SQL.Database();
    db.run(SCHEMA);
    return new SqliteStore(db, path);
  }

  /** Closes the database (after writing it out). */
  close(): void {
    this.persist();
    this.db.close();
  }

  private persist(): void {
    if (!this.path) return;
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, this.db.export());
    renameSync(temporary, this.path);
  }

  private transaction(work: () => void): void {
    this.db.run("BEGIN");
    try {
      work();
      this.db.run("COMMIT");
    } catch (error) {
      this.db.run("ROLLBACK");
      throw error;
    }
    this.persist();
  }

  async lock(tenantId: string, owner: string, ttlMs: number): Promise<boolean> {
    let taken = false;
    this.transaction(() => {
      const now = Date.now();
      const held = this.db.exec("SELECT owner, until FROM locks WHERE tenant = ?", [tenantId])[0]?.values[0];
      if (held && held[0] !== owner && Number(held[1]) > now) return;
      this.db.run("INSERT OR REPLACE INTO locks (tenant, owner, until) VALUES (?, ?, ?)", [tenantId, owner, now + ttlMs]);
      taken = true;
    });
    return taken;
  }

  async unlock(tenantId: string, owner: string): Promise<void> {
    this.transaction(() => this.db.run("DELETE FROM locks WHERE tenant = ? AND owner = ?", [tenantId, owner]));
  }

  async state(tenantId: string, collection: string): Promise<CollectionState> {
    const row = this.db.exec("SELECT watermark, latest_change FROM collections WHERE tenant = ? AND collection = ?", [
      tenantId,
      collection,
    ])[0]?.values[0];
    return { watermark: (row?.[0] as string | null) ?? null, latestChange: (row?.[1] as string | null) ?? null };
  }

  async get(tenantId: string, collection: string, ids: string[]): Promise<Map<string, MirrorRecord>> {
    const found = new Map<string, MirrorRecord>();
    const statement = this.db.prepare(
      "SELECT id, updated_at, data FROM records WHERE tenant = ? AND collection = ? AND id = ?",
    );
    try {
      for (const id of ids) {
        statement.bind([tenantId, collection, id]);
        if (statement.step()) found.set(id, row(statement.get()));
        statement.reset();
      }
    } finally {
      statement.free();
    }
    return found;
  }

  async records(tenantId: string, collection: string): Promise<MirrorRecord[]> {
    const result = this.db.exec("SELECT id, updated_at, data FROM records WHERE tenant = ? AND collection = ?", [
      tenantId,
      collection,
    ])[0];
    return (result?.values ?? []).map(row);
  }

  async write(tenantId: string, collection: string, batch: MirrorBatch): Promise<void> {
    this.transaction(() => {
      const upsert = this.db.prepare(
        "INSERT OR REPLACE INTO records (tenant, collection, id, updated_at, data) VALUES (?, ?, ?, ?, ?)",
      );
      const remove = this.db.prepare("DELETE FROM records WHERE tenant = ? AND collection = ? AND id = ?");
      try {
        for (const record of batch.upserts) {
          upsert.run([tenantId, collection, record.id, record.updatedAt, JSON.stringify(record.data)]);
        }
        for (const id of batch.deletes) remove.run([tenantId, collection, id]);
      } finally {
        upsert.free();
        remove.free();
      }
      this.db.run(
        "INSERT OR REPLACE INTO collections (tenant, collection, watermark, latest_change) VALUES (?, ?, ?, ?)",
        [tenantId, collection, batch.state.watermark, batch.state.latestChange],
      );
    });
  }
}

function row(values: unknown[]): MirrorRecord {
  return { id: String(values[0]), updatedAt: String(values[1]), data: JSON.parse(String(values[2])) };
}
