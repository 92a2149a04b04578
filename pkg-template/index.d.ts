// Types of the public waymark API (hand-written; the generated binding types live in
// web/waymark.d.ts and describe the raw wasm classes).

/** Delivery channel of a send. */
export type Channel = "onsite" | "inapp" | "email" | "sms" | "push" | "ads";

/** Intent tier, with hysteresis so it does not flap. */
export type Tier = "cold" | "warm" | "hot";

/** What happened. */
export type Action = "enter" | "send" | "suppress" | "defer" | "convert" | "exit" | "cancel";

/**
 * Why: stable codes that analytics, tests and your code can key on. The entry skips
 * (`reentry_*`, `outside_schedule`) appear only with `debug: true` / `Engine.traceSkips`.
 */
export type ReasonCode =
  | "entry_matched"
  | "audience_matched"
  | "reentry_once"
  | "reentry_locked"
  | "reentry_capped"
  | "outside_schedule"
  | "allowed"
  | "no_consent"
  | "unreachable"
  | "not_in_session"
  | "quiet_hours"
  | "cap_session"
  | "cap_window"
  | "incentive_conflict"
  | "incentive_replaced"
  | "recent_onsite"
  | "fallback_used"
  | "critical_override"
  | "outranked"
  | "converted"
  | "conversion_cancelled"
  | "exit_rule"
  | "exit_reached"
  | "performed"
  | "timed_out"
  | "holdout"
  | "superseded"
  | "removed"
  | "step_budget"
  | "delegated"
  | "learned_value";

/** A JSON value, as events, traits and conditions carry them. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** GA4 event names waymark understands natively; Segment names ("Product Viewed") map onto them. */
export type EventName =
  | "page_view"
  | "view_item"
  | "view_item_list"
  | "select_item"
  | "add_to_cart"
  | "remove_from_cart"
  | "view_cart"
  | "begin_checkout"
  | "add_payment_info"
  | "purchase"
  | "refund"
  | "add_to_wishlist"
  | "search"
  | "view_search_results"
  | "screen_view"
  | "login"
  | "sign_up"
  | (string & {});

/** One GA4 item. */
export interface Item {
  item_id: string;
  item_name?: string;
  item_category?: string;
  price?: number;
  quantity?: number;
  [key: string]: JsonValue | undefined;
}

/** Event properties: GA4 parameters (`items`, `value`, `currency`, `search_term`, ...). */
export interface EventProperties {
  items?: Item[];
  value?: number;
  currency?: string;
  item_id?: string;
  item_category?: string;
  price?: number;
  quantity?: number;
  search_term?: string;
  screen_name?: string;
  [key: string]: JsonValue | Item[] | undefined;
}

/** An event as a journey file or dataLayer entry names it. */
export interface Event {
  name: EventName;
  properties?: EventProperties;
}

/** One decision — taken or not — with the reasons, most important first. */
export interface Decision {
  /** When it was taken: the event time, or the timer's due time (epoch ms). */
  time: number;
  journey: string;
  step: string | null;
  action: Action;
  channel: Channel | null;
  /** Content key to render (a template or on-site component id). */
  content: string | null;
  incentive: string | null;
  /** Split variant the shopper is in. */
  variant: string | null;
  /**
   * For sends (and sends suppressed or deferred): the ids of the items the message is
   * about — the item that started the journey, then the cart's items, newest first (at
   * most 8). Empty for other decisions. Look the products up in your catalog, or through
   * the backend's `GET /v1/recommendations?item=…`.
   */
  items: string[];
  /** The main reason: `reasons[0]`. */
  reason: ReasonCode;
  reasons: ReasonCode[];
  /** One sentence for people. */
  message: string;
}

/** Intent right now. */
export interface Intent {
  /** In [0, 1]. */
  score: number;
  tier: Tier;
}

/** One feature's part in the intent score. */
export interface Contribution {
  feature: string;
  /** The signal as a person reads it (a count, an amount, 0/1). */
  signal: number;
  /** The value the model sees (transformed, decayed). */
  value: number;
  weight: number;
  /** `weight × value`: what it adds to the logit. */
  contribution: number;
}

/** Answer of `maySend`. */
export interface SendCheck {
  allowed: boolean;
  reasons: ReasonCode[];
}

/** A journey as written (see the waymark README for every field). */
export interface Journey {
  id: string;
  name?: string;
  description?: string;
  priority?: number;
  schedule?: { start?: string; end?: string; time_zone?: string; quiet_hours?: { start: string; end: string } };
  entry?: { event: EventName; where?: Condition } | { audience: Condition };
  audience?: Condition;
  reentry?: { mode: "once" } | { mode: "multiple"; lock?: string; cap?: number; window?: string };
  conversion?: { event: EventName; where?: Condition; within?: string };
  steps: Step[];
  [key: string]: unknown;
}

/** A GrowthBook-style targeting condition (`{"value": {"$gt": 100}}`). */
export type Condition = { [path: string]: JsonValue };

