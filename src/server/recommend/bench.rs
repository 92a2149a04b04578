//! The recommender bench on synthetic data (`synth`): time of a full refresh (both
//! neighbour lists, popularity, the search index), the process's peak memory (`VmHWM` of
//! `/proc/self/status`), and the in-memory latency of recommendation and search queries
//! (p50 / p99). `examples/reco_bench.rs` runs it at 10k items × 1M interactions; a test runs
//! it small. The only module here that reads a clock.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use super::synth::{self, Rng, SynthParams};
use super::{
    for_item, for_shopper, Anchor, BlendConfig, CosineConfig, Kind, Neighbours, Popularity, PopularityConfig,
    SearchIndex, Seen, Shopper, Sources, Stock,
};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchParams {
    /// The synthetic shop.
    pub synth: SynthParams,
    /// Queries timed per kind.
    pub queries: usize,
    /// Recommendations per query.
    pub k: usize,
    /// Cosine build settings.
    pub cosine: CosineConfig,
}

/// Latency percentiles of one kind of query.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// What the bench measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchReport {
    /// Catalog items.
    pub items: usize,
    /// Interactions.
    pub interactions: usize,
    /// Distinct shoppers in them.
    pub shoppers: usize,
    /// Time to build both neighbour lists.
    pub neighbours: Duration,
    /// Time to build popularity.
    pub popularity: Duration,
    /// Time to build the search index.
    pub search_index: Duration,
    /// Peak resident memory after the synthetic data was made (KiB), when readable.
    pub rss_data_kib: Option<u64>,
    /// Peak resident memory at the end (KiB), when readable.
    pub rss_peak_kib: Option<u64>,
    /// Items with at least one viewed-together neighbour.
    pub items_with_neighbours: usize,
    /// `for_shopper` latency.
    pub shopper_query: Latency,
    /// `for_item` latency.
    pub item_query: Latency,
    /// Search latency.
    pub search_query: Latency,
    /// Recommendations returned by all timed shopper queries together.
    pub shopper_results: usize,
}

