-- The interest index: each shopper's interest memory (src/interest.rs) as rows, written
-- with the state, so a catalog change finds the shoppers it concerns by item or by
-- category without reading every state, and the recommender reads who interacted with
-- what. Times are epoch milliseconds; prices are hundredths of the currency unit;
-- categories are the engine's 32-bit hashes (src/hash.rs).
CREATE TABLE interest_items (
    item_id TEXT NOT NULL,
    shopper_id TEXT NOT NULL,
    views BIGINT NOT NULL,
    in_cart BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    price_seen BIGINT,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (item_id, shopper_id)
);
CREATE INDEX interest_items_shopper ON interest_items (shopper_id);

CREATE TABLE interest_categories (
    category BIGINT NOT NULL,
    shopper_id TEXT NOT NULL,
    points BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (category, shopper_id)
);
CREATE INDEX interest_categories_shopper ON interest_categories (shopper_id);

-- What an outbox message is about, as JSON ({"entry": {...}, "items": [...]}): the run's
-- remembered entry properties and the decision's items, kept with the row because a
-- finished run forgets them; delivery shows the products from it.
ALTER TABLE outbox ADD COLUMN context TEXT;
