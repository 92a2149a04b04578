// The public JS API of the built package, as a storefront uses it: load, track, emit,
// identify, consent, intent, errors with codes, state round trip and merge, storage
// across reloads and tabs, sync with the backend, the GA4 dataLayer adapter.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import { PKG, ROOT, cli, hex, tempDir, waymark } from "./helpers.mjs";

const { Waymark, WaymarkError, Engine, State, fromDataLayer } = waymark;
const T0 = Date.parse("2026-06-01T10:00:00Z");
const MIN = 60_000;

const readJson = (p) => JSON.parse(readFileSync(join(ROOT, p), "utf8"));
// The state format's current version byte: the newest typical-state fixture's first byte.
const STATE_VERSION = Math.max(
  ...readdirSync(join(ROOT, "tests/fixtures"))
    .map((f) => /^state-v(\d+)-typical\.bin$/.exec(f))
    .filter(Boolean)
    .map((m) => Number(m[1])),
);
const discounts = readJson("examples/journeys/001-discounts-wishlist.json");
const escalation = readJson("examples/journeys/000-intent-escalation.json");

/** A storage shared by "reloads" and "tabs". */
function sharedStorage() {
  const map = new Map();
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

async function load(extra = {}) {
  let now = extra.now ?? T0;
  const wm = await Waymark.load({
    bundle: { journeys: [discounts, escalation] },
    storage: "memory",
    timers: false,
    clock: () => now,
    shopperId: "ana",
    ...extra,
  });
  return { wm, advance: (ms) => (now += ms), at: (t) => (now = t) };
}

const view = (id, category) => ({ items: [{ item_id: id, item_category: category, price: 40 }] });

test("track returns the decisions and emits each to on('decision')", async () => {
  const { wm } = await load();
  const seen = [];
  const off = wm.on("decision", (d) => seen.push(d));
  const decisions = wm.track("screen_view", { screen_name: "Discounts" });
  assert.equal(decisions.length, 1);
  const [d] = decisions;
  assert.equal(d.action, "enter");
  assert.equal(d.journey, "discounts_wishlist");
  assert.equal(d.reason, "entry_matched");
  assert.deepEqual(d.reasons, ["entry_matched"]);
  assert.equal(d.time, T0);
  assert.equal(d.channel, null);
  assert.equal(typeof d.message, "string");
  assert.deepEqual(seen, decisions);
  off();
  wm.track("screen_view", { screen_name: "Discounts" });
  assert.equal(seen.length, 1, "unsubscribed");
  assert.deepEqual(wm.journeys(), ["discounts_wishlist"]);
  wm.close();
});

test("the seed example: the third product in one category turns the nudge into an offer", async () => {
  const { wm, advance } = await load();
  const sends = [];
  const tiers = [];
  wm.on("decision", (d) => d.action === "send" && sends.push(d));
  wm.on("tier", (t) => tiers.push(t));
  wm.track("view_item", view("sku-1", "shoes"));
  advance(MIN);
  wm.track("Product Viewed", { product_id: "sku-2", category: "shoes", price: 50 });
  advance(MIN);
  wm.track("view_item", view("sku-3", "shoes"));
  const intent = wm.intent();
  assert.ok(intent.score > 0 && intent.score < 1);
  assert.ok(["cold", "warm", "hot"].includes(intent.tier));
  assert.ok(sends.length >= 1, `sends: ${JSON.stringify(sends)}`);
  assert.ok(sends.every((d) => d.channel === "onsite" && d.reason === "allowed"));
  assert.ok(wm.explain().some((c) => c.feature && typeof c.contribution === "number"));
  wm.close();
});

test("entry skips (re-entry lock) are reported only with debug: true", async () => {
  const skipsOf = async (extra) => {
    const { wm, advance } = await load({ bundle: { journeys: [escalation] }, ...extra });
    const all = [];
    for (const [i, minutes] of [0, 1, 1.5, 0.5].entries()) {
      advance(minutes * MIN);
      all.push(...wm.track("view_item", view(`shoe-${i}`, "shoes")));
    }
    assert.ok(all.some((d) => d.action === "send" && d.incentive === "CATEGORY10"), "the offer went out");
    assert.ok(all.every((d) => d.action !== "suppress" || d.reason !== "allowed"));
    const traced = wm._engine.traceSkips;
    wm.close();
    return { skips: all.filter((d) => d.action === "suppress" && d.reason.startsWith("reentry_")), traced };
  };
  const quiet = await skipsOf({});
  assert.deepEqual(quiet.skips, [], "no entry skips by default");
  assert.equal(quiet.traced, false);
  const debug = await skipsOf({ debug: true });
  assert.equal(debug.traced, true);
  assert.equal(debug.skips.length, 1, JSON.stringify(debug.skips));
  assert.equal(debug.skips[0].journey, "intent_escalation");
  assert.equal(debug.skips[0].reason, "reentry_locked");
  assert.equal(debug.skips[0].step, null);
});

test("with an endpoint, email sends are left to the backend (defer, delegated); offsiteSends: local decides them here", async () => {
  const cart = {
    id: "cart_email",
    entry: { event: "add_to_cart" },
    steps: [
      { id: "reminder", type: "send", channel: "email", content: "cart-reminder" },
      { id: "done", type: "exit" },
    ],
  };
  const run = async (extra) => {
    // An endpoint nobody listens on: nothing here waits for the network.
    const { wm } = await load({ bundle: { journeys: [cart] }, fetch: async () => new Response(null, { status: 503 }), ...extra });
    wm.consent({ email: true });
    wm.setTraits({ email: "ana@example.com" });
    const out = wm.track("add_to_cart", { items: [{ item_id: "a", price: 10 }] });
    const delegated = wm._engine.delegateOffsite;
    const next = wm.nextWakeup();
    wm.close();
    return { out, delegated, next };
  };
  const backend = await run({ endpoint: "http://127.0.0.1:9" });
  assert.equal(backend.delegated, true);
  const parked = backend.out.filter((d) => d.journey === "cart_email" && d.action !== "enter");
  assert.deepEqual(parked.map((d) => [d.action, d.reason, d.channel, d.content]), [["defer", "delegated", "email", "cart-reminder"]]);
  assert.equal(backend.next, undefined, "the parked send is the backend's timer, not the page's");
  const local = await run({ endpoint: "http://127.0.0.1:9", offsiteSends: "local" });
  assert.equal(local.delegated, false);
  assert.ok(local.out.some((d) => d.action === "send" && d.channel === "email" && d.content === "cart-reminder"), JSON.stringify(local.out));
  const none = await run({});
  assert.equal(none.delegated, false, "no backend: decided here");
  await assert.rejects(load({ offsiteSends: "server" }), { code: "bad_option" });
});

test("properties and traits cross the boundary intact: many keys, nesting, unicode, JSON's undefined rules", async () => {
  const traits = { nested: { list: [1, "two", null, true, { deep: [[]] }], empty: {} }, "ключ": "café ☃", n: -0.5, skip: undefined };
  for (let i = 0; i < 20; i++) traits[`k${i}`] = i % 2 ? i : `v${i}`;
  const state = new State("many");
  state.setTraits(traits, T0);
  assert.deepEqual(state.traits(), JSON.parse(JSON.stringify(traits)));
  // 128 keys and more: the count takes two bytes (encode.js patches it in afterwards).
  const { decodeObject } = await import(pathToFileURL(join(PKG, "decode.js")).href);
  const many = { skip: undefined };
  for (let i = 0; i < 200; i++) many[`p${i}`] = i % 3 ? i : { v: [i, `s${i}`] };
  const bytes = waymark.encodeProperties(many);
  assert.deepEqual(decodeObject(bytes), JSON.parse(JSON.stringify(many)));
  const engine = Engine.fromJson({ journeys: [escalation] });
  assert.doesNotThrow(() => engine.ingestEncoded(state, "page_view", T0, bytes));
  assert.throws(() => engine.ingestEncoded(state, "page_view", T0, bytes.subarray(0, bytes.length - 1)), { code: "bad_properties" });
  engine.free();
  state.free();
});

test("wait_for timeout runs on tick at the engine's next wakeup", async () => {
  const { wm, at } = await load();
  wm.track("screen_view", { screen_name: "discounts" });
  const wake = wm.nextWakeup();
  assert.equal(wake, T0 + 2 * 24 * 60 * MIN, "wait_wishlist times out after 2d");
  at(wake - 1);
  assert.deepEqual(wm.tick(), []);
  at(wake);
  const later = wm.tick();
  assert.ok(later.some((d) => d.step === "discounts_digest"), JSON.stringify(later));
  wm.close();
});

test("identify and consent change what may be sent", async () => {
  const { wm } = await load();
  assert.deepEqual(wm.maySend("email").reasons.includes("no_consent"), true);
  wm.identify("customer-42", { email: "ana@example.com", tier: "gold" });
  assert.equal(wm.shopperId, "customer-42");
  assert.deepEqual(wm.traits(), { email: "ana@example.com", tier: "gold" });
  assert.deepEqual(wm.consent({ email: true, sms: false }), { email: true, sms: false });
  assert.equal(wm.maySend("email").allowed, true);
  assert.equal(wm.maySend("sms").allowed, false);
  wm.close();
});

test("errors cross as Errors with stable codes, never as crashes", async () => {
  const { wm } = await load();
  const code = (fn, want) => assert.throws(fn, (e) => e instanceof Error && e.code === want && e.message.length > 0, want);
  code(() => wm.consent({ fax: true }), "unknown_channel");
  code(() => wm.consent({ email: "yes" }), "bad_consent");
  code(() => wm.track("", {}), "empty_event_name");
  code(() => wm.track("view_item", 42), "bad_properties");
  code(() => wm.identify(""), "empty_customer_id");
  code(() => wm.setTraits({ big: "x".repeat(600) }), "trait_too_large");
  code(() => wm.importState(new Uint8Array([])), "state_empty");
  code(() => wm.importState(new Uint8Array([1, 255, 255, 255])), "state_corrupt");
  code(() => wm.importState(new Uint8Array([9, 0])), "state_unsupported_version");
  code(() => State.decode(new Uint8Array(140_000)), "state_too_large");
  code(() => Engine.fromBytes(new Uint8Array([])), "empty_bundle");
  code(() => Engine.fromBytes(new Uint8Array([77])), "unsupported_bundle_version");
  // A real bundle's first byte is the format version; garbage after it is corrupt.
  const dir = tempDir("corrupt");
  writeFileSync(join(dir, "b.json"), JSON.stringify({ journeys: [discounts] }));
  cli("bundle", join(dir, "b.json"), "-o", join(dir, "b.bin"));
  const version = readFileSync(join(dir, "b.bin"))[0];
  code(() => Engine.fromBytes(new Uint8Array([version, 200, 200, 200])), "corrupt_bundle");
  code(() => Engine.fromJson("{}"), "unknown_file_shape");
  code(() => Engine.fromJson("{\"journeys\": ["), "bad_json");
  code(() => Engine.fromJson({ journeys: 3 }), "wrong_type");
  code(() => Engine.fromJson(42), "bad_bundle");
  code(() => Engine.fromJson({ journeys: [], big: 1n }), "bad_bundle");
  const s = new State("x");
  const e = Engine.fromJson({ journeys: [discounts] });
  code(() => e.ingest(s, "view_item", NaN, {}), "bad_time");
  await assert.rejects(Waymark.load({ bundle: 5 }), { code: "bad_bundle" });
  await assert.rejects(Waymark.load({}), { code: "bad_option" });
  await assert.rejects(Waymark.load({ bundle: { journeys: [] }, storage: 7 }), { code: "bad_option" });
  wm.close();
});

test("journey errors carry the JSON path, and line:col when the bundle was text; IANA zones compile", () => {
  const broken = structuredClone(discounts);
  broken.steps[0].on_performed = "nowhere";
  assert.throws(() => Engine.fromJson({ journeys: [broken] }), (e) => {
    assert.ok(e instanceof WaymarkError);
    assert.equal(e.code, "unknown_step");
    assert.equal(e.path, "/journeys/0/steps/0/on_performed");
    assert.equal(e.errors[0].code, "unknown_step");
    assert.equal(e.errors[0].line, undefined, "an object has no lines");
    return true;
  });
  const text = JSON.stringify({ journeys: [broken] }, null, 2);
  assert.throws(() => Engine.fromJson(text), (e) => {
    const [first] = e.errors;
    const line = text.split("\n").findIndex((l) => l.includes('"nowhere"')) + 1;
    assert.deepEqual([first.path, first.line], ["/journeys/0/steps/0/on_performed", line]);
    assert.match(e.message, new RegExp(`^error\\[unknown_step\\]: ${line}:\\d+: /journeys/0/steps/0/on_performed: `));
    return true;
  });
  // IANA zones compile in the package as in the CLI; an unknown one says what to write.
  Engine.fromJson({ journeys: [{ ...discounts, schedule: { time_zone: "Europe/Paris" } }] }).free();
  Engine.fromJson({ journeys: [{ ...discounts, schedule: { time_zone: "+02:00" } }] }).free();
  assert.throws(() => Engine.fromJson({ journeys: [{ ...discounts, schedule: { time_zone: "Europe/Pariss" } }] }), (e) => {
    assert.equal(e.code, "unknown_time_zone");
    assert.equal(e.path, "/journeys/0/schedule/time_zone");
    assert.match(e.message, /unknown time zone "Europe\/Pariss": it is not a zone of the IANA time-zone database/);
    assert.doesNotMatch(e.message, /such as "Europe\/Pariss"/);
    return true;
  });
});

test("the binary bundle (waymark bundle) loads, IANA zones included", async () => {
  const dir = tempDir("bin");
  const paris = { ...discounts, schedule: { time_zone: "Europe/Paris" } };
  writeFileSync(join(dir, "b.json"), JSON.stringify({ journeys: [paris] }));
  cli("bundle", join(dir, "b.json"), "-o", join(dir, "b.bin"));
  const bytes = readFileSync(join(dir, "b.bin"));
  for (const bundle of [new Uint8Array(bytes), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)]) {
    const wm = await Waymark.load({ bundle, storage: "memory", timers: false, clock: () => T0 });
    assert.equal(wm.track("screen_view", { screen_name: "discounts" })[0].action, "enter");
    wm.close();
  }
});

