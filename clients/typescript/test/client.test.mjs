// Every route through the typed client against `wrapper-sync serve` on seeded data; iterator
// walks against raw pages; typed errors; both module formats; service tokens minted with jose.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createHash, createPrivateKey } from "node:crypto";
import path from "node:path";
import { after, before, test } from "node:test";

import { AppSyncClient, AppSyncError, PAGED_ROUTES, mintServiceToken } from "../dist/esm/index.js";
import { repoRoot, startServer } from "./harness.mjs";

let server;
let tenant;
let client;

before(async () => {
  server = await startServer();
  tenant = server.tenants[0].tenantId;
  client = new AppSyncClient({ baseUrl: server.baseUrl, token: await server.token({ tenant }) });
});
after(() => server?.stop());

test("every route answers through its typed method", async () => {
  const requirements = await client.getDataRequirements();
  assert.equal(requirements.meta.status, 200);
  const profile = await client.getTenant(tenant);
  assert.equal(profile.data.data.tenantId, tenant);
  assert.ok(profile.meta.etag && profile.meta.requestId);
  for (const route of Object.keys(PAGED_ROUTES)) {
    const page = await client.list(route, tenant, { limit: 5 });
    assert.equal(page.data.success, true, route);
    assert.ok(page.data.data.length <= 5, route);
  }
  const named = [
    client.listUsers(tenant),
    client.listTenantUsers(tenant),
    client.listOrganizations(tenant),
    client.listEmployeeAssignments(tenant),
    client.listRoles(tenant, { appCode: "crm" }),
    client.listRoleAssignments(tenant),
    client.listEntityCredits(tenant),
    client.getTenantCreditConfigs(tenant, { appCode: "crm" }),
    client.getTenantCreditOverrides(tenant, { appCode: "crm" }),
    client.getSyncStatus(tenant),
  ];
  for (const answer of await Promise.all(named)) assert.equal(answer.meta.status, 200);
  const platform = new AppSyncClient({ baseUrl: server.baseUrl, token: await server.token() });
  assert.equal((await platform.getGlobalCreditConfigs({ appCode: "crm" })).meta.status, 200);
  const bootstrap = await client.bootstrapTenant(tenant, { appCode: "crm" });
  assert.equal(bootstrap.data.tenantId, tenant);
  const run = await client.startSync(tenant, { wait: true });
  const syncId = run.data.results.syncId;
  const read = await client.getSyncRun(tenant, syncId);
  assert.deepEqual(read.data.results, run.data.results);
  const writer = new AppSyncClient({ baseUrl: server.baseUrl, token: await server.token({ tenant, write: true }) });
  const change = { changeId: "ts-route-1", type: "role", tenantId: tenant, sourceVersion: 1,
    record: { roleId: "ts-route-role", roleName: "From the client", createdAt: "2026-01-01T00:00:00Z" } };
  const posted = await writer.postTenantChanges(tenant, [change], { idempotencyKey: "ts-route-1" });
  assert.equal(posted.data.summary.applied, 1);
  const again = await writer.postTenantChanges(tenant, [change], { idempotencyKey: "ts-route-1" });
  assert.deepEqual(again.data, posted.data, "the replay answers the first result");
  const platformWriter = new AppSyncClient({ baseUrl: server.baseUrl, token: await server.token({ write: true }) });
  const app = { changeId: "ts-route-2", type: "catalogApp", sourceVersion: 1,
    record: { appCode: "tsapp", appName: "TS", status: "active", modules: [] } };
  assert.equal((await platformWriter.postPlatformChanges([app])).data.summary.applied, 1);
});

test("a conditional request answers 304 without a body", async () => {
  const first = await client.listOrganizations(tenant, { limit: 10 });
  const second = await client.listOrganizations(tenant, { limit: 10 }, { ifNoneMatch: first.meta.etag });
  assert.equal(second.notModified, true);
  assert.equal(second.meta.status, 304);
  assert.equal(second.meta.etag, first.meta.etag);
});

test("an iterator walk returns exactly the raw pages' items, in order", async () => {
  for (const route of ["users", "roleAssignments", "organizations"]) {
    const walked = [];
    for await (const item of client.items(route, tenant, { limit: 7 })) walked.push(item);
    const raw = [];
    const token = await server.token({ tenant });
    let url = `${server.baseUrl}${PAGED_ROUTES[route].replace("{tenantId}", tenant)}?limit=7`;
    for (;;) {
      const page = await (await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).json();
      raw.push(...page.data);
      if (!page.pagination.hasMore) break;
      url = `${server.baseUrl}${PAGED_ROUTES[route].replace("{tenantId}", tenant)}?limit=7&cursor=${encodeURIComponent(page.pagination.nextCursor)}`;
    }
    assert.ok(raw.length > 7, `${route} spans pages`);
    assert.deepEqual(walked, raw, route);
  }
});

test("401 and 403 surface as typed errors with the body and request id", async () => {
  const anonymous = new AppSyncClient({ baseUrl: server.baseUrl, token: "not-a-token" });
  await assert.rejects(anonymous.getTenant(tenant), (error) => {
    assert.ok(error instanceof AppSyncError);
    assert.equal(error.status, 401);
    assert.equal(error.body.statusCode, 401);
    assert.ok(error.requestId);
    return true;
  });
  const other = server.tenants[1].tenantId;
  await assert.rejects(client.listUsers(other), (error) => {
    assert.equal(error.status, 403);
    assert.equal(error.code, "TENANT_ACCESS_DENIED");
    return true;
  });
  await assert.rejects(client.listUsers(tenant, { limit: 9999 }), (error) => error.status === 400 && error.body.details?.length > 0);
});

test("a rotating token provider is asked on every request", async () => {
  let asked = 0;
  const token = await server.token({ tenant });
  const rotating = new AppSyncClient({ baseUrl: server.baseUrl, token: async () => (asked++, token) });
  await rotating.getTenant(tenant);
  await rotating.getTenant(tenant);
  assert.equal(asked, 2);
});

test("the CommonJS build exports the same client", () => {
  const require = createRequire(import.meta.url);
  const cjs = require("../dist/cjs/index.js");
  assert.equal(typeof cjs.AppSyncClient, "function");
  assert.equal(typeof cjs.mirror, "function");
  assert.equal(typeof require("../dist/cjs/sqlite.js").SqliteStore, "function");
});

test("a service token minted with jose is accepted for its tenant only", async () => {
  // The local server's development key of `crm`: Ed25519 from SHA-256(seed || service).
  const seed = readFileSync(path.join(repoRoot, ".local/dev-issuer/service-keys.seed"));
  const privateSeed = createHash("sha256").update(seed).update("crm").digest();
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), privateSeed]),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = key.export({ format: "jwk" }).x;
  const kid = `dev-crm-${createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest("hex").slice(0, 8)}`;
  const token = await mintServiceToken(key, kid, { service: "crm", tenantId: tenant, lifetimeSeconds: 600 });
  const minted = new AppSyncClient({ baseUrl: server.baseUrl, token });
  assert.equal((await minted.getTenant(tenant)).meta.status, 200);
  await assert.rejects(minted.getTenant(server.tenants[1].tenantId), (error) => error.status === 403);
  const tooLong = await mintServiceToken(key, kid, { service: "crm", tenantId: tenant, lifetimeSeconds: 7200 });
  await assert.rejects(new AppSyncClient({ baseUrl: server.baseUrl, token: tooLong }).getTenant(tenant), (e) => e.status === 401);
});
