// The mirror against `wrapper-sync serve`: a full load, changes posted through the ingestion
// route (renames, deactivations, deletions, creations), one more mirror, the copy equal to a
// fresh full load; `verify` matching a sync run, and catching a tampered copy; the SQLite
// store; the lock.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";

import { ALL_COLLECTIONS, AppSyncClient, MemoryStore, MirrorLockedError, mirror, verify } from "../dist/esm/index.js";
import { SqliteStore } from "../dist/esm/sqlite.js";
import { startServer } from "./harness.mjs";

let server;
let tenant;
let client;
let writer;
const scratch = mkdtempSync(path.join(tmpdir(), "app-sync-mirror-"));

before(async () => {
  server = await startServer();
  tenant = server.tenants[0].tenantId;
  client = new AppSyncClient({ baseUrl: server.baseUrl, token: await server.token({ tenant }) });
  writer = new AppSyncClient({ baseUrl: server.baseUrl, token: await server.token({ tenant, write: true }) });
});
after(async () => {
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Every collection's records, by id, for comparing two stores. */
async function contents(store) {
  const out = {};
  for (const name of ALL_COLLECTIONS) {
    const records = await store.records(tenant, name);
    out[name] = Object.fromEntries(records.map((r) => [r.id, { updatedAt: r.updatedAt, data: r.data }]));
  }
  return out;
}

let version = Date.now() * 1000;
const next = () => ++version;

/** Changes of every kind, built from what the API serves now. */
async function changes() {
  const users = [];
  for await (const user of client.items("tenantUsers", tenant)) users.push(user);
  const organizations = [];
  for await (const org of client.items("organizations", tenant)) organizations.push(org);
  const memberships = [];
  for await (const m of client.items("employeeAssignments", tenant)) memberships.push(m);
  const asUser = (u, extra = {}) => ({
    userId: u.userId, email: u.email, firstName: u.firstName, lastName: u.lastName,
    primaryOrganizationId: u.primaryOrganizationId ?? undefined, createdAt: u.createdAt, ...extra,
  });
  const change = (type, record) => ({ changeId: `ts-${type}-${next()}`, type, tenantId: tenant, sourceVersion: next(), record });
  const remove = (type, key) => ({ changeId: `ts-del-${next()}`, type, op: "delete", tenantId: tenant, sourceVersion: next(), key });
  const [renamed, deactivated, deleted] = users;
  const org = organizations.find((o) => o.parentId !== null) ?? organizations[0];
  const membership = memberships.find((m) => m.userId !== deleted.userId);
  return [
    change("user", asUser(renamed, { lastName: "Renamed-By-Mirror-Test" })),
    change("user", asUser(deactivated, { isActive: false })),
    remove("user", { userId: deleted.userId }),
    remove("membership", { membershipId: membership.assignmentId, userId: membership.userId, entityId: membership.entityId }),
    change("entity", {
      entityId: org.orgCode, entityType: org.metadata.type, entityName: `${org.orgName} (renamed)`,
      parentEntityId: org.parentId ?? undefined, entityLevel: org.hierarchy.level, createdAt: org.createdAt,
    }),
    change("user", { userId: `ts-new-${version}`, email: "new@example.com", firstName: "New", lastName: "Person", createdAt: "2026-12-01T00:00:00Z" }),
    change("role", { roleId: `ts-role-${version}`, roleName: "Mirror tester", createdAt: "2026-12-01T00:00:00Z" }),
  ];
}

test("a mirror follows every kind of change and ends equal to a fresh load, and verifies against a run", async () => {
  const store = new MemoryStore();
  const first = await mirror(client, tenant, store);
  for (const name of ["users", "organizations", "roleAssignments"]) assert.equal(first[name].mode, "full", name);
  assert.ok(first.users.upserted > 0);

  const batch = await changes();
  const posted = await writer.postTenantChanges(tenant, batch);
  assert.equal(posted.data.summary.applied, batch.length, JSON.stringify(posted.data.results));

  const second = await mirror(client, tenant, store);
  assert.equal(second.users.mode, "incremental");
  assert.ok(second.users.upserted >= 3 && second.users.deleted >= 1, JSON.stringify(second.users));
  const fresh = new MemoryStore();
  await mirror(client, tenant, fresh);
  assert.deepEqual(await contents(store), await contents(fresh), "the followed copy equals a fresh load");

  const report = await verify(client, tenant, store, { trigger: true });
  for (const [name, verdict] of Object.entries(report.collections)) {
    assert.equal(verdict.verdict, "match", `${name}: ${JSON.stringify(verdict)}`);
  }

  // A tampered copy is caught: one changed updatedAt, one missing row.
  const [user] = await store.records(tenant, "users");
  await store.write(tenant, "users", {
    upserts: [{ ...user, updatedAt: "2020-01-01T00:00:00.000Z", data: { ...user.data, updatedAt: "2020-01-01T00:00:00.000Z" } }],
    deletes: [],
    state: await store.state(tenant, "users"),
  });
  const [organization] = (await store.records(tenant, "organizations")).filter((r) => r.data.status === "active");
  await store.write(tenant, "organizations", { upserts: [], deletes: [organization.id], state: await store.state(tenant, "organizations") });
  const tampered = await verify(client, tenant, store, { syncId: report.syncId });
  assert.equal(tampered.collections.users.verdict, "differs", JSON.stringify(tampered.collections.users));
  assert.equal(tampered.collections.organizations.verdict, "differs");
  assert.equal(tampered.collections.organizations.mirror.count, tampered.collections.organizations.run.count - 1);
  assert.equal(tampered.collections.roles.verdict, "match", "untouched collections still match");
});

test("the SQLite store keeps a mirror across reopening and verifies", async () => {
  const file = path.join(scratch, "mirror.sqlite");
  let store = await SqliteStore.open(file);
  await mirror(client, tenant, store);
  const memory = new MemoryStore();
  await mirror(client, tenant, memory);
  assert.deepEqual(await contents(store), await contents(memory));
  store.close();
  store = await SqliteStore.open(file);
  const again = await mirror(client, tenant, store);
  assert.equal(again.users.mode, "incremental", "the watermark survived reopening");
  const report = await verify(client, tenant, store, { trigger: true });
  assert.ok(Object.values(report.collections).every((c) => c.verdict === "match"), JSON.stringify(report));
  store.close();
});

test("two mirror runs on one store cannot interleave", async () => {
  const store = new MemoryStore();
  await store.lock(tenant, "someone-else", 60_000);
  await assert.rejects(mirror(client, tenant, store), MirrorLockedError);
  await store.unlock(tenant, "someone-else");
  await mirror(client, tenant, store, { collections: ["tenant"] });
});

test("a watermark App Sync no longer honours makes the collection reload and drop what is gone", async () => {
  const store = new MemoryStore();
  await mirror(client, tenant, store, { collections: ["roles"] });
  // A record the platform no longer has, and a watermark from before the tombstone window.
  const state = await store.state(tenant, "roles");
  await store.write(tenant, "roles", {
    upserts: [{ id: "ghost-role", updatedAt: "2020-01-01T00:00:00.000Z", data: { roleId: "ghost-role", isActive: true } }],
    deletes: [],
    state: { ...state, watermark: "2020-01-01T00:00:00.000Z" },
  });
  const report = await mirror(client, tenant, store, { collections: ["roles"] });
  assert.equal(report.roles.mode, "full");
  assert.ok((await store.get(tenant, "roles", ["ghost-role"])).size === 0, "the reload removed what it did not return");
});
