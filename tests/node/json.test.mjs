// JSON journeys in the package, through the Node entry and through `waymark/full` (the
// module browsers, workers and the console load): every shipped template and example
// journey compiles to the very bytes `waymark bundle` writes, IANA zones included, and
// replays the scenario corpus with the same decisions and state bytes as the binary
// bundle; every broken journey of tests/cases/invalid/ reports the code, pointer and
// line:col `waymark validate` reports (tests/cases/invalid.expected.json).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { PKG, ROOT, cli, hex, tempDir, waymark } from "./helpers.mjs";
import { INGEST, prepare, replay, scenarioFiles } from "./replay.mjs";

const full = await import(pathToFileURL(join(PKG, "full.js")).href);
await full.init(readFileSync(join(PKG, "full/waymark_bg.wasm")));
const ENTRIES = { node: waymark, "waymark/full": full };

const T0 = Date.parse("2026-06-01T08:00:00Z");
const DIRS = ["templates", "examples/journeys"];
const journeyFiles = DIRS.flatMap((d) =>
  readdirSync(join(ROOT, d))
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => join(ROOT, d, f)),
);
const journeys = journeyFiles.map((f) => JSON.parse(readFileSync(f, "utf8")));

/** `waymark bundle` of the given paths, as bytes. */
function cliBundle(...paths) {
  const out = join(tempDir("json"), "bundle.bin");
  cli("bundle", ...paths, "-o", out);
  return new Uint8Array(readFileSync(out));
}

/** The three ways a JSON bundle reaches the package: object, text, UTF-8 bytes. */
function forms(bundle) {
  const text = JSON.stringify(bundle, null, 2);
  return { object: bundle, text, bytes: new TextEncoder().encode(text) };
}

