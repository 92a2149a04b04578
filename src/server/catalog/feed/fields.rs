//! One raw row → an [`Item`], or every error of the row: text trimmed (empty = absent),
//! required fields present, each field within its bound, prices read, sale price in the
//! price's currency and not above it, availability known, links absolute http(s) URLs,
//! and no NUL or control character anywhere (Postgres refuses NUL in text, and an id
//! with one could not be matched).

use super::RawRow;
use crate::server::catalog::errors::{RowError, RowErrorKind};
use crate::server::catalog::item::{Availability, Bound, Field, Item};
use crate::server::catalog::price::{parse_price, FeedPrice};

/// The row's id when it has a readable one, and the item or the row's errors.
pub(super) fn build(mut raw: RawRow) -> (Option<String>, Result<Item, Vec<RowError>>) {
    let mut errors = Vec::new();
    let mut values: [Option<String>; Field::ALL.len()] = Default::default();
    for field in Field::ALL {
        let value = match raw.take(field) {
            None => None,
            Some(Err(kind)) => {
                errors.push((field, kind));
                continue;
            }
            Some(Ok(text)) => {
                let text = text.trim();
                (!text.is_empty()).then(|| text.to_owned())
            }
        };
        match value {
            None if Field::REQUIRED.contains(&field) => errors.push((field, RowErrorKind::Missing)),
            None => {}
            Some(text) => match check(field, &text) {
                Ok(()) => {
                    if let Some(slot) = values.get_mut(field.index()) {
                        *slot = Some(text);
                    }
                }
                Err(kind) => errors.push((field, kind)),
            },
        }
    }
    let mut take = |field: Field| values.get_mut(field.index()).and_then(Option::take);
    let id = take(Field::Id);
    let title = take(Field::Title);
    let link = take(Field::Link);
    let price = take(Field::Price).map(|p| (Field::Price, parse_price(&p)));
    let sale = take(Field::SalePrice).map(|p| (Field::SalePrice, parse_price(&p)));
    let availability = take(Field::Availability).map(|a| (Availability::parse(&a), a));
    let mut read_price = |p: Option<(Field, Result<FeedPrice, String>)>| match p {
        Some((_, Ok(price))) => Some(price),
        Some((field, Err(message))) => {
            errors.push((field, RowErrorKind::InvalidPrice(message)));
            None
        }
        None => None,
    };
    let price = read_price(price);
    let sale = read_price(sale);
    let availability = match availability {
        Some((Some(a), _)) => Some(a),
        Some((None, text)) => {
            errors.push((Field::Availability, RowErrorKind::UnknownAvailability(text)));
            None
        }
        None => None,
    };
    let mut currency = price.as_ref().and_then(|p| p.currency.clone());
    if let (Some(price), Some(sale)) = (&price, &sale) {
        match (&price.currency, &sale.currency) {
            (Some(a), Some(b)) if a != b => {
                errors.push((Field::SalePrice, RowErrorKind::CurrencyMismatch { price: a.clone(), sale: b.clone() }))
            }
            (None, Some(b)) => currency = Some(b.clone()),
            _ => {}
        }
        if sale.hundredths > price.hundredths {
            errors.push((Field::SalePrice, RowErrorKind::SaleAbovePrice));
        }
    }
    let at = raw.at;
    if !errors.is_empty() {
        let errors = errors.into_iter().map(|(field, kind)| RowError { at, id: id.clone(), field: Some(field), kind });
        return (id.clone(), Err(errors.collect()));
    }
    match (id, title, link, price, availability) {
        (Some(id), Some(title), Some(link), Some(price), Some(availability)) => {
            let item = Item {
                id: id.clone(),
                title,
                description: take(Field::Description),
                link,
                image_link: take(Field::ImageLink),
                price_hundredths: price.hundredths,
                sale_price_hundredths: sale.map(|s| s.hundredths),
                currency,
                availability,
                product_type: take(Field::ProductType),
                google_product_category: take(Field::GoogleProductCategory),
                brand: take(Field::Brand),
                item_group_id: take(Field::ItemGroupId),
            };
            (Some(id), Ok(item))
        }
        // INVARIANT: a required field that is absent was reported as missing above.
        (id, ..) => {
            let kind = RowErrorKind::MalformedRow("a required field is missing".into());
            (id.clone(), Err(vec![RowError { at, id, field: None, kind }]))
        }
    }
}

