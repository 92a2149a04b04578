// waymark — the wasm boundary. Owns what crosses it: the methods that complete the
// wasm-bindgen classes (events written straight into the engine's input room in the
// module's memory, packed decisions read in place with the engine's string table, traits
// as postcard maps) and the choice of constructor for a bundle (binary bytes, JSON text,
// JSON object; `Engine.fromJson` over the full module's `fromJsonText`). The byte formats
// themselves are encode.js (in) and decode.js (out).

import { decodeDecisions, decodeObject } from "./decode.js";
import { copyEncoded, encodeEvent, encodeEventAt, encodeProperties } from "./encode.js";
import { WaymarkError } from "./errors.js";

const JSON_HINT =
  "this build of waymark loads only the compact binary bundle: compile the journeys with " +
  "`waymark bundle <journeys> -o bundle.bin` (or let Waymark.load fetch /v1/bundle from your " +
  "endpoint), or import \"waymark/full\", which also validates and compiles JSON bundles";

/** A Uint8Array view of bytes given as Uint8Array, ArrayBuffer or another view; else undefined. */
export function bytesOf(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

/**
 * The engine of a bundle: binary bundle bytes (`waymark bundle`, GET /v1/bundle), JSON
 * text (also when fetched as bytes) or a JSON object. JSON needs a module built with JSON
 * bundles (node, "waymark/full"); the slim module's `fromJson` throws `json_bundle_unsupported`.
 */
export function engineFromBundle(Engine, bundle) {
  const bytes = bytesOf(bundle);
  // JSON text fetched as bytes (a bundle.json served instead of bundle.bin): "{".
  if (bytes && bytes[0] === 0x7b) return Engine.fromJson(bytes);
  if (bytes) return Engine.fromBytes(bytes);
  if (typeof bundle === "string" || (bundle && typeof bundle === "object")) return Engine.fromJson(bundle);
  throw new WaymarkError("bad_bundle", "bundle must be a JSON bundle object, its text, or the binary bundle bytes");
}

/**
 * `Engine.fromJson` over the full module's `fromJsonText(text, located)`: text and bytes
 * go in as written (errors then carry line and column), an object as the JSON text it
 * stands for. The module compiles it as `waymark bundle` does; its errors become a
 * WaymarkError with `code` and `path` of the first and `errors` listing all.
 */
function fromJsonWith(Engine) {
  return (bundle) => {
    const bytes = bytesOf(bundle);
    let text;
    let located = true;
    if (typeof bundle === "string") text = bundle;
    else if (bytes) text = new TextDecoder().decode(bytes);
    else if (bundle && typeof bundle === "object") {
      located = false;
      try {
        text = JSON.stringify(bundle);
      } catch (e) {
        throw new WaymarkError("bad_bundle", `the bundle object cannot be written as JSON (${e.message}): pass plain objects, arrays, strings, numbers and booleans`);
      }
    } else {
      throw new WaymarkError("bad_bundle", "a JSON bundle is an object { journeys, policy, groups }, its text, or its UTF-8 bytes");
    }
    try {
      return Engine.fromJsonText(text, located);
    } catch (e) {
      if (e && typeof e.code === "string") throw new WaymarkError(e.code, e.message, { path: e.path, errors: e.errors });
      throw e;
    }
  };
}

/**
 * Events in and decisions out through the module's memory (`Engine.inputBuffer` /
 * `ingestInput` / `tickOutput`, src/wasm/mod.rs): no copy either way for the usual event.
 * `memory()` answers the module's WebAssembly.Memory (it exists once the module is loaded).
 */
function memoryIo(memory) {
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
  return {
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
    /**
     * Ingests the event `write` left in the room (`len` bytes); its decisions. `meta`, when
     * given, receives the answer's tier and next wakeup.
     */
    ingest(engine, state, now, len, table, meta) {
      return decodeAt(engine.ingestInput(state, now, len), table, now, meta);
    },
    /** Runs due timers; their decisions. */
    tick(engine, state, now, table, meta) {
      return decodeAt(engine.tickOutput(state, now), table, now, meta);
    },
  };
}

/**
 * Completes the wasm-bindgen classes with the methods that take and return JS values:
 * the module itself speaks bytes (packed decisions, postcard traits), decoded here.
 * Idempotent: every entry point calls it on its own glue; the `Engine.__waymarkIo` it
 * leaves (see `memoryIo`) is what `Waymark` runs events through.
 */
export function completeBindings(Engine, State, memory) {
  if (Engine.prototype.__waymarkComplete) return;
  // The string table decisions refer to, asked of each engine once.
  const tables = new WeakMap();
  const table = (engine) => {
    let t = tables.get(engine);
    if (!t) tables.set(engine, (t = engine.strings()));
    return t;
  };
  const io = memoryIo(memory);
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
  Engine.fromJson =
    typeof Engine.fromJsonText === "function"
      ? fromJsonWith(Engine)
      : () => {
          throw new WaymarkError("json_bundle_unsupported", `a JSON bundle was given, but ${JSON_HINT}`);
        };
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
