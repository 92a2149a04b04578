#!/usr/bin/env node
// The demo storefront's own little web server — the part a shop already has:
//   - serves the static storefront (www/public/) and the built npm package (pkg/) at
//     /node_modules/waymark/, with an import map so pages can `import { Waymark } from "waymark"`;
//   - proxies /v1/* and /healthz to the waymark backend (same origin: no CORS needed), or
//     with --direct tells pages to call the backend on its own origin (CORS, as a shop
//     whose backend lives at https://waymark.example.com would);
//   - plays the shop's server side for what the browser must not do itself: it asks the
//     backend for a shopper token (admin call) and reads what the backend has queued or
//     suppressed for the debug panel (admin call). The admin token never reaches the browser.
//
//   node www/server.mjs --port 8000 --backend http://127.0.0.1:8080 [--pkg pkg] [--host 127.0.0.1] [--direct]
//   WAYMARK_ADMIN_TOKEN must be set for the token and debug routes.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");

function parseArgs(argv) {
  const opts = { port: 8000, host: "127.0.0.1", backend: "http://127.0.0.1:8080", pkg: path.join(REPO, "pkg"), direct: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === "--port") opts.port = Number(value());
    else if (flag === "--host") opts.host = value();
    else if (flag === "--backend") opts.backend = value().replace(/\/$/, "");
    else if (flag === "--pkg") opts.pkg = path.resolve(value());
    else if (flag === "--direct") opts.direct = true;
    else if (flag === "-h" || flag === "--help") {
      console.log("usage: node www/server.mjs [--port 8000] [--host 127.0.0.1] [--backend URL] [--pkg DIR] [--direct]");
      console.log("  --direct  pages call the backend at --backend themselves (cross-origin) instead of through /v1 here");
      process.exit(0);
    } else {
      console.error(`unknown option: ${argv[i]}`);
      process.exit(2);
    }
  }
  return opts;
}

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".d.ts": "text/plain; charset=utf-8",
  ".map": "application/json",
};

// The browser entry of the package, resolved through its package.json `exports` the way
// a bundler or an import map generator would: condition `browser`, then `import`, then `default`.
export function browserEntry(pkgDir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const pick = (target) => {
    if (typeof target === "string") return target;
    if (Array.isArray(target)) return target.map(pick).find(Boolean);
    if (target && typeof target === "object") {
      for (const cond of ["browser", "import", "module", "default"]) {
        if (cond in target) {
          const hit = pick(target[cond]);
          if (hit) return hit;
        }
      }
    }
    return undefined;
  };
  let exp = manifest.exports;
  if (exp && typeof exp === "object" && !Array.isArray(exp) && "." in exp) exp = exp["."];
  const entry = pick(exp) || manifest.browser || manifest.module || manifest.main;
  if (!entry) throw new Error(`${pkgDir}/package.json names no browser entry`);
  return entry.replace(/^\.\//, "");
}

const escapeAttr = (text) => String(text).replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, body, type = "application/json; charset=utf-8") {
  const data = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(data);
}

function serveFile(res, root, rel, transform) {
  const file = path.resolve(root, "." + path.posix.normalize("/" + rel));
  if (!file.startsWith(path.resolve(root) + path.sep) && file !== path.resolve(root)) {
    return send(res, 403, { code: "forbidden" });
  }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) return send(res, 404, { code: "not_found", path: rel });
    const ext = file.endsWith(".d.ts") ? ".d.ts" : path.extname(file);
    const type = MIME[ext] || "application/octet-stream";
    if (transform) {
      return send(res, 200, transform(fs.readFileSync(file, "utf8")), type);
    }
    res.writeHead(200, { "content-type": type, "content-length": st.size, "cache-control": "no-cache" });
    fs.createReadStream(file).pipe(res);
  });
}

