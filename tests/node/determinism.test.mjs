// Determinism: every tests/cases/scenarios/*.json replayed through the wasm build (the
// public Engine/State API, with the same replay loop as src/simulate.rs) gives the same
// decisions and byte-identical state as the native CLI (`waymark simulate --emit-state`),
// with entry skips traced on both sides when the scenario says `"trace_skips": true`.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { cli, tempDir, waymark } from "./helpers.mjs";
import { INGEST, SCENARIOS, native, prepare, replay, scenarioFiles } from "./replay.mjs";

const { Engine } = waymark;
const files = scenarioFiles();

test("there are scenario files to replay", () => {
  assert.ok(files.length > 0, `no scenarios in ${SCENARIOS}`);
});

for (const file of files) {
  test(`wasm and native agree: ${file}`, () => {
    const { bundle, lines, traceSkips } = prepare(file);
    const dir = tempDir("det");
    writeFileSync(join(dir, "bundle.json"), JSON.stringify(bundle));
    writeFileSync(join(dir, "events.ndjson"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    cli("bundle", join(dir, "bundle.json"), "-o", join(dir, "bundle.bin"));

    const want = native(dir, traceSkips);
    const engine = Engine.fromBytes(readFileSync(join(dir, "bundle.bin")));
    engine.traceSkips = traceSkips;
    assert.ok(want.decisions.length > 0, "the native replay decided something");
    for (const [way, ingest] of Object.entries(INGEST)) {
      const got = replay(engine, lines, ingest);
      assert.equal(got.decisions.length, want.decisions.length, `${way}: decision count`);
      for (let i = 0; i < want.decisions.length; i++) {
        assert.equal(JSON.stringify(got.decisions[i]), JSON.stringify(want.decisions[i]), `${way}: decision ${i + 1}`);
      }
      assert.deepEqual(Object.keys(got.states).sort(), Object.keys(want.states).sort(), `${way}: shoppers`);
      for (const [shopper, bytes] of Object.entries(want.states)) {
        assert.equal(got.states[shopper], bytes, `${way}: state bytes of ${shopper}`);
      }
    }
    engine.free();
  });
}
