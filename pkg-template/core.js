// waymark — the JS API over the wasm bindings, the same for every runtime. The entry
// files (browser.js, node.js, worker.js, bundler.js, full.js) only say how the module
// loads; `createWaymark` completes their bindings and makes the `Waymark` class over them.
//
// The engine is pure: this layer gives it a clock (Date.now by default) and a timer
// (setTimeout at the engine's next wakeup), emits what it decides, and assembles the rest:
//   bindings.js  the wasm boundary: events in and decisions out through the module's memory
//   storage.js   the saved state and anonymous id (localStorage), other tabs' saves
//   sync.js      the backend: shopper token, /v1/bundle, /v1/sync, retries, page-hide beacon
//   errors.js    WaymarkError, the one error type with stable codes

import { bytesOf, completeBindings, engineFromBundle } from "./bindings.js";
import { encodeProperties } from "./encode.js";
import { WaymarkError, closedError } from "./errors.js";
import { STATE_KEY, SavedState, resolveStorage } from "./storage.js";
import { BackendSync, fetchBundle, tokenSubject } from "./sync.js";

export { WaymarkError };

const MAX_TIMEOUT = 2 ** 31 - 1;
// The largest count the module takes (a u32).
const MAX_LIMIT = 2 ** 32 - 1;
const CHANNELS = ["onsite", "inapp", "email", "sms", "push", "ads"];

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

/**
 * Builds the public API over one set of bindings.
 * runtime: { bindings: {Engine, State, version, wasmMemory}, init(wasm?): Promise|void, name }
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

  // One class per runtime (each entry loads its own module); everything but `load` is
  // the runtime-independent `ShopperSession`.
  class Waymark extends ShopperSession {
    /**
     * Loads the module (once), the bundle (given, or GET `${endpoint}/v1/bundle`) and the
     * shopper's saved state, and returns a ready instance.
     */
    static async load(options = {}) {
      await ensureInit(options.wasm);
      let bundle = options.bundle;
      if (bundle === undefined) bundle = await fetchBundle(options);
      return new Waymark(engineFromBundle(Engine, bundle), options);
    }

    /** Use `Waymark.load`; the constructor takes an engine already built. */
    constructor(engine, options = {}) {
      super(engine, options, State, io);
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

/**
 * One shopper on one engine: the `Waymark` API minus `load`. Owns the engine, the state,
 * the listeners and the engine's wakeup timer; `_saved` (storage.js) and `_sync`
 * (sync.js) own saving and the backend.
 */
class ShopperSession {
  constructor(engine, options, State, io) {
    this._engine = engine;
    this._io = io;
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
    const onError = (e) => this._emit("error", e);
    this._saved = new SavedState(resolveStorage(options.storage), options.storageKey || STATE_KEY, onError);
    this._listeners = new Map();
    this._timer = undefined;
    this._timerAt = undefined;
    this._closed = false;
    this._detach = [];
    // What the packed answer of ingest/tick says besides decisions (tier, next wakeup).
    this._meta = { tier: undefined, wakeup: undefined };
    this._autoTimers = options.timers !== false;

    const token = options.shopperToken;
    const shopperId = options.shopperId || tokenSubject(typeof token === "string" ? token : undefined);
    this._state = this._saved.restore(State, shopperId);
    this._tier = this._state.tier;
    const onSynced = (answer) => {
      this._saved.persist();
      this._schedule();
      this._emit("sync", { bytes: answer.byteLength });
    };
    this._sync = new BackendSync(options, this._state, onSynced, onError);
    this._saved.persist();

    this._watchPage();
    if (options.dataLayer) {
      this.attachDataLayer(options.dataLayer === true ? undefined : options.dataLayer);
    }
    this._schedule();
  }

  /** In a browser page: merge other tabs' saves, flush on page hide, re-arm the timer when shown. */
  _watchPage() {
    const win = globalThis.window;
    if (!win || typeof win.addEventListener !== "function") return;
    const onStorage = (e) => {
      if (this._saved.isOtherTabSave(e)) this._mergeSaved(e.newValue);
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

  // --- events in ---------------------------------------------------------------------

  /**
   * Ingests an event (GA4 name or Segment alias) now, emits every decision (taken or
   * suppressed, each with reasons) to "decision" listeners and returns them.
   */
  track(name, properties) {
    if (this._closed) throw closedError();
    const len = this._io.write(this._engine, name, properties);
    const now = this._clock();
    const decisions = this._io.ingest(this._engine, this._state, now, len, this._table, this._meta);
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
    const decisions = this._io.tick(this._engine, this._state, now, this._table, this._meta);
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

  /**
   * Ids of the items the shopper viewed and did not buy, the most recently touched
   * (viewed, carted, wishlisted) first: at most `k`, by default all the state remembers
   * (up to 16). Read from the shopper's interest memory, so it works offline and says
   * what the backend knows after a sync.
   */
  recentlyViewed(k) {
    if (this._closed) throw closedError();
    let limit = MAX_LIMIT;
    if (k !== undefined && k !== null) {
      if (!Number.isInteger(k) || k < 0) {
        throw new WaymarkError("bad_limit", `recentlyViewed(k): k is a whole number of items, 0 or more; found ${String(k)}`);
      }
      limit = Math.min(k, MAX_LIMIT);
    }
    return this._state.recentlyViewed(limit);
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
    return this._sync.sync();
  }

  /** Replaces the shopper token (e.g. after login the store issues one with the customer id). */
  setShopperToken(token) {
    this._sync.setToken(token);
  }

  /** Page hide: save now and hand the state to the browser to deliver after unload. */
  _flush() {
    this._saved.persistNow();
    this._sync.flush();
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
    this._saved.queue();
    this._sync.changed();
    this._schedule(meta);
  }

  /** Another tab saved `text`: merge it in, note the tier, keep the timer. */
  _mergeSaved(text) {
    if (!this._saved.mergeOtherTab(text)) return;
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
    this._saved.close();
    this._closed = true;
    if (this._timer !== undefined) clearTimeout(this._timer);
    this._sync.stop();
    for (const d of this._detach) d();
    this._detach = [];
    this._state.free();
    this._engine.free();
  }
}
