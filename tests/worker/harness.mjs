// tests/worker/harness.mjs — real processes for the worker tests and the bench: the test
// origin (worker/origin.mjs), the backend (`waymark serve` on a throwaway SQLite file) and
// workerd (worker/workerd.capnp), all on 127.0.0.1, each stopped by `stopAll()` (tests
// call it in `after`; a process exit kills what is left). Plus a cookie jar client.
//
// Environment: WAYMARK_BIN (a waymark binary built with the `server` feature; without it,
// backend tests skip with a notice), WORKERD (default worker/node_modules/.bin/workerd).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WORKER_DIR = join(REPO, "worker");
export const WORKERD = process.env.WORKERD || join(WORKER_DIR, "node_modules", ".bin", "workerd");
export const WAYMARK_BIN = process.env.WAYMARK_BIN || null;
export const COOKIE_SECRET = "test-cookie-secret-0123456789";
export const TOKEN_SECRET = "test-token-secret-0123456789";
export const ADMIN_TOKEN = "test-admin-token-0123456789";

const children = new Set();
const tempDirs = new Set();

function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Stops every process this harness started (SIGTERM, then SIGKILL after 2 s) and removes
 *  its temporary directories. */
export async function stopAll() {
  await Promise.all([...children].map((c) => stop(c)));
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 2000);
    child.once("exit", () => {
      clearTimeout(t);
      res();
    });
    child.kill("SIGTERM");
  });
}

process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "waymark-worker-") {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Collects a child's output lines (for log assertions and failure reports). */
function collect(child, name) {
  const lines = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (lines.length > 5000) lines.shift();
      }
    });
  }
  child.logs = lines;
  child.label = name;
  return lines;
}

async function waitFor(what, fn, timeoutMs = 15000, child = null) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    if (child && child.exitCode !== null) {
      throw new Error(`${what}: process exited (${child.exitCode}):\n${(child.logs || []).slice(-30).join("\n")}`);
    }
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${last ? ` (${last.message})` : ""}`);
}

/** The test origin. Resolves to `{ url, port, child }`. */
export async function startOrigin() {
  const child = track(spawn(process.execPath, [join(WORKER_DIR, "origin.mjs")], { stdio: ["ignore", "pipe", "pipe"] }));
  const lines = collect(child, "origin");
  const port = await waitFor("origin", () => lines.length > 0 && JSON.parse(lines[0]).port, 10000, child);
  return { url: `http://127.0.0.1:${port}`, port, child };
}

/** The backend: `waymark serve` on a fresh SQLite file, journeys from examples/journeys.
 *  `port` may be given (to restart on the same address). Resolves to `{ url, port, child,
 *  dir }` once /healthz answers. */
export async function startBackend({ port, dir, journeys = [join(REPO, "examples", "journeys")] } = {}) {
  if (!WAYMARK_BIN) throw new Error("WAYMARK_BIN is not set");
  dir ??= tempDir("waymark-backend-");
  port ??= await freePort();
  const child = track(
    spawn(
      WAYMARK_BIN,
      [
        "serve",
        "--db",
        `sqlite://${join(dir, "waymark.db")}`,
        "--listen",
        `127.0.0.1:${port}`,
        "--admin-token",
        ADMIN_TOKEN,
        "--token-secret",
        TOKEN_SECRET,
        "--poll-ms",
        "100",
        "--journeys",
        ...journeys,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", RUST_LOG: process.env.RUST_LOG || "info" } },
    ),
  );
  collect(child, "backend");
  const url = `http://127.0.0.1:${port}`;
  await waitFor("backend /healthz", async () => (await fetch(`${url}/healthz`)).ok, 20000, child);
  return { url, port, child, dir };
}

/** workerd with worker/workerd.capnp (`configName`: "config", "brokenWasm" or "withKv") and
 *  the given bindings as environment variables, every socket of the config on a free port.
 *  Resolves to `{ url, port, child, logs, sockets }` (`url`/`port`: the worker's socket
 *  `http`; `sockets`: name → base URL, e.g. `sockets.kv` for withKv's local KV admin). */
export async function startWorkerd(env, { configName = "config" } = {}) {
  const names = CONFIG_SOCKETS[configName] ?? ["http"];
  const args = ["serve", join(WORKER_DIR, "workerd.capnp"), configName, "--control-fd", "3"];
  for (const name of names) args.push("--socket-addr", `${name}=127.0.0.1:0`);
  const child = track(
    spawn(WORKERD, args, {
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, WAYMARK_COOKIE_SECRET: COOKIE_SECRET, ...env },
    }),
  );
  const logs = collect(child, "workerd");
  // --control-fd reports {"event":"listen","socket":NAME,"port":N} once each socket is bound.
  let control = "";
  child.stdio[3].setEncoding("utf8");
  child.stdio[3].on("data", (c) => (control += c));
  const ports = await waitFor(
    "workerd listen",
    () => {
      const found = {};
      for (const line of control.split("\n")) {
        if (!line.trim()) continue;
        const msg = JSON.parse(line);
        if (msg.event === "listen") found[msg.socket] = msg.port;
      }
      return names.every((n) => found[n] !== undefined) ? found : null;
    },
    15000,
    child,
  );
  const sockets = Object.fromEntries(names.map((n) => [n, `http://127.0.0.1:${ports[n]}`]));
  return { url: sockets.http, port: ports.http, child, logs, sockets };
}