/// The checks every field gets: its bound, no NUL or control character (tabs and line
/// breaks are text in a description or title, not in an id or a link), URLs for links.
fn check(field: Field, text: &str) -> Result<(), RowErrorKind> {
    let found = match field.bound() {
        Bound::Bytes(limit) => (text.len() > limit).then_some(text.len()),
        Bound::Chars(limit) => {
            let n = text.chars().count();
            (n > limit).then_some(n)
        }
    };
    if let Some(found) = found {
        return Err(RowErrorKind::TooLong { bound: field.bound(), found });
    }
    let free_text = matches!(field, Field::Title | Field::Description);
    let bad = text.chars().find(|&c| c.is_control() && !(free_text && matches!(c, '\t' | '\n' | '\r')));
    if let Some(c) = bad {
        return Err(RowErrorKind::InvalidText(format!("holds the control character U+{:04X}", u32::from(c))));
    }
    if matches!(field, Field::Link | Field::ImageLink) && !is_url(text) {
        return Err(RowErrorKind::InvalidUrl(text.to_owned()));
    }
    Ok(())
}

/// An absolute http(s) URL with a host and no whitespace.
fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        text.get(8..)
    } else if lower.starts_with("http://") {
        text.get(7..)
    } else {
        None
    };
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::catalog::errors::RowLocation;

    fn row(fields: &[(Field, &str)]) -> RawRow {
        let mut raw = RawRow::new(RowLocation::line(2));
        for (f, v) in fields {
            raw.set(*f, Ok((*v).to_owned()));
        }
        raw
    }

    const GOOD: [(Field, &str); 5] = [
        (Field::Id, " sho-1 "),
        (Field::Title, "Trail Runner"),
        (Field::Link, "https://shop.example/p/sho-1"),
        (Field::Price, "89.00 EUR"),
        (Field::Availability, "in stock"),
    ];

    #[test]
    fn a_good_row_is_an_item() {
        let mut fields = GOOD.to_vec();
        fields.push((Field::SalePrice, "79.00"));
        fields.push((Field::Brand, ""));
        let (id, item) = build(row(&fields));
        let item = item.unwrap();
        assert_eq!(id.as_deref(), Some("sho-1"));
        assert_eq!(item.id, "sho-1");
        assert_eq!((item.price_hundredths, item.sale_price_hundredths), (8900, Some(7900)));
        assert_eq!(item.effective_price_hundredths(), 7900);
        assert_eq!(item.currency.as_deref(), Some("EUR"));
        assert_eq!(item.brand, None, "empty is absent");
    }

    #[test]
    fn every_error_of_a_row_is_reported() {
        let (id, result) = build(row(&[
            (Field::Id, &"x".repeat(65)),
            (Field::Link, "/p/1"),
            (Field::Price, "12.00 USD"),
            (Field::SalePrice, "13.00 EUR"),
            (Field::Availability, "maybe"),
        ]));
        assert_eq!(id, None, "an over-long id is not readable");
        let codes: Vec<(&str, &str)> = result.unwrap_err().iter().map(|e| (e.field_name(), e.code())).collect();
        assert_eq!(
            codes,
            [
                ("id", "field_too_long"),
                ("title", "missing_field"),
                ("link", "invalid_url"),
                ("availability", "unknown_availability"),
                ("sale_price", "currency_mismatch"),
                ("sale_price", "sale_price_above_price"),
            ]
        );
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_in_text_are_kept() {
        let mut fields = GOOD.to_vec();
        fields.push((Field::Description, "two\nlines"));
        assert!(build(row(&fields)).1.is_ok());
        let mut fields = GOOD.to_vec();
        fields[0] = (Field::Id, "a\0b");
        let errors = build(row(&fields)).1.unwrap_err();
        assert_eq!(errors[0].code(), "invalid_text");
    }

    #[test]
    fn urls_are_absolute_http() {
        assert!(is_url("https://shop.example/p?id=1"));
        assert!(is_url("HTTP://shop.example"));
        assert!(!is_url("https://"));
        assert!(!is_url("ftp://shop.example"));
        assert!(!is_url("https://shop.example/a b"));
        assert!(!is_url("https:///path"));
    }
}
