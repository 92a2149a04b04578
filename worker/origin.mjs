#!/usr/bin/env node
// worker/origin.mjs — a tiny storefront origin for tests and the bench: HTML pages for
// products, cart, checkout and search (each with a `data-waymark-slot` element), a
// stylesheet and a JSON API, on loopback only. It records what it was asked, so tests can
// check what the worker forwards.
//
//   node worker/origin.mjs [--port N]     prints {"port": N} on stdout once listening
//
// GET /__origin/requests answers the recorded requests (method, path, cookie header) and
// clears the record.
import { createServer } from "node:http";

const args = process.argv.slice(2);
const port = args[0] === "--port" ? Number(args[1]) : 0;

let seen = [];

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function page(title, main) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)} · Test Store</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<header><a href="/">Test Store</a> · <a href="/cart">Cart</a></header>
<main>
${main}
<aside id="nudge" data-waymark-slot></aside>
</main>
</body>
</html>
`;
}

function route(path, query) {
  let m;
  if (path === "/") return page("Home", "<h1>Welcome</h1>");
  if ((m = path.match(/^\/products\/([^/]+)\/([^/]+)\/?$/))) {
    return page(`Product ${decodeURIComponent(m[2])}`, `<h1>${esc(decodeURIComponent(m[2]))}</h1><p>in ${esc(decodeURIComponent(m[1]))}</p>`);
  }
  if ((m = path.match(/^\/products\/([^/]+)\/?$/))) return page(`Product ${decodeURIComponent(m[1])}`, `<h1>${esc(decodeURIComponent(m[1]))}</h1>`);
  if (path === "/cart") return page("Cart", "<h1>Your cart</h1>");
  if (path === "/checkout") return page("Checkout", "<h1>Checkout</h1>");
  if (path === "/checkout/complete") return page("Thank you", "<h1>Thank you for your order</h1>");
  if (path === "/search") return page("Search", `<h1>Results for ${esc(query.get("q") ?? "")}</h1>`);
  if (path === "/about") return page("About", "<h1>About us</h1>");
  if (path === "/discounts") return page("Summer discounts", "<h1>Summer discounts</h1>");
  return null;
}

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://origin.test");
  if (url.pathname === "/__origin/requests") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(seen));
    seen = [];
    return;
  }
  seen.push({ method: req.method, path: url.pathname + url.search, cookie: req.headers.cookie ?? null });
  if (seen.length > 1000) seen.shift();
  if (url.pathname === "/static/app.css") {
    res.writeHead(200, { "content-type": "text/css", "cache-control": "public, max-age=3600" });
    res.end("body { font-family: sans-serif; }\n");
    return;
  }
  if (url.pathname === "/api/ping") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true }));
    return;
  }
  const html = route(url.pathname, url.searchParams);
  if (html === null) {
    res.writeHead(404, { "content-type": "text/html; charset=utf-8" });
    res.end(page("Not found", "<h1>Not found</h1>"));
    return;
  }
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "public, max-age=60" });
  res.end(req.method === "HEAD" ? undefined : html);
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
