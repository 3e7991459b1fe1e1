// swarmseek web page: a plain ES module, no build step; it talks to /api/v1 only.
const $ = (selector, root = document) => root.querySelector(selector);
const api = (path) => `/api/v1${path}`;

const state = {
  cursor: null, params: null, mode: "search", lastSearch: null,
  downloads: new Map(), active: -1, suggestSeq: 0, searchSeq: 0,
};

// ---------- token: a node bound beyond localhost needs one for changes ----------
// Open the page as http://node:port/#token=SECRET; the token is kept for this tab only
// and removed from the address bar so it does not end up in bookmarks or screenshots.
const TOKEN_KEY = "swarmseek-token";
(function takeToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// ---------- formatting ----------
const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];
function formatSize(bytes) {
  if (bytes == null) return "";
  let value = bytes, unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}
// "10 MB", "1.5GiB", "700k", "123" -> bytes; "" -> null; anything else -> NaN.
function parseSize(text) {
  if (!text || !text.trim()) return null;
  const match = /^\s*(\d+(?:[.,]\d+)?)\s*([kmgtp]?)(i?)b?\s*$/i.exec(text);
  if (!match) return NaN;
  const power = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5 }[match[2].toLowerCase()];
  const base = match[3] ? 1024 : 1000;
  return Math.round(parseFloat(match[1].replace(",", ".")) * base ** power);
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
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// ---------- status and errors ----------
function setStatus(text) { $("#status").textContent = text; }
function showError(text) {
  const box = $("#error");
  box.textContent = text;
  box.hidden = !text;
}
function setBusy(busy) {
  $("#results-section").setAttribute("aria-busy", String(busy));
  document.body.classList.toggle("busy", busy);
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function fetchJSON(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch {
    throw new ApiError(0, "offline", "cannot reach the node; is it running?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error;
    if (response.status === 401) {
      throw new ApiError(401, "unauthorized", "this node needs its token: open the page as …/#token=YOUR-TOKEN");
    }
    throw new ApiError(response.status, error ? error.code : "http_error",
      error ? error.message : `${response.status} ${response.statusText}`);
  }
  return body;
}

// ---------- suggestions (WAI-ARIA combobox with a listbox popup) ----------
const input = $("#q");
const list = $("#suggestions");
let typingTimer = null;

function lastTerm(text) { return /(\S*)$/.exec(text)[1]; }

async function suggest() {
  const term = lastTerm(input.value);
  const seq = ++state.suggestSeq;
  if (!term) { closeSuggestions(); return; }
  try {
    const body = await fetchJSON(api(`/suggest?prefix=${encodeURIComponent(term)}&limit=8`));
    if (seq !== state.suggestSeq || document.activeElement !== input) return;
    renderSuggestions(body.suggestions || []);
  } catch { closeSuggestions(); }
}
function renderSuggestions(items) {
  list.replaceChildren();
  state.active = -1;
  input.removeAttribute("aria-activedescendant");
  items.forEach((text, i) => {
    const li = document.createElement("li");
    li.id = `suggestion-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.textContent = text;
    // mousedown, not click: the input must not lose focus (which closes the list).
    li.addEventListener("mousedown", (event) => { event.preventDefault(); pickSuggestion(text); });
    list.append(li);
  });
  const open = items.length > 0;
  list.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
}
function closeSuggestions() {
  state.suggestSeq += 1; // an answer still on its way must not reopen the list
  list.hidden = true;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
  state.active = -1;
}
function pickSuggestion(text) {
  input.value = `${input.value.replace(/\S*$/, text)} `;
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
  options[state.active].scrollIntoView({ block: "nearest" });
}
input.addEventListener("input", () => {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { suggest(); search(); }, 150);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" && list.hidden) { event.preventDefault(); suggest(); return; }
  if (list.hidden) return;
  if (event.key === "ArrowDown") { event.preventDefault(); moveActive(1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); moveActive(-1); }
  else if (event.key === "Escape") { event.preventDefault(); closeSuggestions(); }
  else if ((event.key === "Enter" || event.key === "Tab") && state.active >= 0) {
    event.preventDefault(); pickSuggestion(list.children[state.active].textContent);
  }
});
input.addEventListener("blur", closeSuggestions);

// ---------- search ----------
function filterValues() {
  const form = $("#search-form");
  const values = {};
  let valid = true;
  for (const name of ["size_min", "size_max"]) {
    const field = form.elements[name];
    const bytes = parseSize(field.value);
    const bad = Number.isNaN(bytes);
    field.setAttribute("aria-invalid", String(bad));
    $(`#${name}-error`).textContent = bad ? "Use a size like 700 MB or 1.5 GiB" : "";
    if (bad) valid = false;
    else if (bytes != null) values[name] = bytes;
  }
  for (const name of ["after", "before"]) {
    const value = form.elements[name].value;
    if (value) values[name] = Math.floor(Date.parse(value) / 1000);
  }
  const count = Object.keys(values).length;
  $("#filter-count").textContent = count ? `(${count} on)` : "";
  return valid ? values : null;
}

function searchParams() {
  const text = input.value;
  const params = new URLSearchParams();
  const words = text.trim().split(/\s+/).filter(Boolean);
  // The word being typed is a prefix; the ones before it are whole keywords.
  if (words.length && !/\s$/.test(text)) params.set("prefix", words.pop());
  if (words.length) params.set("q", words.join(" "));
  const filters = filterValues();
  if (filters === null) return null;
  for (const [name, value] of Object.entries(filters)) params.set(name, String(value));
  return params;
}

async function search(more = false) {
  showError("");
  const params = more ? new URLSearchParams(state.params) : searchParams();
  if (params === null) { setStatus("Fix the filters to search."); return; }
  if (!more) {
    state.cursor = null; state.params = params; state.mode = "search";
    $("#back").hidden = true;
    // Nothing typed and no filter set: nothing to ask. A filter alone is a search
    // (files of a size or date range), as in the API and the CLI.
    if ([...params.keys()].length === 0) {
      state.lastSearch = null;
      renderResults([], false); setEmpty(""); setStatus(""); return;
    }
  } else if (state.cursor) params.set("cursor", state.cursor);
  const seq = ++state.searchSeq;
  setBusy(true);
  if (!more) setStatus("Searching…");
  try {
    const body = await fetchJSON(api(`/search?${params}`));
    if (seq !== state.searchSeq) return; // a newer search replaced this one
    state.cursor = body.next_cursor;
    renderResults(body.results, more);
    const count = $("#results tbody").children.length;
    state.lastSearch = { params: state.params, text: input.value };
    // The address bar holds the search, so it can be bookmarked, shared or reloaded.
    if (!more) history.replaceState(null, "", `/?q=${encodeURIComponent(input.value.trim())}`);
    const asked = input.value.trim();
    const filtered = Object.keys(filterValues() || {}).length > 0;
    if (count) setEmpty("");
    else if (!asked) setEmpty("Nothing matches these filters. Try a wider range.");
    else setEmpty(`Nothing matches “${asked}”${filtered ? " with these filters" : ""}. Try fewer words or a shorter prefix.`);
    if (body.fuzzy && count && body.corrected) {
      // No name has every word: the node corrected a typo from the terms it knows.
      setStatus(`No name has every word of “${asked}”: ${plural(count, "result")} for “${body.corrected}”`);
    } else if (body.fuzzy && count) {
      // No name has every word: the node answered with names like them (typos, order).
      setStatus(`No name has every word of “${asked}”: ${plural(count, "name")} like it`);
    } else {
      setStatus(count ? `${plural(count, "result")}${body.next_cursor ? ", more available" : ""}` : "No results");
    }
  } catch (error) {
    if (seq !== state.searchSeq) return;
    if (error.status === 400 && params.has("prefix") && /too broad/.test(error.message)) {
      // A short prefix of a common word: not an error the user made, just early.
      renderResults([], false); setEmpty("");
      setStatus(`Too many names have a word starting with “${params.get("prefix")}”: type a few more letters.`);
    } else { setStatus(""); showError(`Search failed: ${error.message}`); }
  } finally {
    if (seq === state.searchSeq) setBusy(false);
  }
}

function setEmpty(text) { const p = $("#empty"); p.textContent = text; p.hidden = !text; }

function renderResults(results, append) {
  const table = $("#results");
  const body = $("tbody", table);
  if (!append) body.replaceChildren();
  $("#score-col").textContent = state.mode === "similar" ? "Similarity" : "Relevance";
  for (const result of results) body.append(resultRow(result));
  table.hidden = body.children.length === 0;
  $("#more").hidden = !state.cursor || state.mode !== "search";
}

function resultRow(result) {
  const row = document.createElement("tr");
  row.dataset.infohash = result.infohash;
  const score = state.mode === "similar" ? result.similarity : result.score;
  const cells = [
    ["Name", result.name],
    ["Size", formatSize(result.size)],
    ["Date", formatDate(result.created) || "unknown"],
    [state.mode === "similar" ? "Similarity" : "Relevance", score == null ? "" : Number(score).toFixed(2)],
    ["Peers", result.peers == null ? "?" : String(result.peers)],
  ];
  cells.forEach(([label, text], i) => {
    const cell = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) { cell.scope = "row"; cell.title = `infohash ${result.infohash}`; }
    if (label === "Peers" && result.peers == null) cell.title = "not known yet";
    cell.dataset.label = label;
    cell.textContent = text;
    row.append(cell);
  });
  const cell = document.createElement("td");
  cell.className = "cell-actions";
  const actions = document.createElement("div");
  actions.className = "actions";
  cell.append(actions);
  const download = button("Download", `Download ${result.name}`, (event) => startDownload(result, event.currentTarget), "download");
  if ([...state.downloads.values()].some((d) => d.infohash === result.infohash)) {
    download.disabled = true; download.textContent = "Added";
  }
  // A card without a content signature (a catalogue entry) has nothing to compare.
  if (result.signature !== false) {
    actions.append(button("Similar", `Find files similar to ${result.name}`, () => similarTo(result), "similar"));
  }
  actions.append(download);
  row.append(cell);
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

// ---------- similar files ----------
async function similarTo(result) {
  showError("");
  setStatus(`Looking for files similar to ${result.name}…`);
  setBusy(true);
  try {
    const body = await fetchJSON(api(`/similar?infohash=${result.infohash}&limit=50`));
    showSimilar(body.results, result.name);
  } catch (error) { setStatus(""); showError(`Similarity search failed: ${error.message}`); }
  finally { setBusy(false); }
}

async function similarToFile(file) {
  showError("");
  setStatus(`Reading ${file.name}…`);
  setBusy(true);
  try {
    const body = await fetchJSON(api("/similar?limit=50"), {
      method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
    });
    showSimilar(body.results, file.name);
  } catch (error) {
    setStatus("");
    showError(error.status === 413
      ? `${file.name} is too large to send from the browser (${formatSize(file.size)}); compare a smaller file.`
      : `Similarity search failed: ${error.message}`);
  }
  finally { setBusy(false); }
}

function showSimilar(results, name) {
  state.searchSeq += 1; // a search still on its way must not overwrite these
  state.mode = "similar"; state.cursor = null;
  renderResults(results, false);
  $("#back").hidden = !state.lastSearch;
  setEmpty(results.length ? "" : `No known file is similar to ${name}.`);
  setStatus(`${plural(results.length, "file")} similar to ${name}`);
  $("#results-heading").textContent = `Similar to ${name}`;
  $("#results-heading").focus();
}

$("#back").addEventListener("click", () => {
  if (!state.lastSearch) return;
  input.value = state.lastSearch.text;
  $("#results-heading").textContent = "Results";
  search();
  input.focus();
});

// ---------- drop or choose a file ----------
const zone = $("#drop-zone");
let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
  dragDepth += 1; zone.classList.add("over");
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) zone.classList.remove("over");
});
document.addEventListener("dragover", (event) => { event.preventDefault(); });
document.addEventListener("drop", (event) => {
  event.preventDefault(); dragDepth = 0; zone.classList.remove("over");
  const file = event.dataTransfer?.files[0];
  if (file) similarToFile(file);
});
$("#choose-file").addEventListener("click", () => $("#file-input").click());
$("#file-input").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) similarToFile(file);
  event.target.value = "";
});

