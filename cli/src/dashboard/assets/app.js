// The weft dashboard: one page, no dependencies, every asset served by
// `weft dashboard`. It polls the local server's JSON and redraws; the
// layout is recomputed only when the set of workloads or edges changes, so
// a refresh of hundreds of nodes only rewrites their numbers.
"use strict";

const REFRESH_MS = 5000;
const COL_W = 470, ROW_H = 66, NODE_W = 196, NODE_H = 46, PAD = 24;
// Beyond this many edges, their labels move into tooltips.
const EDGE_LABELS_UP_TO = 150;

const state = { data: null, layoutKey: "", pos: new Map(), selected: null };
const $ = (id) => document.getElementById(id);

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function pct(x) { return x == null ? "–" : (x * 100).toFixed(x >= 0.999 || x === 0 ? 0 : 1) + "%"; }
function rps(x) { return x == null ? "–" : x >= 10 ? x.toFixed(0) : x.toFixed(2); }
function ms(x) { return x == null ? "–" : x >= 10 ? x.toFixed(0) + " ms" : x.toFixed(1) + " ms"; }

// A proxy certificate's expiry (Unix seconds) as a date and how far off it
// is: hours matter (certificates live a day and renew ahead).
function expiry(t) {
  if (t == null) return "–";
  const h = (t * 1000 - Date.now()) / 3.6e6;
  const left = h < 0 ? "expired" : h < 1 ? "in " + Math.round(h * 60) + " min" : "in " + h.toFixed(1) + " h";
  return new Date(t * 1000).toISOString().replace(".000", "") + " (" + left + ")";
}

function namespaces() {
  return $("namespaces").value.split(/[\s,]+/).filter(Boolean).join(",");
}

async function refresh() {
  const q = namespaces();
  try {
    const r = await fetch("api/graph" + (q ? "?namespaces=" + encodeURIComponent(q) : ""));
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    state.data = body;
    render();
    $("status").className = "";
    $("status").textContent = "updated " + new Date().toLocaleTimeString() +
      " · window " + body.window;
  } catch (e) {
    $("status").className = "error";
    $("status").textContent = "could not refresh: " + e.message;
  }
}

// Layers by longest path from the callers, then each layer ordered by where
// its callers sit, so edges mostly run left to right without crossing. Only
// edges that carried traffic place nodes: a grant nobody used is drawn, not
// followed. A cycle is broken at the node that calls most and is called
// least.
function layout(nodes, all) {
  const edges = all.filter((e) => e.state !== "allowed-unused");
  const unused = all.filter((e) => e.state === "allowed-unused");
  const ids = nodes.map((n) => n.id).sort();
  const out = new Map(ids.map((id) => [id, []]));
  const indeg = new Map(ids.map((id) => [id, 0]));
  const preds = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (!out.has(e.from) || !out.has(e.to) || e.from === e.to) continue;
    out.get(e.from).push(e.to);
    preds.get(e.to).push(e.from);
    indeg.set(e.to, indeg.get(e.to) + 1);
  }
  const layer = new Map(), done = new Set(), queue = ids.filter((id) => indeg.get(id) === 0);
  let head = 0;
  while (done.size < ids.length) {
    if (head === queue.length) {
      const score = (id) => out.get(id).length - indeg.get(id);
      let pick = null;
      for (const id of ids) {
        if (!done.has(id) && (pick === null || score(id) > score(pick))) pick = id;
      }
      queue.push(pick);
    }
    const u = queue[head++];
    if (done.has(u)) continue;
    done.add(u);
    if (!layer.has(u)) layer.set(u, 0);
    for (const v of out.get(u)) {
      if (done.has(v)) continue;
      layer.set(v, Math.max(layer.get(v) ?? 0, layer.get(u) + 1));
      indeg.set(v, indeg.get(v) - 1);
      if (indeg.get(v) === 0) queue.push(v);
    }
  }
  // A node only unused grants reach goes right of its caller rather than
  // into the first column.
  const touched = new Set(edges.flatMap((e) => [e.from, e.to]));
  for (const e of unused) {
    if (!touched.has(e.to) && layer.has(e.from) && layer.has(e.to) && e.from !== e.to) {
      layer.set(e.to, Math.max(layer.get(e.to), layer.get(e.from) + 1));
    }
  }
  const layers = [];
  for (const id of ids) (layers[layer.get(id)] ??= []).push(id);
  const row = new Map();
  layers.forEach((l) => l.forEach((id, i) => row.set(id, i)));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (const l of layers) {
      const bary = (id) => {
        const p = preds.get(id).filter((x) => row.has(x));
        return p.length ? p.reduce((s, x) => s + row.get(x), 0) / p.length : row.get(id);
      };
      l.sort((a, b) => bary(a) - bary(b) || (a < b ? -1 : 1));
      l.forEach((id, i) => row.set(id, i));
    }
  }
  const pos = new Map();
  layers.forEach((l, x) => l.forEach((id, y) =>
    pos.set(id, { x: PAD + x * COL_W, y: PAD + y * ROW_H })));
  const height = Math.max(1, ...layers.map((l) => l.length));
  return { pos, width: PAD * 2 + Math.max(1, layers.length) * COL_W - (COL_W - NODE_W),
    height: PAD * 2 + height * ROW_H };
}

