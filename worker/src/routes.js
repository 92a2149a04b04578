// routes.js — which event a request is. Pure functions, no bindings, no I/O: the worker
// decides before the origin answers, so everything an event needs (the item id, its
// category, the search term) comes from the URL and the route config.
//
// Config (JSON, the `WAYMARK_ROUTES` variable; DEFAULT_ROUTES when absent):
//   {
//     "routes": [
//       { "pattern": "/products/:item_category/:item_id", "event": "view_item" },
//       { "pattern": "/products/:item_id", "event": "view_item" },
//       { "pattern": "/search", "event": "search", "query": { "q": "search_term" } },
//       { "pattern": "/cart", "event": "view_cart" }
//     ],
//     "categories": { "shoe-1": "shoes" },      // item id → category, for URLs without one
//     "properties": { "currency": "EUR" }        // added to every routed event (optional)
//   }
// A pattern is a path of literal segments, `:name` segments (one segment, URL-decoded,
// becomes property `name`) and an optional trailing `*` (any rest). Patterns are tried in
// order; the first match wins. `query` maps query parameters to properties; a route with
// `query` matches only when at least one of them is present. `"event": null` marks a
// path as "no event" (e.g. `/products/:id/reviews` before `/products/:id`).

/** The shipped route table: GA4 names, the common storefront URL shapes. */
export const DEFAULT_ROUTES = Object.freeze({
  routes: [
    { pattern: "/products/:item_category/:item_id", event: "view_item" },
    { pattern: "/products/:item_id", event: "view_item" },
    { pattern: "/cart", event: "view_cart" },
    { pattern: "/checkout", event: "begin_checkout" },
    { pattern: "/search", event: "search", query: { q: "search_term" } },
  ],
  categories: {},
  properties: {},
});

/** Longest property value taken from a URL, in characters (longer ones are cut). */
export const MAX_URL_VALUE = 200;

/**
 * Compiles a route config (an object or JSON text) into a matcher. Throws an Error with
 * `code = "bad_routes"` and a path to the offending entry on a malformed config, so a
 * deploy with a typo fails loudly at the first request instead of silently routing nothing.
 */
export function compileRoutes(config) {
  let cfg = config ?? DEFAULT_ROUTES;
  if (typeof cfg === "string") {
    try {
      cfg = JSON.parse(cfg);
    } catch (e) {
      throw routesError("", `WAYMARK_ROUTES is not JSON: ${e.message}`);
    }
  }
  if (typeof cfg !== "object" || cfg === null || !Array.isArray(cfg.routes)) {
    throw routesError("/routes", "expected an object with a `routes` array");
  }
  const routes = cfg.routes.map((r, i) => compileRoute(r, `/routes/${i}`));
  const categories = plainObject(cfg.categories, "/categories");
  const properties = plainObject(cfg.properties, "/properties");
  return { routes, categories, properties };
}

function compileRoute(r, path) {
  if (typeof r !== "object" || r === null) throw routesError(path, "a route must be an object");
  if (typeof r.pattern !== "string" || !r.pattern.startsWith("/")) {
    throw routesError(`${path}/pattern`, `a pattern must be a path starting with "/", found ${JSON.stringify(r.pattern)}`);
  }
  if (r.event !== null && (typeof r.event !== "string" || r.event.trim() === "")) {
    throw routesError(`${path}/event`, "event must be an event name (e.g. \"view_item\") or null");
  }
  const parts = r.pattern.split("/").filter((s) => s !== "");
  let rest = false;
  if (parts.length > 0 && parts[parts.length - 1] === "*") {
    rest = true;
    parts.pop();
  }
  const segments = parts.map((s, j) => {
    if (s === "*") throw routesError(`${path}/pattern`, "`*` may only end a pattern");
    if (s.startsWith(":")) {
      const name = s.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw routesError(`${path}/pattern`, `segment ${j + 1}: bad parameter name ${JSON.stringify(s)}`);
      }
      return { param: name };
    }
    return { literal: s.toLowerCase() };
  });
  const query = plainObject(r.query, `${path}/query`);
  for (const [k, v] of Object.entries(query)) {
    if (typeof v !== "string") throw routesError(`${path}/query/${k}`, "must name a property (a string)");
  }
  const properties = plainObject(r.properties, `${path}/properties`);
  return { event: r.event, segments, rest, query, properties };
}

function plainObject(v, path) {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw routesError(path, "expected an object");
  return v;
}

function routesError(path, message) {
  const e = new Error(`bad WAYMARK_ROUTES at ${path || "/"}: ${message}`);
  e.code = "bad_routes";
  e.path = path;
  return e;
}

/**
 * The event of a URL, or null: `{ name, properties }`. `url` is a URL object. Trailing
 * slashes are ignored, literal segments compare case-insensitively.
 */
export function routeEvent(compiled, url) {
  const segs = url.pathname.split("/").filter((s) => s !== "");
  for (const route of compiled.routes) {
    const params = matchSegments(route, segs);
    if (params === null) continue;
    let props = null;
    const queryKeys = Object.keys(route.query);
    if (queryKeys.length > 0) {
      props = {};
      let any = false;
      for (const [q, prop] of Object.entries(route.query)) {
        const v = url.searchParams.get(q);
        if (v !== null) {
          props[prop] = clip(v);
          any = true;
        }
      }
      if (!any) continue;
    }
    if (route.event === null) return null;
    const properties = { ...compiled.properties, ...route.properties, ...params, ...(props ?? {}) };
    if (route.event === "view_item" && properties.item_id !== undefined && properties.item_category === undefined) {
      const cat = compiled.categories[properties.item_id];
      if (typeof cat === "string") properties.item_category = cat;
    }
    return { name: route.event, properties };
  }
  return null;
}

function matchSegments(route, segs) {
  const { segments, rest } = route;
  if (rest ? segs.length < segments.length : segs.length !== segments.length) return null;
  const params = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const v = segs[i];
    if (s.literal !== undefined) {
      if (v.toLowerCase() !== s.literal) return null;
    } else {
      let decoded;
      try {
        decoded = decodeURIComponent(v);
      } catch {
        return null;
      }
      params[s.param] = clip(decoded);
    }
  }
  return params;
}

function clip(s) {
  return s.length > MAX_URL_VALUE ? s.slice(0, MAX_URL_VALUE) : s;
}
