// waymark for Cloudflare Workers / workerd (wrangler, miniflare): the runtime hands the
// .wasm import over as a compiled WebAssembly.Module (workers may not compile wasm from
// bytes at run time), instantiated on the first `Waymark.load`, inside a handler.
import { initSync } from "./web/waymark.js";
import * as glue from "./web/waymark.js";
import wasmModule from "./web/waymark_bg.wasm";
import { createWaymark } from "./core.js";

const api = createWaymark({
  name: "worker",
  bindings: glue,
  init: (wasm) => void initSync({ module: wasm ?? wasmModule }),
});

export const { Waymark, WaymarkError, Engine, State, CHANNELS, fromDataLayer, encodeProperties, version, init } = api;
export default Waymark;
