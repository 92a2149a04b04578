// bench/wasm.mjs — figures of the built npm package (pkg/): wasm size raw and gzipped,
// instantiate time (fresh processes: V8 caches compiled modules within one), and the
// time of one `wm.track` in Node including the JS ↔ wasm boundary.
//
//   node bench/wasm.mjs [--json]        (after `make pkg`; WAYMARK_BIN for a binary bundle)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PKG = process.env.WAYMARK_PKG || join(ROOT, "pkg");
const asJson = process.argv.includes("--json");
const GOAL_GZ = 60 * 1024;
const GOAL_TRACK_US = 3;

if (!existsSync(join(PKG, "node.js"))) {
  console.error(`no built package at ${PKG}: run 'make pkg' first`);
  process.exit(2);
}

// --- size -------------------------------------------------------------------------------
const wasmBytes = readFileSync(join(PKG, "web/waymark_bg.wasm"));
const size = { raw: wasmBytes.length, gzip: gzipSync(wasmBytes, { level: 9 }).length };

// --- bundle: the shipped templates + examples (binary when the CLI is at hand) -----------
function bundle() {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  const bin = [process.env.WAYMARK_BIN, join(target, "release/waymark"), join(target, "debug/waymark")].find((p) => p && existsSync(p));
  if (bin) {
    const out = join(mkdtempSync(join(tmpdir(), "waymark-bench-")), "bundle.bin");
    execFileSync(bin, ["bundle", join(ROOT, "templates"), join(ROOT, "examples/journeys"), "-o", out], { stdio: "ignore" });
    return { kind: "binary: templates + examples", path: out };
  }
  const journeys = readdirSync(join(ROOT, "examples/journeys")).map((f) => JSON.parse(readFileSync(join(ROOT, "examples/journeys", f), "utf8")));
  const out = join(mkdtempSync(join(tmpdir(), "waymark-bench-")), "bundle.json");
  writeFileSync(out, JSON.stringify({ journeys }));
  return { kind: "json: examples", path: out };
}
const b = bundle();

// --- instantiate: fresh processes ----------------------------------------------------------
const probe = `
  const t0 = performance.now();
  const glue = await import(${JSON.stringify(pathToFileURL(join(PKG, "web/waymark.js")).href)});
  const bytes = (await import("node:fs")).readFileSync(${JSON.stringify(join(PKG, "web/waymark_bg.wasm"))});
  const t1 = performance.now();
  glue.initSync({ module: bytes });
  const t2 = performance.now();
  const src = (await import("node:fs")).readFileSync(${JSON.stringify(b.path)});
  const engine = ${JSON.stringify(b.path)}.endsWith(".bin") ? glue.Engine.fromBytes(src) : glue.Engine.fromJson(JSON.parse(src));
  const t3 = performance.now();
  console.log(JSON.stringify({ instantiate: t2 - t1, bundle: t3 - t2, journeys: engine.journeys().length }));
`;
const runs = [];
for (let i = 0; i < 7; i++) {
  runs.push(JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8" })));
}
const median = (xs) => xs.slice().sort((a, c) => a - c)[Math.floor(xs.length / 2)];
const instantiateMs = median(runs.map((r) => r.instantiate));
const bundleMs = median(runs.map((r) => r.bundle));

// --- track ------------------------------------------------------------------------------------
const { Waymark } = await import(pathToFileURL(join(PKG, "node.js")).href);
const src = readFileSync(b.path);
let now = Date.parse("2026-06-01T08:00:00Z");
const wm = await Waymark.load({
  bundle: b.path.endsWith(".bin") ? new Uint8Array(src) : JSON.parse(src),
  storage: "memory",
  timers: false,
  clock: () => now,
  shopperId: "bench",
});
let sink = 0;
wm.on("decision", () => sink++);
const categories = ["shoes", "bags", "hats", "coats"];
const events = [];
for (let i = 0; i < 64; i++) {
  events.push({ items: [{ item_id: `sku-${i}`, item_category: categories[i % 4], price: 10 + i, quantity: 1 }] });
}
function timeTrack(name, n, props) {
  for (let i = 0; i < 2000; i++) {
    now += 1000;
    wm.track(name, props(i));
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    now += 1000;
    wm.track(name, props(i));
  }
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}
const N = 100_000;
const trackViewItem = timeTrack("view_item", N, (i) => events[i & 63]);
const trackPageView = timeTrack("page_view", N, () => undefined);
const stateBytes = wm.exportState().length;
wm.close();

const result = {
  wasm: { raw_bytes: size.raw, gzip_bytes: size.gzip, goal_gzip_bytes: GOAL_GZ },
  instantiate_ms: +instantiateMs.toFixed(2),
  bundle_load_ms: +bundleMs.toFixed(2),
  bundle: `${b.kind}, ${runs[0].journeys} journeys`,
  track_us: { view_item_1_item: +trackViewItem.toFixed(2), page_view_no_props: +trackPageView.toFixed(2), goal: GOAL_TRACK_US },
  state_bytes_after: stateBytes,
  decisions_emitted: sink,
  node: process.version,
};
if (asJson) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const kib = (n) => (n / 1024).toFixed(1) + " KiB";
  const mark = (ok) => (ok ? "ok" : "over goal");
  console.log(`wasm size        ${kib(size.raw)} raw, ${kib(size.gzip)} gzip -9   (goal ≤ 60 KiB gz: ${mark(size.gzip <= GOAL_GZ)})`);
  console.log(`instantiate      ${instantiateMs.toFixed(2)} ms (compile + instantiate, median of ${runs.length} fresh processes)`);
  console.log(`bundle load      ${bundleMs.toFixed(2)} ms (${result.bundle})`);
  console.log(`track view_item  ${trackViewItem.toFixed(2)} µs/call incl. boundary, 1 GA4 item   (goal ≤ ${GOAL_TRACK_US} µs: ${mark(trackViewItem <= GOAL_TRACK_US)})`);
  console.log(`track page_view  ${trackPageView.toFixed(2)} µs/call, no properties`);
  console.log(`state            ${stateBytes} bytes after ${2 * (N + 2000)} events; ${sink} decisions emitted`);
}
