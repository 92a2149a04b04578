//! `waymark serve` settings: every flag has an environment variable (`WAYMARK_*`), so a
//! container is configured by env alone. `Settings` is what the server runs with; the
//! CLI flags (`ServeArgs`) turn into it, and tests build one directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::cors::CorsOrigins;
use super::limit::RateLimit;
use super::sqlite::Synchronous;

/// The database `waymark serve` and `waymark catalog import` use when `--db` is not given.
pub const DEFAULT_DB: &str = "sqlite://waymark.db";

/// Most jobs per group commit, by default.
pub const DEFAULT_BATCH_MAX: usize = 512;

/// The default body limit of `PUT` / `PATCH /v1/catalog`: 64 MiB, a feed of some 100,000
/// items (the most one import takes).
pub const DEFAULT_CATALOG_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Flags of `waymark serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Database URL: `sqlite://waymark.db` (file created and migrated on start) or `postgres://user@host/db`.
    #[arg(long, env = "WAYMARK_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Address to listen on.
    #[arg(long, env = "WAYMARK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Bearer token for admin calls (publish a bundle, issue tokens, server-side events, analytics).
    #[arg(long, env = "WAYMARK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Secret that signs shopper tokens (HMAC-SHA256); at least 16 bytes.
    #[arg(long, env = "WAYMARK_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: String,
    /// Journey files or directories to publish at start when they differ from the published bundle.
    #[arg(long, env = "WAYMARK_JOURNEYS", value_delimiter = ',', num_args = 0..)]
    pub journeys: Vec<PathBuf>,
    /// SMTP relay for email: `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS) or `smtps://host:port` (TLS from the start); `smtp://user:pass@host…` logs in.
    #[arg(long, env = "WAYMARK_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// PEM certificates the SMTP relay's TLS may chain to, besides the public roots (a
    /// private CA or a self-signed relay certificate).
    #[arg(long, env = "WAYMARK_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Email templates: `K.txt` (first line `Subject: …`) and optional `K.html` per
    /// content key `K`, Jinja syntax; without it emails carry a generic body.
    #[arg(long, env = "WAYMARK_EMAIL_TEMPLATES")]
    pub email_templates: Option<PathBuf>,
    /// From address of emails.
    #[arg(long, env = "WAYMARK_MAIL_FROM", default_value = "waymark@localhost")]
    pub mail_from: String,
    /// Webhook for SMS sends (JSON POST, signed).
    #[arg(long, env = "WAYMARK_SMS_WEBHOOK")]
    pub sms_webhook: Option<String>,
    /// Webhook for push sends.
    #[arg(long, env = "WAYMARK_PUSH_WEBHOOK")]
    pub push_webhook: Option<String>,
    /// Webhook for ads audience updates.
    #[arg(long, env = "WAYMARK_ADS_WEBHOOK")]
    pub ads_webhook: Option<String>,
    /// Secret that signs webhook bodies (`X-Waymark-Signature`).
    #[arg(long, env = "WAYMARK_WEBHOOK_SECRET", hide_env_values = true, default_value = "")]
    pub webhook_secret: String,
    /// Largest request body, bytes.
    #[arg(long, env = "WAYMARK_BODY_LIMIT", default_value_t = 256 * 1024)]
    pub body_limit: usize,
    /// Largest product feed `PUT` / `PATCH /v1/catalog` take, bytes.
    #[arg(long, env = "WAYMARK_CATALOG_BODY_LIMIT", default_value_t = DEFAULT_CATALOG_BODY_LIMIT)]
    pub catalog_body_limit: usize,
    /// Most syncs committed in one transaction.
    #[arg(long, env = "WAYMARK_BATCH_MAX", default_value_t = 512)]
    pub batch_max: usize,
    /// How often the scheduler and the outbox look for due work, milliseconds.
    #[arg(long, env = "WAYMARK_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// How often the purchase-history models are fitted on the order history and each
    /// customer's `predicted` trait rewritten, hours (one replica a period); 0 turns it off.
    #[arg(long, env = "WAYMARK_FIT_EVERY_HOURS", default_value_t = 24)]
    pub fit_every_hours: u64,
    /// How often the intent model is fitted on the recorded sessions and, when it beats the
    /// running one on held-out sessions, published into the bundle, hours (one replica a
    /// period); 0 turns it off.
    #[arg(long, env = "WAYMARK_FIT_INTENT_EVERY_HOURS", default_value_t = 24)]
    pub fit_intent_every_hours: u64,
    /// How often the learned mix (per-send conversion rates, adaptive split shares) is
    /// fitted on the counted sends and conversions and published into the bundle, hours
    /// (one replica a period); 0 turns it off.
    #[arg(long, env = "WAYMARK_MIX_EVERY_HOURS", default_value_t = 6)]
    pub mix_every_hours: u64,
    /// How long an outbox row claimed for delivery stays reserved for its replica,
    /// milliseconds; renewed every third of it while the replica works, so a crashed
    /// replica's rows are taken over by another within about one and a half times this.
    #[arg(long, env = "WAYMARK_DELIVERY_LEASE_MS", default_value_t = 4000)]
    pub delivery_lease_ms: u64,
    /// Database connections (Postgres; SQLite uses one writer and this many readers).
    #[arg(long, env = "WAYMARK_DB_CONNECTIONS", default_value_t = 8)]
    pub db_connections: u32,
    /// SQLite: when a commit counts as durable. `full`: synced to disk before the answer
    /// (survives power loss). `normal`: written to the WAL before the answer — survives a
    /// crash of waymark, but the last commits can be lost on power loss; saves an fsync
    /// per commit.
    #[arg(long, env = "WAYMARK_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    pub sqlite_synchronous: Synchronous,
    /// Browser origins that may call the shopper routes (`/v1/sync`, `/v1/sync/beacon`,
    /// `GET /v1/bundle`) cross-origin: `*` (any; shopper calls carry a bearer token, not
    /// cookies), a list such as `https://shop.example,https://www.shop.example`, or `off`.
    #[arg(long, env = "WAYMARK_CORS_ORIGINS", value_delimiter = ',', default_value = "*")]
    pub cors_origins: Vec<String>,
    /// Per-shopper rate limit of `/v1/sync` and `/v1/sync/beacon`: syncs a second one
    /// shopper (the token's anonymous id) may keep sending; over it they answer 429
    /// `rate_limited` with `Retry-After`. 0 turns the limit off.
    #[arg(long, env = "WAYMARK_SHOPPER_RATE", default_value_t = RateLimit::DEFAULT.per_second)]
    pub shopper_rate: u32,
    /// Syncs one shopper may send at once before `--shopper-rate` applies.
    #[arg(long, env = "WAYMARK_SHOPPER_BURST", default_value_t = RateLimit::DEFAULT.burst)]
    pub shopper_burst: u32,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "WAYMARK_LOG_JSON")]
    pub log_json: bool,
}

