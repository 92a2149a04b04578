// inject.js — how a decision reaches the page: the `x-waymark-decision` header, a JSON
// `<script type="application/json" id="waymark-decision">` appended to `<head>`, and,
// when the page has a slot element and the config has a template for the content key,
// the rendered nudge inside that slot — all in the HTML the browser first receives, so
// the offer is there on first paint, without a flicker.

/** Channels whose sends are shown by the page itself. */
const ONPAGE = new Set(["onsite", "inapp"]);

/** The decision the page shows: the last on-page send of this request, or null. The
 *  engine runs every send of one ingest through policy together, so competing on-page
 *  sends are already resolved (the losers come back as `suppress` / `outranked`); when
 *  the page posts several events at once, the latest send is the one that holds now. */
export function primaryDecision(decisions) {
  for (let i = decisions.length - 1; i >= 0; i--) {
    const d = decisions[i];
    if (d.action === "send" && ONPAGE.has(d.channel)) return d;
  }
  return null;
}

/** The short form of a decision for the header and the page. */
export function summary(d) {
  if (d === null) return null;
  return {
    journey: d.journey,
    step: d.step,
    action: d.action,
    channel: d.channel,
    content: d.content,
    incentive: d.incentive,
    variant: d.variant,
    reason: d.reason,
    reasons: d.reasons,
  };
}

/** JSON with every non-ASCII character escaped: safe as an HTTP header value. */
export function asciiJson(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** JSON safe inside a `<script>` element: no `</script>`, no `<!--`, no line separators. */
export function scriptJson(value) {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

export function escapeHtml(s) {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

/** Renders a slot template: `{content}`, `{incentive}`, `{journey}`, `{step}` are replaced
 *  by the decision's (HTML-escaped) values; the template itself is trusted config. */
export function renderSlot(template, d) {
  return template.replace(/\{(content|incentive|journey|step|variant)\}/g, (_, k) => escapeHtml(d[k]));
}

/**
 * Rewrites an HTML response: the decision script at the end of `<head>` (or the start of
 * `<body>` when there is no head), and the nudge in the first `[data-waymark-slot]`
 * element. `page` is the object the script carries; `slots` maps content keys to
 * templates.
 */
export function injectHtml(response, page, slots) {
  const script = `<script type="application/json" id="waymark-decision">${scriptJson(page)}</script>`;
  let placed = false;
  let slotDone = false;
  const d = page.decision;
  const template = d && d.content && Object.hasOwn(slots, d.content) ? slots[d.content] : null;
  let rewriter = new HTMLRewriter()
    .on("head", {
      element(el) {
        if (placed) return;
        placed = true;
        el.append(script, { html: true });
      },
    })
    .on("body", {
      element(el) {
        if (placed) return;
        placed = true;
        el.prepend(script, { html: true });
      },
    });
  if (d !== null) {
    rewriter = rewriter.on("[data-waymark-slot]", {
      element(el) {
        if (slotDone) return;
        slotDone = true;
        el.setAttribute("data-waymark-content", d.content ?? "");
        el.setAttribute("data-waymark-journey", d.journey ?? "");
        if (template !== null) el.setInnerContent(renderSlot(template, d), { html: true });
      },
    });
  }
  return rewriter.transform(response);
}

/** True for responses worth rewriting: HTML, with a body, not a range or a redirect. */
export function isHtml(response) {
  const type = response.headers.get("content-type") || "";
  return (
    response.body !== null &&
    response.status === 200 &&
    /^text\/html\b/i.test(type) &&
    !response.headers.has("content-range")
  );
}
