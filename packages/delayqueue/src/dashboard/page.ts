/**
 * The dashboard's one page: static HTML, a style sheet and a script that reads `api/state` every two seconds and
 * draws it. Everything from the queue (topics, ids, payloads, errors) is put on the page as text nodes, never as
 * markup, so a payload cannot run script in the operator's browser.
 */

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #f7f8fa; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; background: #fff; min-width: 40rem; }
th, td { border: 1px solid #d9dde5; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #eef1f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.payload, td.error { font-family: ui-monospace, monospace; font-size: 12px; max-width: 28rem; overflow-wrap: anywhere; }
button { font: inherit; padding: .1rem .6rem; margin-right: .3rem; cursor: pointer; }
.paused { color: #a34b00; font-weight: 600; } .empty { color: #6b7385; }
#status, #result { min-height: 1.2rem; color: #6b7385; } #status.stale { color: #b00020; font-weight: 600; } svg { background: #fff; border: 1px solid #d9dde5; }
.p50 { stroke: #2f6fde; } .p99 { stroke: #d9534f; } polyline { fill: none; stroke-width: 2; }
`;

const SCRIPT = `
const api = location.pathname.replace(/\\/+$/, '') + '/api/';
const token = document.querySelector('meta[name="dashboard-token"]').content;
const statusLine = document.getElementById('status');
const resultLine = document.getElementById('result');
let loading = false;
let loadedAt = 0;

// Bidirectional controls (U+202E...) could make a name read as another: they are shown as their code points.
function visible(text) {
  return String(text).replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => '<U+' + c.charCodeAt(0).toString(16).toUpperCase() + '>');
}

function el(tag, text, attributes) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = visible(text);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  return node;
}
function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(cell);
  return tr;
}
function button(label, body) {
  const b = el('button', label);
  b.addEventListener('click', () => act(body, b));
  return b;
}
function fill(id, rows, emptyText, columns) {
  const body = document.getElementById(id);
  body.replaceChildren(...rows);
  if (rows.length === 0) body.append(row([el('td', emptyText, { class: 'empty', colspan: String(columns) })]));
}
function time(ms) { return new Date(ms).toISOString().replace('T', ' ').replace('.000Z', 'Z'); }

function render(state) {
  fill('topics', state.topics.map((t) => {
    const tr = row([el('td', t.name), ...['delayed', 'ready', 'reserved', 'dead'].map((s) => el('td', t[s], { class: 'n', 'data-state': s }))]);
    tr.setAttribute('data-topic', t.name);
    const actions = el('td');
    if (t.paused) { actions.append(el('span', 'paused ', { class: 'paused' }), button('Resume', { action: 'resume', topic: t.name })); }
    else if (state.supports.pause) actions.append(button('Pause', { action: 'pause', topic: t.name }));
    tr.append(actions);
    return tr;
  }), 'no jobs yet', 6);
  fill('dead', state.dead.map((j) => {
    const tr = row([el('td', j.topic), el('td', j.id), el('td', j.attempts, { class: 'n' }), el('td', j.lastError || '', { class: 'error' }), el('td', j.payload, { class: 'payload' }), el('td', j.at ? time(j.at) : '')]);
    tr.setAttribute('data-job', j.id);
    const actions = el('td');
    actions.append(button('Requeue', { action: 'requeue', id: j.id }), button('Delete', { action: 'delete', id: j.id }));
    tr.append(actions);
    return tr;
  }), 'no dead letters', 7);
  fill('schedules', state.schedules.map((s) => {
    const tr = row([el('td', s.name), el('td', s.topic), el('td', s.rule), el('td', time(s.next)), el('td', s.missed)]);
    tr.setAttribute('data-schedule', s.name);
    return tr;
  }), state.supports.schedules ? 'no schedules' : 'this backend has no schedules', 5);
  chart(state.lateness);
  loadedAt = Date.now();
  statusLine.className = '';
  statusLine.textContent = 'updated ' + new Date().toLocaleTimeString();
}

function chart(samples) {
  const svg = document.getElementById('chart');
  const w = 600, h = 120, pad = 4;
  const top = Math.max(1, ...samples.map((s) => s.p99));
  const x = (i) => pad + (samples.length < 2 ? 0 : (i * (w - 2 * pad)) / (samples.length - 1));
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  svg.replaceChildren();
  for (const key of ['p50', 'p99']) {
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('class', key);
    line.setAttribute('points', samples.map((s, i) => x(i) + ',' + y(s[key])).join(' '));
    svg.append(line);
  }
  const last = samples[samples.length - 1];
  document.getElementById('lateness').textContent = last
    ? 'p50 ' + last.p50.toFixed(1) + ' ms, p99 ' + last.p99.toFixed(1) + ' ms over the last ' + last.count + ' deliveries of this process (scale: ' + top.toFixed(1) + ' ms)'
    : 'no deliveries yet';
}

// One request at a time: a slow backend must not pile them up.
async function load() {
  if (loading) return;
  loading = true;
  try {
    const response = await fetch(api + 'state', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error((await response.json()).error || response.statusText);
    render(await response.json());
  } catch (error) {
    statusLine.className = 'stale';
    statusLine.textContent = 'could not load (' + error.message + '); what is shown is from ' + (loadedAt ? new Date(loadedAt).toLocaleTimeString() : 'never');
  } finally {
    loading = false;
  }
}

async function act(body, source) {
  source.disabled = true;
  try {
    const response = await fetch(api + 'action', { method: 'POST', headers: { 'content-type': 'application/json', 'x-dashboard-token': token }, body: JSON.stringify(body) });
    const result = await response.json();
    resultLine.textContent = new Date().toLocaleTimeString() + ' ' + (response.ok ? body.action + (result.done ? ' done' : ': nothing to do (it changed meanwhile)') : body.action + ' refused: ' + result.error);
  } catch (error) {
    resultLine.textContent = new Date().toLocaleTimeString() + ' ' + body.action + ' failed: ' + error.message;
  } finally {
    source.disabled = false;
  }
  await load();
}

load();
setInterval(load, 2000);
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page, with the token its POSTs must carry and the nonce its script and style run under. */
export function renderPage(title: string, token: string, nonce: string): string {
  const heading = escapeHtml(title);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="dashboard-token" content="${token}"><link rel="icon" href="data:,"><title>${heading}</title><style nonce="${nonce}">${STYLE}</style></head>
<body><h1>${heading}</h1><div id="status">loading…</div><div id="result" role="status"></div>
<h2>Jobs by topic and state</h2>
<table><thead><tr><th>topic</th><th>delayed</th><th>ready</th><th>reserved</th><th>dead</th><th></th></tr></thead><tbody id="topics"></tbody></table>
<h2>Lateness (due to delivered)</h2><div id="lateness"></div><svg id="chart" width="600" height="120" role="img" aria-label="lateness p50 (blue) and p99 (red)"></svg>
<h2>Dead letters (by topic, newest first)</h2>
<table><thead><tr><th>topic</th><th>id</th><th>attempts</th><th>last error</th><th>payload</th><th>died</th><th></th></tr></thead><tbody id="dead"></tbody></table>
<h2>Schedules</h2>
<table><thead><tr><th>name</th><th>topic</th><th>rule</th><th>next run</th><th>missed ticks</th></tr></thead><tbody id="schedules"></tbody></table>
<script nonce="${nonce}">${SCRIPT}</script></body></html>`;
}
