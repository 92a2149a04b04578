//! Feed prices: `"15.00 USD"`, `"15 USD"` or `"15.00"` → hundredths of the currency unit
//! and the currency code. The amount becomes hundredths as the engine turns the price a
//! shopper saw (a GA4 number) into hundredths: `round(price × 100)` on the number, so the
//! same price read from a feed and from an event is the same integer.

/// The largest price taken: a billion currency units, in hundredths.
pub const MAX_PRICE_HUNDREDTHS: i64 = 100_000_000_000;

/// A price read from a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPrice {
    /// The amount in hundredths of the currency unit.
    pub hundredths: i64,
    /// The ISO 4217 code, upper-cased, when the feed gives one.
    pub currency: Option<String>,
}

/// Reads a price: an amount (digits, optionally a `.` and more digits; no sign, no
/// thousands separators), then optionally whitespace and a three-letter currency code.
/// The error is the sentence for the row error.
pub fn parse_price(text: &str) -> Result<FeedPrice, String> {
    let text = text.trim();
    let mut parts = text.split_whitespace();
    let amount = parts.next().unwrap_or_default();
    let currency = parts.next();
    if parts.next().is_some() {
        return Err(format!("{text:?}: write the amount and a currency code, as in \"15.00 USD\""));
    }
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(format!("{text:?}: the amount is not a number such as 15.00 (no sign, no thousands separators)"));
    }
    let value: f64 = amount.parse().map_err(|_| format!("{text:?}: the amount is not a number"))?;
    let hundredths = (value * 100.0).round();
    if !(0.0..=MAX_PRICE_HUNDREDTHS as f64).contains(&hundredths) {
        return Err(format!("{text:?}: over the largest price, {}", MAX_PRICE_HUNDREDTHS / 100));
    }
    let currency = match currency {
        None => None,
        Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(code.to_ascii_uppercase())
        }
        Some(code) => return Err(format!("{text:?}: {code:?} is not a three-letter currency code such as USD")),
    };
    Ok(FeedPrice { hundredths: hundredths as i64, currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (i64, Option<String>) {
        let p = parse_price(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (p.hundredths, p.currency)
    }

    fn code(c: &str) -> Option<String> {
        Some(c.to_owned())
    }

    #[test]
    fn amounts_become_hundredths() {
        assert_eq!(ok("15.00 USD"), (1500, code("USD")));
        assert_eq!(ok("15 usd"), (1500, code("USD")));
        assert_eq!(ok(" 15.5 "), (1550, None));
        assert_eq!(ok("0.99 EUR"), (99, code("EUR")));
        assert_eq!(ok("1299.999 EUR"), (130000, code("EUR")));
        // The engine's rule, on the number: 1.005 × 100 is 100.4999… in binary.
        assert_eq!(ok("1.005"), (100, None));
        assert_eq!(ok("0"), (0, None));
    }

    #[test]
    fn bad_prices_say_why() {
        for text in ["", "USD", "-5 USD", "1,299.00 USD", "15.00 US", "15.00 USD extra", "1e3", ".5", "15..0", "NaN"] {
            assert!(parse_price(text).is_err(), "{text:?} was accepted");
        }
        assert!(parse_price("1000000001 USD").is_err());
        assert!(parse_price("1000000000 USD").is_ok());
    }
}
