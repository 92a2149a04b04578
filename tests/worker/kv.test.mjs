// The worker's KV path in real workerd: states too large for a cookie are held in the
// `WAYMARK_STATE` namespace (workerd.capnp `withKv`, served by worker/local-kv.js inside the
// same workerd process), read back on the next request, and a namespace that fails costs
// the shopper neither the page nor the history. No backend in the shared worker: whatever
// it knows of a held state comes from KV. The last test adds a backend (WAYMARK_BIN) and
// reads the held state from its copy while KV fails.
// Run: `node --test tests/worker/` with worker/src/vendor built.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import {
  ADMIN_TOKEN,
  REPO,
  TOKEN_SECRET,
  WAYMARK_BIN,
  WORKER_DIR,
  Shopper,
  eventually,
  startBackend,
  startOrigin,
  startWorkerd,
  stopAll,
  workerLogs,
  haveVendor,
  skipNotice,
} from "./harness.mjs";

const noVendor = haveVendor() ? null : skipNotice("worker/src/vendor is not built (node worker/build.mjs after scripts/build-pkg.sh)");
const skip = noVendor ?? false;

/** The TTL the worker gives held states (index.js). */
const HELD_TTL_S = 90 * 86400;

let origin;
let worker;
let kv; // the local KV's admin socket
let wasm; // the package's JS layer over the same glue + .wasm, in Node
let engine; // the embedded bundle, as the worker decides with it (no backend)

const T0 = Date.now() - 10 * 60 * 1000;
const at = (minutes) => T0 + Math.round(minutes * 60_000);

before(async () => {
  if (noVendor) return;
  const vendor = join(WORKER_DIR, "src", "vendor");
  const glue = await import(join(vendor, "waymark.js"));
  glue.initSync({ module: new WebAssembly.Module(readFileSync(join(vendor, "waymark_bg.wasm"))) });
  const { createWaymark } = await import(join(vendor, "core.js"));
  wasm = createWaymark({ name: "node-check", bindings: glue, init: () => {} });
  engine = wasm.Engine.fromBytes(new Uint8Array(readFileSync(join(vendor, "bundle.bin"))));
  origin = await startOrigin();
  worker = await startWorkerd({ ORIGIN: origin.url, WAYMARK_TEST_CLOCK: "1" }, { configName: "withKv" });
  kv = worker.sockets.kv;
});

after(async () => {
  if (kv) await setFaults({});
  await stopAll();
});

/** The local KV's live entries under `prefix` (`{name, size, expiration, metadata}`) and its op counts. */
async function kvEntries(prefix = "state:") {
  const res = await fetch(`${kv}/entries?prefix=${encodeURIComponent(prefix)}`);
  assert.equal(res.status, 200);
  return res.json();
}

/** The state the namespace holds for a shopper, decoded by the wasm engine in Node (or null). */
async function kvState(shopper) {
  const res = await fetch(`${kv}/value?key=${encodeURIComponent(`state:${shopper}`)}`);
  if (res.status === 404) return null;
  assert.equal(res.status, 200);
  return wasm.State.decode(new Uint8Array(await res.arrayBuffer()));
}

async function setFaults(faults) {
  const res = await fetch(`${kv}/faults`, { method: "PUT", body: JSON.stringify(faults) });
  assert.equal(res.status, 200, await res.clone().text());
}

/** Traits no deflate can squeeze into a cookie (~6.4 KB of random base64). */
function bigTraits() {
  const traits = {};
  for (let i = 0; i < 16; i++) traits[`note_${i}`] = Buffer.from(crypto.getRandomValues(new Uint8Array(300))).toString("base64");
  return traits;
}

/** A shopper whose first event (a view in category `cat`) carries big traits: a held cookie. */
async function heldShopper(cat, minute = 0) {
  const s = new Shopper(worker.url);
  const traits = bigTraits();
  const r = await s.track({ name: "view_item", properties: { item_id: `${cat}-1`, item_category: cat }, traits }, { now: at(minute) });
  assert.equal(r.res.status, 200, JSON.stringify(r.body));
  const shopper = r.body.shopper;
  // The put runs in ctx.waitUntil, after the response.
  await eventually("the state is in KV", async () => (await kvState(shopper)) !== null);
  return { s, shopper, traits };
}

