//! The server's own view of a phase: its `/metrics` histograms read before and after, so
//! the difference holds that phase's requests only. `waymark_http_request_duration_seconds`
//! times a sync from routing to answer inside the server; `waymark_commit_duration_seconds`
//! from a job's arrival at the group-commit writer to its commit. Next to the client's
//! p99 they tell server time from time spent in the client or between the two.

/// One histogram: cumulative counts per upper bound (seconds), ascending, and the total.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    buckets: Vec<(f64, f64)>,
    count: f64,
}

impl Histogram {
    /// The histogram `name` with exactly `labels` (e.g. `route="/v1/sync",status="2xx"`)
    /// from a Prometheus text page; empty when absent.
    pub fn parse(page: &str, name: &str, labels: &str) -> Histogram {
        let bucket = format!("{name}_bucket{{{labels},le=\"");
        let count = format!("{name}_count{{{labels}}} ");
        let mut h = Histogram::default();
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix(&bucket) {
                let Some((le, n)) = rest.split_once("\"} ") else { continue };
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
                h.buckets.push((le, n.trim().parse().unwrap_or(0.0)));
            } else if let Some(n) = line.strip_prefix(&count) {
                h.count = n.trim().parse().unwrap_or(0.0);
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        h
    }

    /// What was observed after `earlier` was read.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| earlier.buckets.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
        Histogram {
            buckets: self.buckets.iter().map(|&(le, n)| (le, n - before(le))).collect(),
            count: self.count - earlier.count,
        }
    }

    /// Observations.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Upper bound (milliseconds) of the bucket holding the `p` quantile; 0 when empty.
    pub fn quantile_bound_ms(&self, p: f64) -> f64 {
        if self.count <= 0.0 {
            return 0.0;
        }
        let le = self.buckets.iter().find(|b| b.1 >= p * self.count).map_or(f64::INFINITY, |b| b.0);
        le * 1000.0
    }

    /// Share of the observations above `ms` milliseconds (`ms` should be a bucket bound).
    pub fn share_over_ms(&self, ms: f64) -> f64 {
        if self.count <= 0.0 {
            return 0.0;
        }
        let within = self.buckets.iter().find(|b| (b.0 * 1000.0 - ms).abs() < 1e-9).map_or(0.0, |b| b.1);
        1.0 - within / self.count
    }
}

/// The two histograms of interest at one moment.
#[derive(Debug, Clone, Default)]
pub struct ServerTimes {
    /// `/v1/sync` answered with 2xx, inside the server.
    pub sync: Histogram,
    /// Arrival at the writer → commit.
    pub commit: Histogram,
}

impl ServerTimes {
    /// Reads `/metrics` at `base`; empty histograms when it cannot.
    pub async fn read(client: &reqwest::Client, base: &str) -> ServerTimes {
        let page = match client.get(format!("{base}/metrics")).send().await {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        ServerTimes {
            sync: Histogram::parse(&page, "waymark_http_request_duration_seconds", "route=\"/v1/sync\",status=\"2xx\""),
            commit: Histogram::parse(&page, "waymark_commit_duration_seconds", "kind=\"writer\""),
        }
    }

    /// What happened after `earlier`.
    pub fn since(&self, earlier: &ServerTimes) -> ServerTimes {
        ServerTimes { sync: self.sync.since(&earlier.sync), commit: self.commit.since(&earlier.commit) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "\
waymark_http_request_duration_seconds_bucket{route=\"/v1/sync\",status=\"2xx\",le=\"0.005\"} 90
waymark_http_request_duration_seconds_bucket{route=\"/v1/sync\",status=\"2xx\",le=\"0.01\"} 99
waymark_http_request_duration_seconds_bucket{route=\"/v1/sync\",status=\"2xx\",le=\"+Inf\"} 100
waymark_http_request_duration_seconds_count{route=\"/v1/sync\",status=\"2xx\"} 100
";

    #[test]
    fn quantile_and_share_from_buckets() {
        let h = Histogram::parse(PAGE, "waymark_http_request_duration_seconds", "route=\"/v1/sync\",status=\"2xx\"");
        assert_eq!(h.quantile_bound_ms(0.5), 5.0);
        assert_eq!(h.quantile_bound_ms(0.99), 10.0);
        assert!((h.share_over_ms(10.0) - 0.01).abs() < 1e-9);
        let none = h.since(&h);
        assert_eq!((none.count, none.quantile_bound_ms(0.99)), (0.0, 0.0));
    }
}