// ---------- downloads ----------
async function startDownload(result, trigger) {
  showError("");
  if (trigger) { trigger.disabled = true; trigger.textContent = "Starting…"; }
  try {
    const body = await fetchJSON(api("/downloads"), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ infohash: result.infohash }),
    });
    updateDownload(body);
    setStatus(`Downloading ${result.name}`);
    if (trigger) trigger.textContent = "Added";
  } catch (error) {
    showError(`Download failed: ${error.message}`);
    if (trigger) { trigger.disabled = false; trigger.textContent = "Download"; }
  }
}

function updateDownload(download) {
  const before = state.downloads.get(download.id);
  if (download.removed) state.downloads.delete(download.id);
  else state.downloads.set(download.id, { ...(before || {}), ...download });
  if (before && before.state !== "complete" && download.state === "complete") {
    setStatus(`${download.name || download.infohash} downloaded`);
  }
  if (before && before.state !== "failed" && download.state === "failed") {
    showError(`Download of ${download.name || download.infohash} failed: ${download.error || "unknown error"}`);
  }
  renderDownloads();
  pollIfNeeded();
}

function renderDownloads() {
  const listElement = $("#downloads");
  const focusedAction = document.activeElement?.dataset?.action;
  const focusedId = document.activeElement?.closest?.("#downloads li")?.dataset.id;
  listElement.replaceChildren();
  if (!state.downloads.size) {
    const empty = document.createElement("li");
    empty.className = "empty"; empty.textContent = "No downloads yet.";
    listElement.append(empty); return;
  }
  for (const d of state.downloads.values()) listElement.append(downloadItem(d));
  if (focusedId) { // re-rendering must not throw keyboard focus away
    const item = $(`#downloads li[data-id="${CSS.escape(focusedId)}"]`);
    (item && ($(`[data-action="${focusedAction}"]`, item) || $("button", item)))?.focus();
  }
}

