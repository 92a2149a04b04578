-- waymark schema (Postgres). Times are epoch milliseconds. Keys of shoppers: "anon:<id>" or
-- "cust:<id>"; shopper_aliases maps every id ever seen to the row that holds its state.
CREATE TABLE shoppers (
    id TEXT PRIMARY KEY,
    state BYTEA NOT NULL,
    version BIGINT NOT NULL,
    wake_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX shoppers_wake_at ON shoppers (wake_at) WHERE wake_at IS NOT NULL;

CREATE TABLE shopper_aliases (
    alias TEXT PRIMARY KEY,
    shopper_id TEXT NOT NULL
);
CREATE INDEX shopper_aliases_target ON shopper_aliases (shopper_id);

CREATE TABLE events_seen (
    event_id TEXT PRIMARY KEY,
    shopper_id TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    key TEXT PRIMARY KEY,
    shopper_id TEXT NOT NULL,
    journey TEXT NOT NULL,
    step TEXT NOT NULL,
    channel TEXT NOT NULL,
    content TEXT NOT NULL,
    incentive TEXT,
    decided_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    recipient TEXT,
    reasons TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_shopper ON outbox (shopper_id);

CREATE TABLE bundles (
    version BIGINT PRIMARY KEY,
    bytes BYTEA NOT NULL,
    etag TEXT NOT NULL,
    journeys BIGINT NOT NULL,
    published_at BIGINT NOT NULL
);

CREATE TABLE journey_stats (
    journey TEXT NOT NULL,
    metric TEXT NOT NULL,
    label TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (journey, metric, label)
);
