//! The published journeys: the engine the server runs and the bundle bytes it serves at
//! `GET /v1/bundle`. Publishing validates first (JSON sources get file:line:col
//! diagnostics, binary bundles must decode), stores a new version (old versions stay),
//! and swaps the engine; other replicas pick the new version up when they poll.

use std::sync::{Arc, RwLock};

use super::error::ApiError;
use super::storage::{Db, StorageResult};
use crate::engine::Engine;
use crate::journey::diagnostics;
use crate::journey::tzdb::Tzdb;
use crate::journey::Bundle;
use crate::time::Timestamp;

/// A published bundle as loaded.
#[derive(Debug)]
pub struct Published {
    /// The engine over it.
    pub engine: Engine,
    /// Its bytes (what the browser loads).
    pub bytes: Vec<u8>,
    /// Entity tag (quoted).
    pub etag: String,
    /// Version in the database (0: none published yet).
    pub version: i64,
}

/// The current bundle, shared by handlers and background loops.
#[derive(Debug, Clone)]
pub struct Journeys(Arc<RwLock<Arc<Published>>>);

impl Default for Journeys {
    fn default() -> Self {
        Journeys::new()
    }
}

impl Journeys {
    /// No journeys yet (an empty bundle: nothing enters, nothing sends).
    pub fn new() -> Journeys {
        let empty =
            Published { engine: Engine::new(empty_bundle()), bytes: Vec::new(), etag: String::new(), version: 0 };
        Journeys(Arc::new(RwLock::new(Arc::new(empty))))
    }

    /// The current bundle.
    pub fn current(&self) -> Arc<Published> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, published: Published) {
        let published = Arc::new(published);
        match self.0.write() {
            Ok(mut guard) => *guard = published,
            Err(poisoned) => *poisoned.into_inner() = published,
        }
    }

    /// Loads the newest stored bundle when it is newer than the one running.
    pub async fn refresh(&self, db: &Db) -> StorageResult<bool> {
        let Some(latest) = db.latest_bundle_version().await? else { return Ok(false) };
        if latest <= self.current().version {
            return Ok(false);
        }
        let Some(stored) = db.latest_bundle().await? else { return Ok(false) };
        match Bundle::from_bytes(&stored.bytes) {
            Ok(bundle) => {
                self.replace(Published {
                    engine: Engine::new(bundle),
                    bytes: stored.bytes,
                    etag: stored.etag,
                    version: stored.version,
                });
                Ok(true)
            }
            Err(e) => {
                tracing::error!(version = stored.version, error = %e, "stored bundle does not decode; keeping the running one");
                Ok(false)
            }
        }
    }

    /// Validates and publishes a bundle; returns the stored version.
    pub async fn publish(&self, db: &Db, bundle: Bundle, now: Timestamp) -> Result<Arc<Published>, ApiError> {
        let bytes = bundle.to_bytes();
        let etag = etag_of(&bytes);
        let current = self.current();
        if current.etag == etag {
            return Ok(current);
        }
        let journeys = i64::try_from(bundle.journeys.len()).unwrap_or(i64::MAX);
        let version = db.publish_bundle(&bytes, &etag, journeys, now).await.map_err(ApiError::storage)?;
        self.replace(Published { engine: Engine::new(bundle), bytes, etag, version });
        Ok(self.current())
    }
}

/// `"wm-<xxh3 of the bytes, 16 hex digits>"`, quoted as HTTP wants.
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"wm-{:016x}\"", xxhash_rust::xxh3::xxh3_64(bytes))
}

fn empty_bundle() -> Bundle {
    Bundle {
        journeys: Vec::new(),
        policy: crate::journey::Policy::with_defaults(crate::intent::IntentModel::default()),
        groups: Default::default(),
    }
}

/// Compiles JSON journey source (a journey object or a bundle object) with diagnostics.
pub fn compile_json(text: &str) -> Result<Bundle, ApiError> {
    let result = diagnostics::compile_text("bundle.json", text, &Tzdb);
    result.map_err(|errors| {
        let details: Vec<serde_json::Value> = errors
            .iter()
            .map(|d| {
                serde_json::json!({
                    "code": d.code,
                    "pointer": d.pointer,
                    "line": d.position.map(|p| p.0),
                    "column": d.position.map(|p| p.1),
                    "message": d.message,
                })
            })
            .collect();
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_bundle",
            format!("the journeys do not validate: {} errors; nothing was published", errors.len()),
        )
        .with_details(serde_json::Value::Array(details))
    })
}
