// waymark at the edge: an ES-module worker in front of a storefront's origin.
//
// Per page request: read the shopper's state from a signed cookie, derive the event from
// the URL (routes.js), ingest it with the wasm engine, and send the decision with the
// page — `x-waymark-decision` header, a JSON script in <head>, the rendered nudge in the
// page's slot — plus the updated cookie. The origin is fetched while the engine decides.
// State goes to the backend in `ctx.waitUntil`, after the response. Anything that goes
// wrong on the waymark side serves the origin's page untouched (fail open) and logs.
//
// Bindings (wrangler.toml `[vars]` / secrets, or the workerd config):
//   WAYMARK_COOKIE_SECRET   secret that signs the state cookie (required; ≥ 16 characters)
//   ORIGIN                  origin base URL, e.g. https://origin.example.com (absent: the
//                           request goes on to the route's own origin, `fetch(request)`)
//   WAYMARK_BACKEND         backend base URL (absent: no sync, the embedded bundle only)
//   WAYMARK_TOKEN_SECRET    the backend's shopper-token secret, to sign sync tokens here
//   WAYMARK_ADMIN_TOKEN     or the backend's admin token, to ask it for shopper tokens
//   WAYMARK_ROUTES          route config JSON (routes.js); WAYMARK_SLOTS content → HTML
//   WAYMARK_STATE           optional KV namespace for states too large for a cookie
//   WAYMARK_COOKIE          cookie name (default "wm"); WAYMARK_BUNDLE_TTL_MS (60000),
//   WAYMARK_BACKEND_TIMEOUT_MS (2000), WAYMARK_BUNDLE_WAIT_MS (250), WAYMARK_SYNC_ATTEMPTS (3)
//   WAYMARK_TEST_CLOCK      "1" lets tests set the time with `x-waymark-now` (never in prod)

import { compileRoutes, routeEvent, DEFAULT_ROUTES } from "./routes.js";
import { open, readCookie, sealState, sealHeld, setCookie, inflate, FORMAT_DEFLATE, FORMAT_HELD } from "./cookie.js";
import { injectHtml, isHtml, primaryDecision, summary, asciiJson } from "./inject.js";
import { ensureWasm, noteTrap, currentEngine, bundleCheckDue, onEmbeddedBundle, refreshBundle, bundleInfo, State } from "./engine.js";
import { syncInBackground, syncState, takePulled } from "./backend.js";

const TRACK_PATH = "/__waymark/track";
const MAX_TRACK_BODY = 16 * 1024;
const MAX_TRACK_EVENTS = 20;
/** The largest state the engine decodes (src/state.rs MAX_ENCODED_BYTES). */
const MAX_STATE_BYTES = 128 * 1024;
/** How long KV keeps a held state after its last write. */
const HELD_TTL_S = 90 * 86400;

/** One JSON line per notable thing; `wm` names it. */
function log(what, fields = {}) {
  console.log(JSON.stringify({ wm: what, ...fields }));
}

let configCache = { key: null, cfg: null };

function int(v, dflt) {
  const n = Number.parseInt(v ?? "", 10);
  return Number.isFinite(n) && n >= 0 ? n : dflt;
}

/** The worker's settings from its bindings, compiled once per distinct config. */
export function config(env) {
  const key = `${env.WAYMARK_ROUTES ?? ""}\u0000${env.WAYMARK_SLOTS ?? ""}\u0000${env.WAYMARK_BACKEND ?? ""}\u0000${env.ORIGIN ?? ""}`;
  if (configCache.key === key) return configCache.cfg;
  const strip = (u) => (u ? String(u).replace(/\/+$/, "") : null);
  const cfg = {
    routes: compileRoutes(env.WAYMARK_ROUTES ?? DEFAULT_ROUTES),
    slots: env.WAYMARK_SLOTS ? JSON.parse(env.WAYMARK_SLOTS) : {},
    origin: strip(env.ORIGIN),
    backend: strip(env.WAYMARK_BACKEND),
    cookieName: env.WAYMARK_COOKIE || "wm",
    bundleTtlMs: int(env.WAYMARK_BUNDLE_TTL_MS, 60_000),
    bundleWaitMs: int(env.WAYMARK_BUNDLE_WAIT_MS, 250),
    timeoutMs: int(env.WAYMARK_BACKEND_TIMEOUT_MS, 2000),
    syncAttempts: Math.max(1, int(env.WAYMARK_SYNC_ATTEMPTS, 3)),
    pageView: env.WAYMARK_PAGE_VIEW !== "0",
  };
  configCache = { key, cfg };
  return cfg;
}

