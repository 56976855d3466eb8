// neuronlab playground: the page. Every number comes from the server (neuronlab itself) over
// the JSON API and the server-sent event stream; this file only draws and sends settings.
"use strict";

const $ = (id) => document.getElementById(id);
const P = { sid: null, opt: null, st: null, points: null, selected: null, es: null, frames: 0 };
const NEG = [245, 147, 34], POS = [8, 119, 189];   // orange for −1, blue for +1, white at 0

function fmt(v) { return v === null || v === undefined ? "–" : Number(v).toPrecision(4).replace(/\.?0+(e|$)/, "$1"); }

function showBanner(msg) { const b = $("banner"); b.textContent = msg; b.hidden = !msg; }

async function api(path, body, method = "POST") {
  const url = `${path}${path.includes("?") ? "&" : "?"}session=${encodeURIComponent(P.sid)}`;
  const init = { method, headers: {} };
  if (body instanceof Blob || body instanceof ArrayBuffer) { init.body = body; init.headers["Content-Type"] = "text/csv"; }
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const r = await fetch(url, init);
  const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) { const e = new Error(data.error || `HTTP ${r.status}`); e.status = r.status; throw e; }
  return data;
}

async function setConfig(change) {
  try { showBanner(""); await api("/api/config", change); }
  catch (e) { showBanner(e.message); }
}

// ---- colours and heat maps ---------------------------------------------------------------
function colour(t) {   // t in [-1, 1]
  const c = t < 0 ? NEG : POS, a = Math.min(Math.abs(t), 1);
  return [255 + (c[0] - 255) * a, 255 + (c[1] - 255) * a, 255 + (c[2] - 255) * a];
}
const tile = document.createElement("canvas");
const PALETTE = Array.from({ length: 256 }, (_, q) => colour(q / 127.5 - 1));   // byte -> RGB
function drawHeat(canvas, b64, size) {   // a base64 grid of bytes (0 = −1, 255 = +1), smoothed onto the canvas
  const bin = atob(b64);
  tile.width = tile.height = size;
  const tctx = tile.getContext("2d"), img = tctx.createImageData(size, size);
  for (let k = 0; k < bin.length; k++) {
    const [r, g, b] = PALETTE[bin.charCodeAt(k)];
    img.data[4 * k] = r; img.data[4 * k + 1] = g; img.data[4 * k + 2] = b; img.data[4 * k + 3] = 255;
  }
  tctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true; ctx.imageSmoothingQuality = "high";
  ctx.drawImage(tile, 0, 0, canvas.width, canvas.height);
}

// ---- controls ------------------------------------------------------------------------------
function fillSelect(sel, values, labels) {
  sel.innerHTML = "";
  for (const v of values) { const o = document.createElement("option"); o.value = v; o.textContent = labels ? labels[v] : v; sel.appendChild(o); }
}

