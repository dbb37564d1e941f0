// Starts `wrapper-sync serve` on seeded demo data in DynamoDB Local for the client's tests,
// and mints tokens with the CLI. Needs DYNAMODB_ENDPOINT (scripts/test.sh sets it) and the
// CLI built (scripts/test.sh builds it; CARGO_TARGET_DIR is honoured).
import { execFile, spawn } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import path from "node:path";

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, "target");
/** The CLI: `WRAPPER_SYNC_CLI` (the benchmark's release build), else the debug build. */
export const cli = process.env.WRAPPER_SYNC_CLI ?? path.join(targetDir, "debug", "wrapper-sync");

/** A free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Resolves once something accepts connections on `port`. */
export async function waitForPort(port, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = createConnection({ port, host: "127.0.0.1" }, () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    if (child && child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`nothing answered on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the CLI against `env` and answers its standard output. */
export async function wrapperSync(args, env = {}) {
  const { stdout } = await run(cli, args, { cwd: repoRoot, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return stdout.trim();
}

/**
 * A server on a fresh table seeded with the demo data (seed 42). `endpoint` picks the DynamoDB
 * Local (default DYNAMODB_ENDPOINT). Answers its base URL, the seeded tenants, a token minter
 * and `stop`.
 */
export async function startServer({ endpoint = process.env.DYNAMODB_ENDPOINT, table } = {}) {
  if (!endpoint) throw new Error("set DYNAMODB_ENDPOINT (scripts/test.sh does)");
  const env = {
    DYNAMODB_ENDPOINT: endpoint,
    TABLE_NAME: table ?? `ts-client-${process.pid}-${Date.now()}`,
    RATE_LIMIT_CALLER_PER_SECOND: "0",
    RATE_LIMIT_TENANT_PER_SECOND: "0",
    RUST_LOG: "warn",
  };
  // Set-up is not what is tested: a DynamoDB Local just started (its JVM not yet warm, the
  // machine busy with a build) can take longer than the 3 s attempt timeout a request gets.
  const setup = { ...env, DYNAMODB_ATTEMPT_TIMEOUT_MS: "20000", DYNAMODB_OPERATION_TIMEOUT_MS: "60000" };
  await wrapperSync(["table", "create"], setup);
  const tenants = JSON.parse(await wrapperSync(["seed", "--seed", "42", "--json"], setup));
  const port = await freePort();
  const child = spawn(cli, ["serve", "--port", String(port)], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: "ignore" });
  await waitForPort(port, child);
  return {
    env,
    port,
    tenants,
    baseUrl: `http://127.0.0.1:${port}/api/sync`,
    /** A service token: `--tenant <id>` for `tenant`, platform-wide without; `write` adds `platform:write`. */
    token: ({ tenant, service, write = false } = {}) =>
      wrapperSync(
        [
          "token",
          "service",
          ...(tenant ? ["--tenant", tenant] : ["--all-tenants"]),
          ...(service ? ["--service", service] : []),
          ...(write ? ["--write"] : []),
        ],
        env,
      ),
    stop: async () => {
      child.kill();
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
      await wrapperSync(["table", "delete"], env).catch(() => {});
    },
  };
}
