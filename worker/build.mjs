#!/usr/bin/env node
// worker/build.mjs — puts what the worker imports into worker/src/vendor/ (git-ignored):
//
//   waymark.js        the npm package's web-target glue (initSync + Engine/State bindings)
//   core.js, ...      the package's JS layer over that glue: core.js and the modules it
//                     imports (bindings.js, storage.js, sync.js, errors.js, encode.js, decode.js)
//   waymark_bg.wasm   the optimized engine, imported as a compiled module
//   bundle.bin        the journeys compiled with `waymark bundle` — the bundle the worker
//                     decides with until (and whenever) the backend's GET /v1/bundle cannot
//                     be had
//
//   node worker/build.mjs [--pkg DIR] [--waymark BIN] [JOURNEY_PATH...]
//
// --pkg: the built npm package (default: ../pkg, from scripts/build-pkg.sh).
// --waymark: the waymark CLI (default: $WAYMARK_BIN, else `cargo run --quiet --`).
// Journey paths default to ../examples/journeys. Both wrangler.toml and workerd.capnp read
// the files from src/vendor/, so a deploy and the tests run the same bytes.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");
const vendor = join(here, "src", "vendor");

function fail(msg) {
  console.error(`worker/build.mjs: ${msg}`);
  process.exit(1);
}

const args = process.argv.slice(2);
let pkg = process.env.WAYMARK_PKG || join(repo, "pkg");
let waymark = process.env.WAYMARK_BIN || null;
const journeys = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--pkg") pkg = resolve(args[++i]);
  else if (args[i] === "--waymark") waymark = resolve(args[++i]);
  else journeys.push(resolve(args[i]));
}
if (journeys.length === 0) journeys.push(join(repo, "examples", "journeys"));

/** The web-target glue and its .wasm inside the package: the `workerd` export when the
 *  package.json names one, else the usual places. */
function findGlue(dir) {
  const candidates = [];
  const pj = join(dir, "package.json");
  if (existsSync(pj)) {
    const exp = JSON.parse(readFileSync(pj, "utf8")).exports;
    const walk = (v) => {
      if (typeof v === "string") return v;
      if (v && typeof v === "object") return walk(v.workerd) ?? walk(v.worker) ?? null;
      return null;
    };
    const w = exp && walk(exp["./web"] ?? null);
    if (w) candidates.push(w);
  }
  candidates.push("web/waymark.js", "waymark.js", "dist/web/waymark.js");
  for (const c of candidates) {
    const js = join(dir, c);
    const wasm = js.replace(/\.js$/, "_bg.wasm");
    if (existsSync(js) && existsSync(wasm) && /\binitSync\b/.test(readFileSync(js, "utf8"))) {
      return { js, wasm };
    }
  }
  return null;
}

const glue = existsSync(pkg) ? findGlue(pkg) : null;
if (glue === null) {
  fail(`no web-target glue (a waymark.js exporting initSync, with waymark_bg.wasm beside it) in ${pkg}.
  Build the package first: scripts/build-pkg.sh (or pass --pkg DIR).`);
}
mkdirSync(vendor, { recursive: true });
copyFileSync(glue.js, join(vendor, "waymark.js"));
copyFileSync(glue.wasm, join(vendor, "waymark_bg.wasm"));
// The package's JS layer: it completes the raw bindings (events in and decisions out cross
// the boundary as packed bytes that these modules encode and decode). core.js and the
// modules it imports, followed from its `from "./x.js"` lines; workerd.capnp lists the same.
const layers = ["core.js"];
for (let i = 0; i < layers.length; i++) {
  const from = join(dirname(dirname(glue.js)), layers[i]);
  if (!existsSync(from)) fail(`${from} is missing: the package's JS layer (scripts/build-pkg.sh) is needed`);
  copyFileSync(from, join(vendor, layers[i]));
  for (const [, dep] of readFileSync(from, "utf8").matchAll(/^(?:import|export)\b[^;]*?\bfrom "\.\/([\w-]+\.js)";/gm)) {
    if (!layers.includes(dep)) layers.push(dep);
  }
}

const out = join(vendor, "bundle.bin");
const cmd = waymark ? [waymark] : ["cargo", "run", "--quiet", "--"];
try {
  execFileSync(cmd[0], [...cmd.slice(1), "bundle", ...journeys, "-o", out], { cwd: repo, stdio: ["ignore", "inherit", "inherit"] });
} catch (e) {
  fail(`waymark bundle failed: ${e.message}`);
}
const size = (f) => statSync(join(vendor, f)).size;
console.log(
  `worker/src/vendor: waymark.js ${size("waymark.js")} B, waymark_bg.wasm ${size("waymark_bg.wasm")} B, bundle.bin ${size("bundle.bin")} B (from ${glue.js})`,
);
