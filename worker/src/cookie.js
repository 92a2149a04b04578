// cookie.js — the shopper's state in one signed, compact cookie.
//
//   wm=<base64url(payload)>.<base64url(mac)>
//   payload = [format byte][body]
//     format 0x01  body = the state's own encoding (version byte + postcard)
//     format 0x02  body = the same, deflate-raw compressed (used when it is smaller)
//     format 0x03  body = the shopper id (UTF-8): the state is too large for a cookie and
//                  is held elsewhere (KV when bound, else the backend); see README
//   mac = the first 16 bytes of HMAC-SHA256(secret, "wm1" + payload)
//
// A 128-bit truncated HMAC-SHA256 tag (RFC 2104 §5, NIST SP 800-107) keeps the cookie short
// and is far beyond online forgery. Anything that does not verify — bad base64, short,
// wrong tag, unknown format — is `null` to the caller, who starts a fresh state and logs;
// it is never an error page.

export const FORMAT_RAW = 0x01;
export const FORMAT_DEFLATE = 0x02;
export const FORMAT_HELD = 0x03;

const MAC_BYTES = 16;
const DOMAIN = new TextEncoder().encode("wm1");
/** Longest cookie value we write or read. Browsers keep ~4096 bytes for name + value +
 *  attributes; this leaves room for the name and `; Path=/; Max-Age=…; HttpOnly; Secure;
 *  SameSite=Lax`. */
export const MAX_COOKIE_VALUE = 3800;

const keys = new Map(); // secret text → CryptoKey, per isolate

async function hmacKey(secret) {
  let k = keys.get(secret);
  if (k === undefined) {
    k = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    if (keys.size > 4) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

async function mac(secret, payload) {
  const msg = new Uint8Array(DOMAIN.length + payload.length);
  msg.set(DOMAIN, 0);
  msg.set(payload, DOMAIN.length);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), msg));
  return sig.subarray(0, MAC_BYTES);
}

/** Constant-time comparison of two byte arrays. */
function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** base64url without padding. */
export function toBase64Url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** base64url (padding optional) → bytes, or null when not base64url. */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  let bin;
  try {
    bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Signs a payload into a cookie value. */
export async function seal(secret, payload) {
  return `${toBase64Url(payload)}.${toBase64Url(await mac(secret, payload))}`;
}

/**
 * Verifies a cookie value. Returns `{ ok: true, format, body }` or `{ ok: false, why }`
 * (`why`: "oversize" | "malformed" | "bad_signature" | "unknown_format").
 */
export async function open(secret, value) {
  if (value.length > MAX_COOKIE_VALUE) return { ok: false, why: "oversize" };
  const dot = value.indexOf(".");
  if (dot < 0) return { ok: false, why: "malformed" };
  const payload = fromBase64Url(value.slice(0, dot));
  const tag = fromBase64Url(value.slice(dot + 1));
  if (payload === null || tag === null || payload.length < 2 || tag.length !== MAC_BYTES) {
    return { ok: false, why: "malformed" };
  }
  if (!equalBytes(tag, await mac(secret, payload))) return { ok: false, why: "bad_signature" };
  const format = payload[0];
  if (format !== FORMAT_RAW && format !== FORMAT_DEFLATE && format !== FORMAT_HELD) {
    return { ok: false, why: "unknown_format" };
  }
  return { ok: true, format, body: payload.subarray(1) };
}

function withFormat(format, body) {
  const out = new Uint8Array(body.length + 1);
  out[0] = format;
  out.set(body, 1);
  return out;
}

async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** deflate-raw, through the runtime's CompressionStream. */
export const deflate = (bytes) => pipe(bytes, new CompressionStream("deflate-raw"));
/** Inflates at most `limit` bytes; throws past it (a zip bomb in a forged-but-signed cookie
 *  cannot happen, but a bound is cheap). */
export async function inflate(bytes, limit) {
  const out = await pipe(bytes, new DecompressionStream("deflate-raw"));
  if (out.length > limit) throw new Error(`inflated state is ${out.length} bytes (limit ${limit})`);
  return out;
}

/**
 * The cookie value for a state: raw when it fits, else deflated when that fits, else null
 * (the caller holds the state elsewhere and writes `sealHeld`). Raw first: a typical state
 * is a few hundred bytes, and skipping the compressor keeps the warm path short.
 */
export async function sealState(secret, stateBytes) {
  // base64url grows 4/3; the dot and the 16-byte tag add 23 characters.
  const fits = (n) => Math.ceil((n * 4) / 3) + 23 <= MAX_COOKIE_VALUE;
  let payload = withFormat(FORMAT_RAW, stateBytes);
  if (!fits(payload.length)) {
    payload = withFormat(FORMAT_DEFLATE, await deflate(stateBytes));
    if (!fits(payload.length)) return null;
  }
  return { value: await seal(secret, payload), format: payload[0], bytes: stateBytes.length };
}

/** A cookie that only names the shopper; the state lives in KV or the backend. */
export async function sealHeld(secret, shopperId) {
  return seal(secret, withFormat(FORMAT_HELD, new TextEncoder().encode(shopperId)));
}

/** The value of cookie `name` in a Cookie header, or null. */
export function readCookie(header, name) {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** A Set-Cookie header value. */
export function setCookie(name, value, { secure, maxAge = 31536000 }) {
  return `${name}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}