test("state round trip: export, import, and the bytes survive a reload through storage", async () => {
  const storage = sharedStorage();
  const first = await load({ storage });
  first.wm.track("screen_view", { screen_name: "discounts" });
  first.wm.consent({ email: true });
  await Promise.resolve(); // the state is saved in a microtask
  const saved = first.wm.exportState();
  assert.equal(saved[0], STATE_VERSION, "version byte");
  assert.ok(storage.map.get("waymark:state"), "saved as base64");
  assert.equal(Buffer.from(storage.map.get("waymark:state"), "base64").toString("hex"), hex(saved));
  first.wm.close();

  const reloaded = await load({ storage, shopperId: undefined });
  assert.equal(hex(reloaded.wm.exportState()), hex(saved), "same bytes after reload");
  assert.deepEqual(reloaded.wm.journeys(), ["discounts_wishlist"]);
  assert.equal(reloaded.wm.maySend("email").reasons.includes("no_consent"), false);
  reloaded.wm.close();

  const copy = State.decode(saved);
  assert.equal(hex(copy.encode()), hex(saved));
});

test("recentlyViewed: items viewed and not bought, the most recently touched first, at most k", async () => {
  const { wm, advance } = await load();
  assert.deepEqual(wm.recentlyViewed(), [], "nothing viewed yet");
  for (const id of ["sho-1", "sho-2", "sho-3", "sho-4"]) {
    wm.track("view_item", view(id, "shoes"));
    advance(MIN);
  }
  assert.deepEqual(wm.recentlyViewed(), ["sho-4", "sho-3", "sho-2", "sho-1"]);
  assert.deepEqual(wm.recentlyViewed(2), ["sho-4", "sho-3"]);
  assert.deepEqual(wm.recentlyViewed(0), []);
  assert.deepEqual(wm.recentlyViewed(null), wm.recentlyViewed(), "null: no limit");
  // A cart add moves an item up and keeps it; an item only carted is not in the row;
  // a purchase takes its items out.
  wm.track("add_to_cart", view("sho-2", "shoes"));
  advance(MIN);
  wm.track("add_to_cart", view("bag-1", "bags"));
  advance(MIN);
  assert.deepEqual(wm.recentlyViewed(), ["sho-2", "sho-4", "sho-3", "sho-1"]);
  wm.track("purchase", { transaction_id: "T1", value: 40, items: [{ item_id: "sho-4", price: 40 }] });
  advance(MIN);
  wm.track("view_item", view("sho-1", "shoes"));
  assert.deepEqual(wm.recentlyViewed(), ["sho-1", "sho-2", "sho-3"]);
  // Bounded like the memory: at most 16, the newest.
  for (let i = 0; i < 20; i++) {
    advance(MIN);
    wm.track("view_item", view(`many-${i}`, "bags"));
  }
  const all = wm.recentlyViewed();
  assert.equal(all.length, 16);
  assert.deepEqual(all.slice(0, 2), ["many-19", "many-18"]);
  assert.deepEqual(wm.recentlyViewed(1000), all);
  for (const bad of [-1, 1.5, "3", NaN, Infinity]) {
    assert.throws(() => wm.recentlyViewed(bad), { code: "bad_limit" }, String(bad));
  }
  // The same answer after a reload from the state bytes.
  const copy = State.decode(wm.exportState());
  assert.deepEqual(copy.recentlyViewed(5), wm.recentlyViewed(5));
  copy.free();
  wm.close();
  assert.throws(() => wm.recentlyViewed(), { code: "closed" });
});

