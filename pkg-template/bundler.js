// waymark for bundlers with WebAssembly ESM integration (webpack 5
// `experiments.asyncWebAssembly`, vite-plugin-wasm): the bundler instantiates the module.
import * as glue from "./bundler/waymark.js";
import { createWaymark } from "./core.js";

const api = createWaymark({ name: "bundler", bindings: glue, init() {} });

export const { Waymark, WaymarkError, Engine, State, CHANNELS, fromDataLayer, encodeProperties, version, init } = api;
export default Waymark;
