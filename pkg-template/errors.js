// waymark — the package's one error type. Every failure the JS layer throws or reports
// (on "error") is a WaymarkError with a stable machine `code`, the same codes the wasm
// engine throws; the other modules import it from here and every entry re-exports it.

/** An Error with a stable machine `code` (the same codes the wasm engine throws). */
export class WaymarkError extends Error {
  constructor(code, message, extra) {
    super(message);
    this.name = "WaymarkError";
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}

/** What every call on a closed instance throws (or rejects with). */
export function closedError() {
  return new WaymarkError("closed", "this Waymark instance was closed: load a new one");
}
