// The edge worker in the real workerd runtime, in front of a real origin, syncing with the
// real backend (`waymark serve` on SQLite). Run: scripts/test.sh worker (builds what it
// needs), or `node --test tests/worker/` with WAYMARK_BIN set and worker/src/vendor built.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import {
  REPO,
  WORKER_DIR,
  WAYMARK_BIN,
  TOKEN_SECRET,
  ADMIN_TOKEN,
  Shopper,
  eventually,
  startOrigin,
  startBackend,
  startWorkerd,
  stopAll,
  stop,
  freePort,
  tempDir,
  workerLogs,
  haveVendor,
  skipNotice,
} from "./harness.mjs";

const JOURNEYS = [join(REPO, "examples", "journeys"), join(REPO, "tests", "worker", "fixtures", "journeys")];

// The route config the tests deploy: the defaults, a category map for URLs without a
// category, and a marketing page that is a screen_view.
const ROUTES = JSON.stringify({
  routes: [
    { pattern: "/products/:item_category/:item_id", event: "view_item" },
    { pattern: "/p/:item_id", event: "view_item" },
    { pattern: "/discounts", event: "screen_view", properties: { screen_name: "Summer Discounts" } },
    { pattern: "/cart", event: "view_cart" },
    { pattern: "/checkout", event: "begin_checkout" },
    { pattern: "/search", event: "search", query: { q: "search_term" } },
  ],
  categories: { "bag-1": "bags", "bag-2": "bags", "bag-3": "bags" },
});
const SLOTS = JSON.stringify({
  "category-offer": '<div class="wm-offer">10% off this category: <b>{incentive}</b></div>',
  "checkout-reassurance": '<div class="wm-reassure">Free returns · secure payment</div>',
});

const noVendor = haveVendor() ? null : skipNotice("worker/src/vendor is not built (node worker/build.mjs after scripts/build-pkg.sh)");
const noBackend = WAYMARK_BIN ? null : skipNotice("WAYMARK_BIN is not set: the tests that need the real backend do not run");

let origin;
let backend;
let worker;
let wasm; // the same glue + .wasm, in Node: the "browser" engine for determinism checks

const T0 = Date.now() - 10 * 60 * 1000;
const at = (minutes) => T0 + Math.round(minutes * 60_000);

before(async () => {
  if (noVendor) return;
  const glue = await import(join(WORKER_DIR, "src", "vendor", "waymark.js"));
  glue.initSync({ module: new WebAssembly.Module(readFileSync(join(WORKER_DIR, "src", "vendor", "waymark_bg.wasm"))) });
  // The package's JS layer over the same glue, as the worker uses it.
  const { createWaymark } = await import(join(WORKER_DIR, "src", "vendor", "core.js"));
  wasm = createWaymark({ name: "node-check", bindings: glue, init: () => {} });
  origin = await startOrigin();
  if (noBackend) return;
  backend = await startBackend({ journeys: JOURNEYS });
  worker = await startWorkerd({
    ORIGIN: origin.url,
    WAYMARK_BACKEND: backend.url,
    WAYMARK_TOKEN_SECRET: TOKEN_SECRET,
    WAYMARK_ROUTES: ROUTES,
    WAYMARK_SLOTS: SLOTS,
    WAYMARK_TEST_CLOCK: "1",
    WAYMARK_BUNDLE_WAIT_MS: "2000",
  });
});

after(async () => {
  await stopAll();
});

const needsAll = () => noVendor ?? noBackend ?? false;

/** The backend's copy of a shopper's state, through /v1/sync with an empty state (merge
 *  with nothing answers what is stored), as a wasm State. */
async function backendState(url, shopperId) {
  const token = await mintToken(shopperId);
  const res = await fetch(`${url}/v1/sync`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
    body: new wasm.State(shopperId).encode(),
  });
  assert.equal(res.status, 200, `sync: ${await res.clone().text()}`);
  return wasm.State.decode(new Uint8Array(await res.arrayBuffer()));
}