function buildControls() {
  const o = P.opt;
  fillSelect($("speed"), o.speeds);
  fillSelect($("activation"), o.activations);
  fillSelect($("init"), o.initializers);
  fillSelect($("optimizer"), Object.keys(o.optimizers));
  const ds = $("datasets");
  for (const name of [...o.datasets.classification, ...o.datasets.regression]) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "ds"; b.textContent = name; b.setAttribute("role", "radio"); b.dataset.name = name;
    b.setAttribute("aria-checked", "false");
    b.addEventListener("click", () => setConfig({ dataset: name }));
    ds.appendChild(b);
  }
  for (const [key, label] of Object.entries(o.features)) {
    const l = document.createElement("label"); l.className = "feature";
    const c = document.createElement("input"); c.type = "checkbox"; c.id = `feat-${key}`; c.dataset.key = key;
    c.addEventListener("change", () => {
      const feats = [...document.querySelectorAll("#features input")].filter((x) => x.checked).map((x) => x.dataset.key);
      setConfig({ features: feats });
    });
    l.append(c, ` ${label}`); $("features").appendChild(l);
  }
  const num = (id, key, parse = Number) => $(id).addEventListener("change", (e) => setConfig({ [key]: parse(e.target.value) }));
  num("noise", "noise"); num("train_ratio", "train_ratio"); num("n_samples", "n_samples"); num("lr", "lr");
  num("dropout", "dropout"); num("l2", "l2"); num("seed", "seed", (v) => parseInt(v, 10));
  for (const id of ["activation", "loss", "optimizer", "init"]) $(id).addEventListener("change", (e) => setConfig({ [id]: e.target.value }));
  $("batch_size").addEventListener("change", (e) => setConfig({ batch_size: e.target.value === "n" ? "n" : Number(e.target.value) }));
  $("speed").addEventListener("change", (e) => api("/api/play", { speed: Number(e.target.value) }).catch((x) => showBanner(x.message)));
  $("play").addEventListener("click", togglePlay);
  $("step").addEventListener("click", stepOnce);
  $("reset").addEventListener("click", () => api("/api/reset", {}).catch((x) => showBanner(x.message)));
  $("add-layer").addEventListener("click", () => changeLayers(+1));
  $("remove-layer").addEventListener("click", () => changeLayers(-1));
  $("show-test").addEventListener("change", drawOutput);
  $("output").addEventListener("click", pickSample);
  $("upload").addEventListener("change", uploadFile);
  $("sample").addEventListener("change", () => { drawOutput(); if (P.selected) showDetail(...P.selected); });
  $("guide-start").addEventListener("click", () => guide("start"));
  $("guide-next").addEventListener("click", () => guide("next"));
  $("guide-prev").addEventListener("click", () => guide("prev"));
  $("guide-exit").addEventListener("click", () => guide("exit"));
  $("dl-model").href = `/api/model?session=${P.sid}`;
  $("dl-code").href = `/api/code?session=${P.sid}`;
  const typing = (e) => ["input", "select", "textarea"].includes((e.target.tagName || "").toLowerCase());
  document.addEventListener("keydown", (e) => {   // space = play/pause, → = step (or the guide's next part)
    if (typing(e) || e.repeat) return;
    if (e.code === "Space") { e.preventDefault(); togglePlay(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); P.st && P.st.guide ? guide("next") : stepOnce(); }
  });
  // a focused button would also "click" on the space key's release: space means play/pause only
  document.addEventListener("keyup", (e) => { if (e.code === "Space" && !typing(e)) e.preventDefault(); });
}

function optimizerParams(cfg) {
  const box = $("optimizer-params"), params = P.opt.optimizers[cfg.optimizer];
  if (box.dataset.opt === cfg.optimizer) return;
  box.dataset.opt = cfg.optimizer; box.innerHTML = "";
  for (const [key, def] of Object.entries(params)) {
    const l = document.createElement("label"); l.textContent = `${key} `;
    const inp = document.createElement("input");
    const value = key in cfg.optimizer_params ? cfg.optimizer_params[key] : def;
    if (typeof def === "boolean") { inp.type = "checkbox"; inp.checked = value; }
    else { inp.type = "number"; inp.step = "any"; inp.value = value === null ? "" : value; inp.placeholder = "none"; }
    inp.setAttribute("aria-label", key);
    inp.addEventListener("change", () => {
      const cur = { ...P.st.config.optimizer_params };
      cur[key] = inp.type === "checkbox" ? inp.checked : (inp.value === "" ? null : Number(inp.value));
      setConfig({ optimizer_params: cur });
    });
    l.appendChild(inp); box.appendChild(l);
  }
  if (cfg.optimizer === "sgd") {   // the guide's momentum: SGD(ema=True), the moving average from v₀ = 0
    const b = document.createElement("button"); b.type = "button"; b.className = "preset";
    b.textContent = "Guide's momentum: v ← γv + (1−γ)g, v₀ = 0, γ = 0.9";
    b.addEventListener("click", () => { box.dataset.opt = ""; setConfig({ optimizer_params: { momentum: 0.9, ema: true } }); });
    box.appendChild(b);
  }
}

function syncControls(cfg) {
  const set = (id, v) => { const el = $(id); if (document.activeElement !== el) el.value = v; };
  set("noise", cfg.noise); $("noise-out").textContent = cfg.noise;
  set("train_ratio", cfg.train_ratio); $("ratio-out").textContent = `${Math.round(cfg.train_ratio * 100)}%`;
  set("n_samples", cfg.n_samples); set("lr", cfg.lr); set("dropout", cfg.dropout); set("l2", cfg.l2); set("seed", cfg.seed);
  set("activation", cfg.activation); set("optimizer", cfg.optimizer); set("init", cfg.init);
  set("batch_size", String(cfg.batch_size));
  const task = cfg.dataset.startsWith("upload:") ? cfg.dataset.slice(7) : (P.opt.datasets.classification.includes(cfg.dataset) ? "classification" : "regression");
  fillSelect($("loss"), P.opt.losses[task]); $("loss").value = cfg.loss;
  for (const b of document.querySelectorAll("#datasets button")) b.setAttribute("aria-checked", String(b.dataset.name === cfg.dataset));
  for (const c of document.querySelectorAll("#features input")) c.checked = cfg.features.includes(c.dataset.key);
  $("layer-count").textContent = `${cfg.hidden.length} hidden layer${cfg.hidden.length === 1 ? "" : "s"}`;
  optimizerParams(cfg);
}

