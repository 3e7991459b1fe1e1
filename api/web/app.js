// swarmseek web page: plain ES module, no build step, talks to /api/v1.
const $ = (selector, root = document) => root.querySelector(selector);
const api = (path) => `/api/v1${path}`;

const state = { cursor: null, params: null, mode: "search", downloads: new Map(), active: -1 };

// ---------- formatting ----------
const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];
function formatSize(bytes) {
  if (bytes == null) return "";
  let value = bytes, unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}
function parseSize(text) {
  const match = /^\s*([\d.]+)\s*([kmgtp]?i?b?)?\s*$/i.exec(text || "");
  if (!match) return null;
  const power = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5 }[(match[2] || "").charAt(0).toLowerCase()];
  const base = /i/i.test(match[2] || "") ? 1024 : 1000;
  return Math.round(parseFloat(match[1]) * base ** power);
}
function formatDate(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().slice(0, 10) : "";
}
function formatDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
function setStatus(text) { $("#status").textContent = text; }

async function fetchJSON(url, options = {}) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body.error ? body.error.message : response.statusText;
    throw new Error(message);
  }
  return body;
}

// ---------- suggestions (combobox pattern) ----------
const input = $("#q");
const list = $("#suggestions");
let suggestTimer = null;

function lastTerm(text) { return /(\S*)$/.exec(text)[1]; }

async function suggest() {
  const term = lastTerm(input.value);
  if (term.length < 1) { closeSuggestions(); return; }
  try {
    const body = await fetchJSON(api(`/suggest?prefix=${encodeURIComponent(term)}&limit=8`));
    renderSuggestions(body.suggestions || []);
  } catch { closeSuggestions(); }
}
function renderSuggestions(items) {
  list.replaceChildren();
  state.active = -1;
  items.forEach((text, i) => {
    const li = document.createElement("li");
    li.id = `suggestion-${i}`;
    li.role = "option";
    li.textContent = text;
    li.addEventListener("mousedown", (event) => { event.preventDefault(); pickSuggestion(text); });
    list.append(li);
  });
  const open = items.length > 0;
  list.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
}
function closeSuggestions() {
  list.hidden = true; input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}
function pickSuggestion(text) {
  input.value = input.value.replace(/\S*$/, text) + " ";
  closeSuggestions();
  input.focus();
  search();
}
function moveActive(step) {
  const options = [...list.children];
  if (!options.length) return;
  state.active = (state.active + step + options.length) % options.length;
  options.forEach((li, i) => li.setAttribute("aria-selected", String(i === state.active)));
  input.setAttribute("aria-activedescendant", options[state.active].id);
}
input.addEventListener("input", () => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(() => { suggest(); search(); }, 150);
});
input.addEventListener("keydown", (event) => {
  if (list.hidden) return;
  if (event.key === "ArrowDown") { event.preventDefault(); moveActive(1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); moveActive(-1); }
  else if (event.key === "Escape") { closeSuggestions(); }
  else if (event.key === "Enter" && state.active >= 0) {
    event.preventDefault(); pickSuggestion(list.children[state.active].textContent);
  }
});
input.addEventListener("blur", closeSuggestions);

// ---------- search ----------
function searchParams() {
  const form = $("#search-form");
  const text = input.value;
  const params = new URLSearchParams();
  const words = text.trim().split(/\s+/).filter(Boolean);
  // The word being typed is a prefix; the ones before it are whole keywords.
  if (words.length && !/\s$/.test(text)) params.set("prefix", words.pop());
  if (words.length) params.set("q", words.join(" "));
  for (const name of ["size_min", "size_max"]) {
    const bytes = parseSize(form.elements[name].value);
    if (bytes != null) params.set(name, String(bytes));
  }
  for (const name of ["after", "before"]) {
    const value = form.elements[name].value;
    if (value) params.set(name, String(Date.parse(value) / 1000));
  }
  return params;
}

async function search(more = false) {
  const params = more ? state.params : searchParams();
  if (!more) {
    state.cursor = null; state.params = params; state.mode = "search";
    if (![...params.keys()].length) { renderResults([], false); setStatus(""); return; }
  }
  if (more && state.cursor) params.set("cursor", state.cursor);
  const asked = params.toString();
  try {
    const body = await fetchJSON(api(`/search?${asked}`));
    if (state.params !== params) return; // a newer search replaced this one
    state.cursor = body.next_cursor;
    renderResults(body.results, more);
    const count = $("#results tbody").children.length;
    setStatus(`${count} result${count === 1 ? "" : "s"}${body.next_cursor ? " (more available)" : ""}`);
  } catch (error) { setStatus(`Search failed: ${error.message}`); }
}

function renderResults(results, append) {
  const table = $("#results");
  const body = $("tbody", table);
  if (!append) body.replaceChildren();
  $("#score-col").textContent = state.mode === "similar" ? "Similarity" : "Relevance";
  for (const result of results) body.append(resultRow(result));
  table.hidden = body.children.length === 0;
  $("#more").hidden = !state.cursor;
}