test("a state too large for a cookie is held in KV and decisions continue from it across requests", { skip }, async () => {
  const heldBefore = workerLogs(worker, "state_held").length;
  const { s, shopper, traits } = await heldShopper("bags");
  const cookie = s.cookies.get("wm");
  assert.ok(cookie.length < 200, `a held cookie only names the shopper (${cookie.length} characters)`);
  const held = await eventually("state_held logged", () => workerLogs(worker, "state_held").slice(heldBefore).find((l) => l.where === "kv"));
  assert.ok(held.bytes > 3800, `held because it is large (${held.bytes} bytes)`);

  const stored1 = await kvState(shopper);
  assert.equal(stored1.primaryId, shopper);
  assert.deepEqual(stored1.traits(), traits, "the traits went to KV byte for byte");
  const intent1 = engine.intent(stored1, at(0)).score;

  const getsBefore = (await kvEntries()).ops.get;
  const second = await s.page("/products/bags/bags-2", { now: at(1) });
  assert.equal(second.res.status, 200);
  assert.equal(second.page.state, "held", "read back through the held cookie");
  assert.equal(second.page.shopper, shopper);
  assert.equal(second.decision, null, "the second product in a category: nothing new (a fresh state would say popular-in-category)");
  assert.equal((await kvEntries()).ops.get, getsBefore + 1, "one KV read for the request");
  assert.equal(s.cookies.get("wm"), cookie, "still the held cookie: the state did not shrink");
  const stored2 = await eventually("KV has the second view", async () => {
    const st = await kvState(shopper);
    return engine.intent(st, at(1)).score > intent1 ? st : null;
  });
  assert.deepEqual(stored2.traits(), traits);

  // The third distinct product in one category turns into the offer: only if the first two
  // views came back from KV.
  const third = await s.page("/products/bags/bags-3", { now: at(2) });
  assert.equal(third.page.state, "held");
  assert.equal(third.decision?.content, "category-offer", JSON.stringify(third.page.decisions));
  assert.equal(third.page.intent.tier, "hot");
  await eventually("KV has the third view", async () => {
    const st = await kvState(shopper);
    return engine.intent(st, at(2)).score > engine.intent(stored2, at(2)).score && st.tier === "hot";
  });
});

test("a held state is written with the worker's TTL, refreshed on every write; expired, it is gone", { skip }, async () => {
  const before = Math.floor(Date.now() / 1000);
  const { s, shopper } = await heldShopper("hats");
  const after1 = Math.floor(Date.now() / 1000);
  const entry = (await kvEntries(`state:${shopper}`)).entries[0];
  assert.equal(entry.name, `state:${shopper}`);
  assert.ok(
    entry.expiration >= before + HELD_TTL_S && entry.expiration <= after1 + HELD_TTL_S + 1,
    `expiration ${entry.expiration} is ${HELD_TTL_S} s after the write (${before}..${after1})`,
  );

  // A later write moves the expiry on (the test clock moves the engine, not KV's clock).
  await new Promise((r) => setTimeout(r, 1100));
  await s.page("/products/hats/hats-2", { now: at(1) });
  const later = await eventually("the second write", async () => {
    const e = (await kvEntries(`state:${shopper}`)).entries[0];
    return e.expiration > entry.expiration ? e : null;
  });
  assert.ok(later.expiration <= Math.floor(Date.now() / 1000) + HELD_TTL_S + 1);

  // Past the TTL, KV answers nothing: the shopper keeps the id and starts from an empty state.
  const res = await fetch(`${kv}/clock`, { method: "PUT", body: JSON.stringify({ skew: HELD_TTL_S + 5 }) });
  assert.equal(res.status, 200);
  try {
    assert.equal(await kvState(shopper), null, "expired");
    const missing = workerLogs(worker, "held_state_missing").length;
    const r = await s.page("/products/hats/hats-3", { now: at(2) });
    assert.equal(r.res.status, 200);
    assert.equal(r.page.state, "held");
    assert.equal(r.page.shopper, shopper);
    assert.equal(r.decision?.content, "popular-in-category", "decided from an empty state: the first product view");
    await eventually("held_state_missing logged", () => workerLogs(worker, "held_state_missing").slice(missing).some((l) => l.shopper === shopper));
    assert.ok(s.cookies.get("wm").length > 200, "the small state is back in an ordinary cookie");
  } finally {
    await fetch(`${kv}/clock`, { method: "PUT", body: JSON.stringify({ skew: 0 }) });
  }
});

test("KV reads failing: pages are served and decided, logged, and the held state is back once KV is", { skip }, async () => {
  const { s, shopper, traits } = await heldShopper("shoes");
  const cookie = s.cookies.get("wm");

  const logged = workerLogs(worker, "held_state_unavailable").length;
  await setFaults({ get: 503 });
  let down;
  try {
    down = await s.page("/products/shoes/shoes-2", { now: at(1) });
  } finally {
    await setFaults({});
  }
  assert.equal(down.res.status, 200);
  assert.match(down.html, /<h1>shoes-2<\/h1>/, "the origin's page");
  assert.equal(down.page.shopper, shopper, "the same shopper");
  assert.equal(down.decision?.content, "popular-in-category", "decided from an empty state");
  const log = await eventually("held_state_unavailable logged", () => workerLogs(worker, "held_state_unavailable").slice(logged)[0]);
  assert.match(log.error, /KV GET failed: 503/);

  // The shopper's history was not thrown away for one failed read.
  assert.equal(s.cookies.get("wm"), cookie, "the held cookie is kept");
  assert.deepEqual((await kvState(shopper)).traits(), traits, "KV still holds the state");
  const back = await s.page("/products/shoes/shoes-3", { now: at(2) });
  assert.equal(back.page.state, "held");
  assert.equal(back.decision, null, "the second product seen (shoes-1 from KV, shoes-3)");
  const fourth = await s.page("/products/shoes/shoes-4", { now: at(3) });
  assert.equal(fourth.decision?.content, "category-offer", JSON.stringify(fourth.page.decisions));
});

