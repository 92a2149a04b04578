// waymark — where a shopper's state lives between page loads. Owns the `storage` option
// (localStorage, memory, or any Storage-like object), the state saved there as base64 of
// its postcard bytes (at most once a microtask, and only when it changed), the anonymous
// id saved beside it, and merging what another tab saved (the `storage` event). The edge
// worker keeps its state in a signed cookie or KV instead (worker/src/cookie.js).

import { WaymarkError } from "./errors.js";

/** The key of the saved state, unless the `storageKey` option names another. */
export const STATE_KEY = "waymark:state";
const ID_KEY = "waymark:id";

export function toBase64(bytes) {
  if (typeof Buffer === "function") return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export function fromBase64(text) {
  if (typeof Buffer === "function") return new Uint8Array(Buffer.from(text, "base64"));
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return "anon-" + c.randomUUID();
  return "anon-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

/** A Storage-like object from the `storage` option. */
export function resolveStorage(option) {
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

/**
 * One shopper's state as saved in a Storage under `key`. `restore` builds the state and
 * keeps it; every other method works on that state. `onError` receives what goes wrong
 * in the background (a corrupt saved copy, a full storage); nothing here throws.
 */
export class SavedState {
  constructor(storage, key, onError) {
    this.storage = storage;
    this.key = key;
    this.onError = onError;
    this.state = undefined;
    // The text last written (or read back unchanged): a save of the same text is skipped.
    this.lastSaved = undefined;
    this.queued = false;
    this.closed = false;
  }

  /**
   * The saved state (when readable), joined with `shopperId` when given; else a fresh
   * state for `shopperId`, or for the saved anonymous id (made and saved when missing).
   */
  restore(State, shopperId) {
    let saved = null;
    try {
      saved = this.storage.getItem(this.key);
    } catch {
      saved = null;
    }
    let state;
    if (saved) {
      try {
        state = State.decode(fromBase64(saved));
      } catch (e) {
        // A corrupt or newer-version copy: start fresh rather than break the page.
        queueMicrotask(() => this.onError(e));
      }
    }
    if (state && shopperId && !state.ids.includes(shopperId)) {
      const joined = new State(shopperId);
      joined.merge(state);
      state.free();
      state = joined;
    }
    if (!state) state = new State(shopperId || this.storedId());
    this.state = state;
    return state;
  }

  /** The anonymous id saved beside the state, made and saved the first time. */
  storedId() {
    try {
      const id = this.storage.getItem(ID_KEY);
      if (id) return id;
      const fresh = randomId();
      this.storage.setItem(ID_KEY, fresh);
      return fresh;
    } catch {
      return randomId();
    }
  }

  /** Saves at the end of this task: one write for any number of changes in it. */
  queue() {
    if (!this.queued) {
      this.queued = true;
      queueMicrotask(() => this.persist());
    }
  }

  /** Saves now, unless closed (a queued save that runs after `close` does nothing). */
  persist() {
    this.queued = false;
    if (!this.closed) this.persistNow();
  }

  persistNow() {
    const text = toBase64(this.state.encode());
    if (text === this.lastSaved) return;
    try {
      this.storage.setItem(this.key, text);
      this.lastSaved = text;
    } catch (e) {
      this.onError(new WaymarkError("storage_failed", `could not save the state: ${e && e.message}`, { cause: e }));
    }
  }

  /** Whether a `storage` event is another tab's save of our key (text other than ours). */
  isOtherTabSave(event) {
    return event.key === this.key && typeof event.newValue === "string" && event.newValue !== this.lastSaved;
  }

  /**
   * Merges what another tab saved; writes back only when ours knew more. True when it
   * merged (the state may have changed); false when the text did not decode.
   */
  mergeOtherTab(text) {
    try {
      this.state.mergeBytes(fromBase64(text));
    } catch (e) {
      this.onError(e);
      return false;
    }
    const merged = toBase64(this.state.encode());
    if (merged === text) this.lastSaved = text;
    else this.persistNow();
    return true;
  }

  /** Saves one last time; queued saves do nothing from now on. */
  close() {
    this.persistNow();
    this.closed = true;
  }
}
