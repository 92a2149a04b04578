// backend.js — talking to `waymark serve`: shopper tokens and `POST /v1/sync`.
//
// Tokens: with the backend's token secret bound (`WAYMARK_TOKEN_SECRET`) the worker signs
// shopper tokens itself, in the backend's format (`v1.<base64url JSON claims>.<base64url
// HMAC-SHA256>`), with no round trip; otherwise, with `WAYMARK_ADMIN_TOKEN`, it asks
// `POST /v1/token`. Tokens are cached per isolate until shortly before they expire.
//
// Sync is state-based: the whole state goes up, the merged state comes back, and merge is
// a join — so a sync that failed is simply retried by the next one, which carries
// everything the failed one had.

import { toBase64Url } from "./cookie.js";

const TOKEN_TTL_MS = 60 * 60 * 1000;
const tokens = new Map(); // shopper id → { token, exp }
const MAX_TOKENS = 1000;

/** Merged states that came back from the backend after the response had gone, waiting
 *  for this shopper's next request on this isolate (bounded, oldest evicted). */
const pulled = new Map(); // shopper id → Uint8Array
const MAX_PULLED = 1000;

async function mintToken(secret, sub, now) {
  const claims = { sub, exp: now + TOKEN_TTL_MS };
  const signed = `v1.${toBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signed)));
  return { token: `${signed}.${toBase64Url(sig)}`, exp: claims.exp };
}

async function requestToken(backend, adminToken, sub, timeoutMs) {
  const res = await fetch(`${backend}/v1/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ anonymous_id: sub }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw backendError("token_failed", `POST /v1/token answered ${res.status}: ${await res.text()}`);
  const body = await res.json();
  const exp = Date.parse(body.expires_at);
  return { token: body.token, exp: Number.isFinite(exp) ? exp : Date.now() + 5 * 60 * 1000 };
}

function backendError(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

/** A valid shopper token for `sub`, cached. Throws when the worker has no credentials.
 *  Expiry is wall-clock time (the backend checks it against its own clock), so tokens use
 *  `Date.now()`, not the engine's `now`. */
export async function shopperToken(cfg, sub) {
  const now = Date.now();
  const cached = tokens.get(sub);
  if (cached !== undefined && cached.exp - now > 60_000) return cached.token;
  let t;
  if (cfg.tokenSecret) t = await mintToken(cfg.tokenSecret, sub, now);
  else if (cfg.adminToken) t = await requestToken(cfg.backend, cfg.adminToken, sub, cfg.timeoutMs);
  else throw backendError("no_backend_credentials", "set WAYMARK_TOKEN_SECRET (or WAYMARK_ADMIN_TOKEN) to sync");
  if (tokens.size >= MAX_TOKENS) tokens.delete(tokens.keys().next().value);
  tokens.set(sub, t);
  return t.token;
}

/**
 * `POST /v1/sync` with the state's bytes; resolves to the merged state's bytes. Throws an
 * Error with a `code` on any failure (network, timeout, non-2xx).
 */
export async function syncState(cfg, sub, stateBytes) {
  const token = await shopperToken(cfg, sub);
  const res = await fetch(`${cfg.backend}/v1/sync`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
    body: stateBytes,
    signal: AbortSignal.timeout(cfg.timeoutMs),
  });
  if (!res.ok) {
    if (res.status === 401) tokens.delete(sub);
    let code = `http_${res.status}`;
    try {
      code = (await res.json()).code ?? code;
    } catch {
      // not JSON: keep the status
    }
    throw backendError("sync_failed", `POST /v1/sync answered ${res.status} (${code})`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Sync with retries (for `ctx.waitUntil`): `attempts` tries, backing off. Keeps the merged
 * state for the shopper's next request. Resolves to true on success; never throws.
 */
export async function syncInBackground(cfg, sub, stateBytes, log) {
  let delay = 200;
  for (let attempt = 1; attempt <= cfg.syncAttempts; attempt++) {
    try {
      const merged = await syncState(cfg, sub, stateBytes);
      if (pulled.size >= MAX_PULLED) pulled.delete(pulled.keys().next().value);
      pulled.set(sub, merged);
      return true;
    } catch (e) {
      log("sync_failed", { attempt, of: cfg.syncAttempts, error: e.message, code: e.code });
      if (attempt < cfg.syncAttempts) {
        await new Promise((r) => setTimeout(r, delay));
        delay *= 4;
      }
    }
  }
  return false;
}

/** The merged state the backend answered for this shopper since its last request here,
 *  taken (removed) so it is merged once. */
export function takePulled(sub) {
  const bytes = pulled.get(sub);
  if (bytes !== undefined) pulled.delete(sub);
  return bytes ?? null;
}
