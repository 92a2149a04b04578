//! The order history (`orders`): what the purchase-history models are fitted on. Orders
//! reach it two ways — [`history`]: each order a shopper's state records (a purchase the
//! browser, the edge or a server-side event saw; [`crate::orders`]), written with the
//! state by the group-commit writer, once per order id; and [`backfill`]: a shop's past
//! orders from NDJSON or CSV (`POST /v1/orders`, [`cli`] `waymark orders import`),
//! idempotent by order id, whose values outrank a state's. [`routes`] is the HTTP side.

pub mod backfill;
pub mod cli;
pub mod history;
pub mod routes;
