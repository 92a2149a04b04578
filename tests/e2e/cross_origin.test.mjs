// A storefront whose pages call the backend on the backend's own origin, as a shop with
// its backend at https://waymark.example.com would: the bundle, every sync (CORS
// preflight with the shopper token) and the beacon a page sends as it is left
// (`navigator.sendBeacon`, token in the body) all cross origins in real Chromium.
// Logs go to out/e2e-cross-origin/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO, admin, launchChromium, startBackend, startStorefront, stopAll, tempDir, waitFor } from "./harness.mjs";
import { writeJourneys } from "./journeys.mjs";

const LOGS = path.join(REPO, "out", "e2e-cross-origin");

let env; // { backend, storefront, browser, work }

before(async () => {
  fs.rmSync(LOGS, { recursive: true, force: true });
  fs.mkdirSync(LOGS, { recursive: true });
  const work = tempDir("cors");
  const journeysDir = path.join(work, "journeys");
  writeJourneys(journeysDir);
  // Request logs (route and status of each) show which sync route a page used.
  const backend = await startBackend({
    logDir: LOGS,
    db: path.join(work, "waymark.db"),
    journeysDir,
    rustLog: "info,waymark::server::app=debug",
  });
  const storefront = await startStorefront({ logDir: LOGS, backendUrl: backend.url, direct: true });
  const browser = await launchChromium();
  env = { backend, storefront, browser, work };
});

after(async () => {
  await env?.browser?.close().catch(() => {});
  await stopAll();
  if (env?.work) fs.rmSync(env.work, { recursive: true, force: true });
});

/** Requests the backend answered, from its debug log: `{route, status}`. */
function backendRequests() {
  const text = fs.readFileSync(env.backend.proc.logFile, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
  return [...text.matchAll(/method=(\w+) route="?([^\s"]+)"? status=(\d+)/g)].map((m) => ({
    method: m[1],
    route: m[2],
    status: Number(m[3]),
  }));
}

test("pages on the shop's origin sync with the backend on its own, and the last state leaves with a beacon", async () => {
  const ctx = await env.browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
    fs.appendFileSync(path.join(LOGS, "console.log"), `[${m.type()}] ${m.text()}\n`);
  });
  const backendOrigin = new URL(env.backend.url).origin;
  assert.notEqual(new URL(env.storefront.url).origin, backendOrigin, "two origins");
  const toBackend = [];
  page.on("request", (r) => {
    if (r.url().startsWith(backendOrigin)) toBackend.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });

  await page.goto(env.storefront.url);
  await page.waitForSelector("body[data-ready]");
  const anonymous = await page.evaluate(() => window.waymarkDemo?.anonymous);
  assert.ok(anonymous, `the package did not load: ${errors.join(" | ")}`);
  assert.ok(toBackend.includes("GET /v1/bundle"), `the bundle comes from the backend's origin: ${toBackend}`);

  // A sync: preflighted (Authorization header), answered with CORS headers, merged state applied.
  await page.evaluate(() => (location.hash = "#/c/shoes"));
  await page.waitForSelector(".grid .card");
  const cards = await page.$$eval(".grid .card", (els) => els.map((e) => e.dataset.product));
  await page.evaluate((id) => (location.hash = `#/p/${id}`), cards[0]);
  await page.waitForSelector(`.product[data-product="${cards[0]}"]`);
  assert.deepEqual(await page.evaluate(() => window.waymarkDemo.wm.sync()), { synced: true });
  assert.ok(
    backendRequests().some((r) => r.method === "POST" && r.route === "/v1/sync" && r.status === 200),
    "the backend answered the page's sync",
  );
  const first = await admin(env.backend.url, "GET", `/v1/shoppers/${encodeURIComponent(anonymous)}`);
  assert.equal(first.status, 200, first.text);
  assert.notEqual(first.json.intent.tier, "hot");

  // Two more shoes make the shopper hot, and the page is left.
  for (const id of cards.slice(1, 3)) {
    await page.evaluate((p) => (location.hash = `#/p/${p}`), id);
    await page.waitForSelector(`.product[data-product="${id}"]`);
  }
  await page.waitForSelector("#offer-modal:not([hidden])", { timeout: 5000 });
  assert.equal((await page.evaluate(() => window.waymarkDemo.wm.intent())).tier, "hot");
  // One more event as the shopper leaves, so the state is unsynced at page hide even if
  // the timed sync ran meanwhile.
  await page.evaluate(() => {
    window.waymarkDemo.wm.track("page_view", { page_location: location.href });
    setTimeout(() => (location.href = "about:blank"), 0);
  });
  await page.waitForURL("about:blank");

  await waitFor(
    "the beacon to reach the backend",
    () => backendRequests().some((r) => r.method === "POST" && r.route === "/v1/sync/beacon" && r.status === 204),
    { timeoutMs: 10000 },
  );
  const after = await admin(env.backend.url, "GET", `/v1/shoppers/${encodeURIComponent(anonymous)}`);
  assert.equal(after.json.intent.tier, "hot", JSON.stringify(after.json.intent));
  const refused = backendRequests().filter((r) => r.route.startsWith("/v1/") && r.status >= 400);
  assert.deepEqual(refused, [], "no request of the page was refused");
  assert.deepEqual(errors, []);
  await ctx.close();
});