async function mintToken(sub) {
  const res = await fetch(`${backend.url}/v1/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ anonymous_id: sub }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

test("the third product viewed in one category carries the active offer, on first paint", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  const first = await s.page("/products/shoes/shoe-1", { now: at(0) });
  assert.equal(first.res.status, 200);
  assert.equal(first.decision.content, "popular-in-category");
  assert.equal(first.page.state, "new");
  assert.equal(first.page.bundle, "backend", "the worker loaded the backend's bundle");
  assert.ok(s.cookies.get("wm"), "state cookie set");
  const sc = first.res.headers.getSetCookie()[0];
  assert.match(sc, /HttpOnly/);
  assert.match(sc, /SameSite=Lax/);

  const second = await s.page("/products/shoes/shoe-2", { now: at(1) });
  assert.equal(second.decision, null);
  assert.equal(second.page.state, "cookie");
  assert.equal(second.page.shopper, first.page.shopper);

  const third = await s.page("/products/shoes/shoe-3", { now: at(2) });
  assert.equal(third.res.status, 200);
  assert.equal(third.decision.journey, "intent_escalation");
  assert.equal(third.decision.step, "active_offer");
  assert.equal(third.decision.content, "category-offer");
  assert.equal(third.decision.incentive, "CATEGORY10");
  assert.equal(third.page.intent.tier, "hot");
  // In the HTML: the script in <head>, and the slot already rendered.
  const head = third.html.slice(0, third.html.indexOf("</head>"));
  assert.match(head, /<script type="application\/json" id="waymark-decision">/);
  assert.match(third.html, /data-waymark-content="category-offer"[^>]*><div class="wm-offer">10% off this category: <b>CATEGORY10<\/b><\/div><\/aside>/);
  assert.equal(third.res.headers.get("cache-control"), "private, no-cache");
});

test("a product URL without a category takes it from the route config's map", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  await s.page("/p/bag-1", { now: at(0) });
  await s.page("/p/bag-2", { now: at(1) });
  const third = await s.page("/p/bag-3", { now: at(2) });
  assert.equal(third.decision.content, "category-offer");
});

test("checkout pre-empts with the checkout-critical message past the on-site session cap", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  const search = await s.page("/search?q=boots", { now: at(0) });
  assert.equal(search.decision.content, "search-tips");
  for (const [i, id] of ["shoe-1", "shoe-2", "shoe-3"].entries()) await s.page(`/products/shoes/${id}`, { now: at(1 + i) });
  // Three on-site sends this session: the soft cap is reached.
  const checkout = await s.page("/checkout", { now: at(5) });
  assert.equal(checkout.decision.journey, "checkout_reassurance");
  assert.equal(checkout.decision.content, "checkout-reassurance");
  assert.ok(checkout.decision.reasons.includes("critical_override"), JSON.stringify(checkout.decision));
  assert.match(checkout.html, /<div class="wm-reassure">Free returns · secure payment<\/div>/);
});

test("a purchase posted by the page converts, and the backend's state shows the conversion", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  const discounts = await s.page("/discounts", { now: at(0) });
  assert.ok(discounts.page.decisions.some((d) => d.journey === "discounts_wishlist" && d.action === "enter"));
  const shopper = discounts.page.shopper;
  const { res, body } = await s.track(
    { name: "purchase", properties: { transaction_id: "o-1", value: 150, currency: "EUR" } },
    { now: at(3) },
  );
  assert.equal(res.status, 200);
  const convert = body.decisions.find((d) => d.action === "convert");
  assert.ok(convert, JSON.stringify(body.decisions));
  assert.equal(convert.journey, "discounts_wishlist");
  assert.equal(body.shopper, shopper);

  // The sync runs after the response (ctx.waitUntil): poll the backend.
  await eventually("backend analytics show the conversion", async () => {
    const r = await fetch(`${backend.url}/v1/analytics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await r.text();
    return r.ok && /discounts_wishlist/.test(text) && /conversion/.test(text) ? text : null;
  });
  const state = await backendState(backend.url, shopper);
  assert.ok(!state.activeJourneys().includes("discounts_wishlist"), "converted journey no longer active at the backend");
  const check = wasmEngine().maySend(state, "email", "discounts_wishlist", at(4));
  assert.equal(check.allowed, false, JSON.stringify(check));
});

let engineCache = null;
function wasmEngine() {
  engineCache ??= wasm.Engine.fromBytes(execBundle());
  return engineCache;
}

