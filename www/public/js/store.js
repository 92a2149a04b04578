// The shop's own data in the browser: cart, wishlist, account, applied discount. This is
// the store's business, not waymark's — waymark only sees the events the store tracks.
import { byId } from "./catalog.js";

const KEY = "northwind.store";
const listeners = new Set();

function load() {
  try {
    return { cart: [], wishlist: [], account: null, discount: null, orders: [], ...JSON.parse(localStorage.getItem(KEY) || "{}") };
  } catch {
    return { cart: [], wishlist: [], account: null, discount: null, orders: [] };
  }
}

let data = load();

function save() {
  localStorage.setItem(KEY, JSON.stringify(data));
  for (const fn of listeners) fn(data);
}

// Another tab changed the store: pick it up.
window.addEventListener("storage", (e) => {
  if (e.key === KEY) {
    data = load();
    for (const fn of listeners) fn(data);
  }
});

export const store = {
  get: () => data,
  onChange: (fn) => listeners.add(fn),

  cartLines: () =>
    data.cart.map((l) => ({ ...l, product: byId(l.id) })).filter((l) => l.product),
  cartCount: () => data.cart.reduce((n, l) => n + l.qty, 0),
  subtotal: () => store.cartLines().reduce((s, l) => s + l.product.price * l.qty, 0),
  // One discount at a time (the engine's mutual exclusion, mirrored by the cart).
  discountAmount: () => {
    const d = data.discount;
    if (!d) return 0;
    const eligible = store
      .cartLines()
      .filter((l) => !d.category || l.product.category === d.category)
      .reduce((s, l) => s + l.product.price * l.qty, 0);
    return Math.round(eligible * d.percent) / 100;
  },
  total: () => Math.max(0, store.subtotal() - store.discountAmount()),

  addToCart(id, qty = 1) {
    const line = data.cart.find((l) => l.id === id);
    if (line) line.qty += qty;
    else data.cart.push({ id, qty });
    save();
  },
  removeFromCart(id) {
    data.cart = data.cart.filter((l) => l.id !== id);
    save();
  },
  clearCart() {
    data.cart = [];
    data.discount = null;
    save();
  },
  toggleWishlist(id) {
    const had = data.wishlist.includes(id);
    data.wishlist = had ? data.wishlist.filter((x) => x !== id) : [...data.wishlist, id];
    save();
    return !had;
  },
  setAccount(account) {
    data.account = account;
    save();
  },
  setDiscount(discount) {
    data.discount = discount;
    save();
  },
  addOrder(order) {
    data.orders = [order, ...data.orders].slice(0, 20);
    save();
  },
};

export const money = (n) => `€${n.toFixed(2)}`;
