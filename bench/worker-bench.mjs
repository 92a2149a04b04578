#!/usr/bin/env node
// bench/worker-bench.mjs — the edge worker in real workerd, on loopback:
//
//   cold start  workerd spawn → listening, and the first page request (wasm instantiate,
//               bundle load, first decision), median of several fresh processes;
//   warm        per request wall time (client side) and workerd CPU time (utime + stime
//               from /proc, over many sequential requests), for three request kinds:
//                 passthrough  a stylesheet: proxy only, no waymark work (the baseline)
//                 page         a product page: cookie → ingest → HTML injection → cookie
//                 track        POST /__waymark/track with one event (no origin fetch)
//               "waymark CPU" = page CPU − passthrough CPU: what deciding adds to a proxy;
//   size        the worker's modules (JS glue + .wasm + bundle), raw and gzip, against
//               Cloudflare's Worker size limits.
//
//   node bench/worker-bench.mjs [--requests N] [--cold N] [--backend]
//
// Needs worker/src/vendor (node worker/build.mjs) and worker/node_modules (npm ci in
// worker/). --backend also runs `waymark serve` (WAYMARK_BIN) so every page syncs in
// ctx.waitUntil, as in production. Goal: ≤ 1 ms waymark CPU per warm request.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { WORKER_DIR, WAYMARK_BIN, TOKEN_SECRET, Shopper, startOrigin, startBackend, startWorkerd, stop, stopAll, haveVendor } from "../tests/worker/harness.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const REQUESTS = opt("--requests", 1000);
const COLD = opt("--cold", 5);
const WITH_BACKEND = args.includes("--backend");

if (!haveVendor()) {
  console.error("worker/src/vendor is not built: node worker/build.mjs (after scripts/build-pkg.sh)");
  process.exit(1);
}
if (WITH_BACKEND && !WAYMARK_BIN) {
  console.error("--backend needs WAYMARK_BIN (a waymark binary built with --features server)");
  process.exit(1);
}

const CLK_TCK = 100; // Linux USER_HZ
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
}
// The npm `workerd` bin is a Node shim that execs the real binary? Measure the process
// that serves: the child itself when it is the binary, else its only child.
function servingPid(child) {
  const exe = readFileSync(`/proc/${child.pid}/cmdline`, "utf8");
  if (!exe.includes("node")) return child.pid;
  try {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    return kids.length === 1 ? Number(kids[0]) : child.pid;
  } catch {
    return child.pid;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};
const f = (n, d = 3) => n.toFixed(d);

const origin = await startOrigin();
let backend = null;
if (WITH_BACKEND) backend = await startBackend();
const env = { ORIGIN: origin.url };
if (backend) Object.assign(env, { WAYMARK_BACKEND: backend.url, WAYMARK_TOKEN_SECRET: TOKEN_SECRET });

// --- cold start ------------------------------------------------------------------------
const colds = [];
for (let i = 0; i < COLD; i++) {
  const t0 = performance.now();
  const w = await startWorkerd(env);
  const listening = performance.now() - t0;
  const t1 = performance.now();
  const r = await new Shopper(w.url).page("/products/shoes/shoe-1");
  const first = performance.now() - t1;
  if (r.res.status !== 200 || !r.page) throw new Error(`cold request failed: ${r.res.status}`);
  const t2 = performance.now();
  await new Shopper(w.url).page("/products/shoes/shoe-2");
  const second = performance.now() - t2;
  colds.push({ listening, first, second });
  await stop(w.child);
}

// --- warm ------------------------------------------------------------------------------
const w = await startWorkerd(env);
const pid = servingPid(w.child);

async function measure(label, fn) {
  for (let i = 0; i < 50; i++) await fn(i); // warm up (JIT, connection)
  const walls = [];
  const c0 = cpuMs(pid);
  const t0 = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const s = performance.now();
    await fn(i);
    walls.push(performance.now() - s);
  }
  const total = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 300)); // waitUntil work (syncs) lands in the CPU figure
  const cpu = (cpuMs(pid) - c0) / REQUESTS;
  return { label, cpu, wall: median(walls), p99: pct(walls, 99), rps: (REQUESTS * 1000) / total };
}

