-- Which replica holds a row's delivery lease (outbox::replica_id): renewals and results
-- are written only by the owner, so a short lease can be renewed by a heartbeat and a
-- crashed replica's rows are taken over within one lease.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
