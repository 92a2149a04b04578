// The e2e harness: real processes on loopback ports — an SMTP receiver (aiosmtpd), the
// waymark backend (`waymark serve` on SQLite), the storefront server — and headless
// Chromium through playwright-core. Every process it starts is stopped by `stopAll()`
// (process groups, SIGTERM then SIGKILL), also when the test process is interrupted.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(REPO, "www", "package.json"));

// Chromium flags from ../shared/TOOLCHAIN.md §5: without the networking ones it floods
// the closed network with connection attempts.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const children = new Set();

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `waymark-e2e-${prefix}-`));
}

// Starts a process in its own process group; its output goes to LOGDIR/NAME.log.
export function start(name, cmd, args, { env = {}, cwd = REPO, logDir } = {}) {
  const log = fs.openSync(path.join(logDir, `${name}.log`), "a");
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", log, log],
    detached: true,
  });
  fs.closeSync(log);
  const proc = { name, child, logFile: path.join(logDir, `${name}.log`), exited: null };
  child.on("error", (e) => fs.appendFileSync(proc.logFile, `cannot start ${cmd}: ${e.message}\n`));
  proc.exitedPromise = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      proc.exited = { code, signal };
      children.delete(proc);
      resolve(proc.exited);
    }),
  );
  children.add(proc);
  return proc;
}

export async function stop(proc, timeoutMs = 5000) {
  if (!proc || proc.exited) return;
  try {
    process.kill(-proc.child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-proc.child.pid, "SIGKILL");
    } catch {}
  }, timeoutMs);
  await proc.exitedPromise;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((p) => stop(p)));
}

// Last resort when the test process itself is killed: synchronous group kill.
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    for (const p of children) {
      try {
        process.kill(-p.child.pid, "SIGKILL");
      } catch {}
    }
    process.exit(130);
  });
}
process.on("exit", () => {
  for (const p of children) {
    try {
      process.kill(-p.child.pid, "SIGKILL");
    } catch {}
  }
});

export function tail(proc, lines = 40) {
  try {
    return fs.readFileSync(proc.logFile, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export async function waitFor(what, fn, { timeoutMs = 20000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function waitHttp(url, proc, timeoutMs = 30000) {
  return waitFor(
    `${url} (${proc?.name})`,
    async () => {
      if (proc?.exited) throw new Error(`${proc.name} exited ${JSON.stringify(proc.exited)}:\n${tail(proc)}`);
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      return r.ok;
    },
    { timeoutMs, intervalMs: 150 },
  );
}

// ---- the pieces -------------------------------------------------------------------------

export async function startSmtp(logDir) {
  const port = await freePort();
  const out = path.join(logDir, "mail.jsonl");
  fs.writeFileSync(out, "");
  const proc = start("smtp", "python3", [path.join(REPO, "tests/e2e/smtp_sink.py"), "--port", String(port), "--out", out], { logDir });
  await waitFor("the SMTP receiver", async () => {
    if (proc.exited) throw new Error(`smtp exited:\n${tail(proc)}`);
    return fs.readFileSync(proc.logFile, "utf8").includes(`ready ${port}`);
  });
  return {
    proc,
    port,
    messages: () =>
      fs
        .readFileSync(out, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

export const ADMIN_TOKEN = "e2e-admin-token-0123456789";
export const TOKEN_SECRET = "e2e-token-secret-0123456789";

export function waymarkBinary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO, "target");
  return process.env.WAYMARK_BIN || path.join(target, "debug", "waymark");
}

// `waymark serve` on SQLite. Same db + port on restart (the "backend comes back" test).
export async function startBackend({ logDir, db, port, journeysDir, smtpPort, pollMs = 200, name = "backend", rustLog }) {
  port = port || (await freePort());
  const args = [
    "serve",
    "--db", `sqlite://${db}`,
    "--listen", `127.0.0.1:${port}`,
    "--journeys", journeysDir,
    "--poll-ms", String(pollMs),
  ];
  if (smtpPort) args.push("--smtp-url", `smtp://127.0.0.1:${smtpPort}`, "--mail-from", "shop@northwind.test");
  const proc = start(name, waymarkBinary(), args, {
    logDir,
    env: { WAYMARK_ADMIN_TOKEN: ADMIN_TOKEN, WAYMARK_TOKEN_SECRET: TOKEN_SECRET, RUST_LOG: rustLog || process.env.RUST_LOG || "info" },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, proc);
  return { proc, port, url, db };
}

// `direct`: pages call the backend on its own origin (CORS) instead of the store's /v1 proxy.
export async function startStorefront({ logDir, backendUrl, pkgDir = path.join(REPO, "pkg"), direct = false, name = "storefront" }) {
  const port = await freePort();
  const args = [path.join(REPO, "www/server.mjs"), "--port", String(port), "--backend", backendUrl, "--pkg", pkgDir];
  if (direct) args.push("--direct");
  const proc = start(name, process.execPath, args, { logDir, env: { WAYMARK_ADMIN_TOKEN: ADMIN_TOKEN } });
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(`${url}css/style.css`, proc);
  return { proc, port, url };
}

export async function launchChromium() {
  const { chromium } = require("playwright-core");
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
}

// Admin reads of the backend (what the shop's server may see).
export async function admin(backendUrl, method, route, body) {
  const r = await fetch(backendUrl + route, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, json, text };
}
