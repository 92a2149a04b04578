// The debug panel: the engine thinking, live. Event stream, intent score over time, tier,
// decisions with reason codes and sentences, state size, sync status, and what the
// backend has queued or suppressed for email / SMS.
const HISTORY_KEY = "northwind.debug";
const MAX_EVENTS = 60;
const MAX_DECISIONS = 60;
const MAX_POINTS = 240;

const el = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const clock = (t) => new Date(t).toLocaleTimeString("en-GB", { hour12: false });

// History lives in sessionStorage: a reload keeps the panel's story, a new tab starts its own.
const history = (() => {
  try {
    return { events: [], decisions: [], points: [], ...JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "{}") };
  } catch {
    return { events: [], decisions: [], points: [] };
  }
})();
const persist = () => sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history));

let backendLoader = null;
let backendTimer = null;

export const debug = {
  isOpen: () => !el("debug").hidden,

  init({ loadBackend, ids }) {
    backendLoader = loadBackend;
    const open = (on) => {
      el("debug").hidden = !on;
      document.body.classList.toggle("debug-open", on);
      sessionStorage.setItem("northwind.debug.open", on ? "1" : "");
      if (on) {
        render();
        refreshBackend();
        backendTimer = setInterval(refreshBackend, 2000);
      } else clearInterval(backendTimer);
    };
    el("debug-toggle").addEventListener("click", () => open(true));
    el("debug-close").addEventListener("click", () => open(false));
    document.addEventListener("keydown", (e) => {
      if (e.key.toLowerCase() === "d" && !/input|textarea|select/i.test(e.target.tagName)) open(el("debug").hidden);
    });
    el("dbg-ids").textContent = ids;
    if (new URLSearchParams(location.search).has("debug") || sessionStorage.getItem("northwind.debug.open")) open(true);
  },

  setIds(text) {
    el("dbg-ids").textContent = text;
  },

  event(name, properties) {
    history.events.unshift({ t: Date.now(), name, properties });
    history.events.length = Math.min(history.events.length, MAX_EVENTS);
    persist();
    if (debug.isOpen()) renderEvents();
  },

  decision(d) {
    // A run of identical entry skips (browsing while a re-entry lock holds) is one row, "×N".
    const top = history.decisions[0];
    if (top && quiet(d) && sameSkip(top, d)) {
      top.repeat = (top.repeat || 1) + 1;
      top.time = d.time;
      persist();
      if (debug.isOpen()) renderDecisions();
      return;
    }
    history.decisions.unshift(d);
    history.decisions.length = Math.min(history.decisions.length, MAX_DECISIONS);
    persist();
    if (debug.isOpen()) renderDecisions();
  },

  intent(score, tier) {
    const last = history.points[history.points.length - 1];
    if (last && last.tier === tier && Math.abs(last.score - score) < 0.002) return;
    history.points.push({ t: Date.now(), score, tier });
    if (history.points.length > MAX_POINTS) history.points.splice(0, history.points.length - MAX_POINTS);
    persist();
    el("dbg-score").textContent = score.toFixed(3);
    const tierEl = el("dbg-tier");
    tierEl.textContent = tier;
    tierEl.className = `tier ${tier}`;
    if (debug.isOpen()) drawChart();
  },

  stateSize(bytes) {
    el("dbg-size").textContent = bytes == null ? "—" : `${bytes} B`;
  },

  sync(status, detail = status) {
    el("dbg-sync").textContent = status;
    el("dbg-sync").title = detail;
  },
};

function render() {
  renderEvents();
  renderDecisions();
  drawChart();
}

function renderEvents() {
  el("dbg-events").innerHTML = history.events
    .map((e) => {
      const props = Object.entries(e.properties || {})
        .filter(([k]) => k !== "items")
        .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
        .join(" ");
      return `<li><span class="t">${clock(e.t)}</span><b>${esc(e.name)}</b> ${esc(props)}</li>`;
    })
    .join("");
}

function renderDecisions() {
  el("dbg-decisions").innerHTML = history.decisions
    .map((d) => {
      const meta = [d.step, d.channel, d.content, d.incentive, d.variant].filter(Boolean).join(" · ");
      const codes = (d.reasons || []).map((r) => `<span>${esc(r)}</span>`).join("");
      const t = typeof d.time === "number" ? clock(d.time) : esc(d.time);
      return (
        `<li data-action="${esc(d.action)}" data-journey="${esc(d.journey)}"${quiet(d) ? ' class="quiet"' : ""}>` +
        `<div class="head"><span class="act ${esc(d.action)}">${esc(d.action)}</span>` +
        `<span class="j">${esc(d.journey)}</span><span class="meta">${esc(meta)}</span>` +
        `${d.repeat > 1 ? `<span class="repeat">×${d.repeat}</span>` : ""}</div>` +
        `<div class="msg">${esc(d.message)}</div><div class="codes"><span class="t">${t}</span>${codes}</div></li>`
      );
    })
    .join("");
}