/// What the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Database URL.
    pub db: String,
    /// Admin bearer token.
    pub admin_token: String,
    /// Shopper token secret.
    pub token_secret: Vec<u8>,
    /// Lifetime of issued shopper tokens.
    pub token_ttl: Duration,
    /// Largest request body.
    pub body_limit: usize,
    /// Largest product feed body (`PUT` / `PATCH /v1/catalog`).
    pub catalog_body_limit: usize,
    /// Most jobs per group commit.
    pub batch_max: usize,
    /// Poll interval of scheduler and outbox.
    pub poll: Duration,
    /// Period of the purchase-history fit (zero: never).
    pub fit_every: Duration,
    /// Period of the intent fit (zero: never).
    pub fit_intent_every: Duration,
    /// Period of the learned mix fit (zero: never).
    pub mix_every: Duration,
    /// Pool size.
    pub db_connections: u32,
    /// SQLite durability of a commit.
    pub sqlite_synchronous: Synchronous,
    /// Delivery settings.
    pub delivery: DeliverySettings,
    /// Run the scheduler and outbox loops (tests drive them by hand instead).
    pub background: bool,
    /// Origins allowed to call the shopper routes from a browser.
    pub cors: CorsOrigins,
    /// Per-shopper rate limit of the sync routes.
    pub shopper_rate: RateLimit,
}

/// Where sends go.
#[derive(Debug, Clone, Default)]
pub struct DeliverySettings {
    /// `smtp://host:port`, `smtp://host:port?tls=required` or `smtps://host:port`.
    pub smtp_url: Option<String>,
    /// Extra PEM certificates to trust for the relay's TLS.
    pub smtp_ca_file: Option<PathBuf>,
    /// Directory of email templates (`K.txt`, `K.html`).
    pub email_templates: Option<PathBuf>,
    /// From address.
    pub mail_from: String,
    /// SMS webhook URL.
    pub sms_webhook: Option<String>,
    /// Push webhook URL.
    pub push_webhook: Option<String>,
    /// Ads webhook URL.
    pub ads_webhook: Option<String>,
    /// Webhook signing secret.
    pub webhook_secret: String,
    /// Attempts before a send is marked failed.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt.
    pub retry_base: Duration,
    /// Delivery lease of a claimed outbox row (renewed by a heartbeat while in use).
    pub lease: Duration,
}

