//! The OpenAPI 3.1 document served at `/v1/openapi.json`, written by hand next to the
//! routes it describes (`app.rs`); a test checks that every route is in it.

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// 429 with its `Retry-After` header.
fn rate_limited() -> Value {
    let mut answer =
        error_response("rate_limited: this shopper sent more syncs than --shopper-rate / --shopper-burst allow");
    if let Some(obj) = answer.as_object_mut() {
        obj.insert(
            "headers".into(),
            json!({ "Retry-After": { "description": "seconds to wait", "schema": { "type": "integer" } } }),
        );
    }
    answer
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

/// `?format=` of the catalog import.
fn catalog_format() -> Value {
    json!({ "name": "format", "in": "query", "required": false, "description": "the feed's format; by default from Content-Type, else from the first bytes",
        "schema": { "enum": ["xml", "tsv", "jsonl"] } })
}

/// A product feed body, in each of its formats.
fn catalog_feed() -> Value {
    let text = json!({ "schema": { "type": "string" } });
    json!({ "required": true, "description": "Merchant Center fields: id, title, link, price, availability (required), description, image_link, sale_price, product_type, google_product_category, brand, item_group_id. Prices as \"15.00 USD\". At most 100,000 rows; the body within --catalog-body-limit.",
        "content": { "application/rss+xml": text.clone(), "application/xml": text.clone(), "text/xml": text.clone(),
            "text/tab-separated-values": text.clone(), "application/x-ndjson": text.clone(), "application/jsonl": text } })
}

fn catalog_import_responses() -> Value {
    json!({
        "200": { "description": "the import report, rows rejected for an error included: {mode, format, at, counts: {rows, loaded, new, updated, unchanged, removed, rejected}, errors: [{line, item?, id?, field, code, message}], errors_truncated, changes: [{type: new|price|availability, id, ...}], changes_truncated}" },
        "400": error_response("malformed_xml | malformed_tsv | unknown_format | invalid_format | invalid_query"),
        "401": error_response("missing_admin_token | invalid_admin_token"),
        "413": error_response("body_too_large"),
        "415": error_response("unsupported_media_type"),
        "422": error_response("not_a_feed | missing_columns | empty_feed | too_many_rows | no_valid_rows (details: the row errors); the catalog is unchanged"),
    })
}

/// The document.
// Long because it is one JSON literal: the whole API in the order a reader scans it.
pub fn document() -> Value {
    let admin = json!([{ "admin": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "waymark backend",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Shopper state sync, server-side events, suppression checks, journey bundles, exit analytics, the product catalog. Every error is JSON {error: {code, message, details?}} with a stable code (unknown routes and methods, unreadable paths and bodies included). Bearer credentials: the scheme is matched in any case (RFC 7235). /v1/sync and /v1/sync/beacon share a per-shopper rate limit (default a burst of 30, then 10/s; --shopper-rate, --shopper-burst): over it they answer 429 rate_limited with Retry-After. /v1/sync, /v1/sync/beacon, GET /v1/bundle and the public GET /v1/recommendations (item=, q=, k=) answer CORS requests from the origins --cors-origins allows (default any: shopper calls carry a bearer token, not cookies)."
        },
        "components": {
            "securitySchemes": {
                "admin": { "type": "http", "scheme": "bearer", "description": "the admin token (WAYMARK_ADMIN_TOKEN)" },
                "shopper": { "type": "http", "scheme": "bearer", "description": "a shopper token from POST /v1/token" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string", "examples": ["invalid_token", "state_corrupt", "identity_mismatch", "invalid_bundle", "body_too_large", "unsupported_media_type", "rate_limited", "not_found", "method_not_allowed", "invalid_path"] },
                    "message": { "type": "string" }, "details": {} } } } },
                "Event": { "type": "object", "required": ["id"], "additionalProperties": false, "properties": {
                    "id": { "type": "string", "description": "idempotency key" },
                    "anonymous_id": { "type": "string" }, "customer_id": { "type": "string" },
                    "name": { "type": "string", "description": "GA4 name or Segment alias; absent = only traits/consent" },
                    "time": { "description": "RFC 3339 or epoch ms (years 0000 to 9999); default now" },
                    "properties": { "type": "object" }, "traits": { "type": "object" },
                    "consent": { "type": "object", "additionalProperties": { "type": "boolean" } } } },
                "SuppressionCheck": { "type": "object", "required": ["channel"], "additionalProperties": false, "properties": {
                    "anonymous_id": { "type": "string" }, "customer_id": { "type": "string" },
                    "channel": { "enum": ["onsite", "inapp", "email", "sms", "push", "ads"] },
                    "journey": { "type": "string" }, "record": { "type": "boolean" } } },
                "TokenRequest": { "type": "object", "required": ["anonymous_id"], "additionalProperties": false, "properties": {
                    "anonymous_id": { "type": "string" }, "customer_id": { "type": "string" }, "ttl_seconds": { "type": "integer" } } }
            }
        },
        "paths": {
            "/v1/sync": { "post": {
                "summary": "Merge a shopper state copy with the stored one; answers the merged state after a durable commit",
                "security": [{ "shopper": [] }],
                "description": "The body is the state's bytes: Content-Type application/octet-stream, none, or text/plain; any other type answers 415.",
                "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": {
                    "200": { "description": "merged state (version byte + postcard)", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "400": error_response("state_empty | state_corrupt | state_unsupported_version | state_too_large"),
                    "401": error_response("missing_token | invalid_token | token_expired"),
                    "403": error_response("identity_mismatch"),
                    "413": error_response("body_too_large"),
                    "415": error_response("unsupported_media_type"),
                    "429": rate_limited() } } },
            "/v1/sync/beacon": { "post": {
                "summary": "The same merge for navigator.sendBeacon on page hide, which cannot send headers: the body is the shopper token, a newline, then the state bytes",
                "description": "Content-Type text/plain (what sendBeacon sends for a text/plain Blob), application/octet-stream or none; any other type answers 415.",
                "requestBody": { "required": true, "content": { "text/plain": { "schema": { "type": "string", "format": "binary" } }, "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": {
                    "204": { "description": "merged and committed" },
                    "400": error_response("beacon_malformed | state_empty | state_corrupt | state_unsupported_version | state_too_large"),
                    "401": error_response("missing_token | invalid_token | token_expired"),
                    "403": error_response("identity_mismatch"),
                    "413": error_response("body_too_large"),
                    "415": error_response("unsupported_media_type"),
                    "429": rate_limited() } } },
            "/v1/events": { "post": {
                "summary": "Server-side events (single object or array), idempotent by id",
                "security": admin,
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
                    { "$ref": "#/components/schemas/Event" }, { "type": "array", "items": { "$ref": "#/components/schemas/Event" } } ] } } } },
                "responses": { "200": { "description": "{results: [{id, status: accepted|duplicate, decisions, warnings}]}" },
                    "401": error_response("missing_admin_token | invalid_admin_token"),
                    "400": error_response("malformed_json"), "415": error_response("unsupported_media_type"),
                    "422": error_response("invalid_event | invalid_id | missing_shopper | unknown_channel | invalid_time (epoch ms outside years 0000–9999) | bad_timestamp | invalid_event_name | batch_size") } } },
            "/v1/suppression/check": { "post": {
                "summary": "May this message go out on this channel to this shopper now?",
                "security": admin, "requestBody": json_body("SuppressionCheck"),
                "responses": { "200": { "description": "{decision: allow|suppress, allowed, reasons, known_shopper, recorded}" },
                    "422": error_response("unknown_channel | missing_shopper") } } },
            "/v1/bundle": {
                "get": { "summary": "The published journeys (compiled bundle)",
                    "parameters": [{ "name": "If-None-Match", "in": "header", "schema": { "type": "string" } }],
                    "responses": { "200": { "description": "bundle bytes with ETag" }, "304": { "description": "not modified" },
                        "404": error_response("no_bundle") } },
                "put": { "summary": "Validate and publish journeys (JSON source or compiled bundle); previous versions are kept",
                    "security": admin,
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } }, "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "responses": { "200": { "description": "{version, previous_version, etag, journeys, bytes}" },
                        "422": error_response("invalid_bundle (details: diagnostics with pointer, line, column) | corrupt_bundle") } } },
            "/v1/token": { "post": {
                "summary": "Issue a shopper token (HMAC-SHA256) for an anonymous id and, after login, a customer id",
                "security": admin, "requestBody": json_body("TokenRequest"),
                "responses": { "200": { "description": "{token, expires_at}" } } } },
            "/v1/analytics": { "get": {
                "summary": "Exit analytics per journey: entries, exits by outcome, sends, suppressions by reason, deliveries",
                "security": admin, "responses": { "200": { "description": "{journeys: {id: {...}}}" } } } },
            "/v1/shoppers/{id}": { "get": {
                "summary": "One shopper, by anonymous or customer id: pending timers, outbox rows (pending, sent, suppressed, failed) with reasons, intent",
                "security": admin, "responses": { "200": { "description": "{shopper, ids, timers, outbox, suppressed, intent, ...}" },
                    "400": error_response("invalid_path (the id is not UTF-8 once %-decoded)"),
                    "404": error_response("unknown_shopper"), "422": error_response("invalid_id") } } },
            "/v1/catalog": {
                "put": { "summary": "Import the product catalog from a Merchant Center feed: a full replace (items the feed leaves out are marked removed, kept with their history)",
                    "security": admin, "parameters": [catalog_format()], "requestBody": catalog_feed(),
                    "responses": catalog_import_responses() },
                "patch": { "summary": "Import changed items from a feed: add and update only, the other items stay",
                    "security": admin, "parameters": [catalog_format()], "requestBody": catalog_feed(),
                    "responses": catalog_import_responses() } },
            "/v1/catalog/items/{id}": { "get": {
                "summary": "One catalog item (removed ones too) with its effective price, whether it is available, and its newest price and availability history",
                "security": admin, "responses": { "200": { "description": "{id, title, link, price_hundredths, sale_price_hundredths, currency, availability, ..., effective_price_hundredths, available, first_seen, updated_at, removed_at, history: [{at, price_hundredths, currency, availability}]}" },
                    "400": error_response("invalid_path"), "404": error_response("unknown_item"), "422": error_response("invalid_id") } } },
            "/v1/orders": { "post": {
                "summary": "Backfill past orders for the purchase-history predictions: JSON lines or CSV (order_id, customer_id, time, value; refunded, currency, items), idempotent by order id; bad rows named, the rest loaded",
                "security": admin,
                "parameters": [ { "name": "format", "in": "query", "schema": { "type": "string", "enum": ["jsonl", "csv"] } } ],
                "requestBody": { "required": true, "content": { "application/x-ndjson": {}, "text/csv": {} } },
                "responses": { "200": { "description": "{format, rows, loaded, rejected, errors: [{line, field, code, message}], errors_truncated}" },
                    "400": error_response("missing_column"), "401": error_response("missing_admin_token"),
                    "415": error_response("unsupported_media_type"), "422": error_response("no_valid_rows") } } },
            "/v1/recommendations": { "get": {
                "summary": "Product cards to show: with an item (item=, public), matching a search term (q=, public), or for a shopper (shopper=, admin); never bought or out-of-stock items",
                "parameters": [
                    { "name": "item", "in": "query", "schema": { "type": "string" } },
                    { "name": "q", "in": "query", "schema": { "type": "string" } },
                    { "name": "shopper", "in": "query", "schema": { "type": "string" } },
                    { "name": "k", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 50, "default": 4 } } ],
                "responses": { "200": { "description": "{basis: item|search|shopper, items: [{id, title, price, currency, link, image_link, category, in_stock, reason, reason_code}]}" },
                    "400": error_response("missing_anchor"), "401": error_response("missing_admin_token") } } },
            "/v1/openapi.json": { "get": { "summary": "This document", "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/healthz": { "get": { "summary": "Liveness", "responses": { "200": { "description": "ok" } } } },
            "/readyz": { "get": { "summary": "Readiness (database reachable)", "responses": { "200": { "description": "ready" }, "503": error_response("not_ready") } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text exposition format" } } } }
        }
    })
}
