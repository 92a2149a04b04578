//! Catalog search: Okapi BM25 over each item's title, brand, category and description (one
//! text), with the `bm25` crate's inverted index and scoring, and our tokenizer: lower case,
//! words of letters, digits and inner apostrophes, each reduced by the Snowball English
//! stemmer, so "running shoes" finds "Running Shoe". No stop words: BM25's idf already makes
//! words every item carries weigh next to nothing.
//!
//! Score of an item for a query: Σ over query words `t` (repeats count again) of
//! `idf(t) · tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avglen))`, with
//! `idf(t) = ln(1 + (N − n_t + 0.5) / (n_t + 0.5))`, `tf` the word's count in the item,
//! `len` the item's word count, `avglen` the catalog's mean, `N` the item count, `n_t` the
//! items holding `t`; [`K1`] and [`B`]. The index is built from the catalog rows in memory,
//! so SQLite and Postgres deployments rank alike; rebuild it when the catalog changes.

use std::borrow::Cow;

use bm25::{Embedder, EmbedderBuilder, Scorer, Tokenizer};
use rust_stemmers::{Algorithm, Stemmer};

use super::rank;

/// BM25's term-frequency saturation.
pub const K1: f32 = 1.2;
/// BM25's length normalisation.
pub const B: f32 = 0.75;

/// A catalog item as search (and the recommenders' stock filter) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogItem {
    /// The item id.
    pub id: String,
    /// The title.
    pub title: String,
    /// The description (plain text).
    pub description: String,
    /// The category (Merchant Center `product_type` or `google_product_category`).
    pub category: String,
    /// The brand, empty when unknown.
    pub brand: String,
    /// Whether it can be bought now.
    pub in_stock: bool,
}

/// Which items a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stock {
    /// Only items in stock (what a shopper is shown).
    InStockOnly,
    /// Every matching item.
    Any,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The item id.
    pub id: String,
    /// Its BM25 score, higher first.
    pub score: f32,
}

/// The tokenizer of documents and queries (see the module doc).
pub struct Words {
    stemmer: Stemmer,
}

impl Default for Words {
    fn default() -> Self {
        Words { stemmer: Stemmer::create(Algorithm::English) }
    }
}

impl Words {
    /// The stemmed words of `text`, in order.
    pub fn words(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        lower
            .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
            .map(|w| w.trim_matches(|c| c == '\'' || c == '’'))
            .filter(|w| !w.is_empty())
            .map(|w| {
                let w: Cow<'_, str> =
                    if w.contains('’') { Cow::Owned(w.replace('’', "'")) } else { Cow::Borrowed(w) };
                self.stemmer.stem(&w).into_owned()
            })
            .collect()
    }
}

impl Tokenizer for Words {
    fn tokenize(&self, input_text: &str) -> Vec<String> {
        self.words(input_text)
    }
}

/// An in-memory BM25 index of a catalog.
pub struct SearchIndex {
    embedder: Embedder<u64, Words>,
    scorer: Scorer<u32, u64>,
    /// Item ids and stock by document number.
    items: Vec<(String, bool)>,
}

impl SearchIndex {
    /// Indexes the catalog (a later row with the same id replaces an earlier one).
    pub fn build(catalog: &[CatalogItem]) -> SearchIndex {
        let mut unique: Vec<&CatalogItem> = Vec::with_capacity(catalog.len());
        let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for item in catalog {
            match at.get(item.id.as_str()).and_then(|&n| unique.get_mut(n)) {
                Some(slot) => *slot = item,
                None => {
                    at.insert(&item.id, unique.len());
                    unique.push(item);
                }
            }
        }
        let texts: Vec<String> = unique.iter().map(|item| document_text(item)).collect();
        let corpus: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embedder = EmbedderBuilder::<u64, Words>::with_tokenizer_and_fit_to_corpus(Words::default(), &corpus)
            .k1(K1)
            .b(B)
            .build();
        let mut scorer = Scorer::<u32, u64>::new();
        for (n, text) in texts.iter().enumerate() {
            scorer.upsert(&(n as u32), embedder.embed(text));
        }
        let items = unique.iter().map(|item| (item.id.clone(), item.in_stock)).collect();
        SearchIndex { embedder, scorer, items }
    }

    /// The `k` best matches of `query`, best first (ties: smaller id); only items with a
    /// score above zero, i.e. holding at least one query word.
    pub fn search(&self, query: &str, k: usize, stock: Stock) -> Vec<SearchHit> {
        let query = self.embedder.embed(query);
        let mut hits: Vec<SearchHit> = self
            .scorer
            .matches(&query)
            .into_iter()
            .filter_map(|m| {
                let (id, in_stock) = self.items.get(m.id as usize)?;
                let wanted = *in_stock || stock == Stock::Any;
                (wanted && m.score > 0.0).then(|| SearchHit { id: id.clone(), score: m.score })
            })
            .collect();
        hits.sort_by(|a, b| rank(f64::from(a.score), &a.id, f64::from(b.score), &b.id));
        hits.truncate(k);
        hits
    }