/** Per-request backend settings (secrets are read from env each time, never cached). */
function backendCfg(cfg, env) {
  return {
    backend: cfg.backend,
    tokenSecret: env.WAYMARK_TOKEN_SECRET || null,
    adminToken: env.WAYMARK_ADMIN_TOKEN || null,
    timeoutMs: cfg.timeoutMs,
    syncAttempts: cfg.syncAttempts,
  };
}

/** The request the origin gets: same method, headers and body, our cookie removed. */
function originRequest(request, cfg, url) {
  const headers = new Headers(request.headers);
  const cookie = headers.get("cookie");
  if (cookie !== null) {
    const rest = cookie
      .split(";")
      .filter((p) => p.split("=")[0].trim() !== cfg.cookieName)
      .join(";")
      .trim();
    if (rest === "") headers.delete("cookie");
    else headers.set("cookie", rest);
  }
  const target = cfg.origin === null ? request.url : `${cfg.origin}${url.pathname}${url.search}`;
  return new Request(target, {
    method: request.method,
    headers,
    body: request.method === "GET" || request.method === "HEAD" ? null : request.body,
    redirect: "manual",
  });
}

function isNavigation(request) {
  if (request.method !== "GET") return false;
  const dest = request.headers.get("sec-fetch-dest");
  if (dest !== null) return dest === "document";
  return /text\/html/i.test(request.headers.get("accept") || "");
}

function clockNow(request, env) {
  if (env.WAYMARK_TEST_CLOCK === "1") {
    const t = Number(request.headers.get("x-waymark-now"));
    if (Number.isFinite(t) && t > 0) return t;
  }
  return Date.now();
}

/**
 * The shopper's state from the request's cookie: `{ state, id, original, from }`.
 * `from`: "cookie" | "held" | "new" (no cookie) | "reset" (a cookie that did not verify
 * or decode — logged, and the shopper starts fresh).
 */
async function readState(request, env, cfg, now) {
  const value = readCookie(request.headers.get("cookie"), cfg.cookieName);
  const fresh = (from) => {
    const id = crypto.randomUUID();
    return { state: new State(id), id, original: null, from };
  };
  if (value === null || value === "") return fresh("new");
  const opened = await open(env.WAYMARK_COOKIE_SECRET, value);
  if (!opened.ok) {
    log("cookie_rejected", { why: opened.why, length: value.length });
    return fresh("reset");
  }
  try {
    if (opened.format === FORMAT_HELD) {
      const id = new TextDecoder().decode(opened.body);
      return { ...(await heldState(env, cfg, id)), id, from: "held" };
    }
    const bytes = opened.format === FORMAT_DEFLATE ? await inflate(opened.body, MAX_STATE_BYTES) : opened.body;
    const state = State.decode(bytes);
    return { state, id: state.primaryId, original: bytes, from: "cookie" };
  } catch (e) {
    log("cookie_rejected", { why: "undecodable", code: e.code, error: e.message });
    return fresh("reset");
  }
}

/** A state held outside the cookie: from KV when bound, then from the backend (a sync of
 *  an empty state answers the stored one) when KV failed or lacks it; empty when neither
 *  has it. `unavailable`: a read failed and nothing else answered, so the state is still
 *  out there and the caller must not replace it. */
async function heldState(env, cfg, id) {
  const sources = [];
  if (env.WAYMARK_STATE) sources.push("kv");
  if (cfg.backend) sources.push("backend");
  let unavailable = false;
  for (const where of sources) {
    let bytes = null;
    try {
      if (where === "kv") {
        const buf = await env.WAYMARK_STATE.get(`state:${id}`, "arrayBuffer");
        if (buf !== null) bytes = new Uint8Array(buf);
      } else {
        bytes = await syncState(backendCfg(cfg, env), id, new State(id).encode());
      }
    } catch (e) {
      log("held_state_unavailable", { shopper: id, where, error: e.message, code: e.code });
      unavailable = true;
      continue;
    }
    if (bytes === null) {
      // Expired, never written (a failed put), or not yet visible here (KV is eventually
      // consistent): the backend's copy, if any, else an empty state.
      log("held_state_missing", { shopper: id, where });
      continue;
    }
    try {
      const state = State.decode(bytes);
      if (where !== sources[0]) log("held_state_fallback", { shopper: id, where });
      return { state, original: bytes, unavailable: false };
    } catch (e) {
      // A stored state this engine cannot read is as good as gone: replaced on this request.
      log("held_state_rejected", { shopper: id, where, error: e.message, code: e.code });
    }
  }
  return { state: new State(id), original: null, unavailable };
}