impl BenchReport {
    /// Neighbours, popularity and search index together: one scheduled refresh.
    pub fn refresh(&self) -> Duration {
        self.neighbours + self.popularity + self.search_index
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = |v: Option<u64>| v.map_or("n/a".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
        writeln!(f, "data: {} items, {} interactions, {} shoppers", self.items, self.interactions, self.shoppers)?;
        writeln!(
            f,
            "refresh: {:.2} s (neighbours {:.2} s, popularity {:.2} s, search index {:.2} s)",
            self.refresh().as_secs_f64(),
            self.neighbours.as_secs_f64(),
            self.popularity.as_secs_f64(),
            self.search_index.as_secs_f64()
        )?;
        writeln!(f, "items with neighbours: {}", self.items_with_neighbours)?;
        writeln!(
            f,
            "peak memory (VmHWM): {} after the data, {} at the end",
            kib(self.rss_data_kib),
            kib(self.rss_peak_kib)
        )?;
        writeln!(f, "for_shopper: p50 {} p99 {}", ms(self.shopper_query.p50), ms(self.shopper_query.p99))?;
        writeln!(f, "for_item:    p50 {} p99 {}", ms(self.item_query.p50), ms(self.item_query.p99))?;
        write!(f, "search:      p50 {} p99 {}", ms(self.search_query.p50), ms(self.search_query.p99))
    }
}

/// The peak resident set of this process in KiB (`VmHWM`), on Linux.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One shopper's profile for a query, made from their synthetic interactions.
struct Profile {
    recent: Vec<Seen>,
    affinity: Vec<(String, f64)>,
    bought: Vec<String>,
}

/// Runs the bench.
pub fn run(params: &BenchParams) -> BenchReport {
    let p = &params.synth;
    let rows = synth::interactions(p);
    let catalog = synth::catalog(p);
    let rss_data_kib = peak_rss_kib();

    let started = Instant::now();
    let neighbours = Neighbours::build(&rows, &params.cosine);
    let neighbours_time = started.elapsed();

    let categories: HashMap<String, String> = catalog.iter().map(|i| (i.id.clone(), i.category.clone())).collect();
    let started = Instant::now();
    let popularity = Popularity::build(&rows, &categories, p.now, &PopularityConfig::default());
    let popularity_time = started.elapsed();

    let started = Instant::now();
    let index = SearchIndex::build(&catalog);
    let search_time = started.elapsed();

    // Profiles of the shoppers to query: every shopper's last 20 interactions.
    let mut by_shopper: BTreeMap<&str, Vec<&super::Interaction>> = BTreeMap::new();
    for row in &rows {
        by_shopper.entry(row.shopper.as_str()).or_default().push(row);
    }
    let shoppers = by_shopper.len();
    let mut rng = Rng::new(p.seed ^ 0xBEEF);
    let keys: Vec<&str> = by_shopper.keys().copied().collect();
    let profiles: Vec<Profile> = (0..params.queries)
        .filter_map(|_| keys.get(rng.below(keys.len())))
        .filter_map(|key| by_shopper.get(key))
        .map(|rows| profile(rows, &categories))
        .collect();

    let stock: HashMap<&str, bool> = catalog.iter().map(|i| (i.id.as_str(), i.in_stock)).collect();
    let in_stock = |item: &str| stock.get(item).copied().unwrap_or(false);
    let sources = Sources { neighbours: &neighbours, popularity: &popularity, in_stock: &in_stock };
    let config = BlendConfig::default();

    let mut shopper_results = 0;
    let shopper_query = time_each(&profiles, |profile| {
        let shopper = Shopper { recent: &profile.recent, affinity: &profile.affinity, bought: &profile.bought };
        shopper_results += for_shopper(&shopper, &sources, p.now, params.k, &config).len();
    });
    let anchors: Vec<usize> = (0..params.queries).map(|_| rng.below(p.items)).collect();
    let item_query = time_each(&anchors, |&n| {
        let id = synth::item_id(n);
        let category = synth::category_name(synth::category_of(n, p));
        let anchor = Anchor { item: &id, category: Some(&category) };
        std::hint::black_box(for_item(&anchor, &[], &sources, params.k, &config));
    });
    let words = ["running shoes", "leather bag", "waterproof boots", "winter jacket cat03", "slim shirt", "caps"];
    let queries: Vec<&str> = (0..params.queries).filter_map(|n| words.get(n % words.len()).copied()).collect();
    let search_query = time_each(&queries, |q| {
        std::hint::black_box(index.search(q, params.k, Stock::InStockOnly));
    });

    BenchReport {
        items: p.items,
        interactions: rows.len(),
        shoppers,
        neighbours: neighbours_time,
        popularity: popularity_time,
        search_index: search_time,
        rss_data_kib,
        rss_peak_kib: peak_rss_kib(),
        items_with_neighbours: neighbours
            .viewed_together
            .items()
            .filter(|i| neighbours.viewed_together.neighbours(i).next().is_some())
            .count(),
        shopper_query,
        item_query,
        search_query,
        shopper_results,
    }
}

fn profile(rows: &[&super::Interaction], categories: &HashMap<String, String>) -> Profile {
    let mut newest: Vec<&super::Interaction> = rows.to_vec();
    newest.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.item.cmp(&b.item)));
    let recent = newest.iter().take(20).map(|r| Seen { item: r.item.clone(), kind: r.kind, at: r.at }).collect();
    let mut affinity: BTreeMap<&str, f64> = BTreeMap::new();
    for r in rows {
        if let Some(c) = categories.get(&r.item) {
            *affinity.entry(c).or_default() += r.kind.weight();
        }
    }
    Profile {
        recent,
        affinity: affinity.into_iter().map(|(c, a)| (c.to_owned(), a)).collect(),
        bought: rows.iter().filter(|r| r.kind == Kind::Bought).map(|r| r.item.clone()).collect(),
    }
}

/// Runs `f` on each input and returns the p50 and p99 of the times.
fn time_each<T>(inputs: &[T], mut f: impl FnMut(&T)) -> Latency {
    let mut times: Vec<Duration> = inputs
        .iter()
        .map(|input| {
            let started = Instant::now();
            f(input);
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    Latency { p50: at(0.5), p99: at(0.99) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_runs_small() {
        let params = BenchParams {
            synth: SynthParams::small(),
            queries: 50,
            k: 8,
            cosine: CosineConfig { threads: 2, ..CosineConfig::default() },
        };
        let report = run(&params);
        assert_eq!(report.interactions, 6_000);
        assert_eq!(report.items, 300);
        assert!(report.items_with_neighbours > 200, "{report}");
        assert_eq!(report.shopper_results, 50 * 8, "every shopper query fills k: {report}");
        assert!(report.shopper_query.p99 >= report.shopper_query.p50);
        assert!(report.to_string().contains("refresh:"));
    }
}
