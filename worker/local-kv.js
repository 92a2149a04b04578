// worker/local-kv.js — a Workers KV namespace for local runs and tests: an in-memory store
// that runs inside workerd as the service behind a `kvNamespace` binding (workerd.capnp,
// config `withKv`). Not deployed: on Cloudflare, `[[kv_namespaces]]` in wrangler.toml binds
// the real namespace.
//
// workerd turns the binding's calls into HTTP requests to this service (src/workerd/api/kv.c++):
//
//   get(key, type)          GET    https://fake-host/<key>?urlencoded=true[&cache_ttl=N]
//                           → 200 with the value (and `CF-KV-Metadata`), or 404 → null
//   put(key, value, opts)   PUT    https://fake-host/<key>?urlencoded=true[&expiration=T][&expiration_ttl=S]
//                           body = the value; `CF-KV-Metadata: <json>` when opts.metadata
//   delete(key)             DELETE https://fake-host/<key>?urlencoded=true
//   list(opts)              GET    https://fake-host/?[prefix=P][&key_count_limit=N][&cursor=C]
//                           → {"keys": [{name, expiration?, metadata?}], "list_complete", "cursor"?}
//
// <key> is percent-encoded (one path segment); any other status than 2xx (404 on get) makes
// the binding's promise reject with "KV <METHOD> failed: <status> <text>". As on Cloudflare,
// an expiration less than 60 s ahead is refused with 400, and an expired key reads as absent.
//
// The `admin` entrypoint (its own socket in `withKv`, never reachable from the worker) lets
// tests look inside and make the namespace fail:
//
//   GET /entries?prefix=P    {"entries": [{name, size, expiration, metadata}], "ops": {get, put, delete, list}, "now"}
//   GET /value?key=K         the stored bytes (404 if absent or expired), `x-kv-expiration` header
//   PUT /faults              {"get": 503, "put": 500, ...}: that status for every such call from
//                            now on (`{}` clears); answers the faults now in force
//   PUT /clock               {"skew": S}: the store's clock runs S seconds ahead (expiry tests)

/** key → { value: Uint8Array, expiration: unix seconds | null, metadata: JSON text | null } */
const store = new Map();
const ops = { get: 0, put: 0, delete: 0, list: 0 };
let faults = {};
let skew = 0;

const MIN_TTL = 60;
const MAX_VALUE = 25 * 1024 * 1024;
const LIST_LIMIT = 1000;

const nowSeconds = () => Math.floor(Date.now() / 1000) + skew;

/** The live entry for `key`, dropping it when it has expired. */
function live(key) {
  const e = store.get(key);
  if (e === undefined) return null;
  if (e.expiration !== null && e.expiration <= nowSeconds()) {
    store.delete(key);
    return null;
  }
  return e;
}

function text(status, body) {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

function json(value, status = 200) {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });
}

/** The key a binding request names: its single, percent-encoded path segment ("" = list). */
function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
}

async function put(request, url, key) {
  // The whole value first, even to refuse it: the binding awaits the answer only after
  // writing the body.
  const value = new Uint8Array(await request.arrayBuffer());
  const now = nowSeconds();
  let expiration = null;
  const ttl = url.searchParams.get("expiration_ttl");
  const at = url.searchParams.get("expiration");
  if (ttl !== null) {
    const s = Number(ttl);
    if (!Number.isInteger(s) || s < MIN_TTL) return text(400, `Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least ${MIN_TTL}.`);
    expiration = now + s;
  } else if (at !== null) {
    const t = Number(at);
    if (!Number.isInteger(t) || t < now + MIN_TTL) return text(400, `Invalid expiration of ${at}. Expiration times must be at least ${MIN_TTL} seconds in the future.`);
    expiration = t;
  }
  if (value.length > MAX_VALUE) return text(413, `value of ${value.length} bytes exceeds ${MAX_VALUE}`);
  store.set(key, { value, expiration, metadata: request.headers.get("cf-kv-metadata") });
  return text(200, "");
}

function list(url) {
  const prefix = url.searchParams.get("prefix") ?? "";
  const limit = Math.min(Number(url.searchParams.get("key_count_limit")) || LIST_LIMIT, LIST_LIMIT);
  const after = url.searchParams.get("cursor") ?? "";
  const names = [...store.keys()].filter((k) => k.startsWith(prefix) && k > after && live(k) !== null).sort();
  const page = names.slice(0, limit);
  const keys = page.map((name) => {
    const e = store.get(name);
    const k = { name };
    if (e.expiration !== null) k.expiration = e.expiration;
    if (e.metadata !== null) k.metadata = e.metadata; // workerd parses the JSON text
    return k;
  });
  const complete = page.length === names.length;
  return json(complete ? { keys, list_complete: true } : { keys, list_complete: false, cursor: page[page.length - 1] });
}

/** The KV protocol, as the `kvNamespace` binding speaks it. */
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = keyOf(url);
    const op = { PUT: "put", DELETE: "delete", GET: key === "" ? "list" : "get" }[request.method];
    if (op === undefined) return text(405, `${request.method} is not a KV operation`);
    ops[op]++;
    if (faults[op]) {
      if (op === "put") await request.arrayBuffer(); // as put() does
      return text(faults[op], `local KV: injected ${op} failure`);
    }
    switch (op) {
      case "list":
        return list(url);
      case "get": {
        const e = live(key);
        if (e === null) return text(404, "Not Found");
        const headers = { "content-type": "application/octet-stream" };
        if (e.metadata !== null) headers["cf-kv-metadata"] = e.metadata;
        return new Response(e.value, { status: 200, headers });
      }
      case "put":
        return put(request, url, key);
      case "delete":
        store.delete(key);
        return text(200, "");
    }
  },
};

/** Inspection and fault injection for tests (see the top of this file). */
export const admin = {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/entries") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const entries = [...store.keys()]
        .filter((k) => k.startsWith(prefix) && live(k) !== null)
        .sort()
        .map((name) => {
          const e = store.get(name);
          return { name, size: e.value.length, expiration: e.expiration, metadata: e.metadata };
        });
      return json({ entries, ops, now: nowSeconds() });
    }
    if (request.method === "GET" && url.pathname === "/value") {
      const e = live(url.searchParams.get("key") ?? "");
      if (e === null) return text(404, "Not Found");
      return new Response(e.value, { headers: { "x-kv-expiration": String(e.expiration ?? "") } });
    }
    if (request.method === "PUT" && url.pathname === "/faults") {
      const body = await request.json();
      const next = {};
      for (const [op, status] of Object.entries(body ?? {})) {
        if (!(op in ops) || !Number.isInteger(status) || status < 400 || status > 599) {
          return text(400, `faults: {"get"|"put"|"delete"|"list": 4xx/5xx status}, got ${JSON.stringify({ [op]: status })}`);
        }
        next[op] = status;
      }
      faults = next;
      return json(faults);
    }
    if (request.method === "PUT" && url.pathname === "/clock") {
      const body = await request.json();
      if (!Number.isInteger(body?.skew)) return text(400, 'clock: {"skew": seconds}');
      skew = body.skew;
      return json({ skew, now: nowSeconds() });
    }
    return text(404, "admin: GET /entries, GET /value?key=, PUT /faults, PUT /clock");
  },
};
