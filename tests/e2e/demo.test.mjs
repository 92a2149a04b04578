// The README's main command, as a user runs it: scripts/demo.sh prints a URL that serves
// the storefront with the package and a published bundle; the store, with the demo's
// catalog and past shoppers, shows recommended products with its nudge and offer and a
// "recently viewed" row in Chromium; Ctrl-C stops every process.
// (--no-build: the e2e section built pkg/ and the backend just before.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO, freePort, launchChromium, tempDir, waitFor } from "./harness.mjs";

const LOGS = path.join(REPO, "out", "e2e-demo");
const SHOTS = path.join(REPO, "out", "screenshots");

const portOpen = (port) =>
  fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) }).then(
    () => true,
    () => false,
  );

// The demo's catalog, as the feed says: id → { title, inStock, category }.
function feed() {
  const xml = fs.readFileSync(path.join(REPO, "examples/catalog/feed.xml"), "utf8");
  const items = new Map();
  for (const [, body] of xml.matchAll(/<item>([\s\S]*?)<\/item>/g)) {
    const field = (name) => body.match(new RegExp(`<g:${name}>([^<]*)</g:${name}>`))?.[1];
    items.set(field("id"), { title: field("title"), inStock: field("availability") !== "out_of_stock", category: field("product_type") });
  }
  return items;
}

let demo; // { child, out(), exited, url, port, backendPort, dir }
let browser;