/** Starts a bundle check when one is due: awaited briefly on an isolate still on the
 *  embedded bundle, in the background otherwise. */
async function maybeRefreshBundle(cfg, ctx, now) {
  if (cfg.backend === null || !bundleCheckDue(now, cfg.bundleTtlMs)) return;
  const p = refreshBundle(cfg.backend, now, cfg.timeoutMs, log);
  if (onEmbeddedBundle() && cfg.bundleWaitMs > 0) {
    let timer;
    const waited = await Promise.race([p, new Promise((r) => (timer = setTimeout(() => r("waiting"), cfg.bundleWaitMs)))]);
    clearTimeout(timer);
    if (waited !== "waiting") return;
  }
  ctx.waitUntil(p);
}

/**
 * Runs the engine for one request: events in, decisions out, the new cookie, and the
 * background sync. `events` is a list of `{ name, properties }` (may be empty: then due
 * timers run). Throws only on waymark-side failures, which the caller turns into fail-open.
 */
async function decide(request, env, ctx, cfg, events, extras, now) {
  ensureWasm();
  await maybeRefreshBundle(cfg, ctx, now);
  const engine = currentEngine();
  const s = await readState(request, env, cfg, now);
  const pulled = takePulled(s.id);
  if (pulled !== null) {
    try {
      s.state.mergeBytes(pulled);
    } catch (e) {
      log("merge_failed", { error: e.message, code: e.code });
    }
  }
  if (extras && extras.traits) s.state.setTraits(extras.traits, now);
  if (extras && extras.consent) {
    for (const [channel, granted] of Object.entries(extras.consent)) s.state.setConsent(channel, granted === true, now);
  }
  const decisions = [];
  if (events.length === 0) decisions.push(...engine.tick(s.state, now));
  for (const ev of events) decisions.push(...engine.ingest(s.state, ev.name, now, ev.properties ?? {}));
  const intent = engine.intent(s.state, now);
  const bytes = s.state.encode();
  const changed = s.original === null || !sameBytes(bytes, s.original);

  let cookie = null;
  if (s.unavailable) {
    // The held state could not be read: this request decided from an empty one. Keep the
    // held cookie and leave the stored state alone, so the next request finds the
    // shopper's history again; this request's events reach only the backend's sync.
  } else if (changed || s.from !== "cookie") {
    const sealed = await sealState(env.WAYMARK_COOKIE_SECRET, bytes);
    if (sealed !== null) {
      cookie = sealed.value;
    } else {
      log("state_held", { bytes: bytes.length, where: env.WAYMARK_STATE ? "kv" : cfg.backend ? "backend" : "nowhere" });
      cookie = await sealHeld(env.WAYMARK_COOKIE_SECRET, s.id);
      if (env.WAYMARK_STATE) {
        const put = env.WAYMARK_STATE.put(`state:${s.id}`, bytes, { expirationTtl: HELD_TTL_S });
        ctx.waitUntil(put.catch((e) => log("held_state_put_failed", { shopper: s.id, bytes: bytes.length, error: e.message })));
      }
    }
  }
  if (changed && cfg.backend !== null) {
    ctx.waitUntil(syncInBackground(backendCfg(cfg, env), s.id, bytes, log));
  }
  const primary = summary(primaryDecision(decisions));
  const page = {
    version: 1,
    shopper: s.id,
    state: s.from,
    time: now,
    events: events.map((e) => e.name),
    decision: primary,
    decisions,
    intent,
    bundle: bundleInfo().source,
  };
  return { page, cookie, from: s.from };
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function withWaymarkHeaders(response, result, secure, cfg) {
  const out = new Response(response.body, response);
  out.headers.set("x-waymark-decision", result.page.decision === null ? "none" : asciiJson(result.page.decision));
  if (result.cookie !== null) out.headers.append("set-cookie", setCookie(cfg.cookieName, result.cookie, { secure }));
  return out;
}

/** `POST /__waymark/track`: events from the page (JSON), decisions back as JSON. */
async function track(request, env, ctx, cfg, url, now) {
  if (request.method !== "POST") return json({ code: "method_not_allowed", message: "POST events here" }, 405);
  const text = await request.text();
  if (text.length > MAX_TRACK_BODY) return json({ code: "body_too_large", message: `at most ${MAX_TRACK_BODY} bytes` }, 413);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return json({ code: "bad_json", message: "the body must be JSON: {name, properties} or {events: [...]}" }, 400);
  }
  const events = Array.isArray(body?.events) ? body.events : body?.name ? [body] : [];
  if (events.length > MAX_TRACK_EVENTS) return json({ code: "too_many_events", message: `at most ${MAX_TRACK_EVENTS}` }, 400);
  for (const [i, e] of events.entries()) {
    if (typeof e?.name !== "string" || e.name.trim() === "") {
      return json({ code: "bad_event", message: `events[${i}].name must be an event name` }, 400);
    }
    if (e.properties !== undefined && (typeof e.properties !== "object" || e.properties === null || Array.isArray(e.properties))) {
      return json({ code: "bad_event", message: `events[${i}].properties must be an object` }, 400);
    }
  }
  const extras = { traits: plain(body?.traits), consent: plain(body?.consent) };
  let result;
  try {
    result = await decide(request, env, ctx, cfg, events, extras, now);
  } catch (e) {
    const trap = noteTrap(e);
    if (!trap && e.code && e.code !== "wasm_init_failed" && e.code !== "wasm_trapped" && !(e instanceof TypeError)) {
      // An engine error about the input (bad property values, a bad trait): the caller's.
      return json({ code: e.code, message: e.message }, 400);
    }
    log("fail_open", { path: url.pathname, error: e.message, code: e.code, trap });
    return json({ code: "unavailable", message: "decisions are unavailable right now" }, 503);
  }
  return withWaymarkHeaders(json(result.page, 200), result, url.protocol === "https:", cfg);
}