// tests/cases/interest/*.json with a row expectation, through the wasm engine: the same
// answers as the native `Interests::recently_viewed_unbought` (tests/interest.rs).
test("recentlyViewed answers the interest cases' rows, as the native engine does", () => {
  const dir = join(ROOT, "tests/cases/interest");
  const UNIT = { ms: 1, s: 1000, m: MIN, h: 60 * MIN, d: 24 * 60 * MIN };
  const offset = (text) => {
    const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
    assert.equal(parts.map((p) => p[0]).join(""), text, `offset ${text}`);
    return parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT[unit], 0);
  };
  const engine = Engine.fromJson({ journeys: [] });
  let checked = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const c = JSON.parse(readFileSync(join(dir, file), "utf8"));
    if (!c.expect.recently_viewed_row && !c.expect_after?.recently_viewed_row) continue;
    assert.equal(c.generate_views ?? 0, 0, `${file}: generated views are not replayed here`);
    const start = Date.parse(c.start);
    const state = new State("case");
    const feed = (steps) => {
      for (const step of steps) {
        const properties = { ...(step.properties || {}) };
        if (step.items) properties.items = step.items;
        engine.ingest(state, step.event, start + offset(step.at), properties);
      }
    };
    const check = (expect, when) => {
      for (const row of expect?.recently_viewed_row || []) {
        assert.deepEqual(state.recentlyViewed(row.limit ?? 2 ** 32 - 1), row.ids, `${file} ${when}: limit ${row.limit}`);
        checked++;
      }
    };
    feed(c.events);
    check(c.expect, "expect");
    feed(c.then || []);
    check(c.expect_after, "expect_after");
    state.free();
  }
  assert.ok(checked >= 3, `rows checked: ${checked}`);
  engine.free();
});