before(async () => {
  fs.rmSync(LOGS, { recursive: true, force: true });
  fs.mkdirSync(LOGS, { recursive: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  const dir = tempDir("demo");
  const [port, backendPort] = [await freePort(), await freePort()];
  const child = spawn("bash", [path.join(REPO, "scripts/demo.sh"), "--no-build"], {
    cwd: REPO,
    env: { ...process.env, WAYMARK_DEMO_DIR: dir, WAYMARK_DEMO_PORT: String(port), WAYMARK_DEMO_BACKEND_PORT: String(backendPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  demo = { child, out: () => out, exited, port, backendPort, dir };
  demo.url = await waitFor("DEMO_URL", () => out.match(/^DEMO_URL=(\S+)$/m)?.[1], { timeoutMs: 60_000 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    demo.child.kill("SIGINT");
    await demo.exited;
  }
  if (demo?.dir) {
    for (const log of ["backend.log", "storefront.log", "seed.log", "catalog.log"]) {
      if (fs.existsSync(path.join(demo.dir, log))) fs.copyFileSync(path.join(demo.dir, log), path.join(LOGS, log));
    }
    fs.rmSync(demo.dir, { recursive: true, force: true });
  }
});

test("make demo: prints a working URL with the package, a bundle and shopper tokens", { timeout: 60_000 }, async () => {
  assert.equal(demo.url, `http://127.0.0.1:${demo.port}/`);
  const page = await fetch(demo.url);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<script type="importmap">\{"imports":\{"waymark":"\/node_modules\/waymark\//);
  const entry = html.match(/"waymark":"([^"]+)"/)[1];
  assert.equal((await fetch(new URL(entry, demo.url))).status, 200, "the package's browser entry is served");
  const bundle = await fetch(new URL("/v1/bundle", demo.url));
  assert.equal(bundle.status, 200, "a bundle is published");
  assert.ok((await bundle.arrayBuffer()).byteLength > 100);
  const tokens = await fetch(new URL("/store/token", demo.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ anonymousId: "anon-demo-test" }),
  });
  assert.equal(tokens.status, 200, await tokens.clone().text());
  assert.match((await tokens.json()).token, /^v1\./);
  assert.match(demo.out(), /seeded \d+ past shoppers/, "the store's history is synced");
});

async function shopper(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
    fs.appendFileSync(path.join(LOGS, `console-${name}.log`), `[${m.type()}] ${m.text()}\n`);
  });
  await page.goto(demo.url);
  await page.waitForSelector("body[data-ready]");
  assert.ok(await page.evaluate(() => window.waymarkDemo?.anonymous), `${name}: the package did not load: ${errors.join(" | ")}`);
  return { context, page, errors };
}

const go = (page, hash) => page.evaluate((h) => (location.hash = h), hash);

async function viewProduct(page, id) {
  await go(page, `#/p/${id}`);
  await page.waitForSelector(`.product[data-product="${id}"]`);
}

const cardsIn = (page, selector) =>
  page.$$eval(`${selector} [data-reco-item]`, (els) =>
    els.map((e) => ({ id: e.dataset.recoItem, title: e.querySelector(".reco-name")?.textContent, href: e.getAttribute("href") })),
  );

test("the nudge and the offer show recommended products from the catalog; the home page lists what was viewed", { timeout: 90_000 }, async () => {
  const catalog = feed();
  const { context, page, errors } = await shopper("rosa");
  // Outerwear holds the feed's out-of-stock item (the Field Parka), which past shoppers
  // looked at: it must not be recommended.
  const outOfStock = [...catalog].filter(([, p]) => !p.inStock).map(([id]) => id);
  assert.ok(outOfStock.includes("out-6"), `the feed has an out-of-stock outerwear item: ${outOfStock}`);
  await go(page, "#/c/outerwear");
  await page.waitForSelector(".grid .card");
  const listed = await page.$$eval(".grid .card", (els) => els.map((e) => e.dataset.product));
  const viewed = listed.filter((id) => !outOfStock.includes(id)).slice(0, 3);

  const check = (cards, seen, where) => {
    assert.ok(cards.length >= 1 && cards.length <= 3, `${where}: 1 to 3 products: ${JSON.stringify(cards)}`);
    for (const c of cards) {
      const product = catalog.get(c.id);
      assert.ok(product, `${where}: ${c.id} is in the catalog`);
      assert.equal(c.title, product.title, `${where}: ${c.id}'s title is the catalog's`);
      assert.ok(product.inStock, `${where}: ${c.id} is in stock`);
      assert.ok(!seen.includes(c.id), `${where}: ${c.id} was already viewed (${seen})`);
      assert.equal(c.href, `#/p/${c.id}`, `${where}: links to the product on this store`);
    }
    assert.equal(new Set(cards.map((c) => c.id)).size, cards.length, `${where}: no product twice`);
  };

  // One product: the passive nudge, with products that go with it.
  await viewProduct(page, viewed[0]);
  await page.waitForSelector("#nudge-slot:not([hidden])");
  assert.match(await page.textContent("#nudge-slot"), /Popular in Outerwear/);
  await page.waitForSelector("#nudge-slot [data-reco-item]", { timeout: 10_000 });
  const nudged = await cardsIn(page, "#nudge-slot");
  check(nudged, viewed.slice(0, 1), "nudge");
  await page.screenshot({ path: path.join(SHOTS, "demo-nudge-products.png") });

  // Two more: the offer, with products the shopper has not looked at.
  for (const id of viewed.slice(1)) await viewProduct(page, id);
  await page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  await page.waitForSelector("#offer-modal [data-reco-item]", { timeout: 10_000 });
  const offered = await cardsIn(page, "#offer-modal");
  check(offered, viewed, "offer");
  await page.screenshot({ path: path.join(SHOTS, "demo-offer-products.png") });
  const decisions = await page.evaluate(() => JSON.parse(sessionStorage.getItem("northwind.debug") || "{}").decisions || []);
  const offer = decisions.find((d) => d.action === "send" && d.content === "category-offer");
  assert.equal(offer?.items?.[0], viewed[0], `the offer names the product that started the journey: ${JSON.stringify(offer)}`);

  // A recommended product leads to its page on this store.
  const picked = offered[0].id;
  await page.click(`#offer-modal [data-reco-item="${picked}"]`);
  await page.waitForSelector(`.product[data-product="${picked}"]`);
  assert.equal(await page.isVisible("#offer-modal"), false, "the offer made way");

  // The home page: recently viewed, newest first, from the engine's memory.
  await go(page, "#/");
  await page.waitForSelector(".hero");
  const recent = await page.$$eval("[data-recently-viewed] .card", (els) => els.map((e) => e.dataset.product));
  const expected = [picked, ...[...viewed].reverse()].slice(0, 4);
  assert.deepEqual(recent, expected, "the row lists the viewed products, most recent first");
  assert.deepEqual(await page.evaluate(() => window.waymarkDemo.wm.recentlyViewed(4)), expected);
  assert.deepEqual(errors, []);
  await context.close();
});

test("recommendations unreachable: the nudge shows without products", { timeout: 60_000 }, async () => {
  const { context, page, errors } = await shopper("sam");
  await context.route("**/v1/recommendations**", (route) => route.abort("connectionrefused"));
  await viewProduct(page, "bag-1");
  await page.waitForSelector("#nudge-slot:not([hidden])");
  assert.match(await page.textContent("#nudge-slot"), /Popular in Bags/);
  // The request was made and failed; nothing is shown in its place.
  await waitFor("the failed request", () => fs.readFileSync(path.join(LOGS, "console-sam.log"), "utf8").includes("recommendations unavailable"), {
    timeoutMs: 10_000,
  });
  assert.equal(await page.locator("#nudge-slot [data-reco-item]").count(), 0);
  assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e)), []);
  await context.close();
});

test("make demo: Ctrl-C stops everything", { timeout: 60_000 }, async () => {
  demo.child.kill("SIGINT");
  const { code } = await demo.exited;
  assert.equal(code, 0, demo.out());
  assert.match(demo.out(), /stopping the demo/);
  assert.equal(await portOpen(demo.port), false, "storefront stopped");
  assert.equal(await portOpen(demo.backendPort), false, "backend stopped");
});
