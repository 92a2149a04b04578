-- The learned best mix (src/server/mix/): one row per exposure the server counted — a
-- send its engine decided (kind 'send', with its channel), or a run's split assignment
-- (kind 'split': a variant, or 'holdout') — keyed by shopper row, journey, step and time
-- (epoch milliseconds), with the end of its conversion window and, once the run
-- converted within it, when. (0008 is left to the intent model's session table.)
CREATE TABLE mix_exposures (
    shopper TEXT NOT NULL,
    journey TEXT NOT NULL,
    step TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL,
    channel TEXT NOT NULL,
    window_end BIGINT NOT NULL,
    converted_at BIGINT,
    PRIMARY KEY (shopper, journey, step, at)
);
-- A conversion marks the open exposures of one shopper's journey.
CREATE INDEX mix_exposures_by_shopper ON mix_exposures (shopper, journey, at);
-- The fit and analytics read settled exposures by group.
CREATE INDEX mix_exposures_by_group ON mix_exposures (journey, step, kind, variant);