// Entry skips (re-entry rules, schedule; the engine reports them with `debug: true`) are
// shown, but small.
const SKIPS = new Set(["reentry_once", "reentry_locked", "reentry_capped", "outside_schedule"]);
const quiet = (d) => d.action === "suppress" && (d.reasons || []).length > 0 && d.reasons.every((r) => SKIPS.has(r));
const sameSkip = (a, b) =>
  a.action === b.action && a.journey === b.journey && a.step === b.step && a.message === b.message &&
  (a.reasons || []).join() === (b.reasons || []).join();

function drawChart() {
  const canvas = el("dbg-chart");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 440;
  const h = canvas.clientHeight || 130;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const pad = { l: 30, r: 8, t: 8, b: 18 };
  const iw = w - pad.l - pad.r;
  const ih = h - pad.t - pad.b;
  g.font = "10px 'DejaVu Sans Mono', monospace";
  g.fillStyle = "#6b7280";
  g.strokeStyle = "#1f2937";
  for (const v of [0, 0.5, 1]) {
    const y = pad.t + ih * (1 - v);
    g.beginPath();
    g.moveTo(pad.l, y);
    g.lineTo(w - pad.r, y);
    g.stroke();
    g.fillText(v.toFixed(1), 4, y + 3);
  }
  const pts = history.points;
  if (pts.length === 0) {
    g.fillText("no events yet", pad.l + 8, pad.t + ih / 2);
    return;
  }
  // One step per sample (events come in bursts; time is on the axis labels).
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t;
  const n = Math.max(pts.length - 1, 1);
  const x = (i) => pad.l + (i / n) * iw;
  const y = (s) => pad.t + ih * (1 - Math.max(0, Math.min(1, s)));
  const colors = { cold: "#93c5fd", warm: "#fcd34d", hot: "#f87171" };
  g.lineWidth = 2;
  for (let i = 1; i < pts.length; i++) {
    g.strokeStyle = colors[pts[i].tier] || "#a7f3d0";
    g.beginPath();
    g.moveTo(x(i - 1), y(pts[i - 1].score));
    g.lineTo(x(i), y(pts[i].score));
    g.stroke();
  }
  const last = pts[pts.length - 1];
  g.fillStyle = colors[last.tier] || "#a7f3d0";
  g.beginPath();
  g.arc(x(pts.length - 1), y(last.score), 3.5, 0, Math.PI * 2);
  g.fill();
  g.fillStyle = "#6b7280";
  g.fillText(clock(t0), pad.l, h - 4);
  const end = clock(t1);
  g.fillText(end, w - pad.r - g.measureText(end).width, h - 4);
}

async function refreshBackend() {
  if (!backendLoader) return;
  const box = el("dbg-backend");
  try {
    box.innerHTML = renderBackend(await backendLoader());
  } catch (e) {
    box.innerHTML = `<span class="warn">backend unreachable: ${esc(e.message || e)}</span>`;
  }
}

// Rows the backend reports for this shopper: pending timers, outbox sends, suppressions.
function renderBackend(report) {
  const rows = [];
  for (const t of report.timers || []) {
    rows.push(["timer", t.journey, t.step || "", "due " + fmtDue(t.due), t.channel || ""]);
  }
  for (const o of report.outbox || []) {
    rows.push([o.status || "queued", o.journey, o.content || "", o.due ? "due " + fmtDue(o.due) : "", o.channel || ""]);
  }
  for (const s of report.suppressed || []) {
    rows.push(["suppressed", s.journey, (s.reasons || []).join(","), s.time ? fmtDue(s.time) : "", s.channel || ""]);
  }
  // Backends without per-shopper inspection: ask what they would do with a send right now.
  for (const [channel, c] of Object.entries(report.checks || {})) {
    const what = c.allowed ? "would send" : "suppressed";
    rows.push([what, "any", (c.reasons || []).join(", "), "now", channel]);
  }
  if (rows.length === 0) return "<em>nothing queued or suppressed</em>";
  return (
    "<table><tr><th>what</th><th>journey</th><th>detail</th><th>when</th><th>ch.</th></tr>" +
    rows.map((r) => "<tr>" + r.map((c) => `<td>${esc(c)}</td>`).join("") + "</tr>").join("") +
    "</table>"
  );
}

function fmtDue(t) {
  const ms = typeof t === "number" ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  const d = ms - Date.now();
  const abs = Math.abs(d);
  const span =
    abs < 90_000 ? `${Math.round(abs / 1000)}s` : abs < 5_400_000 ? `${Math.round(abs / 60_000)}m` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)}h` : `${Math.round(abs / 86_400_000)}d`;
  return d >= 0 ? `in ${span}` : `${span} ago`;
}