function execBundle() {
  const out = join(tempDir(), "bundle.bin");
  execFileSync(WAYMARK_BIN, ["bundle", ...JOURNEYS, "-o", out], { stdio: "ignore" });
  return new Uint8Array(readFileSync(out));
}

test("a tampered, foreign or oversized cookie starts a fresh state with a 200, logged", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  const first = await s.page("/products/shoes/shoe-1", { now: at(0) });
  const good = s.cookies.get("wm");
  const [payload, tag] = good.split(".");
  const flipped = payload.slice(0, 10) + (payload[10] === "A" ? "B" : "A") + payload.slice(11);
  const cases = {
    bad_signature: `${flipped}.${tag}`,
    malformed: "not-a-cookie",
    oversize: "A".repeat(5000) + "." + tag,
  };
  for (const [why, value] of Object.entries(cases)) {
    const before = workerLogs(worker, "cookie_rejected").length;
    const r = await new Shopper(worker.url).page("/products/shoes/shoe-2", { now: at(1), headers: { cookie: `wm=${value}` } });
    assert.equal(r.res.status, 200, why);
    assert.equal(r.page.state, "reset", why);
    assert.notEqual(r.page.shopper, first.page.shopper, `${why}: a new shopper id`);
    assert.equal(r.decision.content, "popular-in-category", `${why}: decided from a fresh state`);
    assert.match(r.res.headers.get("set-cookie"), /^wm=/, `${why}: a fresh cookie`);
    await eventually(`${why} logged`, () => workerLogs(worker, "cookie_rejected").slice(before).some((l) => l.why === why));
  }
  // A cookie signed with another secret is as good as tampered.
  const other = await startWorkerd({ ORIGIN: origin.url, WAYMARK_COOKIE_SECRET: "another-secret-0123456789" });
  try {
    const stranger = new Shopper(other.url);
    await stranger.page("/products/shoes/shoe-1");
    const r = await new Shopper(worker.url).page("/products/shoes/shoe-2", { headers: { cookie: `wm=${stranger.cookies.get("wm")}` } });
    assert.equal(r.res.status, 200);
    assert.equal(r.page.state, "reset");
  } finally {
    await stop(other.child);
  }
});

test("non-page requests pass through untouched; the origin never sees the state cookie", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  await s.page("/products/shoes/shoe-1", { now: at(0) });
  await fetch(`${origin.url}/__origin/requests`); // clear
  const css = await s.request("/static/app.css", { headers: { accept: "text/css", cookie: `${s.cookieHeader()}; theme=dark` } });
  assert.equal(css.status, 200);
  assert.equal(await css.text(), "body { font-family: sans-serif; }\n");
  assert.equal(css.headers.get("x-waymark-decision"), null);
  assert.equal(css.headers.get("set-cookie"), null);
  assert.equal(css.headers.get("cache-control"), "public, max-age=3600");
  const api = await s.request("/api/ping", { headers: { accept: "application/json" } });
  assert.deepEqual(await api.json(), { ok: true });
  const seen = await (await fetch(`${origin.url}/__origin/requests`)).json();
  assert.deepEqual(
    seen.map((r) => [r.path, r.cookie]),
    [
      ["/static/app.css", "theme=dark"],
      ["/api/ping", null],
    ],
  );
});

test("/__waymark/track takes events from the page and answers decisions as JSON", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  const r = await s.track(
    {
      events: [
        { name: "view_item", properties: { item_id: "hat-1", item_category: "hats" } },
        { name: "Product Viewed", properties: { product_id: "hat-2", category: "hats" } },
        { name: "view_item", properties: { item_id: "hat-3", item_category: "hats" } },
      ],
    },
    { now: at(0) },
  );
  assert.equal(r.res.status, 200);
  assert.equal(r.body.decision.content, "category-offer");
  assert.match(r.res.headers.get("x-waymark-decision"), /category-offer/);
  assert.ok(s.cookies.get("wm"));
  const bad = await s.request("/__waymark/track", { method: "POST", body: "{nope" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).code, "bad_json");
  const noName = await s.request("/__waymark/track", { method: "POST", body: JSON.stringify({ events: [{}] }) });
  assert.equal(noName.status, 400);
  const get = await s.request("/__waymark/track");
  assert.equal(get.status, 405);
});

