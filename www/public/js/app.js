// Northwind Outfitters: pages, tracking, and on-site interventions driven by waymark.
import { CATEGORIES, PRODUCTS, byId, inCategory } from "./catalog.js";
import { productArt } from "./art.js";
import { store, money } from "./store.js";
import { interventions, nudgeText, offerTitle, applyOffer, toast } from "./interventions.js";
import { debug } from "./debug.js";
import { startShopper, fetchToken } from "./shopper.js";
import { recommendedFor, productRow } from "./recommend.js";

const view = document.getElementById("view");
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

let wm = null;
let anonymous = null;
let pageCategory = null; // category of the page being viewed: context for decisions

// ---- waymark ------------------------------------------------------------------------

// GA4 item shape.
const item = (p, qty = 1) => ({ item_id: p.id, item_name: p.name, item_category: p.category, price: p.price, quantity: qty });

function track(name, properties = {}) {
  debug.event(name, properties);
  if (!wm) return [];
  let decisions = [];
  try {
    decisions = wm.track(name, properties) || [];
  } catch (e) {
    console.error("waymark track failed", e);
  }
  sampleIntent();
  return decisions;
}

function sampleIntent() {
  if (!wm) return;
  try {
    const { score, tier } = wm.intent();
    debug.intent(score, tier);
    debug.stateSize(stateBytes());
  } catch (e) {
    console.error("waymark intent failed", e);
  }
}

// The shopper's whole state as the engine stores and syncs it (version byte + postcard).
function stateBytes() {
  try {
    return wm.exportState().length;
  } catch {
    return null;
  }
}

// The items the shopper viewed and did not buy, newest first, from the engine's own
// interest memory (works offline; the backend knows the same after a sync).
function recentlyViewed(k) {
  if (!wm) return [];
  try {
    return wm.recentlyViewed(k);
  } catch (e) {
    console.error("waymark recentlyViewed failed", e);
    return [];
  }
}

// On-site decisions that show products: the nudge and the offer.
const showsProducts = (d) =>
  d.action === "send" && (d.channel === "onsite" || d.channel === "inapp") && (d.content === "popular-in-category" || !!d.incentive);

let productsAsked = 0; // the latest decision's products win over a slower earlier answer

async function showProducts(d) {
  const asked = ++productsAsked;
  const items = Array.isArray(d.items) ? d.items : [];
  if (items.length === 0) return;
  // Not what the shopper already looked at or carted: something new.
  const cards = await recommendedFor(items[0], { exclude: [...items, ...recentlyViewed()] });
  if (asked === productsAsked) interventions.setProducts(cards);
}

function onDecision(d) {
  debug.decision(d);
  if (showsProducts(d)) interventions.state.products = []; // this decision's, once they come
  interventions.apply(d, { category: pageCategory });
  if (showsProducts(d)) void showProducts(d);
}

