-- Periodic jobs shared by every replica (the purchase-history fit): one row a job, with
-- the time it is next due (epoch milliseconds). A replica runs a job by moving next_at
-- forward in one update that only succeeds while it is due, so one replica a period wins.
CREATE TABLE scheduled_jobs (
    name TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL
);