/** The sockets of each workerd.capnp config beyond `http`. */
const CONFIG_SOCKETS = { withKv: ["http", "kv"] };

/** The JSON log lines (`{"wm": ...}`) the worker wrote. */
export function workerLogs(w, what = null) {
  const out = [];
  for (const line of w.logs) {
    const i = line.indexOf('{"wm"');
    if (i < 0) continue;
    try {
      const v = JSON.parse(line.slice(i));
      if (what === null || v.wm === what) out.push(v);
    } catch {
      // not ours
    }
  }
  return out;
}

export function haveVendor() {
  return ["waymark.js", "waymark_bg.wasm", "bundle.bin"].every((f) => existsSync(join(WORKER_DIR, "src", "vendor", f)));
}

/** A browser-like client: one cookie jar, `Accept: text/html` on page loads. */
export class Shopper {
  constructor(base) {
    this.base = base;
    this.cookies = new Map();
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  absorb(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(";");
      const eq = pair.indexOf("=");
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  async request(path, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.cookies.size > 0 && !headers.has("cookie")) headers.set("cookie", this.cookieHeader());
    const res = await fetch(this.base + path, { ...init, headers, redirect: "manual" });
    this.absorb(res);
    return res;
  }

  /** A page load: `{ res, html, page, decision }` (page = the injected JSON, or null). */
  async page(path, { now, headers = {} } = {}) {
    const h = { accept: "text/html", ...headers };
    if (now !== undefined) h["x-waymark-now"] = String(now);
    const res = await this.request(path, { headers: h });
    const html = await res.text();
    return { res, html, page: injected(html), decision: decisionHeader(res) };
  }

  /** `POST /__waymark/track`: `{ res, body }`. */
  async track(body, { now } = {}) {
    const headers = { "content-type": "application/json" };
    if (now !== undefined) headers["x-waymark-now"] = String(now);
    const res = await this.request("/__waymark/track", { method: "POST", headers, body: JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
    return { res, body: json };
  }
}

/** The JSON of `<script type="application/json" id="waymark-decision">`, or null. */
export function injected(html) {
  const m = html.match(/<script type="application\/json" id="waymark-decision">([\s\S]*?)<\/script>/);
  return m ? JSON.parse(m[1]) : null;
}

export function decisionHeader(res) {
  const v = res.headers.get("x-waymark-decision");
  if (v === null || v === "none") return v === null ? undefined : null;
  return JSON.parse(v);
}

/** Skip notice, loud: printed to stderr and returned for `t.skip(...)`. */
export function skipNotice(why) {
  const msg = `SKIPPED: ${why}`;
  process.stderr.write(`\n*** worker tests: ${msg} ***\n\n`);
  return msg;
}

/** Polls `fn` every `everyMs` until it returns a truthy value (background work — syncs, KV
 *  writes — lands after the response); fails the test with the last answer after `ms`. */
export async function eventually(what, fn, ms = 10000, everyMs = 50) {
  const start = Date.now();
  let last;
  while (Date.now() - start < ms) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
}
