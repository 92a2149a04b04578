// waymark — the conversation with the backend (the `endpoint` option). Owns the shopper
// token (a string, or a function answering one), GET /v1/bundle, POST /v1/sync (the state
// out, the merged state back and merged in), the sync queued after changes and its
// retries with backoff, and the last delivery on page hide (sendBeacon, else a keepalive
// fetch). Without an endpoint it does nothing.

import { WaymarkError, closedError } from "./errors.js";
import { fromBase64 } from "./storage.js";

/** The `sub` (anonymous id) of a waymark shopper token `v1.<base64url JSON>.<sig>`. */
export function tokenSubject(token) {
  if (typeof token !== "string") return undefined;
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== "v1") return undefined;
  try {
    const json = new TextDecoder().decode(fromBase64(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
    const claims = JSON.parse(json);
    return typeof claims.sub === "string" && claims.sub ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

/** `${endpoint}${path}`, keeping a path prefix the endpoint may have ("https://x.com/waymark"). */
function apiUrl(endpoint, path) {
  return String(endpoint).replace(/\/+$/, "") + path;
}

/** The binary bundle from GET `${options.endpoint}/v1/bundle` (`options.fetch` or the global fetch). */
export async function fetchBundle(options) {
  const fetchFn = options.fetch || globalThis.fetch;
  if (!options.endpoint) throw new WaymarkError("bad_option", "give a bundle, or an endpoint to fetch /v1/bundle from");
  if (typeof fetchFn !== "function") throw new WaymarkError("bad_option", "no fetch in this runtime: pass options.fetch");
  let res;
  try {
    res = await fetchFn(apiUrl(options.endpoint, "/v1/bundle"), { headers: { accept: "application/octet-stream" } });
  } catch (e) {
    throw new WaymarkError("network_error", `GET /v1/bundle failed: ${e && e.message}`, { cause: e });
  }
  if (!res.ok) throw new WaymarkError("bundle_fetch_failed", `GET /v1/bundle answered ${res.status}`, { status: res.status });
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Keeps one shopper's `state` in sync with the backend. From the load options: `endpoint`,
 * `fetch`, `shopperToken`, `syncDelay`. `onSynced(answer)` runs after an answer was merged
 * (save, timers, the "sync" event); `onError(e)` receives the failures of background syncs.
 */
export class BackendSync {
  constructor(options, state, onSynced, onError) {
    this.state = state;
    this.onSynced = onSynced;
    this.onError = onError;
    // Called through a wrapper, never as this object's method: browsers throw "Illegal
    // invocation" when window.fetch runs with another `this` (also a passed `fetch: fetch`).
    const fetchFn = options.fetch || globalThis.fetch;
    this.fetch = typeof fetchFn === "function" ? (...args) => fetchFn(...args) : undefined;
    this.endpoint = options.endpoint;
    this.token = options.shopperToken;
    // What a token function answered last: page hide cannot wait for a new answer.
    this.lastToken = undefined;
    this.delay = options.syncDelay ?? 2000;
    // Changes the backend has not acknowledged yet.
    this.dirty = false;
    this.timer = undefined;
    this.inFlight = undefined;
    this.failures = 0;
    this.closed = false;
  }

  /** `Waymark.sync`: POST the state now, merge the answer; one request at a time. */
  sync() {
    if (!this.endpoint) return Promise.resolve({ synced: false });
    if (this.closed) return Promise.reject(closedError());
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.inFlight) return this.inFlight.then(() => this.sync());
    this.dirty = false;
    const sent = this.state.encode();
    this.inFlight = this.post(sent)
      .then((answer) => {
        this.failures = 0;
        if (this.closed) return { synced: true };
        if (answer.byteLength > 0) this.state.mergeBytes(answer);
        this.onSynced(answer);
        return { synced: true };
      })
      .catch((e) => {
        this.dirty = true;
        this.failures++;
        if (e.retry !== false) this.schedule(this.backoff());
        throw e;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** The state changed: sync within `syncDelay` unless a sync is already queued. */
  changed() {
    this.dirty = true;
    if (this.timer === undefined) this.schedule(this.delay);
  }

  setToken(token) {
    this.token = token;
  }

  async post(bytes) {
    if (typeof this.fetch !== "function") throw new WaymarkError("bad_option", "no fetch in this runtime: pass options.fetch", { retry: false });
    const token = await this.currentToken();
    const headers = { "content-type": "application/octet-stream" };
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await this.fetch(apiUrl(this.endpoint, "/v1/sync"), { method: "POST", headers, body: bytes });
    } catch (e) {
      throw new WaymarkError("network_error", `POST /v1/sync failed: ${e && e.message}`, { cause: e });
    }
    if (!res.ok) {
      let code = "sync_failed";
      let message = `POST /v1/sync answered ${res.status}`;
      try {
        const body = await res.json();
        const err = body && (body.error || body);
        if (err && typeof err.code === "string") code = err.code;
        if (err && typeof err.message === "string") message += `: ${err.message}`;
      } catch {
        // Not JSON: keep the status.
      }
      // Client errors won't fix themselves (bad token, bad state) except timeouts and limits.
      const retry = res.status >= 500 || res.status === 408 || res.status === 429;
      throw new WaymarkError(code, message, { status: res.status, retry });
    }
    return new Uint8Array(await res.arrayBuffer());
  }

  async currentToken() {
    const t = this.token;
    const token = typeof t === "function" ? await t() : t;
    this.lastToken = token;
    return token;
  }

  /** The delay of the next retry: doubling from 1 s up to 60 s, jittered to half to full. */
  backoff() {
    const base = Math.min(60_000, 1000 * 2 ** Math.min(this.failures - 1, 6));
    return base / 2 + Math.random() * (base / 2);
  }

  /** Syncs in `delay` ms, unless one is already queued (or closed, or no endpoint). */
  schedule(delay) {
    if (!this.endpoint || this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sync().catch((e) => this.onError(e));
    }, delay);
    this.timer?.unref?.();
  }

  /** Page hide: hands unsynced changes to the browser to deliver after unload. */
  flush() {
    if (!this.endpoint || !this.dirty) return;
    // No awaiting during page hide: a token function's last answer is used.
    const token = typeof this.token === "function" ? this.lastToken : this.token;
    const state = this.state.encode();
    // sendBeacon is what browsers promise to deliver after the page is gone, but it cannot
    // set headers: POST /v1/sync/beacon takes the token as the body's first line. As
    // text/plain it is a simple request, so it needs no CORS preflight on another origin.
    const nav = globalThis.navigator;
    if (token && nav && typeof nav.sendBeacon === "function") {
      const body = new Blob([`${token}\n`, state], { type: "text/plain;charset=UTF-8" });
      try {
        if (nav.sendBeacon(apiUrl(this.endpoint, "/v1/sync/beacon"), body)) {
          this.dirty = false;
          return;
        }
      } catch {
        // Refused (too large for the beacon quota, or a blocked URL): try fetch.
      }
    }
    // Elsewhere (Node, workers, no token yet) a keepalive fetch, with the token as a header.
    if (typeof this.fetch !== "function") return;
    const headers = { "content-type": "application/octet-stream" };
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      this.fetch(apiUrl(this.endpoint, "/v1/sync"), { method: "POST", headers, body: state, keepalive: true }).catch(() => {});
      this.dirty = false;
    } catch {
      // Stays dirty: the next page's sync delivers it.
    }
  }

  /** Close: no more syncs; a queued one is cancelled, one in flight is not merged. */
  stop() {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}