impl Settings {
    /// Settings for a database URL with defaults for the rest (tests start here).
    pub fn new(db: &str, admin_token: &str, token_secret: &str) -> Settings {
        Settings {
            db: db.to_owned(),
            admin_token: admin_token.to_owned(),
            token_secret: token_secret.as_bytes().to_vec(),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            body_limit: 256 * 1024,
            catalog_body_limit: DEFAULT_CATALOG_BODY_LIMIT,
            batch_max: DEFAULT_BATCH_MAX,
            poll: Duration::from_millis(500),
            fit_every: Duration::from_secs(24 * 3600),
            fit_intent_every: Duration::from_secs(24 * 3600),
            mix_every: Duration::from_secs(6 * 3600),
            db_connections: 8,
            sqlite_synchronous: Synchronous::Full,
            delivery: DeliverySettings {
                mail_from: "waymark@localhost".into(),
                max_attempts: 5,
                retry_base: Duration::from_secs(30),
                lease: Duration::from_secs(4),
                ..DeliverySettings::default()
            },
            background: true,
            cors: CorsOrigins::Any,
            shopper_rate: RateLimit::DEFAULT,
        }
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), String> {
        if self.admin_token.len() < 16 {
            return Err("--admin-token (WAYMARK_ADMIN_TOKEN) must be at least 16 characters".into());
        }
        if self.token_secret.len() < 16 {
            return Err("--token-secret (WAYMARK_TOKEN_SECRET) must be at least 16 bytes".into());
        }
        if !(self.db.starts_with("sqlite:") || self.db.starts_with("postgres:") || self.db.starts_with("postgresql:")) {
            return Err(format!("--db {:?}: use sqlite://FILE or postgres://…", self.db));
        }
        self.shopper_rate.validate()?;
        if self.batch_max == 0 {
            return Err("--batch-max must be at least 1".into());
        }
        if self.delivery.smtp_url.is_none() {
            let email_only = [
                ("--smtp-ca-file (WAYMARK_SMTP_CA_FILE)", self.delivery.smtp_ca_file.is_some()),
                ("--email-templates (WAYMARK_EMAIL_TEMPLATES)", self.delivery.email_templates.is_some()),
            ];
            if let Some((flag, _)) = email_only.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{flag} is set but there is no --smtp-url (WAYMARK_SMTP_URL): email would not go out; \
                     set the relay, as in smtp://relay.example:587"
                ));
            }
        }
        Ok(())
    }
}

impl TryFrom<&ServeArgs> for Settings {
    type Error = String;

    /// The flags as settings; a flag that cannot be read is named in the error.
    fn try_from(args: &ServeArgs) -> Result<Settings, String> {
        let mut s = Settings::new(&args.db, &args.admin_token, &args.token_secret);
        s.cors = CorsOrigins::parse(&args.cors_origins)?;
        s.body_limit = args.body_limit;
        s.catalog_body_limit = args.catalog_body_limit;
        s.batch_max = args.batch_max;
        s.poll = Duration::from_millis(args.poll_ms.max(10));
        s.fit_every = Duration::from_secs(args.fit_every_hours.saturating_mul(3600));
        s.fit_intent_every = Duration::from_secs(args.fit_intent_every_hours.saturating_mul(3600));
        s.mix_every = Duration::from_secs(args.mix_every_hours.saturating_mul(3600));
        s.delivery.lease = Duration::from_millis(args.delivery_lease_ms.max(200));
        s.db_connections = args.db_connections.max(1);
        s.sqlite_synchronous = args.sqlite_synchronous;
        s.shopper_rate = RateLimit { per_second: args.shopper_rate, burst: args.shopper_burst };
        s.delivery.smtp_url = args.smtp_url.clone();
        s.delivery.smtp_ca_file = args.smtp_ca_file.clone();
        s.delivery.email_templates = args.email_templates.clone();
        s.delivery.mail_from = args.mail_from.clone();
        s.delivery.sms_webhook = args.sms_webhook.clone();
        s.delivery.push_webhook = args.push_webhook.clone();
        s.delivery.ads_webhook = args.ads_webhook.clone();
        s.delivery.webhook_secret = args.webhook_secret.clone();
        Ok(s)
    }
}