function changeLayers(d) {
  const h = [...P.st.config.hidden];
  if (d > 0 && h.length < P.opt.max_layers) h.push(2);
  else if (d < 0 && h.length) h.pop();
  setConfig({ hidden: h });
}
function changeNeurons(layer, d) {
  const h = [...P.st.config.hidden];
  h[layer] = Math.max(1, Math.min(P.opt.max_neurons, h[layer] + d));
  setConfig({ hidden: h });
}
async function togglePlay() {
  if (!P.st) return;
  try { await api("/api/play", { playing: !P.st.playing }); } catch (e) { showBanner(e.message); }
}
async function stepOnce() { try { await api("/api/step", { steps: 1 }); } catch (e) { showBanner(e.message); } }

async function uploadFile(e) {
  const f = e.target.files[0];
  $("upload-error").textContent = "";
  if (!f) return;
  try { await api(`/api/upload?filename=${encodeURIComponent(f.name)}`, f); }
  catch (x) { $("upload-error").textContent = x.message; }
  e.target.value = "";
}

// ---- the network -----------------------------------------------------------------------------
const BOX = 40, ROWH = 50, TOP = 40, LEFT = 70;
let COLW = 110;
function layout(widths) {   // columns spread over the panel's width (at most 110 px apart)
  const room = $("network").clientWidth - LEFT - BOX - 12;
  COLW = Math.max(60, Math.min(110, room / Math.max(1, widths.length - 1)));
  return widths.map((w, K) => Array.from({ length: w }, (_, j) => ({ x: LEFT + K * COLW, y: TOP + j * ROWH })));
}

function drawNetwork() {   // the playground's network, or the guide's 4-2-1 network in guide mode
  const st = P.st, g = st.guide, net = $("network");
  const widths = g ? g.widths : st.network.widths, W = g ? g.W : st.network.W;
  const key = JSON.stringify([widths, g && [g.round, g.index], P.selected, st.network.inputs, net.clientWidth]);
  if (key === P.netKey && !g) { updateNetwork(st); return; }   // same drawing: repaint heat maps and links only
  P.netKey = key; P.canvases = []; P.links = [];
  const pos = layout(widths);
  net.innerHTML = "";
  const width = LEFT + (widths.length - 1) * COLW + BOX + 10, height = Math.max(...widths) * ROWH + TOP + 16;
  net.style.height = `${Math.max(height, 330)}px`;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height); net.appendChild(svg);
  drawLinks(svg, pos, W, g);
  widths.forEach((w, K) => {
    for (let j = 0; j < w; j++) drawNeuron(net, pos[K][j], K, j, widths.length, g);
    if (!g && K > 0 && K < widths.length - 1) drawColumnButtons(net, pos[K][0].x, K);
    const head = document.createElement("span"); head.className = "colhead";
    head.style.left = `${pos[K][0].x - 15}px`; head.style.top = "22px";
    head.textContent = K === 0 ? "" : (K === widths.length - 1 ? "output" : (COLW < 90 ? `${w}` : `${w} neurons`));
    net.appendChild(head);
  });
}

function maxAbs(W) { let m = 1e-9; for (const M of W) for (const row of M) for (const v of row) m = Math.max(m, Math.abs(v)); return m; }
function styleLink(p, w, maxW) {   // width ∝ |W_ij|, blue for W > 0, orange for W < 0
  const c = colour(w >= 0 ? 0.8 : -0.8);
  p.setAttribute("stroke", `rgb(${c.join(",")})`); p.setAttribute("stroke-width", (0.5 + 5 * Math.abs(w) / maxW).toFixed(2));
}

function updateNetwork(st) {   // the structure is unchanged: new heat maps, new link widths and colours
  const maxW = maxAbs(st.network.W);
  for (const [p, hit, k, i, j] of P.links) {
    const w = st.network.W[k][i][j];
    styleLink(p, w, maxW);
    hit.setAttribute("aria-label", `Link from neuron ${i + 1} of layer ${k} to neuron ${j + 1} of layer ${k + 1}: W = ${fmt(w)}`);
  }
  for (const [cv, K, j] of P.canvases) drawHeat(cv, st.heatmaps.neurons[K][j], st.heatmaps.size);
}