/** A journey step. */
export interface Step {
  id: string;
  type: "wait_for" | "delay" | "branch" | "send" | "split" | "exit";
  next?: string;
  [key: string]: unknown;
}

/** A JSON bundle: journeys + policy (caps, suppression windows, intent model) + groups. */
export interface BundleSource {
  journeys: Journey[];
  policy?: Record<string, unknown>;
  groups?: Record<string, JsonValue[]>;
}

/** A Storage-like object (localStorage, sessionStorage, your own). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface LoadOptions {
  /**
   * The journeys: the compact binary bundle (`waymark bundle ... -o bundle.bin`,
   * `GET /v1/bundle`), or — in Node and `waymark/full` only — a JSON bundle object (or its
   * text, or one journey); the default browser/worker module throws
   * `json_bundle_unsupported` for JSON. JSON bundles compile as `waymark bundle` compiles
   * them, IANA time zones included; a bundle that does not validate throws a
   * `WaymarkError` listing every error (`errors`, with `line` and `column` for text).
   * Omitted: fetched from `${endpoint}/v1/bundle`.
   */
  bundle?: BundleSource | string | Uint8Array | ArrayBuffer;
  /** The waymark backend, e.g. "https://waymark.example.com": `/v1/sync`, `/v1/bundle`. */
  endpoint?: string;
  /** The shopper token the backend issued (or a function that fetches a fresh one). */
  shopperToken?: string | (() => string | Promise<string>);
  /** Shopper id; default: the token's subject, else a stored or new anonymous id. */
  shopperId?: string;
  /** Where the state lives: "local" (localStorage; the default where it exists), "memory", false, or your own. */
  storage?: "local" | "memory" | false | StorageLike;
  /** Storage key of the state (default "waymark:state"). */
  storageKey?: string;
  /** Feed GA4 `dataLayer.push` calls to `track`: true for `window.dataLayer`, or the array. */
  dataLayer?: boolean | unknown[];
  /** Milliseconds to gather changes before a background sync (default 2000). */
  syncDelay?: number;
  /** Run the engine's timers with setTimeout (default true). */
  timers?: boolean;
  /** Clock in epoch ms (default Date.now). */
  clock?: () => number;
  /** fetch to use (default globalThis.fetch); called as a plain function, so `window.fetch` works as is. */
  fetch?: typeof fetch;
  /** Where the .wasm comes from, for the browser build (URL, Response, bytes, Module). */
  wasm?: unknown;
  /**
   * Also report entry skips: a journey whose entry matched but that was not entered
   * because of its schedule or re-entry rules, as `suppress` decisions with reason
   * `outside_schedule`, `reentry_once`, `reentry_locked` or `reentry_capped`. For debug
   * panels ("why wasn't this shopper entered?"); default false. Send suppressions
   * (consent, caps, quiet hours, conflicts, ...) are always reported.
   */
  debug?: boolean;
  /**
   * Who decides email / SMS / push / ads sends. `"backend"` (the default when `endpoint`
   * is set): they are reported as `defer` decisions with reason `delegated`, and the
   * backend decides and delivers them after the next sync, with suppression rechecked at
   * delivery. `"local"` (the default without an endpoint): decided here, as `send`
   * decisions your code forwards to its own email/SMS platform.
   */
  offsiteSends?: "backend" | "local";
}

export interface EventMap {
  decision: Decision;
  tier: { from: Tier; to: Tier };
  sync: { bytes: number };
  error: WaymarkError;
}

/** One problem of a JSON bundle, as `waymark validate` reports it. */
export interface JourneyDiagnostic {
  /** Stable code, e.g. "missing_field", "unknown_time_zone", "bad_duration". */
  code: string;
  /** JSON pointer into the bundle, e.g. "/journeys/0/entry" ("/" for the whole bundle). */
  path: string;
  /** What is wrong and what to write instead. */
  message: string;
  /** 1-based line and column (in characters), when the bundle was given as text or bytes. */
  line?: number;
  column?: number;
}

/** An Error with a stable machine code, e.g. "unknown_time_zone", "state_corrupt", "invalid_token". */
export class WaymarkError extends Error {
  code: string;
  /** JSON pointer of the first journey error, e.g. "/journeys/0/steps/2/timeout". */
  path?: string;
  /** Every journey error, when a JSON bundle does not validate (`code` and `path` are the first's). */
  errors?: JourneyDiagnostic[];
  /** HTTP status, for sync and bundle fetch errors. */
  status?: number;
}