async function loadBackendReport() {
  const r = await fetch(`/store/shopper?id=${encodeURIComponent(anonymous)}`);
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

// ---- pages --------------------------------------------------------------------------

function card(p) {
  return `<article class="card" data-product="${p.id}">
    <a class="thumb" href="#/p/${p.id}">${productArt(p)}</a>
    <div class="body">
      <a class="title" href="#/p/${p.id}">${esc(p.name)}</a>
      <span class="muted">${esc(CATEGORIES[p.category])}</span>
      <div class="row"><span class="price">${money(p.price)}</span>
        <button class="ghost small" data-quick-add="${p.id}">Add to cart</button></div>
    </div></article>`;
}

function offerSlot() {
  const o = interventions.state.offer;
  if (!o) return "";
  const active = store.get().discount?.code === o.incentive;
  return `<div class="offer-slot" id="offer-slot" data-incentive="${esc(o.incentive)}">
    <span><b>${esc(offerTitle(o))}</b> — your code <b>${esc(o.incentive)}</b> is waiting.</span>
    ${active ? '<span class="muted">applied to your cart ✓</span>' : '<button class="primary small" data-apply-offer>Apply</button>'}
  </div>`;
}

// "Recently viewed": the engine's memory, the page's own product left out.
function recentRow(current) {
  const products = recentlyViewed()
    .filter((id) => id !== current)
    .map(byId)
    .filter(Boolean)
    .slice(0, 4);
  if (!products.length) return "";
  return `<section class="recent" data-recently-viewed><h2>Recently viewed</h2>
    <div class="grid">${products.map(card).join("")}</div></section>`;
}

function reassurance() {
  if (!interventions.state.reassurance) return "";
  return `<div class="reassurance" id="reassurance">
    <div>Free returns within 30 days</div><div>Secure payment, 3-D Secure</div><div>Delivered in 2–4 days</div></div>`;
}

const pages = {
  home() {
    pageCategory = null;
    const picks = ["sho-1", "bag-3", "out-3", "acc-6", "sho-5", "out-1", "bag-1", "acc-3"].map(byId);
    return `<section class="hero"><h1>Gear for the long way round</h1>
      <p>Shoes, bags, outerwear and accessories — free returns for 30 days.</p></section>
      ${offerSlot()}<h2>Popular this week</h2><div class="grid">${picks.map(card).join("")}</div>${recentRow()}`;
  },

  category(id) {
    if (!CATEGORIES[id]) return pages.notFound();
    pageCategory = id;
    const list = inCategory(id);
    track("view_item_list", { item_list_id: id, item_list_name: CATEGORIES[id], items: list.map((p) => item(p)) });
    return `${offerSlot()}<h1>${esc(CATEGORIES[id])}</h1><p class="muted">${list.length} products</p>
      <div class="grid">${list.map(card).join("")}</div>`;
  },

  product(id) {
    const p = byId(id);
    if (!p) return pages.notFound();
    pageCategory = p.category;
    const html = `<div class="crumbs"><a href="#/">Home</a> / <a href="#/c/${p.category}">${esc(CATEGORIES[p.category])}</a></div>
      ${offerSlot()}
      <div class="product" data-product="${p.id}">
        <div class="thumb">${productArt(p)}</div>
        <div><h1>${esc(p.name)}</h1><p class="price" style="font-size:22px">${money(p.price)}</p>
          <p>${esc(p.blurb)}</p>
          <div class="actions">
            <button class="primary" data-add="${p.id}">Add to cart</button>
            <button class="ghost" data-wish="${p.id}">${store.get().wishlist.includes(p.id) ? "♥ In wishlist" : "♡ Wishlist"}</button>
          </div>
          <p class="muted">Free returns within 30 days · Ships in 24h</p></div>
      </div>
      <h2>More ${esc(CATEGORIES[p.category].toLowerCase())}</h2>
      <div class="grid">${inCategory(p.category).filter((x) => x.id !== p.id).slice(0, 4).map(card).join("")}</div>
      ${recentRow(p.id)}`;
    // Track after the page exists, so an intervention can render into it.
    queueMicrotask(() =>
      track("view_item", { currency: "EUR", value: p.price, item_id: p.id, item_category: p.category, items: [item(p)] }),
    );
    return html;
  },

  search(q) {
    pageCategory = null;
    const term = q.trim().toLowerCase();
    const hits = term
      ? PRODUCTS.filter((p) => `${p.name} ${p.category} ${CATEGORIES[p.category]}`.toLowerCase().includes(term))
      : [];
    track("search", { search_term: q.trim() });
    return `<h1>Search: “${esc(q)}”</h1><p class="muted">${hits.length} result${hits.length === 1 ? "" : "s"}</p>
      ${hits.length ? `<div class="grid" data-search-results>${hits.map(card).join("")}</div>` : '<p class="empty">Nothing found. Try “boot”, “bag” or “wool”.</p>'}`;
  },

  discounts() {
    pageCategory = null;
    track("screen_view", { screen_name: "Discounts" });
    const deals = PRODUCTS.filter((_, i) => i % 5 === 2);
    return `<h1>Discounts</h1><p class="muted">This week's deals. Add one to your wishlist and we'll tell you when it drops further.</p>
      <div class="grid">${deals.map(card).join("")}</div>`;
  },

  wishlist() {
    pageCategory = null;
    const items = store.get().wishlist.map(byId).filter(Boolean);
    return `<h1>Wishlist</h1>${items.length ? `<div class="grid">${items.map(card).join("")}</div>` : '<p class="empty">Your wishlist is empty.</p>'}`;
  },

  cart() {
    pageCategory = null;
    const lines = store.cartLines();
    track("view_cart", { currency: "EUR", value: store.total(), items: lines.map((l) => item(l.product, l.qty)) });
    if (!lines.length) return `<h1>Cart</h1>${offerSlot()}<p class="empty">Your cart is empty. <a href="#/">Keep shopping</a>.</p>`;
    const d = store.get().discount;
    return `<h1>Cart</h1>${offerSlot()}
      <table class="lines"><tr><th>Product</th><th class="num">Qty</th><th class="num">Price</th><th></th></tr>
      ${lines
        .map(
          (l) => `<tr data-line="${l.id}"><td><a href="#/p/${l.id}">${esc(l.product.name)}</a></td><td class="num">${l.qty}</td>
        <td class="num">${money(l.product.price * l.qty)}</td><td class="num"><button class="ghost small" data-remove="${l.id}">Remove</button></td></tr>`,
        )
        .join("")}</table>
      <div class="totals"><div>Subtotal ${money(store.subtotal())}</div>
        ${d ? `<div class="discount" data-discount="${esc(d.code)}">Discount ${esc(d.code)} −${money(store.discountAmount())}</div>` : ""}
        <div class="total">Total ${money(store.total())}</div></div>
      <div style="text-align:right"><a href="#/checkout"><button class="primary" id="to-checkout">Checkout</button></a></div>`;
  },

  checkout() {
    pageCategory = null;
    const lines = store.cartLines();
    if (!lines.length) return `<h1>Checkout</h1><p class="empty">Your cart is empty.</p>`;
    queueMicrotask(() =>
      track("begin_checkout", { currency: "EUR", value: store.total(), items: lines.map((l) => item(l.product, l.qty)) }),
    );
    const acct = store.get().account;
    return `<h1>Checkout</h1><div id="reassurance-slot">${reassurance()}</div>
      <form class="panel" id="checkout-form">
        <label for="co-email">Email</label><input type="email" id="co-email" required value="${esc(acct?.email || "")}">
        <label for="co-name">Name</label><input type="text" id="co-name" required value="${esc(acct?.name || "")}">
        <label for="co-address">Address</label><input type="text" id="co-address" required value="1 Demo Street, Lyon">
        <div class="totals">${store.get().discount ? `<div class="discount">Discount ${esc(store.get().discount.code)} −${money(store.discountAmount())}</div>` : ""}
          <div class="total">Total ${money(store.total())}</div></div>
        <button class="primary" id="place-order" type="submit">Place order</button>
      </form>`;
  },

  thanks(orderId) {
    pageCategory = null;
    const order = store.get().orders.find((o) => o.id === orderId);
    return `<h1>Thank you!</h1><p>Order <b id="order-id">${esc(orderId)}</b> is confirmed${order ? ` — ${money(order.value)}` : ""}.</p>
      <p class="muted">We'll email you when it ships, and ask how you like it in about ten days.</p>
      <p><a href="#/">Continue shopping</a></p>`;
  },

  account() {
    pageCategory = null;
    const acct = store.get().account;
    const consent = acct?.consent || { email: false, sms: false };
    if (!acct) {
      return `<h1>Sign in</h1><form class="panel" id="login-form">
        <p class="muted">No password in this demo: your email address is your login.</p>
        <label for="login-email">Email</label><input type="email" id="login-email" required placeholder="you@example.com">
        <label for="login-phone">Mobile (for SMS, optional)</label><input type="tel" id="login-phone" placeholder="+33 6 00 00 00 00">
        <label class="toggle"><input type="checkbox" id="login-consent-email"> Email me offers and reminders</label>
        <label class="toggle"><input type="checkbox" id="login-consent-sms"> Text me offers and reminders</label>
        <button class="primary" type="submit" id="login-submit">Sign in</button></form>`;
    }
    return `<h1>My account</h1><div class="panel">
      <p>Signed in as <b id="account-email">${esc(acct.email)}</b> <span class="muted">(customer id ${esc(acct.customerId)})</span></p>
      <h3>Messages from us</h3>
      <label class="toggle"><input type="checkbox" id="consent-email" ${consent.email ? "checked" : ""}> Email</label>
      <label class="toggle"><input type="checkbox" id="consent-sms" ${consent.sms ? "checked" : ""}> SMS ${acct.phone ? `to ${esc(acct.phone)}` : '<span class="muted">(no number)</span>'}</label>
      <p><button class="ghost" id="logout">Sign out</button></p>
      ${store.get().orders.length ? `<h3>Orders</h3><ul>${store.get().orders.map((o) => `<li>${esc(o.id)} — ${money(o.value)}</li>`).join("")}</ul>` : ""}
      </div>`;
  },

  notFound() {
    pageCategory = null;
    return `<h1>Not found</h1><p><a href="#/">Back to the shop</a></p>`;
  },
};

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [pathPart, query = ""] = hash.split("?");
  const parts = pathPart.split("/").filter(Boolean);
  const params = new URLSearchParams(query);
  let html;
  switch (parts[0]) {
    case undefined: html = pages.home(); break;
    case "c": html = pages.category(parts[1]); break;
    case "p": html = pages.product(parts[1]); break;
    case "search": html = pages.search(params.get("q") || ""); break;
    case "discounts": html = pages.discounts(); break;
    case "wishlist": html = pages.wishlist(); break;
    case "cart": html = pages.cart(); break;
    case "checkout": html = pages.checkout(); break;
    case "thanks": html = pages.thanks(parts[1]); break;
    case "account": html = pages.account(); break;
    default: html = pages.notFound();
  }
  track("page_view", { page_location: location.href, page_title: document.title, page_path: "/" + parts.join("/") });
  view.innerHTML = html;
  document.querySelectorAll("#cat-nav a").forEach((a) => a.classList.toggle("active", a.dataset.cat === pageCategory));
  window.scrollTo(0, 0);
}

