// The demo catalogue: 30 products in 4 categories. Prices in EUR.
export const CATEGORIES = {
  "shoes": "Shoes",
  "bags": "Bags",
  "outerwear": "Outerwear",
  "accessories": "Accessories"
};

export const PRODUCTS = [
  {"id": "sho-1", "slug": "trail-runner", "name": "Trail Runner", "category": "shoes", "price": 89, "color": "#16a085", "blurb": "Trail Runner — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-2", "slug": "city-sneaker", "name": "City Sneaker", "category": "shoes", "price": 75, "color": "#c0392b", "blurb": "City Sneaker — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-3", "slug": "leather-loafer", "name": "Leather Loafer", "category": "shoes", "price": 129, "color": "#8e44ad", "blurb": "Leather Loafer — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-4", "slug": "canvas-slip-on", "name": "Canvas Slip-on", "category": "shoes", "price": 49, "color": "#2c3e50", "blurb": "Canvas Slip-on — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-5", "slug": "chelsea-boot", "name": "Chelsea Boot", "category": "shoes", "price": 159, "color": "#2e86de", "blurb": "Chelsea Boot — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-6", "slug": "court-classic", "name": "Court Classic", "category": "shoes", "price": 69, "color": "#d35400", "blurb": "Court Classic — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-7", "slug": "hiking-boot", "name": "Hiking Boot", "category": "shoes", "price": 149, "color": "#b7950b", "blurb": "Hiking Boot — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "sho-8", "slug": "linen-espadrille", "name": "Linen Espadrille", "category": "shoes", "price": 39, "color": "#27ae60", "blurb": "Linen Espadrille — part of our shoes range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-1", "slug": "weekender-duffel", "name": "Weekender Duffel", "category": "bags", "price": 119, "color": "#d35400", "blurb": "Weekender Duffel — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-2", "slug": "canvas-tote", "name": "Canvas Tote", "category": "bags", "price": 35, "color": "#b7950b", "blurb": "Canvas Tote — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-3", "slug": "leather-backpack", "name": "Leather Backpack", "category": "bags", "price": 179, "color": "#27ae60", "blurb": "Leather Backpack — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-4", "slug": "crossbody-pouch", "name": "Crossbody Pouch", "category": "bags", "price": 55, "color": "#16a085", "blurb": "Crossbody Pouch — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-5", "slug": "laptop-sleeve", "name": "Laptop Sleeve", "category": "bags", "price": 45, "color": "#c0392b", "blurb": "Laptop Sleeve — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-6", "slug": "roll-top-daypack", "name": "Roll-top Daypack", "category": "bags", "price": 95, "color": "#8e44ad", "blurb": "Roll-top Daypack — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "bag-7", "slug": "mini-bucket-bag", "name": "Mini Bucket Bag", "category": "bags", "price": 79, "color": "#2c3e50", "blurb": "Mini Bucket Bag — part of our bags range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-1", "slug": "rain-shell", "name": "Rain Shell", "category": "outerwear", "price": 139, "color": "#2e86de", "blurb": "Rain Shell — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-2", "slug": "quilted-vest", "name": "Quilted Vest", "category": "outerwear", "price": 89, "color": "#d35400", "blurb": "Quilted Vest — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-3", "slug": "wool-overcoat", "name": "Wool Overcoat", "category": "outerwear", "price": 249, "color": "#b7950b", "blurb": "Wool Overcoat — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-4", "slug": "denim-jacket", "name": "Denim Jacket", "category": "outerwear", "price": 99, "color": "#27ae60", "blurb": "Denim Jacket — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-5", "slug": "packable-down", "name": "Packable Down", "category": "outerwear", "price": 169, "color": "#16a085", "blurb": "Packable Down — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-6", "slug": "field-parka", "name": "Field Parka", "category": "outerwear", "price": 219, "color": "#c0392b", "blurb": "Field Parka — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-7", "slug": "fleece-zip", "name": "Fleece Zip", "category": "outerwear", "price": 65, "color": "#8e44ad", "blurb": "Fleece Zip — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "out-8", "slug": "linen-blazer", "name": "Linen Blazer", "category": "outerwear", "price": 155, "color": "#2c3e50", "blurb": "Linen Blazer — part of our outerwear range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-1", "slug": "merino-beanie", "name": "Merino Beanie", "category": "accessories", "price": 29, "color": "#8e44ad", "blurb": "Merino Beanie — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-2", "slug": "leather-belt", "name": "Leather Belt", "category": "accessories", "price": 45, "color": "#2c3e50", "blurb": "Leather Belt — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-3", "slug": "silk-scarf", "name": "Silk Scarf", "category": "accessories", "price": 59, "color": "#2e86de", "blurb": "Silk Scarf — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-4", "slug": "canvas-cap", "name": "Canvas Cap", "category": "accessories", "price": 25, "color": "#d35400", "blurb": "Canvas Cap — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-5", "slug": "wool-gloves", "name": "Wool Gloves", "category": "accessories", "price": 39, "color": "#b7950b", "blurb": "Wool Gloves — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-6", "slug": "steel-watch", "name": "Steel Watch", "category": "accessories", "price": 199, "color": "#27ae60", "blurb": "Steel Watch — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
  {"id": "acc-7", "slug": "sunglasses", "name": "Sunglasses", "category": "accessories", "price": 89, "color": "#16a085", "blurb": "Sunglasses — part of our accessories range. Made to last, easy to care for, free returns within 30 days."},
];

export const byId = (id) => PRODUCTS.find((p) => p.id === id);
export const inCategory = (c) => PRODUCTS.filter((p) => p.category === c);
