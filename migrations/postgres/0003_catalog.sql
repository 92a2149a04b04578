-- The product catalog (src/server/catalog/): the items of the shop's Merchant Center feed
-- and the history of each item's effective price and availability. Prices are hundredths
-- of the currency unit (15.00 USD -> 1500), the unit the engine keeps the price a shopper
-- saw in. A full replace keeps the items it leaves out, marked with removed_at, so old
-- links and their history still resolve.
CREATE TABLE catalog_items (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    link TEXT NOT NULL,
    image_link TEXT,
    price_hundredths BIGINT NOT NULL,
    sale_price_hundredths BIGINT,
    currency TEXT,
    availability TEXT NOT NULL,
    product_type TEXT,
    google_product_category TEXT,
    brand TEXT,
    item_group_id TEXT,
    first_seen BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT,
    history_seq BIGINT NOT NULL
);
-- Items of a category and recently added items, among those in the catalog now.
CREATE INDEX catalog_items_product_type ON catalog_items (product_type) WHERE removed_at IS NULL;
CREATE INDEX catalog_items_google_category ON catalog_items (google_product_category) WHERE removed_at IS NULL;
CREATE INDEX catalog_items_first_seen ON catalog_items (first_seen) WHERE removed_at IS NULL;

-- One row per change of an item's effective price (sale price, else price) or
-- availability (NULL: removed), numbered per item (catalog_items.history_seq is the
-- newest), holding from changed_at on.
CREATE TABLE catalog_history (
    item_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    price_hundredths BIGINT NOT NULL,
    currency TEXT,
    availability TEXT,
    PRIMARY KEY (item_id, seq)
);
-- Changes since a time, across items.
CREATE INDEX catalog_history_changed_at ON catalog_history (changed_at);
