-- The order history the predictions are fitted on: every order a shopper's state
-- recorded (src/orders.rs: from the browser, the edge or a server-side event, written
-- with the state), and the shop's past orders backfilled (POST /v1/orders, `waymark
-- orders import`), one row per order id. Amounts are hundredths of the currency unit,
-- times epoch milliseconds. shopper_id is the shopper row the order belongs to (null for
-- a backfilled order of a customer no state names yet), customer_id the shop's own id
-- when known; a customer's orders are those of either. source is 'state' or 'backfill':
-- a backfilled row's values outrank what a state says.
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    shopper_id TEXT,
    customer_id TEXT,
    ordered_at BIGINT NOT NULL,
    value BIGINT NOT NULL,
    refunded BIGINT NOT NULL,
    currency TEXT,
    items TEXT,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_shopper ON orders (shopper_id);
CREATE INDEX orders_customer ON orders (customer_id);
