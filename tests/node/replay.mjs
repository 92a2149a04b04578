// The scenario corpus (tests/cases/scenarios/*.json) replayed through the package's
// public Engine/State API with src/simulate.rs's loop, and natively through
// `waymark simulate --emit-state`: decisions as simulate prints them and state bytes, for
// the tests that compare the two (determinism.test.mjs, json.test.mjs).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ROOT, cli, hex, rfc3339, waymark } from "./helpers.mjs";

const { encodeProperties } = waymark;

export const SCENARIOS = join(ROOT, "tests/cases/scenarios");
const EXPECTATION_KEYS = ["expect", "absent", "tier", "count", "note"];
const MAX_TIMER_ROUNDS = 100_000;

/** The scenario's bundle as one JSON file, and its steps as simulate's input lines. */
export function prepare(file) {
  const scenario = JSON.parse(readFileSync(join(SCENARIOS, file), "utf8"));
  const journeys = (scenario.journeys || []).map((p) => JSON.parse(readFileSync(join(ROOT, p), "utf8")));
  journeys.push(...(scenario.inline || []));
  const bundle = { journeys };
  if (scenario.policy) bundle.policy = scenario.policy;
  const lines = scenario.steps.map((step) => {
    const line = { ...step };
    for (const key of EXPECTATION_KEYS) delete line[key];
    if ("advance_to" in line) {
      line.time = line.advance_to;
      delete line.advance_to;
    }
    return line;
  });
  return { bundle, lines, traceSkips: scenario.trace_skips === true };
}

const toMs = (time) => (typeof time === "number" ? Math.trunc(time) : Date.parse(time));

/** Both ways into the engine: JS values (serde-wasm-bindgen) and track's encoded bytes. */
export const INGEST = {
  values: (engine, state, name, time, properties) => engine.ingest(state, name, time, properties),
  encoded: (engine, state, name, time, properties) => engine.ingestEncoded(state, name, time, encodeProperties(properties)),
};

/** src/simulate.rs's Simulator over the wasm API; `State` of the engine's own module. */
export function replay(engine, lines, ingest, State = waymark.State) {
  const shoppers = new Map();
  const out = [];
  const record = (shopper, d) =>
    out.push({
      time: rfc3339(d.time),
      shopper,
      journey: d.journey,
      step: d.step,
      action: d.action,
      channel: d.channel,
      content: d.content,
      incentive: d.incentive,
      variant: d.variant,
      items: d.items,
      reason: d.reason,
      reasons: d.reasons,
      message: d.message,
    });
  const advanceTo = (until) => {
    for (let round = 0; round < MAX_TIMER_ROUNDS; round++) {
      let best;
      for (const [id, state] of shoppers) {
        const t = engine.nextWakeup(state);
        if (t === undefined || t > until) continue;
        if (!best || t < best.t || (t === best.t && id < best.id)) best = { t, id, state };
      }
      if (!best) return;
      const decisions = engine.tick(best.state, best.t);
      if (decisions.length === 0 && engine.nextWakeup(best.state) === best.t) return;
      for (const d of decisions) record(best.id, d);
    }
  };
  for (const line of lines) {
    const time = toMs(line.time);
    advanceTo(time);
    const shopper = line.shopper || "";
    if (shopper.trim() === "") continue;
    let state = shoppers.get(shopper);
    if (!state) shoppers.set(shopper, (state = new State(shopper)));
    if (line.customer_id) state.identify(line.customer_id, time);
    for (const [channel, granted] of Object.entries(line.consent || {})) state.setConsent(channel, granted, time);
    if (line.traits) state.setTraits(line.traits, time);
    const decisions =
      line.name != null ? ingest(engine, state, line.name, time, line.properties || {}) : engine.tick(state, time);
    for (const d of decisions) record(shopper, d);
  }
  const states = {};
  for (const [id, state] of shoppers) states[id] = hex(state.encode());
  return { decisions: out, states };
}

export function native(dir, traceSkips) {
  const decisions = [];
  const states = {};
  const args = ["simulate", "--journeys", join(dir, "bundle.json"), "--events", join(dir, "events.ndjson"), "--emit-state"];
  if (traceSkips) args.push("--trace-skips");
  const output = cli(...args);
  for (const text of output.split("\n")) {
    if (!text.trim()) continue;
    const line = JSON.parse(text);
    if ("state" in line) states[line.shopper] = line.state;
    else decisions.push(line);
  }
  return { decisions, states };
}

/** The scenario files, sorted. */
export const scenarioFiles = () => readdirSync(SCENARIOS).filter((f) => f.endsWith(".json")).sort();
