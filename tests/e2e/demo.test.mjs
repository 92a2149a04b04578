// The README's main command, as a user runs it: scripts/demo.sh prints a URL that serves
// the storefront with the package and a published bundle; Ctrl-C stops every process.
// (--no-build: the e2e section built pkg/ and the backend just before.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO, freePort, tempDir, waitFor } from "./harness.mjs";

const portOpen = (port) =>
  fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) }).then(
    () => true,
    () => false,
  );

test("make demo: prints a working URL, Ctrl-C stops everything", { timeout: 120_000 }, async () => {
  const dir = tempDir("demo");
  const [port, backendPort] = [await freePort(), await freePort()];
  const child = spawn("bash", [path.join(REPO, "scripts/demo.sh"), "--no-build"], {
    cwd: REPO,
    env: { ...process.env, WAYMARK_DEMO_DIR: dir, WAYMARK_DEMO_PORT: String(port), WAYMARK_DEMO_BACKEND_PORT: String(backendPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  try {
    const url = await waitFor("DEMO_URL", () => out.match(/^DEMO_URL=(\S+)$/m)?.[1], { timeoutMs: 60_000 });
    assert.equal(url, `http://127.0.0.1:${port}/`);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<script type="importmap">\{"imports":\{"waymark":"\/node_modules\/waymark\//);
    const entry = html.match(/"waymark":"([^"]+)"/)[1];
    assert.equal((await fetch(new URL(entry, url))).status, 200, "the package's browser entry is served");
    const bundle = await fetch(new URL("/v1/bundle", url));
    assert.equal(bundle.status, 200, "a bundle is published");
    assert.ok((await bundle.arrayBuffer()).byteLength > 100);
    const tokens = await fetch(new URL("/store/token", url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ anonymousId: "anon-demo-test" }),
    });
    assert.equal(tokens.status, 200, await tokens.clone().text());
    assert.match((await tokens.json()).token, /^v1\./);
  } finally {
    child.kill("SIGINT");
  }
  const { code } = await exited;
  assert.equal(code, 0, out);
  assert.match(out, /stopping the demo/);
  assert.equal(await portOpen(port), false, "storefront stopped");
  assert.equal(await portOpen(backendPort), false, "backend stopped");
  fs.rmSync(dir, { recursive: true, force: true });
});
