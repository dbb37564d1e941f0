// 503 with Retry-After is retried: the server's store (a DynamoDB Local of this test's own, kept
// on disk so it survives a restart) is stopped, a request starts, the store comes back, and the
// request succeeds on a later attempt.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { AppSyncClient, retryAfterMs } from "../dist/esm/index.js";
import { freePort, repoRoot, startServer } from "./harness.mjs";

const run = promisify(execFile);
let port;
let server;
const dynamodb = (command) =>
  run(path.join(repoRoot, "scripts/dynamodb-local.sh"), [command], { env: { ...process.env, DYNAMODB_PORT: String(port) } });

before(async () => {
  port = await freePort();
  await dynamodb("start");
  server = await startServer({ endpoint: `http://127.0.0.1:${port}` });
});
after(async () => {
  await server?.stop();
  await dynamodb("stop");
});

test("Retry-After is read as seconds or a date", () => {
  assert.equal(retryAfterMs("5"), 5000);
  assert.equal(retryAfterMs("Thu, 01 Jan 1970 00:00:10 GMT", 0), 10_000);
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs("soon"), null);
});

test("a 503 while the store is down is retried until it is back", async () => {
  const tenant = server.tenants[0].tenantId;
  const statuses = [];
  const counting = async (request) => {
    const response = await fetch(request);
    statuses.push(response.status);
    if (statuses.length === 1) setTimeout(() => void dynamodb("start"), 500);
    return response;
  };
  const client = new AppSyncClient({
    baseUrl: server.baseUrl,
    token: await server.token({ tenant }),
    fetch: counting,
    retry: { maxAttempts: 30, maxDelayMs: 1000 },
  });
  await dynamodb("stop");
  const answer = await client.listUsers(tenant, { limit: 5 });
  assert.equal(answer.meta.status, 200);
  assert.equal(statuses[0], 503, `the first attempt met the stopped store: ${statuses}`);
  assert.equal(statuses.at(-1), 200);
  const limited = new AppSyncClient({
    baseUrl: server.baseUrl,
    token: await server.token({ tenant }),
    retry: { maxAttempts: 2, maxDelayMs: 10 },
  });
  await dynamodb("stop");
  await assert.rejects(limited.listUsers(tenant), (error) => error.status === 503 && error.body.statusCode === 503);
  await dynamodb("start");
});
