// Browser end-to-end tests: the demo storefront (www/) in headless Chromium, the npm
// package built from this checkout, a real `waymark serve` on SQLite, and a real SMTP
// receiver. Run by `scripts/test.sh e2e` (part of `make test`), or directly:
//
//   node --test --test-concurrency=1 tests/e2e/
//
// Needs: pkg/ (make pkg), the backend binary (cargo build --features server, or WAYMARK_BIN),
// /usr/bin/chromium, www/node_modules (npm ci in www/), python3 with aiosmtpd.
// Screenshots go to out/screenshots/, process logs to out/e2e/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  REPO,
  admin,
  launchChromium,
  startBackend,
  startSmtp,
  startStorefront,
  stop,
  stopAll,
  tempDir,
  waitFor,
} from "./harness.mjs";
import { writeJourneys, CART_REMINDER_DELAY } from "./journeys.mjs";

const OUT = path.join(REPO, "out");
const SHOTS = path.join(OUT, "screenshots");
const LOGS = path.join(OUT, "e2e");
const DAY = 24 * 3600 * 1000;

let env; // { smtp, backend, storefront, browser, journeysDir, db }

before(async () => {
  fs.rmSync(LOGS, { recursive: true, force: true });
  fs.mkdirSync(LOGS, { recursive: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  const work = tempDir("run");
  const journeysDir = path.join(work, "journeys");
  writeJourneys(journeysDir);
  const db = path.join(work, "waymark.db");
  const smtp = await startSmtp(LOGS);
  const backend = await startBackend({ logDir: LOGS, db, journeysDir, smtpPort: smtp.port });
  const storefront = await startStorefront({ logDir: LOGS, backendUrl: backend.url });
  const browser = await launchChromium();
  env = { smtp, backend, storefront, browser, journeysDir, db, work };
});

after(async () => {
  await env?.browser?.close().catch(() => {});
  await stopAll();
  if (env?.work) fs.rmSync(env.work, { recursive: true, force: true });
});

// ---- helpers ------------------------------------------------------------------------------

async function shopper(name, { context } = {}) {
  const ctx = context || (await env.browser.newContext({ viewport: { width: 1280, height: 860 } }));
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
    fs.appendFileSync(path.join(LOGS, `console-${name}.log`), `[${m.type()}] ${m.text()}\n`);
  });
  await page.goto(env.storefront.url);
  await page.waitForSelector("body[data-ready]");
  const anonymous = await page.evaluate(() => window.waymarkDemo?.anonymous);
  assert.ok(anonymous, `${name}: the waymark package did not load (see out/e2e/console-${name}.log): ${errors.join(" | ")}`);
  return { name, context: ctx, page, anonymous, errors };
}

const go = (page, hash) => page.evaluate((h) => (location.hash = h), hash);

async function viewProduct(page, id) {
  await go(page, `#/p/${id}`);
  await page.waitForSelector(`.product[data-product="${id}"]`);
}

async function login(page, email, { emailConsent = true, smsConsent = false, phone = "" } = {}) {
  await go(page, "#/account");
  await page.fill("#login-email", email);
  if (phone) await page.fill("#login-phone", phone);
  if (emailConsent) await page.check("#login-consent-email");
  if (smsConsent) await page.check("#login-consent-sms");
  await page.click("#login-submit");
  await page.waitForSelector("#account-email");
}

async function quickAdd(page, category, id) {
  await go(page, `#/c/${category}`);
  await page.click(`[data-quick-add="${id}"]`);
  await waitFor("cart count", () => page.evaluate(() => Number(document.getElementById("cart-count").textContent) > 0));
}

const decisions = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem("northwind.debug") || "{}").decisions || []);
const intent = (page) => page.evaluate(() => window.waymarkDemo.wm.intent());
const sync = (page) => page.evaluate(() => window.waymarkDemo.wm.sync());