test("there are templates and examples, one of them in an IANA zone", () => {
  assert.ok(journeyFiles.length >= 12, `${journeyFiles.length} journey files`);
  assert.ok(journeys.some((j) => /\//.test(j.schedule?.time_zone ?? "")), "a journey names an IANA zone");
});

test("templates and examples compile in the package to the CLI's binary bundle, byte for byte", () => {
  const want = hex(cliBundle(...DIRS.map((d) => join(ROOT, d))));
  for (const [entry, api] of Object.entries(ENTRIES)) {
    for (const [form, bundle] of Object.entries(forms({ journeys }))) {
      const engine = api.Engine.fromJson(bundle);
      assert.equal(hex(engine.toBytes()), want, `${entry}, ${form}`);
      assert.deepEqual(engine.journeys(), journeys.map((j) => j.id).sort(), `${entry}, ${form}`);
      engine.free();
    }
  }
});

test("templates and examples as JSON replay every scenario's events as the binary bundle does", () => {
  const binary = waymark.Engine.fromBytes(cliBundle(...DIRS.map((d) => join(ROOT, d))));
  const engines = Object.entries(ENTRIES).map(([entry, api]) => [entry, api, api.Engine.fromJson({ journeys })]);
  let decided = 0;
  for (const file of scenarioFiles()) {
    const { lines, traceSkips } = prepare(file);
    binary.traceSkips = traceSkips;
    const want = replay(binary, lines, INGEST.encoded);
    decided += want.decisions.length;
    for (const [entry, api, engine] of engines) {
      engine.traceSkips = traceSkips;
      const got = replay(engine, lines, INGEST.encoded, api.State);
      assert.equal(JSON.stringify(got.decisions), JSON.stringify(want.decisions), `${entry}: decisions of ${file}`);
      assert.deepEqual(got.states, want.states, `${entry}: state bytes of ${file}`);
    }
  }
  assert.ok(decided > 100, `the corpus decided ${decided} times through the templates`);
});

test("every scenario's own bundle compiled from JSON is the CLI's and replays as it does", () => {
  for (const file of scenarioFiles()) {
    const { bundle, lines, traceSkips } = prepare(file);
    const dir = tempDir("json-scenario");
    writeFileSync(join(dir, "bundle.json"), JSON.stringify(bundle));
    const bytes = cliBundle(join(dir, "bundle.json"));
    const binary = waymark.Engine.fromBytes(bytes);
    binary.traceSkips = traceSkips;
    const want = replay(binary, lines, INGEST.values);
    for (const [entry, api] of Object.entries(ENTRIES)) {
      const engine = api.Engine.fromJson(bundle);
      assert.equal(hex(engine.toBytes()), hex(bytes), `${entry}: bundle of ${file}`);
      engine.traceSkips = traceSkips;
      const got = replay(engine, lines, INGEST.values, api.State);
      assert.equal(JSON.stringify(got.decisions), JSON.stringify(want.decisions), `${entry}: decisions of ${file}`);
      assert.deepEqual(got.states, want.states, `${entry}: state bytes of ${file}`);
      engine.free();
    }
    binary.free();
  }
});

// --- diagnostics -------------------------------------------------------------------------

const INVALID = join(ROOT, "tests/cases/invalid");
const expected = JSON.parse(readFileSync(join(ROOT, "tests/cases/invalid.expected.json"), "utf8"));
/** "code pointer line:col", the form of tests/cases/invalid.expected.json. */
const summary = (d) => `${d.code} ${d.path || "-"} ${d.line === undefined ? "-" : `${d.line}:${d.column}`}`;

/** The package's errors for a bundle (what `fromJson` throws). */
function errorsOf(api, bundle) {
  try {
    api.Engine.fromJson(bundle).free();
  } catch (e) {
    assert.ok(e instanceof api.WaymarkError, `a WaymarkError: ${e}`);
    assert.equal(e.code, e.errors[0].code);
    assert.equal(e.path, e.errors[0].path);
    for (const d of e.errors) assert.ok(e.message.includes(d.message), `the message lists ${d.code}`);
    return e.errors;
  }
  assert.fail("the bundle compiled");
}

test("every broken journey reports in the package what `waymark validate` reports", () => {
  const files = readdirSync(INVALID).filter((f) => f.endsWith(".json")).sort();
  assert.deepEqual(files, Object.keys(expected).sort(), "every invalid case has its expectation");
  for (const [entry, api] of Object.entries(ENTRIES)) {
    for (const file of files) {
      const text = readFileSync(join(INVALID, file), "utf8");
      // Text and bytes: code, pointer and line:col as the CLI's table says.
      for (const bundle of [text, new TextEncoder().encode(text)]) {
        assert.deepEqual(errorsOf(api, bundle).map(summary), expected[file], `${entry}: ${file}`);
      }
      // An object: the same codes and pointers, no lines (it has none).
      let object;
      try {
        object = JSON.parse(text);
      } catch {
        continue; // bad-json.json
      }
      const noLines = expected[file].map((s) => s.replace(/ [^ ]+$/, " -"));
      assert.deepEqual(errorsOf(api, object).map(summary), noLines, `${entry}: ${file} as an object`);
    }
  }
});

test("a bundle with a missing field, an unknown zone and a bad duration names each journey's field", async () => {
  const bundle = JSON.parse(readFileSync(join(INVALID, "broken-bundle.json"), "utf8"));
  for (const [entry, api] of Object.entries(ENTRIES)) {
    await assert.rejects(api.Waymark.load({ bundle, storage: "memory", timers: false }), (e) => {
      assert.deepEqual(
        e.errors.map((d) => [d.code, d.path]),
        [
          ["missing_field", "/journeys/0/entry"],
          ["unknown_time_zone", "/journeys/1/schedule/time_zone"],
          ["bad_duration", "/journeys/2/steps/0/duration"],
        ],
        entry,
      );
      assert.equal(e.code, "missing_field");
      assert.equal(e.path, "/journeys/0/entry");
      const [missing, zone, duration] = e.errors;
      assert.match(missing.message, /missing field `entry`/);
      assert.equal(zone.message, `unknown time zone "Paris": did you mean "Europe/Paris"? (zone names are IANA's "Area/City")`);
      assert.match(duration.message, /bad duration "3 days": write a number and a unit/);
      return true;
    });
  }
  // The one good journey of it loads, in Paris time.
  const wm = await full.Waymark.load({ bundle: { journeys: [bundle.journeys[3]] }, storage: "memory", timers: false, clock: () => T0 });
  assert.equal(wm.track("purchase", { value: 10 })[0].action, "enter");
  wm.close();
});