function drawLinks(svg, pos, W, g) {
  const hl = new Set((g ? g.step.links : []).map((a) => a.join(",")));
  const maxW = maxAbs(W);
  W.forEach((M, k) => M.forEach((row, i) => row.forEach((w, j) => {
    const a = pos[k][i], b = pos[k + 1][j], K = k + 1;
    const d = `M${a.x + BOX},${a.y + BOX / 2} C${a.x + BOX + 35},${a.y + BOX / 2} ${b.x - 35},${b.y + BOX / 2} ${b.x},${b.y + BOX / 2}`;
    const p = document.createElementNS(svg.namespaceURI, "path");
    p.setAttribute("d", d); p.setAttribute("class", "link" + (hl.has(`${K},${i},${j}`) ? " hl" : ""));
    styleLink(p, w, maxW);
    svg.appendChild(p);
    if (g) return;
    const hit = document.createElementNS(svg.namespaceURI, "path");   // a wider, invisible target for the click
    hit.setAttribute("d", d); hit.setAttribute("class", "hit"); hit.setAttribute("role", "button"); hit.setAttribute("tabindex", "0");
    hit.setAttribute("aria-label", `Link from neuron ${i + 1} of layer ${K - 1} to neuron ${j + 1} of layer ${K}: W = ${fmt(w)}`);
    hit.addEventListener("click", () => showDetail(K, j, i));
    hit.addEventListener("keydown", (e) => { if (e.key === "Enter") showDetail(K, j, i); });
    svg.appendChild(hit);
    P.links.push([p, hit, k, i, j]);
  })));
}

function drawNeuron(net, at, K, j, nLayers, g) {   // a button with the neuron's heat map (or guide values)
  const st = P.st, b = document.createElement("button");
  b.type = "button"; b.className = "neuron";
  b.style.left = `${at.x}px`; b.style.top = `${at.y}px`;
  const input = g ? `x${j + 1}` : st.network.inputs[j];
  b.setAttribute("aria-label", K === 0 ? `Input ${input}` : (K === nLayers - 1 ? `Output neuron ${j + 1}` : `Neuron ${j + 1} of layer ${K}`));
  const chosen = P.selected && P.selected[2] == null && P.selected[0] === K && P.selected[1] === j;
  if ((g && g.step.neurons.some((n) => n[0] === K && n[1] === j)) || (!g && chosen)) b.classList.add("hl");
  if (!g) {
    const cv = document.createElement("canvas"); cv.width = cv.height = BOX; b.appendChild(cv);
    drawHeat(cv, st.heatmaps.neurons[K][j], st.heatmaps.size);
    P.canvases.push([cv, K, j]);
    b.addEventListener("click", () => (K > 0 ? showDetail(K, j, null) : showInput(j)));
  } else {
    const v = document.createElement("span"), known = K === 0 ? null : g.values[`${K},${j}`];
    v.className = "val"; v.textContent = K === 0 ? fmt(g.x[j]) : (known ? `h ${fmt(known.h)}` : "");
    b.appendChild(v);
    if (known && known.dC_dZ !== undefined) {
      const d = document.createElement("span"); d.className = "neuron-delta";
      d.style.left = `${at.x - 10}px`; d.style.top = `${at.y + BOX + 1}px`; d.textContent = `∂C/∂Z ${fmt(known.dC_dZ)}`;
      net.appendChild(d);
    }
  }
  if (K === 0) {
    const l = document.createElement("span"); l.className = "neuron-label";
    l.style.left = `${at.x - 66}px`; l.style.top = `${at.y + 12}px`;
    l.textContent = g ? `x${"₁₂₃₄₅₆₇₈"[j] || j + 1}` : input; net.appendChild(l);
  }
  net.appendChild(b);
}

function drawColumnButtons(net, x, K) {   // + / − neurons of hidden layer K
  for (const [d, sym] of [[+1, "+"], [-1, "−"]]) {
    const cb = document.createElement("button"); cb.type = "button"; cb.className = "colbtn"; cb.textContent = sym;
    cb.setAttribute("aria-label", `${d > 0 ? "Add" : "Remove"} a neuron in layer ${K}`);
    cb.style.left = `${x + (d > 0 ? 0 : 22)}px`; cb.style.top = "0px";
    cb.addEventListener("click", () => changeNeurons(K - 1, d)); net.appendChild(cb);
  }
}

