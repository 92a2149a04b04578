-- The catalog's trigger jobs: the changes of one import that can concern shoppers (price
-- drops, restocks, new arrivals), as JSON, written in the import's own transaction so a
-- crash between the import and its fan-out loses nothing, and an import from the CLI is
-- fanned out by a running server. A job is leased (lease_until, epoch milliseconds)
-- while it runs and done once fanned out; a lapsed lease is taken over (the fan-out is
-- idempotent). announce_arrivals is 0 for the first import into an empty catalog.
CREATE TABLE catalog_jobs (
    id BIGINT PRIMARY KEY,
    changes TEXT NOT NULL,
    announce_arrivals BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    lease_until BIGINT,
    done_at BIGINT,
    report TEXT
);
CREATE INDEX catalog_jobs_pending ON catalog_jobs (done_at, id);
