// engine.js — the wasm engine and its journey bundle, once per isolate.
//
// The .wasm is a module import (workerd / wrangler compile it at deploy time; a Worker may
// not compile wasm from bytes at run time). It is instantiated lazily, inside the first
// request, so an instantiation failure is caught there and the worker fails open instead
// of failing to load. The bundle starts as the one embedded at build time and is refreshed
// from the backend's `GET /v1/bundle` with `If-None-Match`; a bundle that does not load
// never replaces a working one.

import wasmModule from "./vendor/waymark_bg.wasm";
import embeddedBundle from "./vendor/bundle.bin";
import * as glue from "./vendor/waymark.js";
import { createWaymark } from "./vendor/core.js";

// The package's JS layer completes the raw bindings: `ingest` / `tick` take and return
// plain objects (packed bytes across the boundary), as in the browser and in Node.
const { Engine, State } = createWaymark({ name: "worker", bindings: glue, init: () => {} });
const { initSync } = glue;

export { State };

/** Per-isolate cache. Never holds promises: workerd forbids awaiting I/O started by
 *  another request, so a refresh in flight is a timestamp, not a shared promise. */
const cache = {
  wasm: null, // null | "ok" | Error
  engine: null,
  source: null, // "embedded" | "backend"
  etag: null,
  checkedAt: 0,
  refreshingSince: 0,
};

/** Instantiates the wasm module once. Throws (the same Error each time) when it cannot. */
export function ensureWasm() {
  if (cache.wasm === "ok") return;
  if (cache.wasm instanceof Error) throw cache.wasm;
  try {
    initSync({ module: wasmModule });
    cache.wasm = "ok";
  } catch (e) {
    cache.wasm = e instanceof Error ? e : new Error(String(e));
    cache.wasm.code ??= "wasm_init_failed";
    throw cache.wasm;
  }
}

/** After a trap (a WebAssembly.RuntimeError: the engine is built never to panic, and a
 *  panic is a trap with panic=immediate-abort) the instance's memory can be mid-update, and
 *  the glue cannot instantiate a second time: this isolate fails open from now on, and
 *  the runtime replaces it in due course. Returns true when `e` was such a trap. */
export function noteTrap(e) {
  if (!(e instanceof WebAssembly.RuntimeError)) return false;
  cache.wasm = Object.assign(new Error(`wasm trapped earlier in this isolate: ${e.message}`), { code: "wasm_trapped" });
  cache.engine = null;
  return true;
}

function bytesOf(data) {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** The engine to decide with now (the embedded bundle until the backend's one loads). */
export function currentEngine() {
  ensureWasm();
  if (cache.engine === null) {
    cache.engine = Engine.fromBytes(bytesOf(embeddedBundle));
    cache.source = "embedded";
  }
  return cache.engine;
}

export function bundleInfo() {
  return { source: cache.source, etag: cache.etag };
}

/** True when the backend's bundle is due for a check (and no check is in flight). */
export function bundleCheckDue(now, ttlMs) {
  if (cache.refreshingSince !== 0 && now - cache.refreshingSince < 10_000) return false;
  return cache.checkedAt === 0 || now - cache.checkedAt >= ttlMs;
}

/** True until a backend bundle has been loaded once by this isolate. */
export function onEmbeddedBundle() {
  return cache.source !== "backend";
}

/**
 * Fetches the backend's bundle, conditionally. Resolves to "updated" | "unchanged" |
 * "failed" and never throws; the engine swaps atomically (one assignment).
 */
export async function refreshBundle(backend, now, timeoutMs, log) {
  cache.refreshingSince = now;
  try {
    const headers = {};
    if (cache.etag !== null) headers["if-none-match"] = cache.etag;
    const res = await fetch(`${backend}/v1/bundle`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 304) {
      cache.checkedAt = now;
      return "unchanged";
    }
    if (!res.ok) {
      cache.checkedAt = now; // try again after the TTL, not on every request
      log("bundle_fetch_failed", { status: res.status });
      return "failed";
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    const engine = Engine.fromBytes(bytes);
    // The old engine is left to the GC, never freed here: a request that took it before an
    // await may still be using it.
    cache.engine = engine;
    cache.source = "backend";
    cache.etag = res.headers.get("etag");
    cache.checkedAt = now;
    return "updated";
  } catch (e) {
    cache.checkedAt = now;
    log("bundle_fetch_failed", { error: String(e && e.message ? e.message : e), code: e && e.code });
    return "failed";
  } finally {
    cache.refreshingSince = 0;
  }
}