const shopper = new Shopper(w.url);
// A realistic shopper: many product views over categories, a cookie of typical size.
const cats = ["shoes", "bags", "hats", "shirts", "coats"];
const passthrough = await measure("passthrough (stylesheet, no waymark work)", () =>
  shopper.request("/static/app.css", { headers: { accept: "text/css" } }).then((r) => r.arrayBuffer()),
);
const page = await measure("page (cookie → ingest → inject → cookie)", (i) =>
  shopper.page(`/products/${cats[i % cats.length]}/item-${i % 37}`),
);
const trackRes = await measure("track (POST /__waymark/track, 1 event)", (i) =>
  shopper.track({ name: "view_item", properties: { item_id: `t-${i % 41}`, item_category: cats[i % cats.length] } }),
);
const cookieLen = shopper.cookies.get("wm")?.length ?? 0;
const stateBytes = Math.floor(((cookieLen - 23) * 3) / 4) - 1;

// --- size ------------------------------------------------------------------------------
const files = [];
for (const f of readdirSync(join(WORKER_DIR, "src"))) if (f.endsWith(".js")) files.push(join(WORKER_DIR, "src", f));
// The glue and the package's JS layer (every module worker/build.mjs vendored), the .wasm, the bundle.
for (const f of readdirSync(join(WORKER_DIR, "src", "vendor"))) {
  if (f.endsWith(".js") || f === "waymark_bg.wasm" || f === "bundle.bin") files.push(join(WORKER_DIR, "src", "vendor", f));
}
let raw = 0;
let gz = 0;
const sizes = {};
for (const file of files) {
  const b = readFileSync(file);
  raw += b.length;
  const g = gzipSync(b, { level: 9 }).length;
  gz += g;
  sizes[file.slice(WORKER_DIR.length + 1)] = { raw: b.length, gzip: g };
}
const wasmSize = statSync(join(WORKER_DIR, "src", "vendor", "waymark_bg.wasm")).size;

await stopAll();

// --- report ----------------------------------------------------------------------------
const out = [];
out.push(`waymark worker bench — workerd (npm workerd), ${REQUESTS} sequential requests per kind, backend sync ${WITH_BACKEND ? "ON" : "off"}`);
out.push("");
out.push("cold start (fresh workerd process, median of " + COLD + "):");
out.push(`  spawn → listening        ${f(median(colds.map((c) => c.listening)), 1)} ms`);
out.push(`  first page request        ${f(median(colds.map((c) => c.first)), 1)} ms wall (wasm instantiate + bundle + decide + origin)`);
out.push(`  second page request       ${f(median(colds.map((c) => c.second)), 1)} ms wall`);
out.push("");
out.push("warm, per request:                              workerd CPU    wall median   wall p99    req/s");
for (const m of [passthrough, page, trackRes]) {
  out.push(`  ${m.label.padEnd(44)} ${f(m.cpu).padStart(8)} ms  ${f(m.wall).padStart(8)} ms  ${f(m.p99).padStart(8)} ms  ${f(m.rps, 0).padStart(6)}`);
}
out.push(`  waymark CPU on a page = page − passthrough   ${f(page.cpu - passthrough.cpu).padStart(8)} ms   (goal ≤ 1 ms)`);
out.push(`  cookie after the run: ${cookieLen} characters (state ≈ ${stateBytes} bytes postcard)`);
out.push("");
out.push("worker size (what wrangler uploads):");
for (const [name, s] of Object.entries(sizes)) out.push(`  ${name.padEnd(28)} ${String(s.raw).padStart(8)} B   gzip ${String(s.gzip).padStart(7)} B`);
out.push(`  total                        ${String(raw).padStart(8)} B   gzip ${String(gz).padStart(7)} B  (${f(gz / 1024, 1)} KiB)`);
out.push(
  `  Cloudflare limits (gzip): Free 3 MB → ${f((gz / (3 * 1024 * 1024)) * 100, 1)}% used; Paid 10 MB → ${f((gz / (10 * 1024 * 1024)) * 100, 2)}% used; startup limit 1 s`,
);
out.push(`  .wasm alone: ${wasmSize} B raw`);
console.log(out.join("\n"));