function resultRow(result) {
  const row = document.createElement("tr");
  row.dataset.infohash = result.infohash;
  const score = state.mode === "similar" ? result.similarity : result.score;
  const cells = [
    result.name, formatSize(result.size), formatDate(result.created),
    score == null ? "" : Number(score).toFixed(2),
  ];
  cells.forEach((text, i) => {
    const cell = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) { cell.scope = "row"; cell.title = result.infohash; }
    cell.textContent = text;
    row.append(cell);
  });
  const actions = document.createElement("td");
  actions.className = "actions";
  actions.append(
    button("Similar", `Find files similar to ${result.name}`, () => similarTo(result), "similar"),
    button("Download", `Download ${result.name}`, () => startDownload(result), "download"),
  );
  row.append(actions);
  return row;
}

function button(text, label, onClick, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.setAttribute("aria-label", label);
  element.dataset.action = action;
  element.addEventListener("click", onClick);
  return element;
}

async function similarTo(result) {
  setStatus(`Looking for files similar to ${result.name}…`);
  try {
    const body = await fetchJSON(api(`/similar?infohash=${result.infohash}`));
    showSimilar(body.results, result.name);
  } catch (error) { setStatus(`Similarity search failed: ${error.message}`); }
}

async function similarToFile(file) {
  setStatus(`Reading ${file.name}…`);
  try {
    const body = await fetchJSON(api("/similar"), {
      method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
    });
    showSimilar(body.results, file.name);
  } catch (error) { setStatus(`Similarity search failed: ${error.message}`); }
}

function showSimilar(results, name) {
  state.mode = "similar"; state.cursor = null;
  renderResults(results, false);
  setStatus(`${results.length} file${results.length === 1 ? "" : "s"} similar to ${name}`);
}

// ---------- drop a file ----------
const zone = $("#drop-zone");
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault(); zone.classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (file) similarToFile(file);
});
$("#file-input").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) similarToFile(file);
});

// ---------- downloads ----------
async function startDownload(result) {
  try {
    const body = await fetchJSON(api("/downloads"), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ infohash: result.infohash, name: result.name }),
    });
    updateDownload(body);
    setStatus(`Downloading ${result.name}`);
  } catch (error) { setStatus(`Download failed: ${error.message}`); }
}

function updateDownload(download) {
  if (download.removed) state.downloads.delete(download.id);
  else state.downloads.set(download.id, download);
  renderDownloads();
}

function renderDownloads() {
  const listElement = $("#downloads");
  listElement.replaceChildren();
  if (!state.downloads.size) {
    const empty = document.createElement("li");
    empty.className = "empty"; empty.textContent = "No downloads yet.";
    listElement.append(empty); return;
  }
  for (const d of state.downloads.values()) listElement.append(downloadItem(d));
}

function downloadItem(d) {
  const li = document.createElement("li");
  li.dataset.id = d.id; li.dataset.infohash = d.infohash; li.dataset.state = d.state;
  const title = document.createElement("strong");
  title.textContent = d.name || d.infohash;
  const bar = document.createElement("progress");
  bar.max = d.total_size || 1; bar.value = d.verified_bytes || 0;
  bar.setAttribute("aria-label", `Progress of ${d.name || d.infohash}`);
  const info = document.createElement("span");
  info.className = "download-info";
  const percent = d.total_size ? Math.floor((100 * d.verified_bytes) / d.total_size) : 0;
  const parts = [d.state, `${percent}%`];
  if (d.state === "downloading") {
    parts.push(`${formatSize(d.rate)}/s`, `${d.peers} peer${d.peers === 1 ? "" : "s"}`);
    if (d.eta != null) parts.push(`ETA ${formatDuration(d.eta)}`);
  }
  if (d.error) parts.push(d.error);
  info.textContent = parts.join(" · ");
  const controls = document.createElement("span");
  controls.className = "actions";
  if (d.state === "paused") controls.append(button("Resume", `Resume ${d.name}`, () => act(d, "resume"), "resume"));
  else if (d.state !== "complete" && d.state !== "failed") controls.append(button("Pause", `Pause ${d.name}`, () => act(d, "pause"), "pause"));
  controls.append(button("Remove", `Remove ${d.name} from the list`, () => act(d, "remove"), "remove"));
  li.append(title, bar, info, controls);
  return li;
}

async function act(d, action) {
  try {
    if (action === "remove") {
      await fetchJSON(api(`/downloads/${d.id}`), { method: "DELETE" });
      updateDownload({ id: d.id, removed: true });
    } else {
      updateDownload(await fetchJSON(api(`/downloads/${d.id}/${action}`), { method: "POST" }));
    }
  } catch (error) { setStatus(`${action} failed: ${error.message}`); }
}

async function loadDownloads() {
  try {
    const body = await fetchJSON(api("/downloads"));
    for (const d of body.downloads) state.downloads.set(d.id, d);
    renderDownloads();
  } catch { /* the node may still be starting */ }
}

function listen() {
  const events = new EventSource(api("/events"));
  events.addEventListener("download", (event) => updateDownload(JSON.parse(event.data)));
  events.onerror = () => { /* EventSource reconnects by itself */ };
}

async function loadStats() {
  try {
    const stats = await fetchJSON(api("/stats"));
    $("#stats").textContent = `${stats.dht_nodes ?? 0} DHT nodes · ${stats.cards ?? 0} cards known`;
  } catch { /* ignore */ }
}

$("#search-form").addEventListener("submit", (event) => { event.preventDefault(); closeSuggestions(); search(); });
$("#filters").addEventListener("change", () => search());
$("#more").addEventListener("click", () => search(true));
loadDownloads();
listen();
loadStats();