function edgeLabel(e) {
  if (e.state === "refused") {
    return "refused ×" + e.denied.reduce((s, d) => s + d.count, 0) +
      " (" + e.denied.map((d) => d.reason).join(", ") + ")";
  }
  if (e.state === "allowed-unused") return "allowed, unused";
  const refused = e.denied.reduce((s, d) => s + d.count, 0);
  const tcp = e.tcp_connections ? e.tcp_connections + " TCP conn" : "";
  // An edge of TCP alone has no responses to rate.
  if (tcp && e.success == null) return tcp;
  return rps(e.rps) + " rps · " + pct(e.success) + " · p99 " + ms(e.p99_ms) +
    (tcp ? " · " + tcp : "") + (refused ? " · " + refused + " refused" : "");
}

function edgePath(a, b) {
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
  if (x2 > x1) {
    const dx = (x2 - x1) / 2;
    return { d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`,
      lx: (x1 + x2) / 2, ly: (y1 + y2) / 2 - 4 };
  }
  // A call back to an earlier column (or within one) loops under the nodes.
  const low = Math.max(a.y, b.y) + NODE_H + 18;
  return { d: `M${x1},${y1} C${x1 + 60},${low} ${x2 - 60},${low} ${x2},${y2}`,
    lx: (x1 + x2) / 2, ly: low - 2 };
}

function renderGraph(d) {
  const key = d.nodes.map((n) => n.id).sort().join("|") + "#" +
    d.edges.map((e) => e.from + ">" + e.to).sort().join("|");
  if (key !== state.layoutKey) {
    const l = layout(d.nodes, d.edges);
    state.pos = l.pos;
    state.size = l;
    state.layoutKey = key;
  }
  const svg = $("graph");
  svg.setAttribute("width", state.size.width);
  svg.setAttribute("height", state.size.height);
  const labels = d.edges.length <= EDGE_LABELS_UP_TO;
  let html = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5"
    markerWidth="7" markerHeight="7" orient="auto-start-reverse">
    <path d="M0,0 L10,5 L0,10 z" fill="#667085"/></marker></defs>`;
  for (const e of d.edges) {
    const a = state.pos.get(e.from), b = state.pos.get(e.to);
    if (!a || !b) continue;
    const p = edgePath(a, b), text = edgeLabel(e);
    html += `<g class="edge ${e.state}" data-from="${esc(e.from)}" data-to="${esc(e.to)}"` +
      ` data-state="${e.state}"><title>${esc(e.from)} → ${esc(e.to)}: ${esc(text)}</title>` +
      `<path d="${p.d}" marker-end="url(#arrow)"/>` +
      (labels ? `<text x="${p.lx}" y="${p.ly}" text-anchor="middle">${esc(text)}</text>` : "") +
      "</g>";
  }
  for (const n of d.nodes) {
    const p = state.pos.get(n.id);
    const cls = "node" + (n.meshed ? "" : " unmeshed") + (state.selected === n.id ? " selected" : "");
    const stats = n.rps == null ? (n.meshed ? "no traffic" : "not meshed")
      : rps(n.rps) + " rps · " + pct(n.success) + " · p99 " + ms(n.p99_ms);
    html += `<g class="${cls}" data-id="${esc(n.id)}" data-meshed="${n.meshed}"` +
      ` transform="translate(${p.x},${p.y})"><title>${esc(n.id)}</title>` +
      `<rect width="${NODE_W}" height="${NODE_H}"/>` +
      `<text x="8" y="18">${esc(n.name)} <tspan class="stats">${esc(n.kind)}` +
      `${d.namespaces.length > 1 ? " · " + esc(n.namespace) : ""}</tspan></text>` +
      `<text class="stats" x="8" y="36">${esc(stats)}</text></g>`;
  }
  svg.innerHTML = html;
  $("empty").hidden = d.nodes.length > 0;
  $("notes").innerHTML = (d.notes ?? []).map((n) => `<li>${esc(n)}</li>`).join("");
}

function renderTable(section, rows) {
  const el = $(section), table = el.querySelector("table");
  el.querySelector(".none").hidden = rows.length > 0;
  table.hidden = rows.length === 0;
  table.tBodies[0].innerHTML = rows.map((r) =>
    "<tr>" + r.map((c) => `<td>${esc(c)}</td>`).join("") + "</tr>").join("");
}

function renderSplits(d) {
  const rows = [];
  for (const s of d.splits) {
    for (const b of s.backends) {
      rows.push([s.namespace + "/" + s.name, b.service, pct(b.weight_share), pct(b.observed_share)]);
    }
  }
  renderTable("splits", rows);
}

function renderDenials(d) {
  const rows = [];
  for (const e of d.edges) for (const x of e.denied) rows.push([e.from, e.to, x.reason, x.count]);
  rows.sort((a, b) => b[3] - a[3]);
  renderTable("denials", rows);
}

// Traffic only the default policy lets through: what `deny` would refuse.
function renderUnderDeny(d) {
  const rows = d.edges.filter((e) => e.state === "unpoliced" && e.rps != null)
    .map((e) => [e.from, e.to, rps(e.rps)]);
  renderTable("under-deny", rows);
}

function edgeRows(edges, end) {
  return edges.map((e) => `<tr><td>${esc(e[end])}</td><td>${rps(e.rps)}</td>` +
    `<td>${pct(e.success)}</td><td>${ms(e.p99_ms)}</td><td>${esc(e.state)}` +
    `${e.authorization ? " (" + esc(e.authorization) + ")" : ""}</td></tr>`).join("");
}

async function renderWorkload(d) {
  const pane = $("workload");
  const n = d.nodes.find((x) => x.id === state.selected);
  if (!n) { pane.hidden = true; return; }
  pane.hidden = false;
  $("workload-title").textContent = n.id;
  $("workload-in").tBodies[0].innerHTML = edgeRows(d.edges.filter((e) => e.to === n.id), "from");
  $("workload-out").tBodies[0].innerHTML = edgeRows(d.edges.filter((e) => e.from === n.id), "to");
  const facts = [["meshed", n.meshed ? "yes" : "no"], ["service account", n.service_account ?? "–"],
    ["pods", n.pods ?? "–"], ["proxy image", (n.proxy_images ?? []).join(", ") || "–"],
    ["certificate expires", expiry(n.certificate_expiry)], ["routes", (n.routes ?? []).join(", ") || "–"]];
  $("workload-facts").innerHTML = facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
}

function render() {
  const d = state.data;
  renderGraph(d);
  renderSplits(d);
  renderDenials(d);
  renderUnderDeny(d);
  renderWorkload(d);
}

$("graph").addEventListener("click", (ev) => {
  const g = ev.target.closest(".node");
  if (!g) return;
  state.selected = g.dataset.id;
  render();
});

$("scope").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });

$("explain").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const q = new URLSearchParams({ workload: state.selected ?? "" });
  for (const [k, v] of f) if (v) q.set(k, v);
  const out = $("explain-out");
  out.textContent = "asking…";
  try {
    const r = await fetch("api/explain?" + q);
    out.textContent = await r.text();
  } catch (e) {
    out.textContent = "could not ask: " + e.message;
  }
});

$("suggest").addEventListener("click", async () => {
  const out = $("suggest-out");
  out.textContent = "reading what flowed…";
  try {
    const r = await fetch("api/suggest?" + new URLSearchParams({ workload: state.selected ?? "" }));
    out.textContent = await r.text();
  } catch (e) {
    out.textContent = "could not suggest: " + e.message;
  }
});

const params = new URLSearchParams(location.search);
if (params.get("namespaces")) $("namespaces").value = params.get("namespaces");
if (params.get("workload")) state.selected = params.get("workload");
// The next refresh is timed from the end of the last one, so a slow cluster
// never has requests piling up.
(async function poll() {
  await refresh();
  setTimeout(poll, REFRESH_MS);
})();