test("merge is commutative and idempotent; two tabs converge through the storage event", async () => {
  const a = new State("ana");
  const b = new State("ana");
  const engine = Engine.fromJson({ journeys: [discounts, escalation] });
  engine.ingest(a, "screen_view", T0, { screen_name: "discounts" });
  engine.ingest(b, "view_item", T0 + MIN, view("sku-9", "bags"));
  b.setConsent("email", true, T0 + MIN);
  const ab = a.clone();
  ab.merge(b);
  const ba = b.clone();
  ba.merge(a);
  assert.equal(hex(ab.encode()), hex(ba.encode()), "commutative");
  const again = ab.clone();
  again.merge(ab);
  assert.equal(hex(again.encode()), hex(ab.encode()), "idempotent");

  // Two tabs: a window with storage events, one shared localStorage.
  const win = new EventTarget();
  globalThis.window = win;
  try {
    const storage = sharedStorage();
    const tab1 = (await load({ storage })).wm;
    const tab2 = (await load({ storage })).wm;
    const deliver = (from) => {
      const ev = new Event("storage");
      ev.key = "waymark:state";
      ev.newValue = storage.map.get("waymark:state");
      for (const tab of [tab1, tab2]) if (tab !== from) tab._mergeSaved(ev.newValue);
    };
    tab1.track("screen_view", { screen_name: "discounts" });
    await Promise.resolve();
    deliver(tab1);
    tab2.consent({ sms: true });
    await Promise.resolve();
    deliver(tab2);
    assert.equal(hex(tab1.exportState()), hex(tab2.exportState()), "tabs converged");
    assert.deepEqual(tab1.journeys(), ["discounts_wishlist"]);
    // The real storage event reaches a listener on window.
    tab2.track("view_item", view("sku-1", "shoes"));
    await Promise.resolve();
    const ev = new Event("storage");
    ev.key = "waymark:state";
    ev.newValue = storage.map.get("waymark:state");
    win.dispatchEvent(ev);
    assert.equal(hex(tab1.exportState()), hex(tab2.exportState()), "converged through window's storage event");
    tab1.close();
    tab2.close();
  } finally {
    delete globalThis.window;
  }
});