test("KV writes failing: the page is served with the held cookie and the lost write is logged", { skip }, async () => {
  const logged = workerLogs(worker, "held_state_put_failed").length;
  await setFaults({ put: 500 });
  let r;
  const s = new Shopper(worker.url);
  try {
    r = await s.track({ name: "view_item", properties: { item_id: "coat-1", item_category: "coats" }, traits: bigTraits() }, { now: at(0) });
    assert.equal(r.res.status, 200);
    assert.ok(s.cookies.get("wm").length < 200, "a held cookie");
    const log = await eventually("held_state_put_failed logged", () => workerLogs(worker, "held_state_put_failed").slice(logged)[0]);
    assert.equal(log.shopper, r.body.shopper);
    assert.match(log.error, /KV PUT failed: 500/);
  } finally {
    await setFaults({});
  }
  assert.equal(await kvState(r.body.shopper), null, "nothing was stored");
  // The next request finds no state: it says so, and decides from an empty one.
  const missing = workerLogs(worker, "held_state_missing").length;
  const next = await s.page("/products/coats/coat-2", { now: at(1) });
  assert.equal(next.res.status, 200);
  assert.equal(next.page.shopper, r.body.shopper);
  assert.equal(next.decision?.content, "popular-in-category");
  await eventually("held_state_missing logged", () => workerLogs(worker, "held_state_missing").slice(missing).some((l) => l.shopper === r.body.shopper));
});

test("withKv's worker has every binding of config, plus WAYMARK_STATE (capnp lists are copies)", () => {
  const capnp = readFileSync(join(WORKER_DIR, "workerd.capnp"), "utf8");
  const names = (list) => {
    const body = capnp.match(new RegExp(`const ${list} :List\\(Workerd\\.Worker\\.Binding\\) = \\[([\\s\\S]*?)\\];`));
    assert.ok(body, list);
    return [...body[1].matchAll(/\(name = "([A-Z_]+)", (\w+) = "([^"]*)"\)/g)].map((m) => m.slice(1).join(" "));
  };
  const plain = names("bindings");
  assert.ok(plain.length >= 10);
  assert.deepEqual(names("kvBindings"), [...plain, "WAYMARK_STATE kvNamespace kv"]);
});

test("KV failing with a backend configured: the held state comes from the backend's copy", { skip: skip || (WAYMARK_BIN ? false : skipNotice("WAYMARK_BIN unset: no backend to fall back to")) }, async () => {
  const backend = await startBackend({ journeys: [join(REPO, "examples", "journeys"), join(REPO, "tests", "worker", "fixtures", "journeys")] });
  const both = await startWorkerd(
    { ORIGIN: origin.url, WAYMARK_BACKEND: backend.url, WAYMARK_TOKEN_SECRET: TOKEN_SECRET, WAYMARK_TEST_CLOCK: "1" },
    { configName: "withKv" },
  );
  const admin = both.sockets.kv;
  const faults = (f) => fetch(`${admin}/faults`, { method: "PUT", body: JSON.stringify(f) });
  try {
    const s = new Shopper(both.url);
    const traits = bigTraits();
    const first = await s.track({ name: "view_item", properties: { item_id: "bags-1", item_category: "bags" }, traits }, { now: at(0) });
    assert.equal(first.res.status, 200, JSON.stringify(first.body));
    const shopper = first.body.shopper;
    // The background sync lands the state in the backend.
    const token = await (
      await fetch(`${backend.url}/v1/token`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ anonymous_id: shopper }),
      })
    ).json();
    await eventually("the backend has the state", async () => {
      const res = await fetch(`${backend.url}/v1/sync`, {
        method: "POST",
        headers: { authorization: `Bearer ${token.token}`, "content-type": "application/octet-stream" },
        body: new wasm.State(shopper).encode(),
      });
      return res.ok && wasm.State.decode(new Uint8Array(await res.arrayBuffer())).traits().note_15 !== undefined;
    });

    const logged = workerLogs(both, "held_state_fallback").length;
    assert.equal((await faults({ get: 503 })).status, 200);
    const second = await s.page("/products/bags/bags-2", { now: at(1) });
    assert.equal(second.res.status, 200);
    assert.equal(second.page.state, "held", JSON.stringify(second.page));
    assert.equal(second.decision, null, "the second product seen (bags-1 from the backend's copy), not a fresh shopper's nudge");
    const third = await s.page("/products/bags/bags-3", { now: at(2) });
    assert.equal(third.decision?.content, "category-offer", JSON.stringify(third.page.decisions));
    const fallback = await eventually("held_state_fallback logged", () => workerLogs(both, "held_state_fallback").slice(logged)[0]);
    assert.equal(fallback.where, "backend");
    assert.equal(fallback.shopper, shopper);
  } finally {
    await faults({});
  }
});
