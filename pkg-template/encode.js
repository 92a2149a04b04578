// Event properties → the postcard bytes of a Rust `BTreeMap<String, Value>`, written
// straight from the JS object (no JSON text, one copy into wasm memory); a whole event
// (`encodeEvent`) is its name as a length-prefixed UTF-8 text, then its properties. JSON semantics:
// `undefined`, functions and symbols are left out of objects and become null in arrays,
// non-finite numbers become null, `toJSON` (Date) is honoured, as JSON.stringify does.
//
// Value's binary shape: a varint variant index (0 null, 1 bool, 2 number, 3 string,
// 4 array, 5 object), then bool as one byte, number as f64 little-endian, string as
// varint length + UTF-8, array as varint count + values, object as varint count +
// (string key, value) pairs.

const MAX_DEPTH = 64;
const utf8 = new TextEncoder();
// The buffer written: this module's own, or for `encodeEventAt` a room in the wasm
// module's memory (`end`: where writing must stop).
let own = new Uint8Array(4096);
let ownView = new DataView(own.buffer);
let buf = own;
let view = ownView;
let pos = 0;
let end = own.length;
// Thrown when an event does not fit the room in wasm memory.
const FULL = { full: true };

function reserve(n) {
  if (pos + n <= end) return;
  if (buf !== own) throw FULL;
  let size = own.length * 2;
  while (size < pos + n) size *= 2;
  const next = new Uint8Array(size);
  next.set(own.subarray(0, pos));
  own = buf = next;
  ownView = view = new DataView(next.buffer);
  end = size;
}

function varint(n) {
  reserve(5);
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
}

function string(s) {
  const len = s.length;
  if (len < 128) {
    // Short ASCII (ids, names, categories): bytes written as they are read.
    reserve(len + 1);
    const start = pos;
    buf[pos++] = len;
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos++] = c;
    }
    if (i === len) return;
    pos = start;
  }
  const bytes = utf8.encode(s);
  varint(bytes.length);
  reserve(bytes.length);
  buf.set(bytes, pos);
  pos += bytes.length;
}

const skipped = (v) => v === undefined || typeof v === "function" || typeof v === "symbol";

function value(v, depth) {
  if (depth > MAX_DEPTH) throw new RangeError(`nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (v !== null && typeof v === "object" && typeof v.toJSON === "function") v = v.toJSON();
  switch (typeof v) {
    case "string":
      reserve(1);
      buf[pos++] = 3;
      string(v);
      return;
    case "number":
      if (!Number.isFinite(v)) break;
      reserve(9);
      buf[pos++] = 2;
      view.setFloat64(pos, v, true);
      pos += 8;
      return;
    case "boolean":
      reserve(2);
      buf[pos++] = 1;
      buf[pos++] = v ? 1 : 0;
      return;
    case "bigint":
      throw new TypeError("BigInt values are not JSON: convert them to numbers or strings");
    case "object":
      if (v === null) break;
      if (Array.isArray(v)) {
        reserve(1);
        buf[pos++] = 4;
        varint(v.length);
        for (let i = 0; i < v.length; i++) {
          const item = v[i];
          value(skipped(item) ? null : item, depth + 1);
        }
        return;
      }
      reserve(1);
      buf[pos++] = 5;
      entries(v, depth + 1);
      return;
  }
  reserve(1);
  buf[pos++] = 0;
}

const hasOwn = Object.prototype.hasOwnProperty;

function entries(obj, depth) {
  // The count comes first but is known only after the walk (undefined values are left
  // out, as JSON does): one byte is kept for it and patched, the entries moved in the rare
  // case of 128 or more. for-in + hasOwn walks own keys in Object.keys order without
  // allocating the keys array.
  reserve(1);
  const at = pos++;
  let n = 0;
  for (const key in obj) {
    if (!hasOwn.call(obj, key)) continue;
    const v = obj[key];
    if (skipped(v)) continue;
    n++;
    string(key);
    value(v, depth);
  }
  if (n < 0x80) {
    buf[at] = n;
    return;
  }
  const body = buf.slice(at + 1, pos);
  pos = at;
  varint(n);
  reserve(body.length);
  buf.set(body, pos);
  pos += body.length;
}

const EMPTY = new Uint8Array(0);

function checkObject(properties) {
  if (typeof properties !== "object" || Array.isArray(properties)) {
    throw new TypeError(`event properties must be a plain object, found ${Array.isArray(properties) ? "an array" : typeof properties}`);
  }
}

/**
 * Encodes event properties (a plain object, or undefined/null for none). The result is a
 * view into a shared buffer: pass it to wasm before the next call. Throws a TypeError /
 * RangeError for values JSON cannot carry (BigInt, cycles).
 */
export function encodeProperties(properties) {
  if (properties === undefined || properties === null) return EMPTY;
  checkObject(properties);
  pos = 0;
  entries(properties, 1);
  return buf.subarray(0, pos);
}

/**
 * Encodes a whole event, what `Engine.ingestInput` reads: the name (a string), then the
 * properties as `encodeProperties` writes them (`encoded`: bytes from it, else
 * `properties` is encoded here). Returns its length; `copyEncoded` copies it out.
 */
export function encodeEvent(name, properties, encoded) {
  const body = encoded === undefined ? undefined : encoded.slice();
  pos = 0;
  string(name);
  if (body !== undefined) {
    reserve(body.length + 1);
    if (body.length === 0) buf[pos++] = 0;
    buf.set(body, pos);
    pos += body.length;
  } else {
    writeProperties(properties);
  }
  return pos;
}

function writeProperties(properties) {
  if (properties === undefined || properties === null) {
    reserve(1);
    buf[pos++] = 0;
  } else {
    checkObject(properties);
    entries(properties, 1);
  }
}

/**
 * `encodeEvent` written straight into the wasm module's memory (`bytes` and `dataView`
 * over it) at `at`, `size` bytes at most: no copy. Returns the length, or -1 when the
 * event does not fit (then `encodeEvent` + `copyEncoded` take over).
 */
export function encodeEventAt(name, properties, bytes, dataView, at, size) {
  buf = bytes;
  view = dataView;
  pos = at;
  end = at + size;
  try {
    string(name);
    writeProperties(properties);
    return pos - at;
  } catch (e) {
    if (e === FULL) return -1;
    throw e;
  } finally {
    buf = own;
    view = ownView;
    end = own.length;
    pos = 0;
  }
}

/** Copies what `encodeEvent` wrote into `target` at `at`. */
export function copyEncoded(target, at) {
  // A loop beats making a subarray to `set` from only for the shortest events (a name
  // without properties); measured: `set` is faster from about 30 bytes on.
  if (pos > 24) {
    target.set(buf.subarray(0, pos), at);
    return;
  }
  for (let i = 0; i < pos; i++) target[at + i] = buf[i];
}