/** A stand-in for the backend's /v1/sync on 127.0.0.1: merges and answers the state. */
async function backend(handler) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = new Uint8Array(Buffer.concat(chunks));
      requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers["content-type"], body });
      handler(req, res, body, requests.length);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${server.address().port}`;
  return { endpoint, requests, close: () => new Promise((r) => server.close(r)) };
}

test("sync posts postcard bytes with the token and applies the merged answer", async () => {
  const serverCopy = new State("ana");
  serverCopy.setTraits({ segment: "vip" }, T0 - MIN);
  const server = await backend((req, res, body) => {
    if (req.headers.authorization !== "Bearer tok-1") {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "invalid_token", message: "bad token" } }));
      return;
    }
    serverCopy.mergeBytes(body);
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end(Buffer.from(serverCopy.encode()));
  });
  try {
    const { wm } = await load({ endpoint: server.endpoint, shopperToken: "tok-1", syncDelay: 60_000 });
    const synced = [];
    wm.on("sync", (s) => synced.push(s));
    wm.track("screen_view", { screen_name: "discounts" });
    assert.deepEqual(await wm.sync(), { synced: true });
    assert.equal(server.requests.length, 1);
    const [req] = server.requests;
    assert.equal(req.method, "POST");
    assert.equal(req.url, "/v1/sync");
    assert.equal(req.type, "application/octet-stream");
    assert.equal(req.body[0], STATE_VERSION, "postcard state with its version byte");
    assert.deepEqual(wm.traits(), { segment: "vip" }, "the server's copy merged in");
    assert.equal(hex(wm.exportState()), hex(serverCopy.encode()), "both sides hold the join");
    assert.equal(synced.length, 1);

    wm.setShopperToken("forged");
    await assert.rejects(wm.sync(), (e) => e.code === "invalid_token" && e.status === 401 && e.retry === false);
    wm.close();
  } finally {
    await server.close();
  }
});

test("sync retries with backoff after a server error, batching changes meanwhile", async () => {
  const server = await backend((req, res, body, n) => {
    if (n === 1) {
      res.writeHead(503);
      res.end();
      return;
    }
    res.writeHead(200);
    res.end(Buffer.from(body));
  });
  try {
    const { wm } = await load({ endpoint: server.endpoint, shopperToken: () => Promise.resolve("tok"), syncDelay: 10 });
    const done = new Promise((resolve) => wm.on("sync", resolve));
    const errors = [];
    wm.on("error", (e) => errors.push(e.code));
    wm.track("screen_view", { screen_name: "discounts" });
    wm.track("view_item", view("sku-1", "shoes"));
    await done;
    assert.equal(server.requests.length, 2, "one failed try, one retry; the two tracks went in one batch");
    assert.deepEqual(errors, ["sync_failed"]);
    assert.equal(server.requests[1].auth, "Bearer tok");
    wm.close();
  } finally {
    await server.close();
  }
});

test("the GA4 dataLayer feeds track unchanged", async () => {
  const { wm } = await load();
  const dataLayer = [{ event: "gtm.js", "gtm.start": 1 }, { event: "screen_view", screen_name: "Discounts" }];
  const seen = [];
  wm.on("decision", (d) => seen.push(d));
  const detach = wm.attachDataLayer(dataLayer);
  assert.equal(seen.length, 1, "entries pushed before load are replayed");
  dataLayer.push({ ecommerce: null });
  dataLayer.push({ event: "view_item", ecommerce: { currency: "EUR", value: 40, items: [{ item_id: "sku-1", item_category: "shoes", price: 40 }] } });
  (function gtag() {
    dataLayer.push(arguments);
  })("event", "view_item", view("sku-2", "shoes"));
  assert.equal(dataLayer.length, 5, "push still pushes");
  assert.ok(wm.explain().some((c) => c.feature === "product_views" || c.signal >= 2), JSON.stringify(wm.explain()));
  assert.deepEqual(fromDataLayer({ event: "view_item", ecommerce: { value: 1 }, page: "/p" }), {
    name: "view_item",
    properties: { page: "/p", value: 1 },
  });
  assert.equal(fromDataLayer({ event: "gtm.dom" }), undefined);
  detach();
  const before = wm.exportState();
  dataLayer.push({ event: "view_item", ecommerce: { items: [{ item_id: "sku-3" }] } });
  assert.equal(hex(wm.exportState()), hex(before), "detached");
  wm.close();
});

test("timers run by themselves at the next wakeup", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let now = T0;
  const wm = await Waymark.load({ bundle: { journeys: [discounts] }, storage: "memory", clock: () => now, shopperId: "ana" });
  const seen = [];
  wm.on("decision", (d) => seen.push(d));
  wm.track("screen_view", { screen_name: "discounts" });
  now += 2 * 24 * 60 * MIN;
  t.mock.timers.tick(2 * 24 * 60 * MIN);
  assert.ok(seen.some((d) => d.step === "discounts_digest" && d.time === now), JSON.stringify(seen));
  wm.close();
});

/** A fetch that records its calls and answers an empty body. */
function recordingFetch() {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return new Response(new Uint8Array(0));
  };
  return { calls, fetch };
}

test("page hide hands the unsynced state to fetch keepalive with the token", async () => {
  const win = new EventTarget();
  globalThis.window = win;
  try {
    const { calls, fetch } = recordingFetch();
    const { wm } = await load({ endpoint: "https://api.example/waymark/", shopperToken: "tok-9", fetch, syncDelay: 60_000 });
    wm.track("screen_view", { screen_name: "discounts" });
    win.dispatchEvent(new Event("pagehide"));
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, "https://api.example/waymark/v1/sync");
    assert.equal(calls[0].init.keepalive, true);
    assert.equal(calls[0].init.headers.authorization, "Bearer tok-9");
    assert.equal(hex(calls[0].init.body), hex(wm.exportState()));
    win.dispatchEvent(new Event("pagehide"));
    assert.equal(calls.length, 1, "nothing new to send");
    wm.close();
  } finally {
    delete globalThis.window;
  }
});

test("page hide in a browser sends a beacon: the token as the first line, then the state", async () => {
  const win = new EventTarget();
  globalThis.window = win;
  const beacons = [];
  let accept = true;
  const previous = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  Object.defineProperty(globalThis, "navigator", {
    configurable: true,
    value: { sendBeacon: (url, blob) => (beacons.push({ url, blob }), accept) },
  });
  try {
    const { calls, fetch } = recordingFetch();
    const { wm } = await load({ endpoint: "https://api.example/", shopperToken: "tok-9", fetch, syncDelay: 60_000 });
    wm.track("screen_view", { screen_name: "discounts" });
    win.dispatchEvent(new Event("pagehide"));
    assert.equal(calls.length, 0, "no fetch when the beacon is taken");
    assert.equal(beacons.length, 1);
    assert.equal(beacons[0].url, "https://api.example/v1/sync/beacon");
    assert.equal(beacons[0].blob.type, "text/plain;charset=utf-8", "a simple request: no CORS preflight");
    const body = new Uint8Array(await beacons[0].blob.arrayBuffer());
    const newline = body.indexOf(10);
    assert.equal(new TextDecoder().decode(body.subarray(0, newline)), "tok-9");
    assert.equal(hex(body.subarray(newline + 1)), hex(wm.exportState()));
    win.dispatchEvent(new Event("pagehide"));
    assert.equal(beacons.length, 1, "nothing new to send");

    // A beacon the browser refuses (quota): the keepalive fetch takes over.
    accept = false;
    wm.track("screen_view", { screen_name: "discounts again" });
    win.dispatchEvent(new Event("pagehide"));
    assert.equal(beacons.length, 2);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, "https://api.example/v1/sync");
    assert.equal(calls[0].init.headers.authorization, "Bearer tok-9");
    wm.close();
  } finally {
    delete globalThis.window;
    if (previous) Object.defineProperty(globalThis, "navigator", previous);
    else delete globalThis.navigator;
  }
});

test("a fetch passed in options is called as a plain function, as window.fetch needs", async () => {
  const server = await backend((req, res, body) => {
    res.writeHead(200);
    res.end(Buffer.from(body));
  });
  try {
    const receivers = [];
    // Like window.fetch: throws unless called without a `this` (or with the global one).
    const strictFetch = function (url, init) {
      receivers.push(this);
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      return fetch(url, init);
    };
    const { wm } = await load({ endpoint: server.endpoint, shopperToken: "tok", fetch: strictFetch, syncDelay: 60_000 });
    wm.track("screen_view", { screen_name: "discounts" });
    assert.deepEqual(await wm.sync(), { synced: true });
    assert.equal(server.requests.length, 1);
    assert.ok(receivers.every((r) => r === undefined || r === globalThis));
    wm.close();
  } finally {
    await server.close();
  }
});

test("without a bundle, load fetches the binary bundle from the endpoint", async () => {
  const dir = tempDir("fetch");
  writeFileSync(join(dir, "b.json"), JSON.stringify({ journeys: [discounts] }));
  cli("bundle", join(dir, "b.json"), "-o", join(dir, "b.bin"));
  const bytes = readFileSync(join(dir, "b.bin"));
  const urls = [];
  const fetch = async (url) => {
    urls.push(url);
    return new Response(bytes);
  };
  const wm = await Waymark.load({ endpoint: "https://api.example", fetch, storage: "memory", timers: false, clock: () => T0 });
  assert.deepEqual(urls, ["https://api.example/v1/bundle"]);
  assert.equal(wm.track("screen_view", { screen_name: "discounts" })[0].journey, "discounts_wishlist");
  wm.close();
  const failing = async () => new Response("no", { status: 503 });
  await assert.rejects(Waymark.load({ endpoint: "https://api.example", fetch: failing, storage: "memory" }), { code: "bundle_fetch_failed", status: 503 });
});
