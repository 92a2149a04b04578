//! A catalog item as the feed describes it: the Merchant Center fields waymark keeps,
//! their names in the three feed formats, and the bound on each. Prices are whole
//! hundredths of the currency unit (`15.00 USD` → 1500), the unit the engine uses for the
//! price a shopper saw, so the two compare without rounding.

use serde::Serialize;

/// Longest item id, in bytes: the engine keeps item ids of at most 64 bytes.
pub const MAX_ID_BYTES: usize = 64;

/// One item of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `id`: the shop's item id (`item_id` in GA4 events).
    pub id: String,
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: Option<String>,
    /// `link`: the product page.
    pub link: String,
    /// `image_link`.
    pub image_link: Option<String>,
    /// `price`, in hundredths of the currency unit.
    pub price_hundredths: i64,
    /// `sale_price`, in hundredths of the currency unit.
    pub sale_price_hundredths: Option<i64>,
    /// The currency code of the prices (`USD`), when the feed gives one.
    pub currency: Option<String>,
    /// `availability`.
    pub availability: Availability,
    /// `product_type`: the shop's own category (`item_category` in GA4 events).
    pub product_type: Option<String>,
    /// `google_product_category`: Google's taxonomy, as a path or a numeric id.
    pub google_product_category: Option<String>,
    /// `brand`.
    pub brand: Option<String>,
    /// `item_group_id`: the variants of one product share it.
    pub item_group_id: Option<String>,
}

impl Item {
    /// What the item costs now: the sale price when there is one, else the price.
    pub fn effective_price_hundredths(&self) -> i64 {
        self.sale_price_hundredths.unwrap_or(self.price_hundredths)
    }
}

/// Whether an item can be bought, as Merchant Center spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// `in_stock`.
    InStock,
    /// `out_of_stock`.
    OutOfStock,
    /// `preorder`: can be ordered, ships later.
    Preorder,
    /// `backorder`: can be ordered, restocked later.
    Backorder,
}

impl Availability {
    /// Every value.
    pub const ALL: [Availability; 4] =
        [Availability::InStock, Availability::OutOfStock, Availability::Preorder, Availability::Backorder];

    /// The feed's spelling (`in_stock`).
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::InStock => "in_stock",
            Availability::OutOfStock => "out_of_stock",
            Availability::Preorder => "preorder",
            Availability::Backorder => "backorder",
        }
    }

    /// A feed value: `in_stock`, `out_of_stock`, `preorder`, `backorder`, in any case, and
    /// the older spaced forms (`in stock`, `out of stock`) that feeds still carry.
    pub fn parse(text: &str) -> Option<Availability> {
        let normal: String =
            text.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
        match normal.as_str() {
            "in_stock" => Some(Availability::InStock),
            "out_of_stock" => Some(Availability::OutOfStock),
            "preorder" | "pre_order" => Some(Availability::Preorder),
            "backorder" | "back_order" => Some(Availability::Backorder),
            _ => None,
        }
    }

    /// True when a shopper can order it now: in stock, preorder or backorder.
    pub fn is_available(self) -> bool {
        !matches!(self, Availability::OutOfStock)
    }
}

/// A feed field waymark reads. Other fields of a feed (`condition`, `gtin`, `shipping`,
/// ...) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `id`.
    Id,
    /// `title`.
    Title,
    /// `description`.
    Description,
    /// `link`.
    Link,
    /// `image_link`.
    ImageLink,
    /// `price`.
    Price,
    /// `sale_price`.
    SalePrice,
    /// `availability`.
    Availability,
    /// `product_type`.
    ProductType,
    /// `google_product_category`.
    GoogleProductCategory,
    /// `brand`.
    Brand,
    /// `item_group_id`.
    ItemGroupId,
}

/// How a field's length is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// At most this many bytes (ids, URLs).
    Bytes(usize),
    /// At most this many characters (text a person reads).
    Chars(usize),
}

impl Field {
    /// Every field, in the order of the feed specification.
    pub const ALL: [Field; 12] = [
        Field::Id,
        Field::Title,
        Field::Description,
        Field::Link,
        Field::ImageLink,
        Field::Price,
        Field::SalePrice,
        Field::Availability,
        Field::ProductType,
        Field::GoogleProductCategory,
        Field::Brand,
        Field::ItemGroupId,
    ];

    /// The fields a row must have: what messages and triggers cannot do without (an id to
    /// match events, a title and a link to show, a price for price drops, an availability
    /// for back in stock). Merchant Center also requires `description` and `image_link`;
    /// waymark takes rows without them.
    pub const REQUIRED: [Field; 5] = [Field::Id, Field::Title, Field::Link, Field::Price, Field::Availability];

    /// The name in feeds (without the `g:` prefix).
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Title => "title",
            Field::Description => "description",
            Field::Link => "link",
            Field::ImageLink => "image_link",
            Field::Price => "price",
            Field::SalePrice => "sale_price",
            Field::Availability => "availability",
            Field::ProductType => "product_type",
            Field::GoogleProductCategory => "google_product_category",
            Field::Brand => "brand",
            Field::ItemGroupId => "item_group_id",
        }
    }

    /// A field by its feed name: `price`, `g:price`, `Price`, `image link` (a TSV header
    /// as a spreadsheet writes it). None for a field waymark does not read.
    pub fn from_name(name: &str) -> Option<Field> {
        let name = name.trim();
        let name = name.strip_prefix("g:").unwrap_or(name);
        let normal: String = name.chars().map(|c| if c == ' ' { '_' } else { c.to_ascii_lowercase() }).collect();
        Field::ALL.into_iter().find(|f| f.name() == normal)
    }

    /// Its length bound (Merchant Center's, except the id: the engine's 64 bytes).
    pub fn bound(self) -> Bound {
        match self {
            Field::Id => Bound::Bytes(MAX_ID_BYTES),
            Field::Title => Bound::Chars(150),
            Field::Description => Bound::Chars(5000),
            Field::Link | Field::ImageLink => Bound::Bytes(2000),
            Field::Price | Field::SalePrice => Bound::Bytes(64),
            Field::Availability => Bound::Bytes(32),
            Field::ProductType | Field::GoogleProductCategory => Bound::Chars(750),
            Field::Brand => Bound::Chars(70),
            Field::ItemGroupId => Bound::Bytes(MAX_ID_BYTES),
        }
    }

    /// The position of the field in [`Field::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip_and_accept_feed_spellings() {
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f));
            assert_eq!(Field::from_name(&format!("g:{}", f.name())), Some(f));
            assert_eq!(Field::ALL.get(f.index()), Some(&f));
        }
        assert_eq!(Field::from_name("Image Link"), Some(Field::ImageLink));
        assert_eq!(Field::from_name("gtin"), None);
    }

    #[test]
    fn availability_takes_old_and_new_spellings() {
        assert_eq!(Availability::parse("in stock"), Some(Availability::InStock));
        assert_eq!(Availability::parse("Out_Of_Stock"), Some(Availability::OutOfStock));
        assert_eq!(Availability::parse("pre-order"), Some(Availability::Preorder));
        assert_eq!(Availability::parse("available"), None);
        for a in Availability::ALL {
            assert_eq!(Availability::parse(a.as_str()), Some(a));
        }
    }
}
