// The storefront's use of the waymark npm package — nothing here that a customer's shop
// would not write: ask the shop's server for a shopper token, load the engine with the
// published bundle, track GA4-style events, react to decisions.
import { Waymark } from "waymark";

const ANON_KEY = "northwind.anonymous_id";
const BUNDLE_KEY = "northwind.bundle";

function anonymousId() {
  let id = localStorage.getItem(ANON_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(9));
    id = "anon-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(ANON_KEY, id);
  }
  return id;
}

// The shop's server vouches for the shopper (see www/server.mjs /store/token).
export async function fetchToken(anonymous, customerId) {
  const r = await fetch("/store/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ anonymousId: anonymous, customerId }),
  });
  if (!r.ok) throw new Error(`token: HTTP ${r.status}`);
  const body = await r.json();
  return body.token;
}

// The published bundle (compiled bytes, with an ETag); the last copy seen is kept so a
// page opened while the backend is down still runs the same journeys.
const toB64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
const fromB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

// The backend: this page's own origin (the shop's server proxies /v1), or the backend's
// origin when the page names one (`<meta name="waymark-endpoint">`, www/server.mjs --direct).
export const endpoint = () => document.querySelector('meta[name="waymark-endpoint"]')?.content || location.origin;

async function loadBundle() {
  try {
    const r = await fetch(`${endpoint()}/v1/bundle`);
    if (!r.ok) throw new Error(`bundle: HTTP ${r.status}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    try {
      localStorage.setItem(BUNDLE_KEY, toB64(bytes));
    } catch {
      /* storage full: run without the offline copy */
    }
    return bytes;
  } catch (e) {
    const cached = localStorage.getItem(BUNDLE_KEY);
    if (cached) return fromB64(cached);
    throw e;
  }
}

export async function startShopper({ customerId } = {}) {
  const anonymous = anonymousId();
  const bundle = await loadBundle();
  let shopperToken;
  try {
    shopperToken = await fetchToken(anonymous, customerId);
  } catch (e) {
    console.warn("waymark demo: no shopper token yet (backend down?)", e);
  }
  const wm = await Waymark.load({
    bundle,
    endpoint: endpoint(),
    shopperToken,
    shopperId: anonymous,
    storage: localStorage,
    // Entry skips too (re-entry locks, schedules), so the debug panel can say why a
    // shopper was not entered into a journey.
    debug: true,
  });
  return { wm, anonymous };
}
