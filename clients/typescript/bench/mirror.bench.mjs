// A mirror's full load of the scale tenant (50,000 users, 5,000 entities, 100,000 role
// assignments, 50,000 memberships by default) against the raw page fetches of the same walks:
// for each paged collection, the initial load walked with plain `fetch` + `JSON.parse`
// (following `nextCursor`, nothing stored), alternated with `mirror()` of that collection into
// a MemoryStore. Run by `scripts/bench.sh client` (release CLI, DynamoDB Local in memory).
import { AppSyncClient, INITIAL_LOAD, MemoryStore, PAGED_COLLECTIONS, PAGED_ROUTES, mirror } from "../dist/esm/index.js";
import { startServer, wrapperSync } from "../test/harness.mjs";

const users = Number(process.env.USERS ?? 50_000);
const rounds = Number(process.env.ROUNDS ?? 2);

const server = await startServer();
try {
  const scale = ["--users", String(users), "--entities", String(users / 10), "--role-assignments", String(users * 2), "--memberships", String(users)];
  const seeded = JSON.parse(await wrapperSync(["seed", "--seed", "42", "--json", ...scale], server.env));
  const tenant = seeded.find((t) => t.companyName === "Scale Test Co") ?? seeded.at(-1);
  const token = await server.token({ tenant: tenant.tenantId });
  const client = new AppSyncClient({ baseUrl: server.baseUrl, token });

  async function raw(route) {
    let rows = 0;
    const base = `${server.baseUrl}${PAGED_ROUTES[route].replace("{tenantId}", tenant.tenantId)}`;
    let url = `${base}?updatedSince=${encodeURIComponent(INITIAL_LOAD)}&limit=500`;
    for (;;) {
      const page = await (await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).json();
      rows += page.data.length;
      if (!page.pagination.hasMore) return rows;
      url = `${base}?updatedSince=${encodeURIComponent(INITIAL_LOAD)}&limit=500&cursor=${encodeURIComponent(page.pagination.nextCursor)}`;
    }
  }

  console.log(`\n## TypeScript client: a mirror's full load (${tenant.companyName}, ${rounds} alternations)\n`);
  console.log("| collection | rows | raw walk s (median) | mirror s (median) | mirror rows/s | mirror / raw |");
  console.log("|---|---|---|---|---|---|");
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
  let total = { rows: 0, raw: 0, mirror: 0 };
  for (const name of Object.keys(PAGED_COLLECTIONS)) {
    const route = PAGED_COLLECTIONS[name].route;
    const [rawTimes, mirrorTimes] = [[], []];
    let rows = 0;
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      rows = await raw(route);
      rawTimes.push((performance.now() - started) / 1000);
      started = performance.now();
      const store = new MemoryStore();
      await mirror(client, tenant.tenantId, store, { collections: [name] });
      mirrorTimes.push((performance.now() - started) / 1000);
      const kept = (await store.records(tenant.tenantId, name)).length;
      if (kept > rows) throw new Error(`${name}: the mirror kept ${kept} rows of ${rows}`);
    }
    const [r, m] = [median(rawTimes), median(mirrorTimes)];
    total = { rows: total.rows + rows, raw: total.raw + r, mirror: total.mirror + m };
    console.log(`| ${name} | ${rows} | ${r.toFixed(2)} | ${m.toFixed(2)} | ${Math.round(rows / m)} | ${(m / r).toFixed(2)} |`);
  }
  console.log(
    `| all | ${total.rows} | ${total.raw.toFixed(2)} | ${total.mirror.toFixed(2)} | ${Math.round(total.rows / total.mirror)} | ${(total.mirror / total.raw).toFixed(2)} |`,
  );
} finally {
  await server.stop();
}
