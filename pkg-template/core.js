// waymark — the JS API over the wasm bindings, the same for every runtime. The entry
// files (browser.js, node.js, worker.js, bundler.js) only say how the module loads.
//
// The engine is pure: this layer owns the clock (Date.now by default), storage
// (localStorage, base64 of the postcard state), timers (setTimeout at the engine's next
// wakeup), cross-tab convergence (storage event + merge) and sync with the backend
// (POST /v1/sync, batched, retried with backoff, flushed on page hide).

import { decodeDecisions, decodeObject } from "./decode.js";
import { copyEncoded, encodeEvent, encodeEventAt, encodeProperties } from "./encode.js";

const STATE_KEY = "waymark:state";
const ID_KEY = "waymark:id";
const MAX_TIMEOUT = 2 ** 31 - 1;
const CHANNELS = ["onsite", "inapp", "email", "sms", "push", "ads"];

/** An Error with a stable machine `code` (the same codes the wasm engine throws). */
export class WaymarkError extends Error {
  constructor(code, message, extra) {
    super(message);
    this.name = "WaymarkError";
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}

// --- small helpers ---------------------------------------------------------------------

function toBase64(bytes) {
  if (typeof Buffer === "function") return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(text) {
  if (typeof Buffer === "function") return new Uint8Array(Buffer.from(text, "base64"));
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The `sub` (anonymous id) of a waymark shopper token `v1.<base64url JSON>.<sig>`. */
function tokenSubject(token) {
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

function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return "anon-" + c.randomUUID();
  return "anon-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

/** A Storage-like object from the `storage` option. */
function resolveStorage(option) {
  if (option === false || option === "memory") return memoryStorage();
  if (option && typeof option === "object") {
    for (const m of ["getItem", "setItem", "removeItem"]) {
      if (typeof option[m] !== "function") {
        throw new WaymarkError("bad_option", `storage must have getItem, setItem and removeItem (missing ${m})`);
      }
    }
    return option;
  }
  if (option !== undefined && option !== "local") {
    throw new WaymarkError("bad_option", `storage must be "local", "memory", false or a Storage-like object`);
  }
  try {
    const ls = globalThis.localStorage;
    if (ls) {
      const probe = "waymark:probe";
      ls.setItem(probe, "1");
      ls.removeItem(probe);
      return ls;
    }
  } catch {
    // Private mode, disabled storage, sandboxed iframe: fall through to memory.
  }
  return memoryStorage();
}

function memoryStorage() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
  };
}

function bytesOf(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

/** Event name and properties of one GA4 dataLayer entry, or undefined to skip it. */
export function fromDataLayer(entry) {
  if (entry == null || typeof entry !== "object") return undefined;
  // gtag("event", name, params) pushes its `arguments` object.
  if (typeof entry.length === "number" && entry[0] === "event" && typeof entry[1] === "string") {
    const params = entry[2] && typeof entry[2] === "object" ? entry[2] : {};
    return { name: entry[1], properties: { ...params } };
  }
  const name = entry.event;
  if (typeof name !== "string" || name === "" || name.startsWith("gtm.")) return undefined;
  const properties = {};
  for (const key of Object.keys(entry)) {
    if (key === "event" || key === "ecommerce" || key.startsWith("gtm.") || key === "eventCallback" || key === "eventTimeout") continue;
    const v = entry[key];
    if (typeof v !== "function" && v !== undefined) properties[key] = v;
  }
  if (entry.ecommerce && typeof entry.ecommerce === "object") Object.assign(properties, entry.ecommerce);
  return { name, properties };
}

/** `${endpoint}${path}`, keeping a path prefix the endpoint may have ("https://x.com/waymark"). */
function apiUrl(endpoint, path) {
  return String(endpoint).replace(/\/+$/, "") + path;
}

function closedError() {
  return new WaymarkError("closed", "this Waymark instance was closed: load a new one");
}

// --- the raw classes -------------------------------------------------------------------

const JSON_HINT =
  "this build of waymark loads only the compact binary bundle: compile the journeys with " +
  "`waymark bundle <journeys> -o bundle.bin` (or let Waymark.load fetch /v1/bundle from your " +
  "endpoint), or import \"waymark/full\", which also validates and compiles JSON bundles";

/**
 * Completes the wasm-bindgen classes with the methods that take and return JS values:
 * the module itself speaks bytes (packed decisions, postcard traits), decoded here.
 * Events are written straight into the engine's input room in the module's memory and
 * decisions are read in place (`Engine.inputBuffer` / `ingestInput` / `tickOutput`,
 * src/wasm.rs): no copy either way for the usual event. Idempotent: every entry point calls it on its own glue; the
 * `Engine.__waymarkIo` it leaves is what `Waymark` runs events through.
 */
function completeBindings(Engine, State, memory) {
  if (Engine.prototype.__waymarkComplete) return;
  const tables = new WeakMap();
  const table = (engine) => {
    let t = tables.get(engine);
    if (!t) tables.set(engine, (t = engine.strings()));
    return t;
  };
  // The module's memory as bytes (and `heapView` over it); made again after the memory
  // grew (which detaches the old view: its length reads 0).
  let heap = new Uint8Array(0);
  let heapView;
  const memoryBytes = () => {
    if (heap.byteLength === 0) {
      const buffer = memory().buffer;
      heap = new Uint8Array(buffer);
      heapView = new DataView(buffer);
    }
    return heap;
  };
  // Each engine's input room: its address and size, asked for again only when an event
  // is larger.
  const rooms = new WeakMap();
  const newRoom = (engine, size) => {
    const room = { at: engine.inputBuffer(size), size };
    rooms.set(engine, room);
    return room;
  };
  /** Decisions from the packed answer at `at` (4-byte length, then the bytes). */
  const decodeAt = (at, table, now, meta) => {
    const h = memoryBytes();
    const len = (h[at] | (h[at + 1] << 8) | (h[at + 2] << 16) | (h[at + 3] << 24)) >>> 0;
    return decodeDecisions(h, table, now, meta, at + 4, at + 4 + len);
  };
  const io = {
    /**
     * Writes an event into the engine's input room (straight from the properties, or
     * `bytes` from `encodeProperties`); returns its length for `ingest`.
     */
    write(engine, name, properties, bytes) {
      if (typeof name !== "string") throw new WaymarkError("bad_event_name", `the event name must be a string, found ${typeof name}`);
      let room = rooms.get(engine) ?? newRoom(engine, 256);
      let len = -1;
      let copy = false;
      try {
        if (bytes === undefined) len = encodeEventAt(name, properties, memoryBytes(), heapView, room.at, room.size);
        if (len < 0) {
          // Larger than the room, or already encoded: through encode.js's own buffer.
          copy = true;
          len = encodeEvent(name, properties, bytes);
        }
      } catch (e) {
        throw new WaymarkError("bad_properties", `event properties: ${e.message}`);
      }
      if (copy) {
        if (room.size < len) room = newRoom(engine, Math.max(len, 2 * room.size));
        copyEncoded(memoryBytes(), room.at);
      }
      return len;
    },
    /** Ingests the event `write` left in the room (`len` bytes); its decisions. */
    ingest(engine, state, now, len, table, meta) {
      return decodeAt(engine.ingestInput(state, now, len), table, now, meta);
    },
    /** Runs due timers; their decisions. */
    tick(engine, state, now, table, meta) {
      return decodeAt(engine.tickOutput(state, now), table, now, meta);
    },
  };
  Object.defineProperty(Engine.prototype, "__waymarkComplete", { value: true });
  Object.defineProperty(Engine, "__waymarkIo", { value: io });
  Object.assign(Engine.prototype, {
    /** Ingests one event; decisions taken and suppressed, with reasons. */
    ingest(state, name, now, properties) {
      return io.ingest(this, state, now, io.write(this, name, properties), table(this));
    },
    /** `ingest` with properties already encoded by `encodeProperties`. */
    ingestEncoded(state, name, now, properties) {
      return io.ingest(this, state, now, io.write(this, name, undefined, properties), table(this));
    },
    /** Runs timers due at or before `now`. */
    tick(state, now) {
      return io.tick(this, state, now, table(this));
    },
  });
  if (typeof Engine.fromJson !== "function") {
    Engine.fromJson = () => {
      throw new WaymarkError("json_bundle_unsupported", `a JSON bundle was given, but ${JSON_HINT}`);
    };
  }
  Object.assign(State.prototype, {
    /** Sets traits from a plain object (`null` clears one). */
    setTraits(traits, now) {
      let bytes;
      try {
        bytes = encodeProperties(traits);
      } catch (e) {
        throw new WaymarkError("bad_traits", `traits: ${e.message}`);
      }
      this.setTraitsEncoded(bytes, now);
    },
    /** Current traits as a plain object. */
    traits() {
      return decodeObject(this.traitsEncoded());
    },
  });
}

// --- the API ---------------------------------------------------------------------------

/**
 * Builds the public API over one set of bindings.
 * runtime: { bindings: {Engine, State, version}, init(wasm?): Promise|void, name }
 */
export function createWaymark(runtime) {
  const { Engine, State } = runtime.bindings;
  completeBindings(Engine, State, runtime.bindings.wasmMemory);
  const io = Engine.__waymarkIo;
  let ready;

  function ensureInit(wasm) {
    if (!ready) {
      ready = Promise.resolve()
        .then(() => runtime.init(wasm))
        .catch((e) => {
          ready = undefined;
          throw new WaymarkError("wasm_load_failed", `could not load waymark's WebAssembly module: ${e && e.message}`, { cause: e });
        });
    }
    return ready;
  }

  function engineFrom(bundle) {
    const bytes = bytesOf(bundle);
    // JSON text fetched as bytes (a bundle.json served instead of bundle.bin): "{".
    if (bytes && bytes[0] === 0x7b) return engineFrom(new TextDecoder().decode(bytes));
    if (bytes) return Engine.fromBytes(bytes);
    if (typeof bundle === "string") {
      let parsed;
      try {
        parsed = JSON.parse(bundle);
      } catch (e) {
        throw new WaymarkError("bad_bundle", `bundle text is not JSON: ${e.message}`);
      }
      return Engine.fromJson(parsed);
    }
    if (bundle && typeof bundle === "object") return Engine.fromJson(bundle);
    throw new WaymarkError("bad_bundle", "bundle must be a JSON bundle object, its text, or the binary bundle bytes");
  }

  class Waymark {
    /**
     * Loads the module (once), the bundle (given, or GET `${endpoint}/v1/bundle`) and the
     * shopper's saved state, and returns a ready instance.
     */
    static async load(options = {}) {
      await ensureInit(options.wasm);
      const fetchFn = options.fetch || globalThis.fetch;
      let bundle = options.bundle;
      if (bundle === undefined) {
        if (!options.endpoint) throw new WaymarkError("bad_option", "give a bundle, or an endpoint to fetch /v1/bundle from");
        if (typeof fetchFn !== "function") throw new WaymarkError("bad_option", "no fetch in this runtime: pass options.fetch");
        let res;
        try {
          res = await fetchFn(apiUrl(options.endpoint, "/v1/bundle"), { headers: { accept: "application/octet-stream" } });
        } catch (e) {
          throw new WaymarkError("network_error", `GET /v1/bundle failed: ${e && e.message}`, { cause: e });
        }
        if (!res.ok) throw new WaymarkError("bundle_fetch_failed", `GET /v1/bundle answered ${res.status}`, { status: res.status });
        bundle = new Uint8Array(await res.arrayBuffer());
      }
      return new Waymark(engineFrom(bundle), options);
    }

    /** Use `Waymark.load`; the constructor takes an engine already built. */
    constructor(engine, options = {}) {
      this._engine = engine;
      if (options.debug) engine.traceSkips = true;
      // With a backend, email / SMS / push / ads sends are its job (it delivers them and
      // rechecks suppression at delivery); without one, they are decided here.
      const offsite = options.offsiteSends ?? (options.endpoint ? "backend" : "local");
      if (offsite !== "backend" && offsite !== "local") {
        throw new WaymarkError("bad_option", `offsiteSends must be "backend" or "local", not ${JSON.stringify(offsite)}`);
      }
      engine.delegateOffsite = offsite === "backend";
      this._table = engine.strings();
      this._options = options;
      this._clock = typeof options.clock === "function" ? options.clock : Date.now;
      // Called through a wrapper, never as this object's method: browsers throw "Illegal
      // invocation" when window.fetch runs with another `this` (also a passed `fetch: fetch`).
      const fetchFn = options.fetch || globalThis.fetch;
      this._fetch = typeof fetchFn === "function" ? (...args) => fetchFn(...args) : undefined;
      this._endpoint = options.endpoint;
      this._token = options.shopperToken;
      this._storage = resolveStorage(options.storage);
      this._stateKey = options.storageKey || STATE_KEY;
      this._listeners = new Map();
      this._timer = undefined;
      this._timerAt = undefined;
      this._persistQueued = false;
      this._dirty = false;
      this._syncTimer = undefined;
      this._syncing = undefined;
      this._failures = 0;
      this._closed = false;
      this._detach = [];
      // What the packed answer of ingest/tick says besides decisions (tier, next wakeup).
      this._meta = { tier: undefined, wakeup: undefined };
      this._syncDelay = options.syncDelay ?? 2000;
      this._autoTimers = options.timers !== false;

      const shopperId = options.shopperId || tokenSubject(typeof this._token === "string" ? this._token : undefined);
      this._state = this._restore(shopperId);
      this._lastSaved = undefined;
      this._persist();

      const win = globalThis.window;
      if (win && typeof win.addEventListener === "function") {
        const onStorage = (e) => {
          if (e.key === this._stateKey && typeof e.newValue === "string" && e.newValue !== this._lastSaved) this._mergeSaved(e.newValue);
        };
        const onHide = () => this._flush();
        const onVisibility = () => {
          if (globalThis.document && globalThis.document.visibilityState === "hidden") this._flush();
          else this._schedule();
        };
        win.addEventListener("storage", onStorage);
        win.addEventListener("pagehide", onHide);
        globalThis.document?.addEventListener?.("visibilitychange", onVisibility);
        this._detach.push(() => {
          win.removeEventListener("storage", onStorage);
          win.removeEventListener("pagehide", onHide);
          globalThis.document?.removeEventListener?.("visibilitychange", onVisibility);
        });
      }
      if (options.dataLayer) {
        this.attachDataLayer(options.dataLayer === true ? undefined : options.dataLayer);
      }
      this._schedule();
    }

    // --- events in ---------------------------------------------------------------------

    /**
     * Ingests an event (GA4 name or Segment alias) now, emits every decision (taken or
     * suppressed, each with reasons) to "decision" listeners and returns them.
     */
    track(name, properties) {
      if (this._closed) throw closedError();
      const len = io.write(this._engine, name, properties);
      const now = this._clock();
      const decisions = io.ingest(this._engine, this._state, now, len, this._table, this._meta);
      this._changed(decisions, this._meta);
      return decisions;
    }

    /** Links the customer id after login and sets traits (email, phone, ...). */
    identify(customerId, traits) {
      if (this._closed) throw closedError();
      if (typeof customerId !== "string" || customerId.trim() === "") {
        throw new WaymarkError("empty_customer_id", "identify needs the customer id as a non-empty string");
      }
      const now = this._clock();
      this._state.identify(customerId, now);
      if (traits !== undefined) this._state.setTraits(traits, now);
      this._changed([]);
    }

    /** Sets traits without an identity change. */
    setTraits(traits) {
      if (this._closed) throw closedError();
      this._state.setTraits(traits, this._clock());
      this._changed([]);
    }

    /** Records consent per channel: `{email: true, sms: false, push: true}`. */
    consent(choices) {
      if (this._closed) throw closedError();
      if (!choices || typeof choices !== "object") throw new WaymarkError("bad_consent", "consent takes an object such as {email: true, sms: false}");
      const now = this._clock();
      for (const [channel, granted] of Object.entries(choices)) {
        if (typeof granted !== "boolean") throw new WaymarkError("bad_consent", `consent.${channel} must be true or false`);
        this._state.setConsent(channel, granted, now);
      }
      this._changed([]);
      return this._state.consent();
    }

    /** Runs due timers now (the instance does this itself unless `timers: false`). */
    tick() {
      if (this._closed) throw closedError();
      const now = this._clock();
      const decisions = io.tick(this._engine, this._state, now, this._table, this._meta);
      this._changed(decisions, this._meta);
      return decisions;
    }

    // --- reading ------------------------------------------------------------------------

    /** `{score, tier}`: purchase intent in [0, 1] and `cold` | `warm` | `hot`. */
    intent() {
      if (this._closed) throw closedError();
      return this._engine.intent(this._state, this._clock());
    }

    /** What moves the intent score now, largest effect first. */
    explain() {
      if (this._closed) throw closedError();
      return this._engine.explain(this._state, this._clock());
    }

    /** May another platform send on `channel` now? `{allowed, reasons}`. */
    maySend(channel, journey) {
      if (this._closed) throw closedError();
      return this._engine.maySend(this._state, channel, journey ?? undefined, this._clock());
    }

    /** The shopper id (customer id once known). */
    get shopperId() {
      return this._state.primaryId;
    }

    /** Traits as last set. */
    traits() {
      return this._state.traits();
    }

    /** Journeys the shopper is in now. */
    journeys() {
      return this._state.activeJourneys();
    }

    /** When the engine has work next (epoch ms), or undefined. */
    nextWakeup() {
      return this._engine.nextWakeup(this._state);
    }

    /** The state as postcard bytes (version byte first). */
    exportState() {
      if (this._closed) throw closedError();
      return this._state.encode();
    }

    /** Merges state bytes (another device, the backend) into this shopper's state. */
    importState(bytes) {
      if (this._closed) throw closedError();
      const b = bytesOf(bytes);
      if (!b) throw new WaymarkError("bad_state", "importState takes the bytes from exportState (Uint8Array or ArrayBuffer)");
      this._state.mergeBytes(b);
      this._changed([]);
    }

    // --- listeners ----------------------------------------------------------------------

    /**
     * Subscribes: "decision" (each decision), "tier" ({from, to}), "sync" ({bytes}),
     * "error" (a WaymarkError from background work: sync, storage). Returns unsubscribe.
     */
    on(type, listener) {
      if (typeof listener !== "function") throw new WaymarkError("bad_listener", "on(type, listener) needs a function");
      let set = this._listeners.get(type);
      if (!set) this._listeners.set(type, (set = new Set()));
      set.add(listener);
      return () => this.off(type, listener);
    }

    off(type, listener) {
      this._listeners.get(type)?.delete(listener);
    }

    _emit(type, value) {
      const set = this._listeners.get(type);
      if (!set) return;
      for (const fn of set) {
        try {
          fn(value);
        } catch (e) {
          // A listener's bug must not break tracking: report it and go on.
          (typeof globalThis.reportError === "function" ? globalThis.reportError : console.error)(e);
        }
      }
    }

    // --- GA4 dataLayer ------------------------------------------------------------------

    /**
     * Feeds GA4 `dataLayer.push({event, ecommerce})` (and `gtag("event", ...)`) calls to
     * `track`, including entries already pushed. Returns a function that detaches.
     */
    attachDataLayer(dataLayer) {
      const layer = dataLayer || (globalThis.dataLayer = globalThis.dataLayer || []);
      if (!Array.isArray(layer)) throw new WaymarkError("bad_option", "dataLayer must be an array");
      const feed = (entry) => {
        const ev = fromDataLayer(entry);
        if (!ev) return;
        try {
          this.track(ev.name, ev.properties);
        } catch (e) {
          this._emit("error", e);
        }
      };
      for (const entry of layer) feed(entry);
      const previous = layer.push;
      const wrapped = function (...entries) {
        const n = previous.apply(this, entries);
        for (const entry of entries) feed(entry);
        return n;
      };
      layer.push = wrapped;
      const detach = () => {
        if (layer.push === wrapped) layer.push = previous;
      };
      this._detach.push(detach);
      return detach;
    }

    // --- sync ---------------------------------------------------------------------------

    /**
     * Sends the state to `${endpoint}/v1/sync` now and merges the answer. Resolves with
     * `{synced: true}`, or `{synced: false}` without an endpoint; rejects with a
     * WaymarkError (`code` from the backend, or `network_error`).
     */
    sync() {
      if (!this._endpoint) return Promise.resolve({ synced: false });
      if (this._closed) return Promise.reject(closedError());
      if (this._syncTimer !== undefined) {
        clearTimeout(this._syncTimer);
        this._syncTimer = undefined;
      }
      if (this._syncing) return this._syncing.then(() => this.sync());
      this._dirty = false;
      const sent = this._state.encode();
      this._syncing = this._post(sent)
        .then((answer) => {
          this._failures = 0;
          if (this._closed) return { synced: true };
          if (answer.byteLength > 0) this._state.mergeBytes(answer);
          this._persist();
          this._schedule();
          this._emit("sync", { bytes: answer.byteLength });
          return { synced: true };
        })
        .catch((e) => {
          this._dirty = true;
          this._failures++;
          if (e.retry !== false) this._scheduleSync(this._backoff());
          throw e;
        })
        .finally(() => {
          this._syncing = undefined;
        });
      return this._syncing;
    }

    async _post(bytes) {
      if (typeof this._fetch !== "function") throw new WaymarkError("bad_option", "no fetch in this runtime: pass options.fetch", { retry: false });
      const token = await this._currentToken();
      const headers = { "content-type": "application/octet-stream" };
      if (token) headers.authorization = `Bearer ${token}`;
      let res;
      try {
        res = await this._fetch(apiUrl(this._endpoint, "/v1/sync"), { method: "POST", headers, body: bytes });
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

    async _currentToken() {
      const t = this._token;
      const token = typeof t === "function" ? await t() : t;
      this._lastToken = token;
      return token;
    }

    /** Replaces the shopper token (e.g. after login the store issues one with the customer id). */
    setShopperToken(token) {
      this._token = token;
    }

    _backoff() {
      const base = Math.min(60_000, 1000 * 2 ** Math.min(this._failures - 1, 6));
      return base / 2 + Math.random() * (base / 2);
    }

    _scheduleSync(delay) {
      if (!this._endpoint || this._closed || this._syncTimer !== undefined) return;
      this._syncTimer = setTimeout(() => {
        this._syncTimer = undefined;
        this.sync().catch((e) => this._emit("error", e));
      }, delay);
      this._syncTimer?.unref?.();
    }

    /** Page hide: save now and hand the state to the browser to deliver after unload. */
    _flush() {
      this._persistNow();
      if (!this._endpoint || !this._dirty) return;
      // No awaiting during page hide: a token function's last answer is used.
      const token = typeof this._token === "function" ? this._lastToken : this._token;
      const state = this._state.encode();
      // sendBeacon is what browsers promise to deliver after the page is gone, but it cannot
      // set headers: POST /v1/sync/beacon takes the token as the body's first line. As
      // text/plain it is a simple request, so it needs no CORS preflight on another origin.
      const nav = globalThis.navigator;
      if (token && nav && typeof nav.sendBeacon === "function") {
        const body = new Blob([`${token}\n`, state], { type: "text/plain;charset=UTF-8" });
        try {
          if (nav.sendBeacon(apiUrl(this._endpoint, "/v1/sync/beacon"), body)) {
            this._dirty = false;
            return;
          }
        } catch {
          // Refused (too large for the beacon quota, or a blocked URL): try fetch.
        }
      }
      // Elsewhere (Node, workers, no token yet) a keepalive fetch, with the token as a header.
      if (typeof this._fetch !== "function") return;
      const headers = { "content-type": "application/octet-stream" };
      if (token) headers.authorization = `Bearer ${token}`;
      try {
        this._fetch(apiUrl(this._endpoint, "/v1/sync"), { method: "POST", headers, body: state, keepalive: true }).catch(() => {});
        this._dirty = false;
      } catch {
        // Stays dirty: the next page's sync delivers it.
      }
    }

    // --- internals ----------------------------------------------------------------------

    /** After a change: emit, note the tier, queue persist and sync, keep the timer. `meta`:
     * the tier and next wakeup an ingest/tick answered with (else asked of the state). */
    _changed(decisions, meta) {
      if (decisions.length > 0) {
        for (let i = 0; i < decisions.length; i++) this._emit("decision", decisions[i]);
      }
      const tier = meta ? meta.tier : this._state.tier;
      if (tier !== this._tier) {
        const from = this._tier;
        this._tier = tier;
        if (from !== undefined) this._emit("tier", { from, to: tier });
      }
      if (!this._persistQueued) {
        this._persistQueued = true;
        queueMicrotask(() => this._persist());
      }
      this._dirty = true;
      if (this._syncTimer === undefined) this._scheduleSync(this._syncDelay);
      this._schedule(meta);
    }

    _persist() {
      this._persistQueued = false;
      if (!this._closed) this._persistNow();
    }

    _persistNow() {
      const text = toBase64(this._state.encode());
      if (text === this._lastSaved) return;
      try {
        this._storage.setItem(this._stateKey, text);
        this._lastSaved = text;
      } catch (e) {
        this._emit("error", new WaymarkError("storage_failed", `could not save the state: ${e && e.message}`, { cause: e }));
      }
    }

    _storedId() {
      try {
        const id = this._storage.getItem(ID_KEY);
        if (id) return id;
        const fresh = randomId();
        this._storage.setItem(ID_KEY, fresh);
        return fresh;
      } catch {
        return randomId();
      }
    }

    /** The saved state (when readable), joined with the given id; else a fresh state. */
    _restore(shopperId) {
      let saved = null;
      try {
        saved = this._storage.getItem(this._stateKey);
      } catch {
        saved = null;
      }
      let state;
      if (saved) {
        try {
          state = State.decode(fromBase64(saved));
        } catch (e) {
          // A corrupt or newer-version copy: start fresh rather than break the page.
          queueMicrotask(() => this._emit("error", e));
        }
      }
      if (state && shopperId && !state.ids.includes(shopperId)) {
        const joined = new State(shopperId);
        joined.merge(state);
        state.free();
        state = joined;
      }
      if (!state) state = new State(shopperId || this._storedId());
      this._tier = state.tier;
      return state;
    }

    /** Another tab saved: merge its copy; write back only when ours knew more. */
    _mergeSaved(text) {
      try {
        this._state.mergeBytes(fromBase64(text));
      } catch (e) {
        this._emit("error", e);
        return;
      }
      const merged = toBase64(this._state.encode());
      if (merged === text) this._lastSaved = text;
      else this._persistNow();
      const tier = this._state.tier;
      if (tier !== this._tier) {
        const from = this._tier;
        this._tier = tier;
        this._emit("tier", { from, to: tier });
      }
      this._schedule();
    }

    /** Keeps one timer at the engine's next wakeup (`meta.wakeup` when just answered). */
    _schedule(meta) {
      if (!this._autoTimers || this._closed) return;
      const at = meta ? meta.wakeup : this._engine.nextWakeup(this._state);
      if (at === this._timerAt) return;
      if (this._timer !== undefined) clearTimeout(this._timer);
      this._timer = undefined;
      this._timerAt = at;
      if (at === undefined) return;
      const delay = Math.min(Math.max(0, at - this._clock()), MAX_TIMEOUT);
      this._timer = setTimeout(() => {
        this._timer = undefined;
        this._timerAt = undefined;
        try {
          this.tick();
        } catch (e) {
          this._emit("error", e);
        }
        this._schedule();
      }, delay);
      this._timer?.unref?.();
    }

    /** Stops timers and listeners, saves, and frees the wasm memory. */
    close() {
      if (this._closed) return;
      this._persistNow();
      this._closed = true;
      if (this._timer !== undefined) clearTimeout(this._timer);
      if (this._syncTimer !== undefined) clearTimeout(this._syncTimer);
      for (const d of this._detach) d();
      this._detach = [];
      this._state.free();
      this._engine.free();
    }
  }

  return {
    Waymark,
    WaymarkError,
    Engine,
    State,
    CHANNELS,
    fromDataLayer,
    encodeProperties,
    version: () => runtime.bindings.version(),
    init: ensureInit,
  };
}