// ---- chrome and interventions ---------------------------------------------------------

function renderChrome() {
  document.getElementById("cart-count").textContent = store.cartCount();
  document.getElementById("wishlist-count").textContent = store.get().wishlist.length;
  const acct = store.get().account;
  document.getElementById("nav-account").textContent = acct ? acct.email.split("@")[0] : "Sign in";
}

function renderInterventions(ui) {
  const nudge = document.getElementById("nudge-slot");
  if (ui.nudge.shown && !ui.offer) {
    nudge.innerHTML = nudgeText(ui.nudge.category) + productRow(ui.products);
    nudge.dataset.content = "popular-in-category";
    nudge.hidden = false;
  } else {
    nudge.hidden = true;
  }
  const modal = document.getElementById("offer-modal");
  if (ui.offer?.fresh) {
    ui.offer.fresh = false;
    document.getElementById("offer-title").textContent = offerTitle(ui.offer);
    document.getElementById("offer-text").textContent =
      "You've been looking around — here's a little something to make up your mind. Valid today.";
    document.getElementById("offer-code").textContent = ui.offer.incentive;
    modal.dataset.incentive = ui.offer.incentive;
    modal.hidden = false;
  }
  if (!ui.offer) modal.hidden = true;
  document.getElementById("offer-products").innerHTML = ui.offer ? productRow(ui.products, "Goes well with it") : "";
  // Refresh the in-page slots without re-tracking the page.
  const slot = document.getElementById("offer-slot");
  if (slot && !ui.offer) slot.remove();
  if (!slot && ui.offer) {
    const anchor = view.querySelector(".product, .grid, table.lines, .empty");
    if (anchor && !location.hash.startsWith("#/checkout")) anchor.insertAdjacentHTML("beforebegin", offerSlot());
  }
  const rs = document.getElementById("reassurance-slot");
  if (rs && ui.reassurance && !rs.firstElementChild) rs.innerHTML = reassurance();
}