// What each state means to someone who has not read BEP 9.
const STATE_TEXT = { metadata: "looking for peers and the file list", checking: "checking what is on disk" };

function downloadItem(d) {
  const li = document.createElement("li");
  li.dataset.id = d.id; li.dataset.infohash = d.infohash; li.dataset.state = d.state;
  const name = d.name || d.infohash;
  const title = document.createElement("strong");
  title.textContent = name;
  const bar = document.createElement("progress");
  const percent = d.total_size ? Math.floor((100 * (d.verified_bytes || 0)) / d.total_size) : 0;
  if (d.total_size) { bar.max = d.total_size; bar.value = d.verified_bytes || 0; }
  else if (d.state === "complete") { bar.max = 1; bar.value = 1; }
  bar.setAttribute("aria-label", `Progress of ${name}`);
  bar.setAttribute("aria-valuetext", d.total_size ? `${percent}%` : d.state);
  const info = document.createElement("span");
  info.className = "download-info";
  const parts = [STATE_TEXT[d.state] || d.state];
  if (d.total_size) parts.push(`${percent}% of ${formatSize(d.total_size)}`);
  if (d.state === "downloading" && d.peers === 0) {
    parts.push("no peer connected: waiting for one"); // the seeders went away, or none yet
  } else if (d.state === "downloading") {
    if (d.rate != null) parts.push(`${formatSize(d.rate)}/s`);
    if (d.peers != null) parts.push(plural(d.peers, "peer"));
    if (d.eta != null) parts.push(`ETA ${formatDuration(d.eta)}`);
  }
  if (d.state === "complete" && (d.path || d.folder)) parts.push(`in ${d.path || d.folder}`);
  if (d.error) parts.push(d.error);
  info.textContent = parts.join(" · ");
  const controls = document.createElement("span");
  controls.className = "actions";
  if (d.state === "paused") controls.append(button("Resume", `Resume ${name}`, () => act(d, "resume"), "resume"));
  else if (d.state !== "complete" && d.state !== "failed") controls.append(button("Pause", `Pause ${name}`, () => act(d, "pause"), "pause"));
  controls.append(button("Remove", `Remove ${name} from the list (files are kept)`, () => act(d, "remove"), "remove"));
  li.append(title, controls, bar, info);
  return li;
}

