// waymark/full for browsers, workers and bundlers: the module that also validates and
// compiles JSON bundles (`Waymark.load({ bundle: jsonObject })`, `Engine.fromJson`) as
// `waymark bundle` does, IANA time-zone tables included. It is about five times the
// download of the default entry (some 330 KB gzipped against 66 KB), which loads only the
// compact binary bundle (`waymark bundle`, or /v1/bundle from the backend). In Node the
// default entry is already this module. Loads like browser.js: pass `wasm` to load it
// from somewhere else.
import initWasm, * as glue from "./full/waymark.js";
import { createWaymark } from "./core.js";

const api = createWaymark({
  name: "full",
  bindings: glue,
  init: (wasm) => initWasm(wasm === undefined ? undefined : { module_or_path: wasm }),
});

export const { Waymark, WaymarkError, Engine, State, CHANNELS, fromDataLayer, encodeProperties, version, init } = api;
export default Waymark;