function bindEvents() {
  document.getElementById("cat-nav").innerHTML = Object.entries(CATEGORIES)
    .map(([id, name]) => `<a href="#/c/${id}" data-cat="${id}">${esc(name)}</a>`)
    .join("");
  document.getElementById("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = document.getElementById("search-input").value;
    location.hash = `#/search?q=${encodeURIComponent(q)}`;
  });
  document.getElementById("offer-close").addEventListener("click", () => (document.getElementById("offer-modal").hidden = true));
  document.getElementById("offer-apply").addEventListener("click", () => {
    if (interventions.state.offer) applyOffer(interventions.state.offer);
    document.getElementById("offer-modal").hidden = true;
    toast(`Code ${interventions.state.offer?.incentive} applied to your cart`);
    renderInterventions(interventions.state);
  });

  // A recommended product picked from the nudge or the offer: tracked as a list selection,
  // and the offer makes way for its page.
  for (const id of ["nudge-slot", "offer-products"]) {
    document.getElementById(id).addEventListener("click", (e) => {
      const a = e.target.closest("[data-reco-item]");
      if (!a) return;
      const p = byId(a.dataset.recoItem);
      if (p) track("select_item", { item_list_id: "recommendations", item_list_name: "Recommended", items: [item(p)] });
      document.getElementById("offer-modal").hidden = true;
    });
  }

  view.addEventListener("click", (e) => {
    const t = e.target.closest("button, a");
    if (!t) return;
    if (t.dataset.add || t.dataset.quickAdd) {
      const p = byId(t.dataset.add || t.dataset.quickAdd);
      store.addToCart(p.id);
      track("add_to_cart", { currency: "EUR", value: p.price, items: [item(p)] });
      toast(`${p.name} added to your cart`);
    } else if (t.dataset.wish) {
      const p = byId(t.dataset.wish);
      const added = store.toggleWishlist(p.id);
      if (added) track("add_to_wishlist", { currency: "EUR", value: p.price, items: [item(p)] });
      t.textContent = added ? "♥ In wishlist" : "♡ Wishlist";
    } else if (t.dataset.remove) {
      const l = store.cartLines().find((x) => x.id === t.dataset.remove);
      store.removeFromCart(l.id);
      track("remove_from_cart", { currency: "EUR", value: l.product.price * l.qty, items: [item(l.product, l.qty)] });
      route();
    } else if ("applyOffer" in t.dataset) {
      applyOffer(interventions.state.offer);
      toast(`Code ${interventions.state.offer.incentive} applied to your cart`);
      route();
    } else if (t.tagName === "A" && t.closest("[data-search-results]")) {
      const id = t.getAttribute("href").split("/").pop();
      track("select_item", { item_list_id: "search", items: [item(byId(id))] });
    } else if (t.id === "logout") {
      store.setAccount(null);
      route();
    }
  });

  view.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (e.target.id === "login-form") await login();
    if (e.target.id === "checkout-form") placeOrder();
  });

  view.addEventListener("change", (e) => {
    if (e.target.id === "consent-email" || e.target.id === "consent-sms") {
      const acct = store.get().account;
      const consent = { ...acct.consent, [e.target.id.slice(8)]: e.target.checked };
      store.setAccount({ ...acct, consent });
      wm?.consent(consent);
      toast(`${e.target.id === "consent-email" ? "Email" : "SMS"} ${e.target.checked ? "on" : "off"}`);
      debug.event("consent", consent);
    }
  });
}