function readBody(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function backendCall(opts, method, route, { body, admin = false, headers = {} } = {}) {
  const h = { ...headers };
  if (admin) h.authorization = `Bearer ${process.env.WAYMARK_ADMIN_TOKEN || ""}`;
  if (body !== undefined && !(body instanceof Uint8Array)) {
    h["content-type"] = "application/json";
    body = JSON.stringify(body);
  }
  const r = await fetch(opts.backend + route, { method, headers: h, body, signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { text };
  }
  return { status: r.status, json };
}

function proxy(opts, req, res) {
  const target = new URL(req.url, opts.backend);
  const headers = { ...req.headers, host: target.host };
  const up = http.request(target, { method: req.method, headers }, (upRes) => {
    res.writeHead(upRes.statusCode || 502, upRes.headers);
    upRes.pipe(res);
  });
  up.setTimeout(15000, () => up.destroy(new Error("backend timeout")));
  up.on("error", (e) => {
    if (!res.headersSent) send(res, 502, { code: "backend_unavailable", message: `waymark backend: ${e.message}` });
    else res.destroy();
  });
  req.pipe(up);
}

// Shop-server routes under /store/: what a real shop's server does for its pages.
async function storeRoute(opts, req, res, url) {
  if (!process.env.WAYMARK_ADMIN_TOKEN) {
    return send(res, 503, { code: "no_admin_token", message: "set WAYMARK_ADMIN_TOKEN for the storefront server" });
  }
  try {
    if (url.pathname === "/store/token" && req.method === "POST") {
      // The shop vouches for the shopper: an anonymous (device) id and, once logged in,
      // the customer id. The backend signs it; the browser sends it with every sync.
      const input = JSON.parse((await readBody(req)).toString("utf8") || "{}");
      const body = { anonymous_id: String(input.anonymousId || ""), customer_id: input.customerId || undefined };
      const r = await backendCall(opts, "POST", "/v1/token", { body, admin: true });
      return send(res, r.status, r.json);
    }
    if (url.pathname === "/store/shopper" && req.method === "GET") {
      // Debug panel: what the backend holds for this shopper (timers, outbox, suppressions).
      const id = url.searchParams.get("id") || "";
      const r = await backendCall(opts, "GET", `/v1/shoppers/${encodeURIComponent(id)}`, { admin: true });
      const err = r.json?.error || {};
      if (!(r.status === 404 && err.code === "not_found" && /endpoint/.test(err.message || ""))) {
        return send(res, r.status, r.json);
      }
      // A backend without per-shopper inspection: ask what it would do with an email or an
      // SMS for this shopper right now (POST /v1/suppression/check, nothing recorded).
      const checks = {};
      for (const channel of ["email", "sms"]) {
        const c = await backendCall(opts, "POST", "/v1/suppression/check", {
          body: { anonymous_id: id, channel },
          admin: true,
        });
        if (c.status !== 200) return send(res, c.status, c.json);
        checks[channel] = { allowed: c.json.allowed, reasons: c.json.reasons, known: c.json.known_shopper };
      }
      return send(res, 200, { checks, inspection: false });
    }
    return send(res, 404, { code: "not_found" });
  } catch (e) {
    return send(res, 502, { code: "backend_unavailable", message: String(e.message || e) });
  }
}

export function createServer(opts) {
  const publicDir = path.join(HERE, "public");
  return http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const p = url.pathname;
    if (p.startsWith("/v1/") || p === "/healthz" || p === "/metrics") return proxy(opts, req, res);
    if (p.startsWith("/store/")) return void storeRoute(opts, req, res, url);
    if (p.startsWith("/node_modules/waymark/")) {
      return serveFile(res, opts.pkg, decodeURIComponent(p.slice("/node_modules/waymark/".length)));
    }
    if (p === "/" || p === "/index.html") {
      let entry;
      try {
        entry = browserEntry(opts.pkg);
      } catch (e) {
        return send(
          res,
          503,
          `<!doctype html><title>waymark demo</title><h1>The npm package is not built</h1>
<p>${String(e.message)}</p><p>Run <code>make pkg</code> (or <code>make demo</code>) and reload.</p>`,
          MIME[".html"],
        );
      }
      const map = JSON.stringify({ imports: { waymark: `/node_modules/waymark/${entry}` } });
      // Where pages reach the backend: this server's origin (the /v1 proxy) or, with
      // --direct, the backend's own.
      const endpoint = opts.direct ? `<meta name="waymark-endpoint" content="${escapeAttr(opts.backend)}">` : "";
      return serveFile(res, publicDir, "index.html", (html) =>
        html.replace("<!--importmap-->", `${endpoint}<script type="importmap">${map}</script>`),
      );
    }
    return serveFile(res, publicDir, decodeURIComponent(p.slice(1)));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  const server = createServer(opts);
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    console.log(`storefront listening on http://${opts.host}:${port}/ (backend ${opts.backend})`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