test("a state too large for a cookie is held by the backend and comes back on the next request", { skip: needsAll() }, async () => {
  const s = new Shopper(worker.url);
  const traits = {};
  // Incompressible: deflate cannot squeeze it into a cookie either.
  for (let i = 0; i < 16; i++) traits[`note_${i}`] = Buffer.from(crypto.getRandomValues(new Uint8Array(300))).toString("base64");
  const r = await s.track({ name: "view_item", properties: { item_id: "big-1", item_category: "big" }, traits }, { now: at(0) });
  assert.equal(r.res.status, 200);
  const cookie = s.cookies.get("wm");
  assert.ok(cookie.length < 200, `held cookie is small (${cookie.length})`);
  await eventually("state_held logged", () => workerLogs(worker, "state_held").length > 0);
  const shopper = r.body.shopper;
  await eventually("backend has the big state", async () => (await backendState(backend.url, shopper)).traits().note_15 !== undefined);
  const next = await s.page("/products/big/big-2", { now: at(1) });
  assert.equal(next.page.state, "held");
  assert.equal(next.page.shopper, shopper);
  assert.equal(next.page.intent.tier !== undefined, true);
  // Two distinct items in one category: the second view found the first one's signals.
  const third = await s.page("/products/big/big-3", { now: at(2) });
  assert.equal(third.decision?.content, "category-offer", JSON.stringify(third.page.decisions));
});

test("backend down: pages are served and decided from the cookie; the sync goes through once it is back", { skip: needsAll() }, async () => {
  const port = await freePort();
  const down = await startWorkerd({
    ORIGIN: origin.url,
    WAYMARK_BACKEND: `http://127.0.0.1:${port}`,
    WAYMARK_TOKEN_SECRET: TOKEN_SECRET,
    WAYMARK_SYNC_ATTEMPTS: "1",
    WAYMARK_BUNDLE_TTL_MS: "0",
    WAYMARK_TEST_CLOCK: "1",
  });
  try {
    const s = new Shopper(down.url);
    const a = await s.page("/products/shoes/shoe-1", { now: at(0) });
    assert.equal(a.res.status, 200);
    assert.equal(a.page.bundle, "embedded");
    assert.equal(a.decision.content, "popular-in-category");
    await s.page("/products/shoes/shoe-2", { now: at(1) });
    const c = await s.page("/products/shoes/shoe-3", { now: at(2) });
    assert.equal(c.decision.content, "category-offer");
    await eventually("sync_failed logged", () => workerLogs(down, "sync_failed").length >= 3);
    assert.ok(workerLogs(down, "bundle_fetch_failed").length > 0);

    const late = await startBackend({ port, journeys: JOURNEYS });
    const d = await s.page("/cart", { now: at(3) });
    assert.equal(d.res.status, 200);
    const shopper = d.page.shopper;
    const state = await eventually("the backend got the state", async () => {
      const st = await backendState(late.url, shopper);
      return st.tier === "hot" ? st : null;
    });
    assert.equal(state.primaryId, shopper);
    await eventually("the backend's bundle is picked up", async () => (await s.page("/about", { now: at(4) })).page.bundle === "backend");
    await stop(late.child);
  } finally {
    await stop(down.child);
  }
});

test("wasm that fails to instantiate: the page is served untouched (fail open), logged", { skip: noVendor ?? false }, async () => {
  const broken = await startWorkerd({ ORIGIN: origin.url }, { configName: "brokenWasm" });
  try {
    const direct = await (await fetch(`${origin.url}/products/shoes/shoe-1`)).text();
    for (let i = 0; i < 2; i++) {
      const r = await new Shopper(broken.url).page("/products/shoes/shoe-1");
      assert.equal(r.res.status, 200);
      assert.equal(r.html, direct, "byte for byte the origin's page");
      assert.equal(r.res.headers.get("x-waymark-decision"), null);
      assert.equal(r.res.headers.get("set-cookie"), null);
    }
    const t = await new Shopper(broken.url).track({ name: "view_item" });
    assert.equal(t.res.status, 503);
    await eventually("fail_open logged", () => workerLogs(broken, "fail_open").length >= 3);
  } finally {
    await stop(broken.child);
  }
});

