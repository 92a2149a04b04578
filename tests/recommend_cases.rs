//! Recommendation and search behaviour, data-driven: every `tests/cases/recommend/*.json`
//! holds a small shop (catalog, interactions, `now`) and cases run against models built
//! from it with the default settings:
//!
//! - `{"shopper": {"recent": [[item, kind, time]], "affinity": {category: w}, "bought": [..]}, "k", "expect"}`
//!   runs `for_shopper`; `{"item": id, "bought": [..], "k", "expect"}` runs `for_item`;
//!   `expect` is `[[item, reason sentence], ...]` in rank order;
//! - `{"popular": category | null, "exclude": [..], "k", "expect": [item, ...]}`, and the
//!   same with `"trending"`;
//! - `{"search": query, "stock": "in_stock" | "any", "k", "expect": [item, ...]}`.
//!
//! An item may be recommended only if it is in the catalog and in stock.
#![expect(clippy::panic, reason = "a test: malformed case files should fail loudly")]

#[path = "support/cases.rs"]
mod cases;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use waymark::server::recommend::{
    for_item, for_shopper, Anchor, BlendConfig, CatalogItem, CosineConfig, Interaction, Kind, Neighbours, Popularity,
    PopularityConfig, SearchIndex, Seen, Shopper, Sources, Stock,
};
use waymark::time::Timestamp;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    about: String,
    now: String,
    catalog: Vec<Item>,
    #[serde(default)]
    interactions: Vec<(String, String, String, String)>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    category: String,
    #[serde(default)]
    brand: String,
    #[serde(default = "yes")]
    in_stock: bool,
}

fn yes() -> bool {
    true
}

/// A field that is present, `null` (the whole store) or a category; absent is `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    shopper: Option<ShopperCase>,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    bought: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    popular: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    trending: Option<Option<String>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    search: Option<String>,
    #[serde(default)]
    stock: Option<String>,
    k: usize,
    expect: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopperCase {
    #[serde(default)]
    recent: Vec<(String, String, String)>,
    #[serde(default)]
    affinity: BTreeMap<String, f64>,
    #[serde(default)]
    bought: Vec<String>,
}

fn time(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn kind(code: &str) -> Kind {
    Kind::from_code(code).unwrap_or_else(|| panic!("unknown kind {code}"))
}

#[test]
fn recommend_cases() {
    let mut ran = 0;
    for path in cases::case_files("recommend") {
        let file: CaseFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = cases::case_name(&path);
        assert!(!file.about.is_empty(), "{name}: say what the file is about");
        let now = time(&file.now);
        let catalog: Vec<CatalogItem> = file
            .catalog
            .iter()
            .map(|i| CatalogItem {
                id: i.id.clone(),
                title: i.title.clone(),
                description: i.description.clone(),
                category: i.category.clone(),
                brand: i.brand.clone(),
                in_stock: i.in_stock,
            })
            .collect();
        let interactions: Vec<Interaction> = file
            .interactions
            .iter()
            .map(|(shopper, item, k, at)| Interaction {
                shopper: shopper.clone(),
                item: item.clone(),
                kind: kind(k),
                at: time(at),
            })
            .collect();
        let categories: HashMap<String, String> = catalog.iter().map(|i| (i.id.clone(), i.category.clone())).collect();
        let stock: HashMap<String, bool> = catalog.iter().map(|i| (i.id.clone(), i.in_stock)).collect();
        let neighbours = Neighbours::build(&interactions, &CosineConfig::default());
        let popularity = Popularity::build(&interactions, &categories, now, &PopularityConfig::default());
        let index = SearchIndex::build(&catalog);
        let in_stock = |item: &str| stock.get(item).copied().unwrap_or(false);
        let sources = Sources { neighbours: &neighbours, popularity: &popularity, in_stock: &in_stock };
        let config = BlendConfig::default();

        for case in &file.cases {
            let label = format!("{name}: {}", case.name);
            let got: serde_json::Value = if let Some(s) = &case.shopper {
                let recent: Vec<Seen> = s
                    .recent
                    .iter()
                    .map(|(item, k, at)| Seen { item: item.clone(), kind: kind(k), at: time(at) })
                    .collect();
                let affinity: Vec<(String, f64)> = s.affinity.iter().map(|(c, a)| (c.clone(), *a)).collect();
                let shopper = Shopper { recent: &recent, affinity: &affinity, bought: &s.bought };
                explained(for_shopper(&shopper, &sources, now, case.k, &config))
            } else if let Some(item) = &case.item {
                let anchor = Anchor { item, category: categories.get(item).map(String::as_str) };
                explained(for_item(&anchor, &case.bought, &sources, case.k, &config))
            } else if let Some(category) = &case.popular {
                let list = popularity.popular(category.as_deref(), case.k, |i| case.exclude.iter().any(|e| e == i));
                list.into_iter().map(|s| s.item).collect::<Vec<_>>().into()
            } else if let Some(category) = &case.trending {
                let list = popularity.trending(category.as_deref(), case.k, |i| case.exclude.iter().any(|e| e == i));
                list.into_iter().map(|s| s.item).collect::<Vec<_>>().into()
            } else if let Some(query) = &case.search {
                let stock = match case.stock.as_deref() {
                    Some("any") => Stock::Any,
                    Some("in_stock") | None => Stock::InStockOnly,
                    Some(other) => panic!("{label}: stock is in_stock or any, not {other}"),
                };
                index.search(query, case.k, stock).into_iter().map(|h| h.id).collect::<Vec<_>>().into()
            } else {
                panic!("{label}: a case needs shopper, item, popular, trending or search");
            };
            assert_eq!(got, case.expect, "{label}\n  got:    {got}\n  expect: {}", case.expect);
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} recommend cases ran");
}

fn explained(list: Vec<waymark::server::recommend::Recommendation>) -> serde_json::Value {
    list.into_iter().map(|r| serde_json::json!([r.item, r.reason.to_string()])).collect::<Vec<_>>().into()
}
