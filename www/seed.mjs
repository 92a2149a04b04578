#!/usr/bin/env node
// The demo store's past: earlier shoppers' views, carts and orders, so that a fresh
// demo's recommender has co-views, orders and popularity to go on (a catalog with no
// history has nothing to recommend). Each past shopper's state is built with the npm
// package's own engine — the interest memory a browser builds from the same events — and
// synced the way a browser syncs: a shopper token from the backend, then POST /v1/sync.
// No journey runs for them (the engine here has none), so nothing is sent to them.
//
// Deterministic: the same shoppers view the same products on every run (a seeded
// generator), dated within the two weeks before now. Running it again merges into the
// same shoppers (a join: their states do not grow).
//
//   node www/seed.mjs --backend http://127.0.0.1:8080 [--pkg pkg] [--shoppers 60]
//   WAYMARK_ADMIN_TOKEN must be set (issuing shopper tokens is an admin call).
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CATEGORIES, PRODUCTS, byId, inCategory } from "./public/js/catalog.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const PARALLEL = 6;

function parseArgs(argv) {
  const opts = { backend: "http://127.0.0.1:8080", pkg: path.join(REPO, "pkg"), shoppers: 60 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === "--backend") opts.backend = value().replace(/\/$/, "");
    else if (flag === "--pkg") opts.pkg = path.resolve(value());
    else if (flag === "--shoppers") opts.shoppers = Number(value());
    else if (flag === "-h" || flag === "--help") {
      console.log("usage: node www/seed.mjs [--backend URL] [--pkg DIR] [--shoppers N]");
      process.exit(0);
    } else {
      console.error(`unknown option: ${argv[i]}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.shoppers) || opts.shoppers < 1 || opts.shoppers > 10_000) {
    console.error("--shoppers: 1 to 10000");
    process.exit(2);
  }
  return opts;
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const item = (p) => ({ item_id: p.id, item_name: p.name, item_category: p.category, price: p.price, quantity: 1 });

/**
 * The past shoppers and their events (oldest first), from `seed`: each stays mostly in
 * one category, where the products listed first are the favourites; some look at an
 * accessory too, some cart one of what they looked at, and some of those buy it.
 */
export function pastShoppers(count, now, seed = 17) {
  const rand = generator(seed);
  // Rank r of a list is picked with weight 1 / (r + 1).
  const favourite = (list) => {
    const weights = list.map((_, r) => 1 / (r + 1));
    let x = rand() * weights.reduce((a, b) => a + b, 0);
    for (let r = 0; r < list.length; r++) {
      x -= weights[r];
      if (x < 0) return list[r];
    }
    return list[list.length - 1];
  };
  const categories = Object.keys(CATEGORIES);
  const shoppers = [];
  for (let i = 0; i < count; i++) {
    const home = inCategory(categories[i % categories.length]);
    const viewed = new Set();
    const want = Math.min(home.length, 3 + Math.floor(rand() * 3));
    while (viewed.size < want) viewed.add(favourite(home).id);
    if (rand() < 0.35) viewed.add(favourite(inCategory("accessories")).id);
    let t = Math.round(now - (1 + rand() * 13) * DAY);
    const events = [];
    for (const id of viewed) {
      t += Math.round((1 + rand() * 4) * MIN);
      events.push({ name: "view_item", time: t, properties: { items: [item(byId(id))] } });
    }
    if (rand() < 0.4) {
      const list = [...viewed];
      const p = byId(list[Math.floor(rand() * list.length)]);
      t += 2 * MIN;
      events.push({ name: "add_to_cart", time: t, properties: { value: p.price, items: [item(p)] } });
      if (rand() < 0.5) {
        t += 5 * MIN;
        const properties = { transaction_id: `SEED-${i}`, value: p.price, currency: "EUR", items: [item(p)] };
        events.push({ name: "purchase", time: t, properties });
      }
    }
    shoppers.push({ id: `anon-seed-${String(i).padStart(3, "0")}`, events });
  }
  return shoppers;
}

async function call(url, init) {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${init.method} ${new URL(url).pathname}: HTTP ${r.status} ${text.slice(0, 200)}`);
  return text;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const admin = process.env.WAYMARK_ADMIN_TOKEN;
  if (!admin) {
    console.error("set WAYMARK_ADMIN_TOKEN: shopper tokens come from the backend's admin route");
    process.exit(2);
  }
  const { Engine, State } = await import(pathToFileURL(path.join(opts.pkg, "node.js")).href);
  const engine = Engine.fromJson({ journeys: [] });
  const shoppers = pastShoppers(opts.shoppers, Date.now());
  const counts = { view_item: 0, add_to_cart: 0, purchase: 0 };
  const queue = [...shoppers];
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const state = new State(s.id);
      try {
        for (const e of s.events) {
          engine.ingest(state, e.name, e.time, e.properties);
          counts[e.name]++;
        }
        const { token } = JSON.parse(
          await call(`${opts.backend}/v1/token`, {
            method: "POST",
            headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
            body: JSON.stringify({ anonymous_id: s.id }),
          }),
        );
        await call(`${opts.backend}/v1/sync`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
          body: state.encode(),
        });
      } finally {
        state.free();
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  engine.free();
  console.log(
    `seeded ${shoppers.length} past shoppers of ${PRODUCTS.length} products: ` +
      `${counts.view_item} views, ${counts.add_to_cart} carts, ${counts.purchase} orders`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`seeding the store's history failed: ${e.message || e}`);
    process.exit(1);
  });
}