    /// The mean word count of the indexed items (BM25's `avglen`).
    pub fn average_length(&self) -> f32 {
        self.embedder.avgdl()
    }

    /// How many items are indexed.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the catalog was empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The text an item is indexed under: title, brand, category, description.
pub fn document_text(item: &CatalogItem) -> String {
    [item.title.as_str(), item.brand.as_str(), item.category.as_str(), item.description.as_str()].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, description: &str, category: &str, in_stock: bool) -> CatalogItem {
        CatalogItem {
            id: id.into(),
            title: title.into(),
            description: description.into(),
            category: category.into(),
            brand: String::new(),
            in_stock,
        }
    }

    #[test]
    fn words_are_lower_cased_and_stemmed() {
        let w = Words::default();
        assert_eq!(w.words("Running Shoes"), ["run", "shoe"]);
        assert_eq!(w.words("running shoe"), ["run", "shoe"]);
        assert_eq!(w.words("Men’s trail-runner, 42"), ["men", "trail", "runner", "42"]);
        assert!(w.words(" ,;- ").is_empty());
    }

    /// BM25 by hand for a three-item catalog, with the module's K1 and B.
    #[test]
    fn bm25_scores_match_the_formula() {
        // Words after stemming: a = [run, shoe, light] (3), b = [trail, shoe, shoe, for, run]
        // (5), c = [leather, bag] (2). avglen = 10 / 3, N = 3.
        let catalog = [
            item("a", "Running Shoe", "light", "", true),
            item("b", "Trail shoes", "shoes for running", "", true),
            item("c", "Leather bag", "", "", true),
        ];
        let index = SearchIndex::build(&catalog);
        let avglen = 10.0 / 3.0;
        assert!((f64::from(index.average_length()) - avglen).abs() < 1e-6);
        let (k1, b) = (f64::from(K1), f64::from(B));
        let idf = |n: f64| (1.0 + (3.0 - n + 0.5) / (n + 0.5)).ln();
        let tf = |tf: f64, len: f64| tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * len / avglen));
        // "shoe": in a (tf 1, len 3) and b (tf 2, len 5); n = 2.
        let hits = index.search("shoe", 10, Stock::Any);
        let expected_a = idf(2.0) * tf(1.0, 3.0);
        let expected_b = idf(2.0) * tf(2.0, 5.0);
        assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["b", "a"], "{hits:?}");
        assert!((f64::from(hits[0].score) - expected_b).abs() < 1e-5, "{hits:?} vs {expected_b}");
        assert!((f64::from(hits[1].score) - expected_a).abs() < 1e-5, "{hits:?} vs {expected_a}");
        // "running shoes" → run + shoe: both words in a and b.
        let hits = index.search("running shoes", 10, Stock::Any);
        let a = idf(2.0) * tf(1.0, 3.0) * 2.0;
        let b_score = idf(2.0) * tf(2.0, 5.0) + idf(2.0) * tf(1.0, 5.0);
        assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["a", "b"], "a {a} b {b_score}");
        assert!((f64::from(hits[0].score) - a).abs() < 1e-5);
        assert!((f64::from(hits[1].score) - b_score).abs() < 1e-5);
        // "bag": rare (n = 1) so a higher idf.
        let hits = index.search("bags", 10, Stock::Any);
        assert_eq!(hits.len(), 1);
        assert!((f64::from(hits[0].score) - idf(1.0) * tf(1.0, 2.0)).abs() < 1e-5);
    }

    #[test]
    fn stock_filter_ties_and_empty_queries() {
        let catalog = [
            item("z", "Red scarf", "", "", true),
            item("y", "Red scarf", "", "", true),
            item("x", "Red scarf", "", "", false),
        ];
        let index = SearchIndex::build(&catalog);
        let ids = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(index.search("scarf", 10, Stock::InStockOnly)), ["y", "z"]);
        assert_eq!(ids(index.search("Scarf", 10, Stock::Any)), ["x", "y", "z"]);
        assert_eq!(ids(index.search("red scarf", 1, Stock::Any)), ["x"]);
        assert!(index.search("", 10, Stock::Any).is_empty());
        assert!(index.search("umbrella", 10, Stock::Any).is_empty());
        assert!(SearchIndex::build(&[]).search("scarf", 3, Stock::Any).is_empty());
    }

    #[test]
    fn a_later_row_replaces_an_earlier_one() {
        let catalog = [item("a", "Blue hat", "", "", true), item("a", "Green hat", "", "", true)];
        let index = SearchIndex::build(&catalog);
        assert_eq!(index.len(), 1);
        assert!(index.search("blue", 5, Stock::Any).is_empty());
        assert_eq!(index.search("green", 5, Stock::Any).len(), 1);
    }
}