function plain(v) {
  return v && typeof v === "object" && !Array.isArray(v) ? v : null;
}

function json(value, status) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    let cfg;
    try {
      if (!env.WAYMARK_COOKIE_SECRET || String(env.WAYMARK_COOKIE_SECRET).length < 16) {
        throw Object.assign(new Error("WAYMARK_COOKIE_SECRET is missing or shorter than 16 characters"), {
          code: "no_cookie_secret",
        });
      }
      cfg = config(env);
    } catch (e) {
      log("fail_open", { path: url.pathname, error: e.message, code: e.code });
      const bare = { origin: env.ORIGIN ? String(env.ORIGIN).replace(/\/+$/, "") : null, cookieName: env.WAYMARK_COOKIE || "wm" };
      return fetch(originRequest(request, bare, url));
    }
    const now = clockNow(request, env);
    if (url.pathname === TRACK_PATH) return track(request, env, ctx, cfg, url, now);

    const toOrigin = originRequest(request, cfg, url);
    if (!isNavigation(request)) return fetch(toOrigin);

    // The origin works while the engine decides.
    const originResponse = fetch(toOrigin);
    const routed = routeEvent(cfg.routes, url);
    const events = routed !== null ? [routed] : cfg.pageView ? [{ name: "page_view", properties: { page_path: url.pathname } }] : [];
    let result;
    try {
      result = await decide(request, env, ctx, cfg, events, null, now);
    } catch (e) {
      log("fail_open", { path: url.pathname, error: e.message, code: e.code, trap: noteTrap(e) });
      return originResponse;
    }
    const response = await originResponse;
    const secure = url.protocol === "https:";
    if (!isHtml(response)) return withWaymarkHeaders(response, result, secure, cfg);
    const rewritten = withWaymarkHeaders(injectHtml(response, result.page, cfg.slots), result, secure, cfg);
    rewritten.headers.set("cache-control", "private, no-cache");
    return rewritten;
  },
};