export class Waymark {
  /** Loads the module, the bundle and the saved state. */
  static load(options?: LoadOptions): Promise<Waymark>;
  /** Ingests an event now; returns (and emits) the decisions, taken or suppressed, with reasons. */
  track(name: EventName, properties?: EventProperties): Decision[];
  /** Links the customer id after login and sets traits. */
  identify(customerId: string, traits?: Record<string, JsonValue>): void;
  setTraits(traits: Record<string, JsonValue>): void;
  /** Records consent per channel; returns the consent now known. */
  consent(choices: Partial<Record<Channel, boolean>>): Partial<Record<Channel, boolean>>;
  /** Intent score and tier now. */
  intent(): Intent;
  /** What moves the intent score now, largest effect first. */
  explain(): Contribution[];
  maySend(channel: Channel, journey?: string): SendCheck;
  /** Runs due timers now (automatic unless `timers: false`). */
  tick(): Decision[];
  nextWakeup(): number | undefined;
  readonly shopperId: string;
  traits(): Record<string, JsonValue>;
  /** Journeys the shopper is in now. */
  journeys(): string[];
  /**
   * Ids of the items the shopper viewed and did not buy, the most recently touched
   * (viewed, carted, wishlisted) first, at most `k` (default: all remembered, up to 16).
   * Items in the cart stay in it. Throws `bad_limit` unless `k` is a whole number ≥ 0.
   */
  recentlyViewed(k?: number): string[];
  /** The state as bytes (version byte + postcard). */
  exportState(): Uint8Array;
  /** Merges state bytes into this shopper's state (commutative, idempotent). */
  importState(bytes: Uint8Array | ArrayBuffer): void;
  /** Sends the state to `/v1/sync` now and applies the merged answer. */
  sync(): Promise<{ synced: boolean }>;
  setShopperToken(token: string | (() => string | Promise<string>)): void;
  on<K extends keyof EventMap>(type: K, listener: (value: EventMap[K]) => void): () => void;
  off<K extends keyof EventMap>(type: K, listener: (value: EventMap[K]) => void): void;
  /** Feeds GA4 dataLayer pushes to `track`; returns a function that detaches. */
  attachDataLayer(dataLayer?: unknown[]): () => void;
  /** Stops timers and listeners, saves, and frees the wasm memory. */
  close(): void;
}

/** The raw engine (one compiled bundle), for workers and tests. */
export class Engine {
  static fromBytes(bytes: Uint8Array): Engine;
  /**
   * A JSON bundle (object, its text or its UTF-8 bytes; or one journey), validated and
   * compiled as `waymark bundle` does. Node entry and `waymark/full` only; elsewhere
   * throws `json_bundle_unsupported`. Throws a `WaymarkError` with every error in `errors`.
   */
  static fromJson(bundle: BundleSource | Journey | string | Uint8Array | ArrayBuffer): Engine;
  /**
   * The compiled bundle as `waymark bundle` writes it (what the default module and
   * `/v1/bundle` load): byte for byte the CLI's for the same journeys. Node entry and
   * `waymark/full` only.
   */
  toBytes(): Uint8Array;
  /** Report entry skips as `suppress` decisions (what `Waymark.load({debug: true})` sets); default false. */
  traceSkips: boolean;
  /** Leave email / SMS / push / ads sends to the backend (what `offsiteSends: "backend"` sets); default false. */
  delegateOffsite: boolean;
  journeys(): string[];
  ingest(state: State, name: EventName, now: number, properties?: EventProperties | null): Decision[];
  /** `ingest` with properties from `encodeProperties` (what `track` uses: cheaper boundary). */
  ingestEncoded(state: State, name: EventName, now: number, properties: Uint8Array): Decision[];
  tick(state: State, now: number): Decision[];
  nextWakeup(state: State): number | undefined;
  intent(state: State, now: number): Intent;
  explain(state: State, now: number): Contribution[];
  maySend(state: State, channel: Channel, journey: string | undefined, now: number): SendCheck;
  free(): void;
}

/** The raw state of one shopper. */
export class State {
  constructor(shopperId: string);
  static decode(bytes: Uint8Array): State;
  encode(): Uint8Array;
  merge(other: State): void;
  mergeBytes(bytes: Uint8Array): void;
  identify(customerId: string, now: number): void;
  setConsent(channel: Channel, granted: boolean, now: number): void;
  consent(): Partial<Record<Channel, boolean>>;
  setTraits(traits: Record<string, JsonValue>, now: number): void;
  traits(): Record<string, JsonValue>;
  readonly primaryId: string;
  readonly customerId: string | undefined;
  readonly ids: string[];
  readonly tier: Tier;
  activeJourneys(): string[];
  /** What `Waymark#recentlyViewed(k)` answers: up to `limit` item ids, newest first. */
  recentlyViewed(limit: number): string[];
  clone(): State;
  free(): void;
}

export const CHANNELS: readonly Channel[];
/** Event name and properties of a GA4 dataLayer entry (or gtag arguments), or undefined. */
export function fromDataLayer(entry: unknown): Event | undefined;
/** Event properties as the postcard bytes `Engine.ingestEncoded` takes (a view into a shared buffer). */
export function encodeProperties(properties?: EventProperties | null): Uint8Array;
/** The waymark version of the wasm module. */
export function version(): string;
/** Loads the wasm module ahead of `Waymark.load` (optional). */
export function init(wasm?: unknown): Promise<void>;
export default Waymark;
