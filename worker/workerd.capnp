# workerd config for running the worker locally and in tests (`scripts/test.sh worker`).
# Cloudflare deploys use wrangler.toml instead; both load the same files from src/.
#
#   node worker/build.mjs                      # fills src/vendor/ (glue, .wasm, bundle.bin)
#   WAYMARK_COOKIE_SECRET=... ORIGIN=http://127.0.0.1:3000 \
#     npx workerd serve worker/workerd.capnp config --socket-addr http=127.0.0.1:8787
#
# Every setting is an environment variable of the workerd process (`fromEnvironment`;
# unset = null = the worker's default). Outbound fetches (origin, backend) may reach
# loopback addresses only: this config is for local runs.
#
# `brokenWasm` is the same worker with an empty .wasm module in place of the engine: the
# fail-open test serves with it (`workerd serve worker/workerd.capnp brokenWasm`).
#
# `withKv` is `config` plus the KV namespace `WAYMARK_STATE` (states too large for a cookie),
# served by local-kv.js: an in-memory Workers KV inside the same workerd process, which the
# binding reaches the way Cloudflare's does (workerd turns get/put into HTTP requests to the
# named service). Its `admin` entrypoint listens on the socket `kv` (127.0.0.1:8788; tests
# pass `--socket-addr kv=127.0.0.1:0`) to inspect entries and inject failures. The store
# lives as long as the process.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "waymark", worker = .waymarkWorker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "waymark") ],
);

const brokenWasm :Workerd.Config = (
  services = [
    (name = "waymark", worker = .brokenWorker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "waymark") ],
);

const withKv :Workerd.Config = (
  services = [
    (name = "waymark", worker = .kvWorker),
    (name = "kv", worker = .localKv),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:8787", http = (), service = "waymark"),
    (name = "kv", address = "127.0.0.1:8788", http = (), service = (name = "kv", entrypoint = "admin")),
  ],
);

const waymarkWorker :Workerd.Worker = (
  modules = .modules,
  compatibilityDate = "2025-09-01",
  bindings = .bindings,
  globalOutbound = "loopback",
);

# The same worker with `WAYMARK_STATE` bound to the local KV service.
const kvWorker :Workerd.Worker = (
  modules = .modules,
  compatibilityDate = "2025-09-01",
  bindings = .kvBindings,
  globalOutbound = "loopback",
);

const localKv :Workerd.Worker = (
  modules = [ (name = "local-kv.js", esModule = embed "local-kv.js") ],
  compatibilityDate = "2025-09-01",
);

const modules :List(Workerd.Worker.Module) = [
  (name = "index.js", esModule = embed "src/index.js"),
  (name = "routes.js", esModule = embed "src/routes.js"),
  (name = "cookie.js", esModule = embed "src/cookie.js"),
  (name = "inject.js", esModule = embed "src/inject.js"),
  (name = "engine.js", esModule = embed "src/engine.js"),
  (name = "backend.js", esModule = embed "src/backend.js"),
  (name = "vendor/waymark.js", esModule = embed "src/vendor/waymark.js"),
  (name = "vendor/core.js", esModule = embed "src/vendor/core.js"),
  (name = "vendor/bindings.js", esModule = embed "src/vendor/bindings.js"),
  (name = "vendor/storage.js", esModule = embed "src/vendor/storage.js"),
  (name = "vendor/sync.js", esModule = embed "src/vendor/sync.js"),
  (name = "vendor/errors.js", esModule = embed "src/vendor/errors.js"),
  (name = "vendor/decode.js", esModule = embed "src/vendor/decode.js"),
  (name = "vendor/encode.js", esModule = embed "src/vendor/encode.js"),
  (name = "vendor/waymark_bg.wasm", wasm = embed "src/vendor/waymark_bg.wasm"),
  (name = "vendor/bundle.bin", data = embed "src/vendor/bundle.bin"),
];

