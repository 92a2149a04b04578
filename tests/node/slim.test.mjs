// The default (slim) module — what browsers, workers and bundlers load — run in Node
// through the browser entry: it loads binary bundles, gives the same decisions and state
// bytes as the full module, and answers JSON bundles with a stable code and the way out.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { PKG, ROOT, cli, hex, tempDir, waymark as full } from "./helpers.mjs";

const slim = await import(pathToFileURL(join(PKG, "browser.js")).href);
await slim.init(readFileSync(join(PKG, "web/waymark_bg.wasm")));

const T0 = Date.parse("2026-06-01T08:00:00Z");
const readJson = (p) => JSON.parse(readFileSync(join(ROOT, p), "utf8"));

function bundleBytes() {
  const dir = tempDir("slim");
  cli("bundle", join(ROOT, "templates"), join(ROOT, "examples/journeys"), "-o", join(dir, "b.bin"));
  return new Uint8Array(readFileSync(join(dir, "b.bin")));
}

test("slim: no fromJson in the module; JSON bundles fail with json_bundle_unsupported", async () => {
  const discounts = readJson("examples/journeys/001-discounts-wishlist.json");
  for (const bundle of [{ journeys: [discounts] }, JSON.stringify({ journeys: [discounts] }), new TextEncoder().encode(JSON.stringify({ journeys: [discounts] }))]) {
    await assert.rejects(slim.Waymark.load({ bundle, storage: "memory", timers: false }), (e) => {
      assert.equal(e.code, "json_bundle_unsupported");
      assert.match(e.message, /waymark bundle/);
      assert.match(e.message, /waymark\/full/);
      return true;
    });
  }
  // The full module (node entry) takes the JSON bytes as they are.
  const wm = await full.Waymark.load({ bundle: new TextEncoder().encode(JSON.stringify({ journeys: [discounts] })), storage: "memory", timers: false, clock: () => T0 });
  assert.equal(wm.track("screen_view", { screen_name: "discounts" })[0].action, "enter");
  wm.close();
});

test("slim and full modules agree on decisions, traits and state bytes", () => {
  const bytes = bundleBytes();
  const runs = [slim, full].map(({ Engine, State }) => {
    const engine = Engine.fromBytes(bytes);
    const state = new State("ana");
    state.setTraits({ email: "ana@example.com", vip: true, tags: ["a", 1, null, { x: 2.5 }] }, T0);
    const out = [];
    let now = T0;
    const cats = ["shoes", "bags"];
    for (let i = 0; i < 40; i++) {
      now += 37_000;
      const name = ["view_item", "page_view", "add_to_cart", "search"][i % 4];
      out.push(...engine.ingest(state, name, now, { items: [{ item_id: `sku-${i % 5}`, item_category: cats[i % 2], price: 20 + i }], search_term: "ünïcødé" }));
      out.push(...engine.tick(state, now + 3_600_000 * (i % 3)));
    }
    const result = { decisions: JSON.stringify(out), traits: state.traits(), state: hex(state.encode()), explain: engine.explain(state, now) };
    state.free();
    engine.free();
    return result;
  });
  assert.ok(JSON.parse(runs[0].decisions).length > 0);
  assert.equal(runs[0].decisions, runs[1].decisions);
  assert.deepEqual(runs[0].traits, { email: "ana@example.com", vip: true, tags: ["a", 1, null, { x: 2.5 }] });
  assert.deepEqual(runs[0].traits, runs[1].traits);
  assert.equal(runs[0].state, runs[1].state);
  assert.deepEqual(runs[0].explain, runs[1].explain);
});
