// The package as a consumer project imports it: `import { Waymark } from "waymark"`
// through package.json's exports (the node condition), types and wasm subpaths present.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { PKG, tempDir } from "./helpers.mjs";

test("a consumer's `import \"waymark\"` resolves to the node build and runs", () => {
  const dir = tempDir("consumer");
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(PKG, join(dir, "node_modules/waymark"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "shop", private: true, type: "module" }));
  writeFileSync(
    join(dir, "main.js"),
    `import { Waymark, version } from "waymark";
     const wm = await Waymark.load({ bundle: { journeys: [] }, storage: "memory", timers: false });
     console.log(JSON.stringify({ decisions: wm.track("page_view").length, tier: wm.intent().tier, version: version() }));
     wm.close();`,
  );
  const out = JSON.parse(execFileSync(process.execPath, [join(dir, "main.js")], { cwd: dir, encoding: "utf8" }));
  assert.equal(out.decisions, 0);
  assert.equal(out.tier, "cold");
  assert.match(out.version, /^\d+\.\d+\.\d+/);
});

test("package.json: ESM, side-effect free, conditional exports with types first", () => {
  const pkg = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
  assert.equal(pkg.type, "module");
  assert.equal(pkg.sideEffects, false);
  const root = pkg.exports["."];
  assert.equal(Object.keys(root)[0], "types");
  for (const condition of ["browser", "node", "workerd", "worker", "default"]) assert.ok(root[condition], condition);
  for (const file of new Set([...Object.values(root), pkg.exports["./waymark_bg.wasm"], pkg.exports["./bundler"].default])) {
    assert.ok(existsSync(join(PKG, file)), `${file} is in the package`);
  }
  assert.match(pkg.version, /^\d+\.\d+\.\d+/, "the crate version, not the template placeholder");
});

test("package.json `files` ships every module an export imports", () => {
  const pkg = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
  // npm always packs package.json.
  const shipped = (file) => file === "package.json" || pkg.files.some((f) => (f.endsWith("/") ? file.startsWith(f) : file === f));
  // Every file an export names, then the relative imports of each JS module, transitively.
  const files = [];
  const walk = (v) => {
    if (typeof v === "string") files.push(v.replace(/^\.\//, ""));
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(pkg.exports);
  // A subpath pattern ("./templates/*") names a directory's files.
  for (const pattern of files.filter((f) => f.endsWith("/*"))) {
    const dir = pattern.slice(0, -1);
    assert.ok(shipped(dir), `${dir} is listed in package.json files`);
    for (const f of readdirSync(join(PKG, dir))) files.push(dir + f);
  }
  files.splice(0, files.length, ...files.filter((f) => !f.endsWith("/*")));
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    assert.ok(existsSync(join(PKG, file)), `${file} exists`);
    assert.ok(shipped(file), `${file} is listed in package.json files (npm pack would leave it out)`);
    if (!file.endsWith(".js")) continue;
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
    for (const [, dep] of readFileSync(join(PKG, file), "utf8").matchAll(/\bfrom\s+["']\.\/([^"']+)["']/g)) {
      if (!files.includes(dir + dep)) files.push(dir + dep);
    }
  }
  for (const layer of ["core.js", "bindings.js", "storage.js", "sync.js", "errors.js", "encode.js", "decode.js"]) {
    assert.ok(files.includes(layer), `${layer} is reached from the exports`);
  }
});

// As a new user meets the package: `npm pack` of the build, installed from the tarball
// into a fresh project, then the README's JSON route (the first js block of its "JSON
// journeys" section) run as written, printing what its comment says.
test("npm pack → npm install → the README's JSON journeys snippet runs as written", () => {
  const work = tempDir("pack");
  const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const tarball = npm(["pack", PKG, "--pack-destination", work, "--silent"], work).trim().split("\n").pop();
  const app = join(work, "shop");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "shop", private: true, type: "module" }));
  npm(["install", "--no-audit", "--no-fund", "--offline", "--loglevel=error", join(work, tarball)], app);
  const installed = join(app, "node_modules/waymark");
  for (const file of ["templates/cart_abandon.json", "full/waymark_bg.wasm", "node/waymark_bg.wasm", "index.d.ts"]) {
    assert.ok(existsSync(join(installed, file)), `the tarball ships ${file}`);
  }
  const readme = readFileSync(join(installed, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## JSON journeys"));
  const snippet = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(snippet, "the README has a JSON journeys snippet");
  const claim = /console\.log\(.*\); \/\/ (.*)$/m.exec(snippet)?.[1];
  assert.ok(claim, "the snippet says what it prints");
  writeFileSync(join(app, "main.js"), snippet);
  const out = execFileSync(process.execPath, ["main.js"], { cwd: app, encoding: "utf8" });
  assert.equal(out.trim(), claim);
});
