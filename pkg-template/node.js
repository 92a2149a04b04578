// waymark for Node.js (>= 18): the nodejs glue instantiates the module synchronously.
import glue from "./node/waymark.js";
import { createWaymark } from "./core.js";

const api = createWaymark({ name: "node", bindings: glue, init() {} });

export const { Waymark, WaymarkError, Engine, State, CHANNELS, fromDataLayer, encodeProperties, version, init } = api;
export default Waymark;
