// The hand-written index.d.ts against the package it describes: every runtime export is
// declared and every declared export and class member exists at runtime (read with the
// TypeScript compiler's own parser), and a TypeScript storefront written from the npm
// README type-checks under `tsc --strict`, while misuse is rejected.
// TypeScript comes from scripts/js (npm ci there; `make test` installs it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";

import { PKG, ROOT, tempDir, waymark } from "./helpers.mjs";

const TOOLS = join(ROOT, "scripts/js");
const TSC = join(TOOLS, "node_modules/typescript/bin/tsc");
if (!existsSync(TSC)) {
  throw new Error(`no TypeScript in ${TOOLS}/node_modules: run 'npm ci' there (make test does)`);
}
const ts = createRequire(join(TOOLS, "package.json"))("typescript");

/** Exported names of index.d.ts and, per class, its members: `{ values, classes }`. */
function declarations() {
  const file = join(PKG, "index.d.ts");
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const values = new Set();
  const classes = new Map();
  const exported = (node) => node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const node of source.statements) {
    if (!exported(node)) continue;
    if (ts.isClassDeclaration(node) && node.name) {
      values.add(node.name.text);
      const members = { statics: new Set(), instance: new Set() };
      for (const m of node.members) {
        // Optional members (`path?`) are set only on some instances.
        if (!m.name || ts.isConstructorDeclaration(m) || m.questionToken) continue;
        const isStatic = m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword);
        (isStatic ? members.statics : members.instance).add(m.name.getText(source));
      }
      classes.set(node.name.text, members);
    } else if (ts.isFunctionDeclaration(node) && node.name) {
      values.add(node.name.text);
    } else if (ts.isVariableStatement(node)) {
      for (const d of node.declarationList.declarations) values.add(d.name.getText(source));
    }
  }
  return { values, classes };
}

test("index.d.ts declares exactly what the package exports, and every class member exists", async () => {
  const { values, classes } = declarations();
  const runtime = new Set(Object.keys(waymark).filter((k) => k !== "default"));
  assert.deepEqual([...runtime].filter((k) => !values.has(k)), [], "exported but not declared");
  assert.deepEqual([...values].filter((k) => !runtime.has(k)), [], "declared but not exported");

  const wm = await waymark.Waymark.load({ bundle: { journeys: [] }, storage: "memory", timers: false, shopperId: "ana" });
  const engine = waymark.Engine.fromJson({ journeys: [] });
  const instances = { Waymark: wm, Engine: engine, State: new waymark.State("ana"), WaymarkError: new waymark.WaymarkError("x", "y") };
  for (const [name, members] of classes) {
    const cls = waymark[name];
    for (const s of members.statics) assert.equal(typeof cls[s], "function", `${name}.${s} is declared static`);
    for (const m of members.instance) assert.ok(m in instances[name], `${name}#${m} is declared but missing`);
  }
  wm.close();
});

// A storefront as the npm README shows it, plus the raw engine; the @ts-expect-error
// lines must each be an error, else tsc fails on them.
const STOREFRONT = `
import { Waymark, WaymarkError, Engine, State, fromDataLayer, CHANNELS } from "waymark";
import type { Decision, ReasonCode, Journey, Event, Tier, Channel, BundleSource } from "waymark";

const bundle = new Uint8Array(await (await fetch("/journeys.bin")).arrayBuffer());
const wm = await Waymark.load({ bundle, endpoint: "https://waymark.example.com", shopperToken: () => "token", debug: true });
const shown: string[] = [];
const off = wm.on("decision", (d: Decision) => {
  if (d.action === "send" && d.channel === "onsite" && d.content) shown.push(d.content);
});
wm.on("tier", ({ from, to }) => console.log(from satisfies Tier, to satisfies Tier));
wm.on("error", (e) => console.log(e.code, e.status));
const decisions: Decision[] = wm.track("view_item", { items: [{ item_id: "sku-1", item_category: "shoes", price: 80 }] });
const first: ReasonCode | undefined = decisions[0]?.reasons[0];
wm.track("Product Viewed", { item_id: "sku-1" });
wm.identify("customer-42", { email: "ana@example.com" });
const consent: Partial<Record<Channel, boolean>> = wm.consent({ email: true, sms: false });
const { score, tier } = wm.intent();
const synced: { synced: boolean } = await wm.sync();
const saved: Uint8Array = wm.exportState();
wm.importState(saved);
const recent: string[] = wm.recentlyViewed(4);
const items: string[] = decisions[0]?.items ?? [];
const entry: Event | undefined = fromDataLayer({ event: "view_item", ecommerce: { items: [] } });
const channels: readonly Channel[] = CHANNELS;
try {
  await Waymark.load({ bundle: "not json" });
} catch (e) {
  if (e instanceof WaymarkError) console.log(e.code, e.path ?? "", e.errors?.length ?? 0);
}
const journey: Journey = {
  id: "welcome",
  entry: { event: "view_item", where: { price: { $gt: 50 } } },
  reentry: { mode: "multiple", lock: "30d", cap: 2, window: "60d" },
  steps: [{ id: "nudge", type: "send", channel: "onsite", content: "banner" }, { id: "done", type: "exit" }],
};
const source: BundleSource = { journeys: [journey] };
const engine = Engine.fromJson(source);
const state = new State("anon-1");
const raw: Decision[] = engine.ingest(state, "view_item", Date.now(), { price: 80 });
const wake: number | undefined = engine.nextWakeup(state);
off();
wm.close();
console.log(shown, first, consent, score, tier, synced, entry, channels, raw, wake, recent, items);

// @ts-expect-error properties are an object, not a number
wm.track("view_item", 42);
// @ts-expect-error there is no such event to listen to
wm.on("decisions", () => {});
// @ts-expect-error consent is per channel name
wm.consent({ fax: true });
// @ts-expect-error the row's length is a number
wm.recentlyViewed("4");
// @ts-expect-error a step has a type from the list
const bad: Journey = { id: "x", steps: [{ id: "s", type: "teleport" }] };
// @ts-expect-error decisions are read-only data, not promises
await wm.track("page_view").then(() => {});
console.log(bad);
`;

test("a TypeScript storefront written from the README type-checks under --strict; misuse does not", () => {
  const dir = tempDir("ts-shop");
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(PKG, join(dir, "node_modules/waymark"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "shop", private: true, type: "module" }));
  writeFileSync(join(dir, "shop.ts"), STOREFRONT);
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: "es2022",
      module: "nodenext",
      moduleResolution: "nodenext",
      lib: ["es2022", "dom"],
      skipLibCheck: false,
      types: [],
    },
    files: ["shop.ts"],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config));
  let output = "";
  try {
    output = execFileSync(process.execPath, [TSC, "-p", dir], { cwd: dir, encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc found errors:\n${e.stdout}${e.stderr}`);
  }
  assert.equal(output.trim(), "");
});
