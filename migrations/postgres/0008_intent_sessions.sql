-- The sessions the intent model is fitted on (`waymark fit intent`): one row per shopper
-- row and session (session_start, epoch milliseconds), written with the state. features
-- is the model's feature vector in thousandths (a JSON array in the intent model's
-- feature order): for a converting session the features just before its first purchase
-- (the state's intent sample), else the features at the session's last event
-- (last_event). converted is 1 once the session had a purchase; a converted row's
-- features never change again. The fit reads sessions by session_start (time-ordered
-- split) and deletes the ones past its window.
CREATE TABLE intent_sessions (
    shopper_id TEXT NOT NULL,
    session_start BIGINT NOT NULL,
    last_event BIGINT NOT NULL,
    features TEXT NOT NULL,
    converted INTEGER NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (shopper_id, session_start)
);
CREATE INDEX intent_sessions_start ON intent_sessions (session_start);