// ---- output, curves, gradients -------------------------------------------------------------
function drawOutput() {
  const st = P.st, cv = $("output"), ctx = cv.getContext("2d");
  if (!st) return;
  drawHeat(cv, st.heatmaps.output, st.heatmaps.output_size);
  const pts = P.points; if (!pts) return;
  const R = st.heatmaps.radius, s = cv.width / (2 * R), showTest = $("show-test").checked;
  for (let k = 0; k < pts.X.length; k++) {
    const test = k >= pts.n_train; if (test && !showTest) continue;
    const [x1, x2] = pts.X[k], y = pts.y[k];
    const c = colour(pts.task === "classification" ? (y > 0.5 ? 1 : -1) : Math.max(-1, Math.min(1, y)));
    ctx.beginPath(); ctx.arc((x1 + R) * s, (R - x2) * s, 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${c.join(",")})`; ctx.fill();
    ctx.lineWidth = 1; ctx.strokeStyle = test ? "#000" : "#fff"; ctx.stroke();
  }
  const sel = parseInt($("sample").value, 10) || 0;   // the sample of the neuron detail
  if (sel < pts.n_train) {
    const [x1, x2] = pts.X[sel];
    ctx.beginPath(); ctx.arc((x1 + R) * s, (R - x2) * s, 7, 0, 2 * Math.PI);
    ctx.lineWidth = 2.5; ctx.strokeStyle = "#d81b60"; ctx.stroke();
  }
}

function drawCurve() {
  const h = P.st.history, cv = $("curve"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  if (h.length < 2) return;
  const x0 = h[0][0], x1 = Math.max(h[h.length - 1][0], x0 + 1e-9);
  const ymax = Math.max(...h.map((r) => Math.max(r[1], r[2]))) || 1;
  for (const [col, colour_] of [[1, "#999"], [2, "#000"]]) {
    ctx.beginPath();
    h.forEach((r, k) => {
      const x = ((r[0] - x0) / (x1 - x0)) * (cv.width - 4) + 2, y = cv.height - 2 - (r[col] / ymax) * (cv.height - 4);
      k ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.strokeStyle = colour_; ctx.lineWidth = 1.5; ctx.stroke();
  }
}

function drawGradients() {
  const gr = P.st.gradients, strip = $("grad-strip");
  strip.innerHTML = "";
  gr.norms.forEach((n, k) => {
    const d = document.createElement("div"); d.className = gr.status[k];
    d.textContent = `‖∂C/∂W${"¹²³⁴⁵⁶⁷⁸"[k] || k + 1}‖ ${fmt(n)}`; d.title = gr.status[k];
    strip.appendChild(d);
  });
  const msg = $("grad-message");
  msg.textContent = gr.message ? `${gr.message} ` : "";
  if (gr.section) {   // a link to the guide's section, just below
    const a = document.createElement("a"); a.href = `#guide-${gr.section}`; a.textContent = "Why?";
    a.addEventListener("click", () => { $(`guide-${gr.section}`).open = true; });
    msg.appendChild(a);
  }
}

// ---- detail and guide ------------------------------------------------------------------------
function pickSample(e) {   // the training point nearest the click becomes the detail's sample
  const pts = P.points, cv = $("output"), R = P.st.heatmaps.radius;
  const r = cv.getBoundingClientRect();
  const x1 = ((e.clientX - r.left) / r.width) * 2 * R - R, x2 = R - ((e.clientY - r.top) / r.height) * 2 * R;
  let best = 0, bestD = Infinity;
  for (let k = 0; k < pts.n_train; k++) {
    const d = (pts.X[k][0] - x1) ** 2 + (pts.X[k][1] - x2) ** 2;
    if (d < bestD) { bestD = d; best = k; }
  }
  $("sample").value = best;
  drawOutput();
  if (P.selected) showDetail(...P.selected);
}