// What the backend holds for one shopper: GET /v1/shoppers/{id} (admin).
async function backendShopper(id) {
  const r = await admin(env.backend.url, "GET", `/v1/shoppers/${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, `GET /v1/shoppers/${id}: ${r.text}`);
  return r.json;
}

async function suppressionCheck(anonymousId, channel, journey) {
  const r = await admin(env.backend.url, "POST", "/v1/suppression/check", { anonymous_id: anonymousId, channel, journey });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// What the backend's outbox rows of one journey keep about their message (`context`:
// the run's remembered entry and the decision's items), read from its SQLite file.
function outboxContexts(journey) {
  const read = "import json, sqlite3, sys\n" +
    "db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n" +
    "rows = db.execute('SELECT context FROM outbox WHERE journey = ?', (sys.argv[2],)).fetchall()\n" +
    "print(json.dumps([json.loads(r[0]) if r[0] else None for r in rows]))";
  return JSON.parse(execFileSync("python3", ["-c", read, env.db, journey], { encoding: "utf8" }));
}

const mailTo = (address) => env.smtp.messages().filter((m) => m.to.some((t) => t.toLowerCase() === address));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const durationMs = (text) => Number(text.slice(0, -1)) * { s: 1000, m: 60_000, h: 3_600_000 }[text.slice(-1)];

// ---- tests ----------------------------------------------------------------------------------

test("three products viewed in one category: passive nudge, then an active offer in the same session", async () => {
  const s = await shopper("ana");
  await s.page.click('#cat-nav a[data-cat="shoes"]');
  await s.page.waitForSelector(".grid .card");
  const cards = await s.page.$$eval(".grid .card", (els) => els.map((e) => e.dataset.product));

  await s.page.click(`.card[data-product="${cards[0]}"] a.title`);
  await s.page.waitForSelector(`.product[data-product="${cards[0]}"]`);
  await s.page.waitForSelector("#nudge-slot:not([hidden])");
  assert.match(await s.page.textContent("#nudge-slot"), /Popular in Shoes/);
  assert.equal(await s.page.isVisible("#offer-modal"), false, "no offer after one product");

  await s.page.goBack();
  await s.page.click(`.card[data-product="${cards[1]}"] a.title`);
  await s.page.waitForSelector(`.product[data-product="${cards[1]}"]`);
  assert.equal(await s.page.isVisible("#offer-modal"), false, "no offer after two products");

  await s.page.goBack();
  await s.page.click(`.card[data-product="${cards[2]}"] a.title`);
  await s.page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  assert.equal(await s.page.textContent("#offer-code"), "CATEGORY10");
  assert.match(await s.page.textContent("#offer-title"), /10% off on Shoes/);
  const { tier } = await intent(s.page);
  assert.equal(tier, "hot");
  const sends = (await decisions(s.page)).filter((d) => d.action === "send" && d.journey === "intent_escalation");
  assert.ok(sends.some((d) => d.content === "category-offer" && d.incentive === "CATEGORY10"), JSON.stringify(sends));
  await s.page.screenshot({ path: path.join(SHOTS, "storefront-offer.png") });

  // Apply it: the cart carries exactly one discount, even after more offers could compete.
  await s.page.click("#offer-apply");
  await s.page.click(`.product [data-add]`);
  await go(s.page, "#/cart");
  await s.page.waitForSelector("table.lines");
  assert.equal(await s.page.locator("[data-discount]").count(), 1);
  assert.equal(await s.page.getAttribute("[data-discount]", "data-discount"), "CATEGORY10");
  const incentives = new Set((await decisions(s.page)).filter((d) => d.action === "send" && d.incentive).map((d) => d.incentive));
  assert.ok(incentives.size <= 1, `never two discounts at once: ${[...incentives]}`);
  assert.deepEqual(s.errors, []);
  await s.context.close();
});

test("cart left behind: the backend schedules a reminder; an on-site offer since suppresses it (nothing reaches SMTP)", async () => {
  // bob: adds to cart from a list (no product page, so no on-site intervention) and leaves —
  // the control: his reminder must arrive, or "nothing arrives" below would prove nothing.
  const bob = await shopper("bob");
  await login(bob.page, "bob@northwind.test");
  const bobAddsAt = Date.now(); // his reminder is due one delay after the add, not before
  await quickAdd(bob.page, "bags", "bag-2");
  // alice: adds to cart, then views three shoes, gets the on-site offer, and leaves.
  const alice = await shopper("alice");
  await login(alice.page, "alice@northwind.test");
  await quickAdd(alice.page, "bags", "bag-1");
  for (const id of ["sho-1", "sho-2", "sho-3"]) await viewProduct(alice.page, id);
  await alice.page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  // Leaving: the package syncs on page hide (sendBeacon).
  await bob.page.close({ runBeforeUnload: true });
  await alice.page.close({ runBeforeUnload: true });

  // The backend has both shoppers and a cart reminder scheduled for each.
  for (const s of [bob, alice]) {
    await waitFor(`backend knows ${s.name}`, async () => (await suppressionCheck(s.anonymous, "email", "cart_abandon")).known_shopper, {
      timeoutMs: 10000,
    });
    const report = await backendShopper(s.anonymous);
    const timer = (report.timers || []).find((t) => t.journey === "cart_abandon");
    assert.ok(timer, `${s.name}: cart_abandon timer scheduled: ${JSON.stringify(report)}`);
  }
  // Right now the backend would already refuse email to alice, and why.
  const aliceCheck = await suppressionCheck(alice.anonymous, "email", "cart_abandon");
  assert.equal(aliceCheck.decision, "suppress");
  assert.ok(aliceCheck.reasons.includes("recent_onsite"), JSON.stringify(aliceCheck));

  // The real scheduler fires the timers; the real outbox delivers over SMTP.
  await waitFor("bob's cart reminder at the SMTP receiver", () => mailTo("bob@northwind.test").length > 0, {
    timeoutMs: durationMs(CART_REMINDER_DELAY) + 20000,
  });
  assert.ok(Date.now() >= bobAddsAt + durationMs(CART_REMINDER_DELAY), "the reminder waited for its timer");
  // The reminder knows what it is about: its outbox row keeps the cart's item, from
  // which delivery builds the email's products.
  const contexts = outboxContexts("cart_abandon");
  assert.ok(contexts.some((c) => c?.items?.includes("bag-2")), `bob's reminder names his cart's item: ${JSON.stringify(contexts)}`);
  await sleep(3000); // alice's timer is due at the same time: give her email every chance to (wrongly) arrive
  assert.deepEqual(mailTo("alice@northwind.test"), [], "no cart reminder for alice: the on-site offer suppressed it");
  const analytics = await admin(env.backend.url, "GET", "/v1/analytics");
  const cart = analytics.json?.journeys?.cart_abandon || {};
  assert.ok((cart.suppressions?.recent_onsite || 0) >= 1, `analytics counts the suppression: ${JSON.stringify(cart)}`);
  await bob.context.close();
  await alice.context.close();
});

test("purchase: pending follow-ups cancelled, the post-purchase follow-up scheduled 10 days later", async () => {
  const carol = await shopper("carol");
  await login(carol.page, "carol@northwind.test");
  await quickAdd(carol.page, "outerwear", "out-2");
  await go(carol.page, "#/cart");
  await carol.page.click("#to-checkout");
  await carol.page.waitForSelector("#checkout-form");
  await carol.page.waitForSelector("#reassurance", { timeout: 5000 });
  assert.match(await carol.page.textContent("#reassurance"), /Free returns/);
  const purchasedAt = Date.now();
  await carol.page.click("#place-order");
  await carol.page.waitForSelector("#order-id");
  await sync(carol.page);

  const ds = await decisions(carol.page);
  assert.ok(
    ds.some((d) => d.journey === "cart_abandon" && (d.action === "cancel" || d.action === "convert")),
    `cart_abandon follow-ups cancelled on purchase: ${JSON.stringify(ds.filter((d) => d.journey === "cart_abandon"))}`,
  );
  assert.ok(ds.some((d) => d.journey === "post_purchase" && d.action === "enter"), "post_purchase entered");

  // The browser's state, as the backend answered /v1/sync (merged and committed there).
  const journeys = await carol.page.evaluate(() => window.waymarkDemo.wm.journeys());
  assert.ok(!journeys.includes("cart_abandon"), `cart_abandon ended: ${journeys}`);
  assert.ok(journeys.includes("post_purchase"), `post_purchase running: ${journeys}`);
  // And the backend's own timers: what its scheduler will run.
  const report = await backendShopper(carol.anonymous);
  const timers = report.timers || [];
  assert.ok(!timers.some((t) => t.journey === "cart_abandon"), `no cart reminder pending: ${JSON.stringify(timers)}`);
  const pp = timers.find((t) => t.journey === "post_purchase");
  assert.ok(pp, `post_purchase timer: ${JSON.stringify(timers)}`);
  const due = typeof pp.due === "number" ? pp.due : Date.parse(pp.due);
  assert.ok(Math.abs(due - (purchasedAt + 10 * DAY)) < 5 * 60_000, `due 10 days after the purchase: ${pp.due}`);
  // And nothing was sent: the cancelled reminder never reaches SMTP.
  await sleep(durationMs(CART_REMINDER_DELAY) + 2500);
  assert.deepEqual(mailTo("carol@northwind.test"), [], "no reminder after the purchase");
  await carol.context.close();
});

test("reload: the shopper's state survives, and intent keeps counting", async () => {
  const s = await shopper("dave");
  await viewProduct(s.page, "acc-1");
  await viewProduct(s.page, "acc-2");
  await go(s.page, "#/"); // reloading a product page would view it again
  await s.page.waitForSelector(".hero");
  const before = await intent(s.page);
  const journeysBefore = await s.page.evaluate(() => window.waymarkDemo.wm.journeys().sort());
  assert.ok(journeysBefore.includes("intent_escalation"), JSON.stringify(journeysBefore));
  await s.page.reload();
  await s.page.waitForSelector("body[data-ready]");
  assert.equal(await s.page.evaluate(() => window.waymarkDemo.anonymous), s.anonymous, "same shopper after reload");
  const afterReload = await intent(s.page);
  assert.equal(afterReload.tier, before.tier);
  assert.ok(Math.abs(afterReload.score - before.score) < 0.05, `score kept: ${before.score} → ${afterReload.score}`);
  assert.deepEqual(await s.page.evaluate(() => window.waymarkDemo.wm.journeys().sort()), journeysBefore);
  // The third accessory after the reload is still the third: the offer comes.
  await viewProduct(s.page, "acc-3");
  await s.page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  await s.page.click("#offer-close");
  await quickAdd(s.page, "accessories", "acc-4");
  await s.page.reload();
  await s.page.waitForSelector("body[data-ready]");
  assert.equal(await s.page.textContent("#cart-count"), "1", "the cart survives");
  await go(s.page, "#/cart");
  await s.page.waitForSelector('#offer-slot[data-incentive="CATEGORY10"]');
  assert.equal(await s.page.isVisible("#offer-modal"), false, "the offer is not shown twice");
  await s.context.close();
});

test("two tabs: their states converge", async () => {
  const ctx = await env.browser.newContext({ viewport: { width: 1280, height: 860 } });
  const a = await shopper("tab-a", { context: ctx });
  const b = await shopper("tab-b", { context: ctx });
  assert.equal(a.anonymous, b.anonymous, "one shopper across tabs");
  await viewProduct(a.page, "out-1");
  await viewProduct(b.page, "out-4");
  await viewProduct(a.page, "bag-5");
  // Converged: both tabs see the same score and tier, and the same journeys.
  await waitFor(
    "both tabs agree",
    async () => {
      const [ia, ib] = [await intent(a.page), await intent(b.page)];
      const journeys = (p) => p.evaluate(() => window.waymarkDemo.wm.journeys().sort().join(","));
      return ia.tier === ib.tier && Math.abs(ia.score - ib.score) < 0.02 && (await journeys(a.page)) === (await journeys(b.page));
    },
    { timeoutMs: 10000 },
  );
  // One more outerwear view in tab B makes three distinct in that category across tabs.
  await viewProduct(b.page, "out-6");
  await b.page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  await ctx.close();
});

test("debug panel: events, intent chart, tier, decisions with reasons, state size, sync, backend queue", async () => {
  const s = await shopper("frank");
  await login(s.page, "frank@northwind.test");
  await quickAdd(s.page, "shoes", "sho-7");
  for (const id of ["sho-4", "sho-5", "sho-6"]) await viewProduct(s.page, id);
  await s.page.waitForSelector("#offer-modal:not([hidden])");
  await s.page.click("#offer-close");
  await sync(s.page);
  await s.page.click("#debug-toggle");
  await s.page.waitForSelector("#debug:not([hidden])");
  await waitFor("the backend section", async () => !(await s.page.textContent("#dbg-backend")).includes("not loaded"));
  assert.equal(await s.page.textContent("#dbg-tier"), "hot");
  assert.ok(Number(await s.page.textContent("#dbg-score")) > 0.5);
  assert.match(await s.page.textContent("#dbg-size"), /^\d+ B$/);
  assert.notEqual((await s.page.textContent("#dbg-sync")).trim(), "—");
  assert.ok((await s.page.locator("#dbg-events li").count()) >= 5);
  const offer = s.page.locator('#dbg-decisions li[data-action="send"]', { hasText: "category-offer" });
  assert.ok((await offer.count()) >= 1);
  assert.match(await offer.first().textContent(), /allowed/);
  const chartInk = await s.page.evaluate(() => {
    const c = document.getElementById("dbg-chart");
    const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] > 200 && px[i + 1] < 140) lit++; // the red "hot" segment
    return lit;
  });
  assert.ok(chartInk > 10, "the intent chart draws the hot segment");
  // The store's header stays readable beside the panel: the account link is not under it.
  const account = await s.page.locator("#nav-account").boundingBox();
  const panel = await s.page.locator("#debug").boundingBox();
  assert.ok(account && panel && account.x + account.width <= panel.x, `account link ${JSON.stringify(account)} under the panel at x=${panel?.x}`);
  assert.equal(await s.page.textContent("#nav-account"), "frank");
  await s.page.screenshot({ path: path.join(SHOTS, "debug-panel.png") });
  await s.context.close();
});

test("backend stopped: the page keeps working, and syncs when the backend returns", async () => {
  const s = await shopper("erin");
  await login(s.page, "erin@northwind.test");
  await sync(s.page);
  const known = await suppressionCheck(s.anonymous, "email", "cart_abandon");
  assert.ok(known.known_shopper && !known.reasons.includes("recent_onsite"), JSON.stringify(known));
  await stop(env.backend.proc);
  // Shopping goes on: pages, cart, and the engine's on-site decisions all run in the page.
  await quickAdd(s.page, "bags", "bag-3");
  await viewProduct(s.page, "bag-1");
  await viewProduct(s.page, "bag-3");
  await viewProduct(s.page, "bag-4");
  await s.page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  assert.match(await s.page.textContent("#dbg-sync"), /.+/);
  await s.page.evaluate(() => window.waymarkDemo.wm.sync()).catch(() => {});
  assert.deepEqual(s.errors.filter((e) => !/Failed to load resource|502|fetch/i.test(e)), []);

  env.backend = await startBackend({
    logDir: LOGS,
    db: env.db,
    port: env.backend.port,
    journeysDir: env.journeysDir,
    smtpPort: env.smtp.port,
  });
  // The package retries with backoff: the backend learns about the cart without a new event.
  await waitFor(
    "the backend to receive erin's offline events",
    async () => {
      const check = await suppressionCheck(s.anonymous, "email", "cart_abandon");
      return check.known_shopper && check.reasons.includes("recent_onsite");
    },
    { timeoutMs: 45000, intervalMs: 500 },
  );
  await s.context.close();
});