test("determinism: the worker, the wasm engine in Node and the native CLI decide alike; one bundle", { skip: needsAll() }, async () => {
  // The bundle: the backend's GET /v1/bundle is the CLI's `waymark bundle` of the same files.
  const served = new Uint8Array(await (await fetch(`${backend.url}/v1/bundle`)).arrayBuffer());
  const compiled = execBundle();
  assert.deepEqual(Buffer.from(served), Buffer.from(compiled), "backend bundle bytes == waymark bundle bytes");

  const steps = [
    { path: "/discounts", minute: 0, name: "screen_view", properties: { screen_name: "Summer Discounts" } },
    { path: "/search?q=linen", minute: 1, name: "search", properties: { search_term: "linen" } },
    { path: "/products/shirts/s-1", minute: 2, name: "view_item", properties: { item_category: "shirts", item_id: "s-1" } },
    { path: "/products/shirts/s-2", minute: 3, name: "view_item", properties: { item_category: "shirts", item_id: "s-2" } },
    { path: "/products/shirts/s-2", minute: 4, name: "view_item", properties: { item_category: "shirts", item_id: "s-2" } },
    { path: "/products/shirts/s-3", minute: 5, name: "view_item", properties: { item_category: "shirts", item_id: "s-3" } },
    { track: true, minute: 6, name: "add_to_cart", properties: { items: [{ item_id: "s-3", item_category: "shirts", price: 40 }] } },
    { path: "/cart", minute: 7, name: "view_cart", properties: {} },
    { path: "/checkout", minute: 8, name: "begin_checkout", properties: {} },
    { track: true, minute: 9, name: "purchase", properties: { transaction_id: "o-9", value: 140 } },
  ];
  const key = (d) => JSON.stringify([d.time, d.journey, d.step, d.action, d.channel, d.content, d.incentive, d.variant, d.reasons]);

  // 1. The worker in workerd.
  const s = new Shopper(worker.url);
  const fromWorker = [];
  for (const st of steps) {
    const now = at(st.minute);
    if (st.track) {
      const r = await s.track({ name: st.name, properties: st.properties }, { now });
      fromWorker.push(...r.body.decisions.map(key));
    } else {
      const r = await s.page(st.path, { now });
      assert.deepEqual(r.page.events, [st.name], st.path);
      fromWorker.push(...r.page.decisions.map(key));
    }
  }
  // 2. The same .wasm in Node, same bundle bytes.
  const engine = wasm.Engine.fromBytes(compiled);
  const state = new wasm.State("det-1");
  const fromNode = [];
  for (const st of steps) fromNode.push(...engine.ingest(state, st.name, at(st.minute), st.properties).map(key));
  // 3. The native engine, through `waymark simulate`.
  const ndjson = steps
    .map((st) => JSON.stringify({ shopper: "det-1", time: new Date(at(st.minute)).toISOString(), name: st.name, properties: st.properties }))
    .join("\n");
  const out = execFileSync(WAYMARK_BIN, ["simulate", "--journeys", ...JOURNEYS, "--events", "-"], { input: ndjson, encoding: "utf8" });
  const fromCli = out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
    .map((d) => key({ ...d, time: Date.parse(d.time) }));

  assert.ok(fromWorker.length >= 8, `some decisions (${fromWorker.length})`);
  assert.deepEqual(fromWorker, fromNode, "worker == wasm in Node");
  assert.deepEqual(fromWorker, fromCli, "worker == native CLI");
});

test("no usable cookie secret: pages are served untouched (fail open), logged", { skip: noVendor ?? false }, async () => {
  const w = await startWorkerd({ ORIGIN: origin.url, WAYMARK_COOKIE_SECRET: "short" });
  try {
    const direct = await (await fetch(`${origin.url}/products/shoes/shoe-1`)).text();
    const r = await new Shopper(w.url).page("/products/shoes/shoe-1");
    assert.equal(r.res.status, 200);
    assert.equal(r.html, direct);
    assert.equal(r.res.headers.get("set-cookie"), null);
    await eventually("fail_open logged", () => workerLogs(w, "fail_open").some((l) => l.code === "no_cookie_secret"));
  } finally {
    await stop(w.child);
  }
});
