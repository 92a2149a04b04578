// Recommended products for the nudge and the offer. A decision names the items it is
// about (`decision.items`: the item that started the journey, then the cart); the
// backend's public GET /v1/recommendations?item=ID answers what goes with the first one,
// as product cards from the shop's catalog (title, price, image, link, and why each was
// picked; in stock only). Best effort: when the backend is down or slow, the nudge and
// the offer show without products.
import { byId } from "./catalog.js";
import { productArt } from "./art.js";
import { money } from "./store.js";
import { endpoint } from "./shopper.js";

// Cards shown with a nudge or an offer.
export const SHOWN = 3;
const MAX_K = 50; // the most one answer holds
const TIMEOUT_MS = 3000;

const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/**
 * Up to `k` cards to show with `item`, leaving out `exclude` (what the shopper already
 * looked at or carted): more are asked for, so that `k` remain. [] when the backend
 * cannot answer.
 */
export async function recommendedFor(item, { exclude = [], k = SHOWN } = {}) {
  const skip = new Set([item, ...exclude]);
  const ask = Math.min(MAX_K, k + skip.size);
  try {
    const url = `${endpoint()}/v1/recommendations?item=${encodeURIComponent(item)}&k=${ask}`;
    const r = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!r.ok) return [];
    const body = await r.json();
    const cards = Array.isArray(body?.items) ? body.items : [];
    return cards.filter((c) => c && typeof c.id === "string" && typeof c.title === "string" && !skip.has(c.id)).slice(0, k);
  } catch (e) {
    console.warn("recommendations unavailable; showing the nudge without products", e?.message || e);
    return [];
  }
}

// The feed publishes the store at its public address (https://shop.example/#/p/ID); this
// copy of the store may run anywhere, so a link into the store's pages stays on this one.
function href(card) {
  try {
    const url = new URL(card.link);
    if (url.hash.startsWith("#/")) return url.hash;
  } catch {
    /* not a URL: fall through */
  }
  return byId(card.id) ? `#/p/${card.id}` : card.link || "#/";
}

// The store draws its own product pictures inline; a product it does not know shows the
// feed's image.
function picture(card) {
  const product = byId(card.id);
  if (product) return productArt(product);
  return card.image_link ? `<img src="${esc(card.image_link)}" alt="" loading="lazy">` : "";
}

/** The cards as a row (empty text for none). */
export function productRow(cards, heading = "You might also like") {
  if (!cards?.length) return "";
  const items = cards
    .map(
      // Why it was picked stays a data attribute (the debug view of a shop); the reason
      // sentence names item ids, not for shoppers' eyes.
      (c) => `<a class="reco-card" data-reco-item="${esc(c.id)}" href="${esc(href(c))}"
        data-reason="${esc(c.reason_code || "")}"><span class="reco-img">${picture(c)}</span>
        <span class="reco-name">${esc(c.title)}</span><span class="reco-price">${money(Number(c.price) || 0)}</span></a>`,
    )
    .join("");
  return `<div class="reco" data-reco><span class="reco-heading">${esc(heading)}</span><div class="reco-cards">${items}</div></div>`;
}