async function act(d, action) {
  showError("");
  try {
    if (action === "remove") {
      await fetchJSON(api(`/downloads/${encodeURIComponent(d.id)}`), { method: "DELETE" });
      updateDownload({ id: d.id, removed: true });
      $("#downloads-heading").focus?.();
    } else {
      updateDownload(await fetchJSON(api(`/downloads/${encodeURIComponent(d.id)}/${action}`), { method: "POST" }));
    }
  } catch (error) { showError(`Could not ${action} ${d.name || d.infohash}: ${error.message}`); }
}

async function loadDownloads() {
  try {
    const body = await fetchJSON(api("/downloads"));
    for (const d of body.downloads) state.downloads.set(d.id, d);
    renderDownloads();
  } catch { /* the node may still be starting; events or polling catch up */ }
}

// Live progress comes from server-sent events; while they are down, poll instead.
let eventsOpen = false;
let pollTimer = null;
function listen() {
  const events = new EventSource(api("/events"));
  events.addEventListener("download", (event) => updateDownload(JSON.parse(event.data)));
  events.onopen = () => { eventsOpen = true; loadDownloads(); loadStats(); };
  events.onerror = () => { // EventSource reconnects by itself; say so meanwhile
    eventsOpen = false; $("#stats").textContent = "node unreachable"; pollIfNeeded();
  };
}
function pollIfNeeded() {
  const active = [...state.downloads.values()].some((d) => !["complete", "failed", "paused"].includes(d.state));
  if (eventsOpen || !active || pollTimer) return;
  pollTimer = setTimeout(async () => { pollTimer = null; await loadDownloads(); pollIfNeeded(); }, 1000);
}

async function loadStats() {
  try {
    const stats = await fetchJSON(api("/stats"));
    const parts = [];
    const nodes = stats.dht ? stats.dht.nodes : null;
    if (nodes != null) parts.push(`${plural(nodes, "DHT node")} known`);
    if (stats.cards != null) parts.push(`${plural(stats.cards, "file")} indexed here`);
    $("#stats").textContent = parts.join(" · ");
  } catch { $("#stats").textContent = "node unreachable"; }
}

// ---------- wiring ----------
$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault(); clearTimeout(typingTimer); closeSuggestions();
  $("#results-heading").textContent = "Results";
  search();
});
$("#filters").addEventListener("change", () => search());
$("#clear-filters").addEventListener("click", () => {
  for (const name of ["size_min", "size_max", "after", "before"]) $("#search-form").elements[name].value = "";
  search();
});
$("#more").addEventListener("click", () => search(true));
const linked = new URLSearchParams(location.search).get("q");
if (linked) { input.value = linked; search(); }
loadDownloads();
listen();
loadStats();
setInterval(loadStats, 30_000);
