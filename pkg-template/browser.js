// waymark for browsers (and bundlers that understand `new URL("./x.wasm", import.meta.url)`:
// Vite, webpack 5, Rollup, esbuild with a file loader). The module is fetched and compiled
// on the first `Waymark.load`; pass `wasm` (a URL, Response, bytes or WebAssembly.Module)
// to load it from somewhere else.
import initWasm, * as glue from "./web/waymark.js";
import { createWaymark } from "./core.js";

const api = createWaymark({
  name: "browser",
  bindings: glue,
  init: (wasm) => initWasm(wasm === undefined ? undefined : { module_or_path: wasm }),
});

export const { Waymark, WaymarkError, Engine, State, CHANNELS, fromDataLayer, encodeProperties, version, init } = api;
export default Waymark;
