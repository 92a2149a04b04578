// On-site interventions, rendered from waymark decisions (channel "onsite" / "inapp").
// Content keys come from the published journeys:
//   popular-in-category   passive nudge: a banner under the header
//   category-offer        active offer: a modal once, then a slot on product and cart pages
//   checkout-reassurance  a reassurance block on the checkout page
// Anything else on-site shows as a toast, so a new journey is visible before it is styled.
// The nudge and the offer also show products that go with the decision's first item
// (recommend.js, set with `setProducts`).
import { CATEGORIES } from "./catalog.js";
import { store } from "./store.js";

// Incentive ids the store knows how to honour: percent off, optionally one category.
const INCENTIVES = {
  CATEGORY10: { percent: 10, scope: "category" },
  SEARCH10: { percent: 10 },
  BDAY15: { percent: 15 },
};

// The offer on screen outlives a reload for as long as the incentive is valid (1 day
// for CATEGORY10); the engine holds the grant itself, this is only what the page shows.
const OFFER_KEY = "northwind.offer";
const OFFER_TTL = 24 * 3600 * 1000;
function savedOffer() {
  try {
    const o = JSON.parse(localStorage.getItem(OFFER_KEY) || "null");
    return o && o.until > Date.now() ? { ...o, fresh: false } : null;
  } catch {
    return null;
  }
}

const ui = {
  nudge: { shown: false, category: null },
  offer: savedOffer(), // { incentive, category, percent, journey, until }
  reassurance: false,
  // Recommended products shown with the nudge or the offer (backend cards; see recommend.js).
  products: [],
};
const listeners = new Set();
const changed = () => {
  if (ui.offer) localStorage.setItem(OFFER_KEY, JSON.stringify({ ...ui.offer, fresh: false }));
  else localStorage.removeItem(OFFER_KEY);
  listeners.forEach((fn) => fn(ui));
};

export const interventions = {
  state: ui,
  onChange: (fn) => listeners.add(fn),

  // context: { category } of the page the decision came from (the journey's entry item).
  apply(decision, context = {}) {
    const onsite = decision.channel === "onsite" || decision.channel === "inapp";
    if (decision.action === "send" && onsite) {
      if (decision.incentive) {
        const spec = INCENTIVES[decision.incentive] || { percent: 10 };
        const category = spec.scope === "category" ? context.category || null : null;
        // Mutual exclusion, as the engine decided: a new incentive replaces the old one.
        ui.offer = { incentive: decision.incentive, percent: spec.percent, category, journey: decision.journey, until: Date.now() + OFFER_TTL, fresh: true };
        ui.nudge = { shown: false, category: null };
        changed();
        return;
      }
      if (decision.content === "popular-in-category") {
        ui.nudge = { shown: true, category: context.category || null };
        changed();
        return;
      }
      if (decision.content === "checkout-reassurance") {
        ui.reassurance = true;
        changed();
        return;
      }
      toast(`${decision.content} (${decision.journey})`);
      return;
    }
    if (decision.action === "cancel" && decision.incentive && ui.offer?.incentive === decision.incentive) {
      ui.offer = null;
      changed();
    }
  },

  clearOffer() {
    ui.offer = null;
    changed();
  },

  /** The products to show with the nudge or the offer on screen. */
  setProducts(cards) {
    ui.products = cards;
    changed();
  },
};

export function nudgeText(category) {
  const name = CATEGORIES[category] || "this category";
  return `<span class="flame">Trending</span> Popular in ${name}: 120+ shoppers are looking at ${name.toLowerCase()} right now`;
}

export function offerTitle(offer) {
  const scope = offer.category ? ` on ${CATEGORIES[offer.category] || offer.category}` : "";
  return `${offer.percent}% off${scope}`;
}

export function applyOffer(offer) {
  store.setDiscount({ code: offer.incentive, percent: offer.percent, category: offer.category });
}

export function toast(text, ms = 4000) {
  const el = document.createElement("div");
  el.className = "toast";
  el.textContent = text;
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), ms);
}
