// Shared by the node tests: where the built package and the native CLI are.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The built package (scripts/build-pkg.sh); WAYMARK_PKG overrides. */
export const PKG = process.env.WAYMARK_PKG || join(ROOT, "pkg");
if (!existsSync(join(PKG, "node.js"))) {
  throw new Error(`no built package at ${PKG}: run 'make pkg' (scripts/build-pkg.sh) first`);
}

/** The native `waymark` CLI (WAYMARK_BIN, else target/{release,debug}/waymark). */
export function waymarkBin() {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  const candidates = [process.env.WAYMARK_BIN, join(target, "debug/waymark"), join(target, "release/waymark")];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error("no native waymark CLI: set WAYMARK_BIN or run 'cargo build --bin waymark'");
  return found;
}

export function cli(...args) {
  return execFileSync(waymarkBin(), args, { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
}

export function tempDir(name) {
  return mkdtempSync(join(tmpdir(), `waymark-${name}-`));
}

/** The package as a user imports it (the node condition). */
export const waymark = await import(join(PKG, "node.js"));

export const hex = (bytes) => Buffer.from(bytes).toString("hex");

/** Rust's Timestamp::to_rfc3339: UTC, milliseconds only when not zero. */
export function rfc3339(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}
