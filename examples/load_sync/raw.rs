//! The ceiling: a raw single-row upsert loop (one autocommit statement each) on the same
//! database, straight from the load tool's process once the server has stopped — what the
//! database alone does per second without group commit.

use std::time::Instant;

use waymark::server::sqlite::Synchronous;
use waymark::server::storage::{self, Db};
use waymark::Timestamp;

/// Upserts per second over `seconds` (1000 keys of their own, `raw:N`, rewritten in turn).
pub async fn upserts_per_second(db_url: &str, synchronous: Synchronous, body: &[u8], seconds: f64) -> f64 {
    let db = Db::connect(db_url, 2, synchronous).await.unwrap();
    // One connection, no BEGIN / COMMIT: each upsert is its own autocommit statement, as
    // a plain `/v1/sync` batch is.
    let mut conn = db.writer().await.unwrap();
    let mut count = 0u64;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let key = format!("raw:{}", count % 1000);
        storage::raw_upsert(&mut conn, &key, body, Timestamp(0)).await.unwrap();
        count += 1;
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    drop(conn);
    db.close().await;
    rate
}
