//! The catalog bench's calls to the server: catalog imports (`PUT` / `PATCH /v1/catalog`
//! with a JSON lines feed, admin), `GET /v1/recommendations`, each timed, and the
//! server's own timing of its recommender builds, read from its log (JSON lines, the
//! "recommender built" line of `src/server/recommend/service.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;

/// The server's admin API.
#[derive(Clone)]
pub struct Api {
    /// Keep-alive HTTP client.
    pub client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token.
    pub admin: String,
}

impl Api {
    /// `PUT` (replace) or `PATCH` (upsert) `/v1/catalog` with a JSON lines feed: the
    /// import report (with `triggered`, the fan-out's report) and the time to the answer.
    /// Panics unless answered 200.
    pub async fn import(&self, method: Method, feed: String) -> (serde_json::Value, Duration) {
        let started = Instant::now();
        let resp = self
            .client
            .request(method.clone(), format!("{}/v1/catalog", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.admin))
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(feed)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} /v1/catalog: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let took = started.elapsed();
        assert!(status.is_success(), "{method} /v1/catalog answered {status}: {text}");
        (serde_json::from_str(&text).unwrap(), took)
    }

    /// `GET /v1/recommendations?{query}`: the cards answered and the time to the answer.
    /// Panics unless answered 200.
    pub async fn recommend(&self, query: &str) -> (usize, Duration) {
        let started = Instant::now();
        let resp = self.client.get(format!("{}/v1/recommendations?{query}", self.base)).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let took = started.elapsed();
        assert!(status.is_success(), "GET /v1/recommendations?{query} answered {status}: {text}");
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        (answer["items"].as_array().map_or(0, Vec::len), took)
    }
}

/// One recommender build as the server logged it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Build {
    /// Interactions read from the interest index.
    pub interactions: u64,
    /// Catalog items read.
    pub items: u64,
    /// Reading both from storage, ms.
    pub load_ms: u64,
    /// Building neighbours, popularity and the search index, ms.
    pub build_ms: u64,
}

/// The builds logged in the server's log file so far (`--log-json`), oldest first.
pub fn builds(log: &Path) -> Vec<Build> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "recommender built")
        .map(|line| {
            let field = |name: &str| line["fields"][name].as_u64().unwrap_or(0);
            Build {
                interactions: field("interactions"),
                items: field("items"),
                load_ms: field("load_ms"),
                build_ms: field("build_ms"),
            }
        })
        .collect()
}
