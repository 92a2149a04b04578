// Product pictures: small inline SVG drawings, one shape per category, tinted per product.
const SHAPES = {
  shoes:
    '<path d="M40 120 C40 95 60 80 75 80 L95 80 C105 95 130 100 160 104 C185 108 200 115 200 128 L200 138 L40 138 Z" fill="COLOR"/>' +
    '<rect x="40" y="134" width="160" height="10" rx="4" fill="#fff" opacity=".85"/>' +
    '<path d="M100 92 l8 -6 M112 96 l8 -6 M124 99 l8 -6" stroke="#fff" stroke-width="3" stroke-linecap="round"/>',
  bags:
    '<path d="M95 70 C95 45 145 45 145 70" stroke="COLOR" stroke-width="8" fill="none"/>' +
    '<rect x="62" y="70" width="116" height="80" rx="12" fill="COLOR"/>' +
    '<rect x="108" y="92" width="24" height="14" rx="3" fill="#fff" opacity=".85"/>',
  outerwear:
    '<path d="M90 48 L120 60 L150 48 L185 70 L172 100 L160 94 L160 152 L80 152 L80 94 L68 100 L55 70 Z" fill="COLOR"/>' +
    '<path d="M120 60 L120 152" stroke="#fff" stroke-width="3" opacity=".8"/>' +
    '<circle cx="120" cy="90" r="3" fill="#fff"/><circle cx="120" cy="112" r="3" fill="#fff"/><circle cx="120" cy="134" r="3" fill="#fff"/>',
  accessories:
    '<circle cx="120" cy="100" r="44" fill="none" stroke="COLOR" stroke-width="12"/>' +
    '<circle cx="120" cy="100" r="26" fill="COLOR" opacity=".35"/>' +
    '<path d="M120 100 L120 80 M120 100 L134 108" stroke="COLOR" stroke-width="4" stroke-linecap="round"/>',
};

export function productArt(product) {
  const shape = (SHAPES[product.category] || SHAPES.accessories).replaceAll("COLOR", product.color);
  return (
    `<svg viewBox="0 0 240 180" role="img" aria-label="${product.name}">` +
    `<rect width="240" height="180" fill="${product.color}" opacity=".09"/>${shape}</svg>`
  );
}