const brokenWorker :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "src/index.js"),
    (name = "routes.js", esModule = embed "src/routes.js"),
    (name = "cookie.js", esModule = embed "src/cookie.js"),
    (name = "inject.js", esModule = embed "src/inject.js"),
    (name = "engine.js", esModule = embed "src/engine.js"),
    (name = "backend.js", esModule = embed "src/backend.js"),
    (name = "vendor/waymark.js", esModule = embed "src/vendor/waymark.js"),
    (name = "vendor/core.js", esModule = embed "src/vendor/core.js"),
    (name = "vendor/bindings.js", esModule = embed "src/vendor/bindings.js"),
    (name = "vendor/storage.js", esModule = embed "src/vendor/storage.js"),
    (name = "vendor/sync.js", esModule = embed "src/vendor/sync.js"),
    (name = "vendor/errors.js", esModule = embed "src/vendor/errors.js"),
    (name = "vendor/decode.js", esModule = embed "src/vendor/decode.js"),
    (name = "vendor/encode.js", esModule = embed "src/vendor/encode.js"),
    (name = "vendor/waymark_bg.wasm", wasm = embed "../tests/worker/fixtures/empty.wasm"),
    (name = "vendor/bundle.bin", data = embed "src/vendor/bundle.bin"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = .bindings,
  globalOutbound = "loopback",
);

const bindings :List(Workerd.Worker.Binding) = [
  (name = "WAYMARK_COOKIE_SECRET", fromEnvironment = "WAYMARK_COOKIE_SECRET"),
  (name = "ORIGIN", fromEnvironment = "ORIGIN"),
  (name = "WAYMARK_BACKEND", fromEnvironment = "WAYMARK_BACKEND"),
  (name = "WAYMARK_TOKEN_SECRET", fromEnvironment = "WAYMARK_TOKEN_SECRET"),
  (name = "WAYMARK_ADMIN_TOKEN", fromEnvironment = "WAYMARK_ADMIN_TOKEN"),
  (name = "WAYMARK_ROUTES", fromEnvironment = "WAYMARK_ROUTES"),
  (name = "WAYMARK_SLOTS", fromEnvironment = "WAYMARK_SLOTS"),
  (name = "WAYMARK_COOKIE", fromEnvironment = "WAYMARK_COOKIE"),
  (name = "WAYMARK_PAGE_VIEW", fromEnvironment = "WAYMARK_PAGE_VIEW"),
  (name = "WAYMARK_BUNDLE_TTL_MS", fromEnvironment = "WAYMARK_BUNDLE_TTL_MS"),
  (name = "WAYMARK_BUNDLE_WAIT_MS", fromEnvironment = "WAYMARK_BUNDLE_WAIT_MS"),
  (name = "WAYMARK_BACKEND_TIMEOUT_MS", fromEnvironment = "WAYMARK_BACKEND_TIMEOUT_MS"),
  (name = "WAYMARK_SYNC_ATTEMPTS", fromEnvironment = "WAYMARK_SYNC_ATTEMPTS"),
  (name = "WAYMARK_TEST_CLOCK", fromEnvironment = "WAYMARK_TEST_CLOCK"),
];

# `bindings` and the KV namespace (capnp has no list concatenation: keep the two in step).
const kvBindings :List(Workerd.Worker.Binding) = [
  (name = "WAYMARK_COOKIE_SECRET", fromEnvironment = "WAYMARK_COOKIE_SECRET"),
  (name = "ORIGIN", fromEnvironment = "ORIGIN"),
  (name = "WAYMARK_BACKEND", fromEnvironment = "WAYMARK_BACKEND"),
  (name = "WAYMARK_TOKEN_SECRET", fromEnvironment = "WAYMARK_TOKEN_SECRET"),
  (name = "WAYMARK_ADMIN_TOKEN", fromEnvironment = "WAYMARK_ADMIN_TOKEN"),
  (name = "WAYMARK_ROUTES", fromEnvironment = "WAYMARK_ROUTES"),
  (name = "WAYMARK_SLOTS", fromEnvironment = "WAYMARK_SLOTS"),
  (name = "WAYMARK_COOKIE", fromEnvironment = "WAYMARK_COOKIE"),
  (name = "WAYMARK_PAGE_VIEW", fromEnvironment = "WAYMARK_PAGE_VIEW"),
  (name = "WAYMARK_BUNDLE_TTL_MS", fromEnvironment = "WAYMARK_BUNDLE_TTL_MS"),
  (name = "WAYMARK_BUNDLE_WAIT_MS", fromEnvironment = "WAYMARK_BUNDLE_WAIT_MS"),
  (name = "WAYMARK_BACKEND_TIMEOUT_MS", fromEnvironment = "WAYMARK_BACKEND_TIMEOUT_MS"),
  (name = "WAYMARK_SYNC_ATTEMPTS", fromEnvironment = "WAYMARK_SYNC_ATTEMPTS"),
  (name = "WAYMARK_TEST_CLOCK", fromEnvironment = "WAYMARK_TEST_CLOCK"),
  (name = "WAYMARK_STATE", kvNamespace = "kv"),
];