async function login() {
  const email = document.getElementById("login-email").value.trim().toLowerCase();
  const phone = document.getElementById("login-phone").value.replace(/\s+/g, "");
  const consent = {
    email: document.getElementById("login-consent-email").checked,
    sms: document.getElementById("login-consent-sms").checked && !!phone,
  };
  // The shop's customer id: a stable hash of the email (the shop's own id in real life).
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(email)));
  const customerId = "cust-" + Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  store.setAccount({ email, phone: phone || null, customerId, consent, name: email.split("@")[0] });
  if (wm) {
    const traits = { email };
    if (phone) traits.phone = phone;
    wm.identify(customerId, traits);
    wm.consent(consent);
    try {
      const token = await fetchToken(anonymous, customerId);
      if (token && typeof wm.setShopperToken === "function") wm.setShopperToken(token);
    } catch (e) {
      console.warn("token refresh failed", e);
    }
  }
  track("login", { method: "email" });
  debug.setIds(`anonymous ${anonymous} · customer ${customerId}`);
  renderChrome();
  if (location.hash === "#/account") route();
  else location.hash = "#/account";
}

function placeOrder() {
  const lines = store.cartLines();
  const id = "NW-" + Date.now().toString(36).toUpperCase();
  const value = store.total();
  const d = store.get().discount;
  track("purchase", {
    transaction_id: id,
    currency: "EUR",
    value,
    coupon: d?.code,
    items: lines.map((l) => item(l.product, l.qty)),
  });
  store.addOrder({ id, value, time: Date.now() });
  store.clearCart();
  interventions.clearOffer();
  location.hash = `#/thanks/${id}`;
}

// ---- start ----------------------------------------------------------------------------

async function main() {
  bindEvents();
  renderChrome();
  store.onChange(renderChrome);
  interventions.onChange(renderInterventions);
  debug.init({ loadBackend: () => loadBackendReport(), ids: "" });
  try {
    const acct = store.get().account;
    ({ wm, anonymous } = await startShopper({ customerId: acct?.customerId }));
    wm.on("decision", onDecision);
    debug.sync("not yet");
    wm.on("sync", ({ bytes }) => {
      debug.sync(`ok ${clockNow()}`, `last sync answered ${bytes} bytes`);
      debug.stateSize(stateBytes());
    });
    wm.on("error", (e) => debug.sync(`${e?.code || "error"}${e?.status ? " " + e.status : ""} ${clockNow()} · retrying`));
    wm.on("tier", ({ from, to }) => debug.event("tier", { from, to }));
    debug.setIds(`anonymous ${anonymous}${acct ? ` · customer ${acct.customerId}` : ""}`);
    window.waymarkDemo = { wm, anonymous, store, interventions };
  } catch (e) {
    console.error("waymark failed to load; the store works without it", e);
    toast("Personalisation is offline — the store still works.");
    debug.sync(`engine not loaded: ${e.message || e}`);
  }
  window.addEventListener("hashchange", route);
  route();
  setInterval(sampleIntent, 3000);
  document.body.dataset.ready = "1";
}

const clockNow = () => new Date().toLocaleTimeString("en-GB", { hour12: false });

main();