async function showDetail(K, j, i) {
  P.selected = [K, j, i];
  const sample = parseInt($("sample").value, 10) || 0;
  try {
    const d = await api("/api/detail", { layer: K, neuron: j, source: i, sample });
    const dl = $("detail-summary"); dl.innerHTML = "";
    const rows = [["Neuron", `${j + 1} of layer ${K}${i !== null ? ` (link from ${i + 1})` : ""}`], ["Z", d.Z], ["h", d.h],
      ["∂C/∂h", d.dC_dh], ["∂C/∂Z", d.dC_dZ], ["C", d.C], ["y_t", d.y_true[0]], ["y_p", d.y_pred[0]]];
    if (i !== null) rows.push(["W", d.W[i]], ["∂C/∂W", d.dC_dW[i]], ["W − η∂C/∂W", d.W_new[i]]);
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k; dd.textContent = typeof v === "number" ? fmt(v) : (v === null ? "– (the loss gives ∂C/∂Z)" : v);
      dd.setAttribute("aria-label", k); dl.append(dt, dd);
    }
    fillList($("detail-equations"), d.equations);
    $("detail-notes").textContent = d.notes.join(" ");
    $("detail-hint").textContent = `Sample ${sample}: x = (${d.x.map(fmt).join(", ")}); numbers of nl.trace, η = ${fmt(d.lr)}.`;
  } catch (e) {   // e.g. an activation nl.trace does not walk: said in the panel itself
    $("detail-summary").innerHTML = ""; fillList($("detail-equations"), []);
    $("detail-notes").textContent = e.message;
  }
}

async function showInput(i) {   // an input neuron: the feature's value h⁰ᵢ for the selected sample
  const sample = parseInt($("sample").value, 10) || 0, name = P.st.network.inputs[i];
  try {
    const d = await api("/api/detail", { layer: 1, neuron: 0, source: null, sample });
    const dl = $("detail-summary"); dl.innerHTML = "";
    for (const [k, v] of [["Input", name], ["h⁰", fmt(d.h_in[i])]]) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k; dd.textContent = v; dd.setAttribute("aria-label", k); dl.append(dt, dd);
    }
    fillList($("detail-equations"), [`h⁰${"₁₂₃₄₅₆₇"[i]} = ${name} = ${fmt(d.h_in[i])}   (x = (${d.x.map(fmt).join(", ")}))`]);
    $("detail-notes").textContent = "Inputs pass their value on: every neuron of layer 1 sums h⁰ᵢ W¹ᵢⱼ.";
  } catch (e) { $("detail-notes").textContent = e.message; }
}

function fillList(ul, lines) {
  ul.innerHTML = "";
  for (const t of lines) { const li = document.createElement("li"); li.textContent = t; ul.appendChild(li); }
}

async function guide(action) {
  try { await api("/api/guide", { action }); } catch (e) { showBanner(e.message); }
}

function drawGuide() {
  const g = P.st.guide, panel = $("guide-panel");
  panel.hidden = !g;
  $("guide-start").textContent = g ? "Guide mode (on)" : "Guide mode";
  if (!g) return;
  $("guide-progress").textContent = `Training step ${g.round}, part ${g.index + 1} of ${g.total} · C = ${fmt(g.C)}`;
  $("guide-title").textContent = g.step.title;
  fillList($("guide-equations"), g.step.equations);
}

// ---- state -----------------------------------------------------------------------------------
function render() {
  const st = P.st;
  syncControls(st.config);
  $("play").textContent = st.playing ? "❚❚" : "▶";
  $("play").setAttribute("aria-label", st.playing ? "Pause" : "Play");
  $("speed").value = String(st.speed);
  $("epoch").textContent = st.epoch.toFixed(2);
  $("stepcount").textContent = st.step;
  $("test-loss").textContent = fmt(st.test_loss);
  $("train-loss").textContent = fmt(st.train_loss);
  if (st.error) showBanner(st.error);
  $("upload-status").textContent = st.upload ? `${st.upload.name}: ${st.upload.rows} rows, ${st.upload.task}` +
    (st.config.dataset.startsWith("upload:") ? " (in use)" : "") : "";
  drawNetwork(); drawOutput(); drawCurve(); drawGradients(); drawGuide();
}

async function start() {
  try {
    P.opt = await (await fetch("/api/options")).json();
    const r = await fetch("/api/session", { method: "POST" });
    const d = await r.json();
    if (!r.ok) { showBanner(d.error); return; }
    P.sid = d.session;
  } catch (e) { showBanner(`cannot reach the playground server: ${e.message}`); return; }
  buildControls();
  P.es = new EventSource(`/api/events?session=${P.sid}`);
  P.es.onmessage = (ev) => {
    const st = JSON.parse(ev.data);
    if (st.points) P.points = st.points;
    P.st = st; render();
    P.frames = (P.frames || 0) + 1;   // rendered updates (benchmarks/bench_playground.py counts them)
  };
  P.es.onerror = () => { if (P.es.readyState === EventSource.CLOSED) showBanner("the connection to the playground server closed: reload the page"); };
  window.addEventListener("pagehide", () => { navigator.sendBeacon(`/api/close?session=${P.sid}`); P.es.close(); });
}

start();
