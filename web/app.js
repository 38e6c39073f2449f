// app.js — truced's web console: the REST API with the bearer token, the VM table with live
// CPU and memory graphs, the create form, the actions, the serial console (xterm.js) and the
// screen (noVNC), both over truced's WebSockets. No build step: plain ES modules.
import { Terminal } from './vendor/xterm/xterm.mjs';
import { FitAddon } from './vendor/xterm-addon-fit/addon-fit.mjs';
import RFB from './vendor/novnc/core/rfb.js';

const $ = (id) => document.getElementById(id);
const HISTORY = 60; // samples per graph (one a second)
const LIVE = ['running', 'paused', 'starting', 'stopping'];
let token = sessionStorage.getItem('truced-token') || '';
let pollTimer = null;
const rows = new Map(); // name -> {tr, cells, hist, conf}
let term = null, termWs = null, rfb = null;

function say(msg) { $('status').textContent = msg; }

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: Object.assign({ Authorization: 'Bearer ' + token },
                           body ? { 'Content-Type': 'application/json' } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 401) { signOut('The token was refused.'); throw new Error('401'); }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!r.ok) throw new Error((json && json.error) || r.status + ' ' + r.statusText);
  return json;
}

function wsUrl(name, what) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/v1/vms/${encodeURIComponent(name)}/${what}`;
}

/* ---- sign-in ---------------------------------------------------------------------------- */

async function signIn(t) {
  token = t;
  try {
    const h = await api('GET', '/v1/host');
    sessionStorage.setItem('truced-token', t);
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    $('hostinfo').textContent = `${h.host_mem_mib} MiB of memory, overcommit ${h.overcommit}` +
      (h.cgroup_parent ? `, cgroup ${h.cgroup_parent}` : '');
    await refresh();
    pollTimer = setInterval(refresh, 1000);
    $('vms-h').focus();
  } catch (e) {
    if (e.message !== '401') $('login-error').textContent = 'truced did not answer: ' + e.message;
  }
}

function signOut(why) {
  clearInterval(pollTimer);
  sessionStorage.removeItem('truced-token');
  token = '';
  closeConsole();
  closeScreen();
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why || '';
  $('token').focus();
}

/* ---- the VM table ----------------------------------------------------------------------- */

const ACTIONS = [
  ['Start', (v) => !LIVE.includes(v.state), (n) => act(n, 'start')],
  ['Stop', (v) => v.state === 'running' || v.state === 'paused', (n) => act(n, 'stop')],
  ['Pause', (v) => v.state === 'running', (n) => act(n, 'pause')],
  ['Resume', (v) => v.state === 'paused', (n) => act(n, 'resume')],
  ['Snapshot', (v) => v.state === 'running' || v.state === 'paused', (n) => snapshot(n)],
  ['Console', (v, c) => (v.state === 'running' || v.state === 'paused') && c.console, (n) => openConsole(n)],
  ['Screen', (v, c) => (v.state === 'running' || v.state === 'paused') && c.vnc, (n) => openScreen(n)],
  ['Delete', (v) => !LIVE.includes(v.state), (n) => del(n)],
];

function graph(label) {
  const c = document.createElement('canvas');
  c.className = 'graph';
  c.width = 160; c.height = 36;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  const fig = document.createElement('div');
  fig.className = 'figure';
  const wrap = document.createElement('div');
  wrap.append(c, fig);
  return { wrap, canvas: c, fig };
}

function draw(g, values, max, color) {
  const ctx = g.canvas.getContext('2d');
  const w = g.canvas.width, h = g.canvas.height;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = color; ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = w - (values.length - 1 - i) * (w / (HISTORY - 1));
    const y = h - 2 - (max > 0 ? Math.min(v / max, 1) : 0) * (h - 4);
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.stroke();
}

async function addRow(v) {
  const tr = document.createElement('tr');
  const cells = {};
  for (const k of ['name', 'state', 'mem', 'cpu', 'rss', 'actions']) {
    cells[k] = document.createElement(k === 'name' ? 'th' : 'td');
    tr.append(cells[k]);
  }
  cells.name.scope = 'row';
  cells.name.className = 'name';
  cells.name.textContent = v.name;
  cells.cpuG = graph(`CPU use of ${v.name}`);
  cells.rssG = graph(`Memory use of ${v.name}`);
  cells.cpu.append(cells.cpuG.wrap);
  cells.rss.append(cells.rssG.wrap);
  const row = { tr, cells, hist: [], conf: { console: false, vnc: false }, buttons: [] };
  for (const [label, , fn] of ACTIONS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.setAttribute('aria-label', `${label} ${v.name}`);
    b.addEventListener('click', () => fn(v.name));
    cells.actions.append(b);
    row.buttons.push(b);
  }
  rows.set(v.name, row);
  try { // what the definition offers: a console on truce's stdio, a VNC screen
    const full = await api('GET', `/v1/vms/${encodeURIComponent(v.name)}`);
    const cfg = full.config || {};
    row.conf.console = !(cfg.serial && cfg.serial.serial_out_path);
    row.conf.vnc = !!(cfg.display && cfg.display.kind === 'vnc' && /^unix:/.test(cfg.display.vnc || ''));
  } catch (e) { /* keep both off */ }
  return row;
}

function updateRow(row, v) {
  const c = row.cells;
  c.state.innerHTML = '';
  const s = document.createElement('span');
  s.className = 'state ' + v.state;
  s.textContent = v.state + (v.state === 'crashed' && v.reason ? ` (${v.reason})` : '');
  c.state.append(s);
  c.mem.textContent = `${v.mem_size_mib} MiB`;
  const m = v.metrics || {};
  const cpu = m.cpu_usage_usec ?? m.proc_cpu_usec;
  const mem = m.memory_current ?? m.rss_bytes;
  const now = performance.now();
  if (LIVE.includes(v.state) && cpu != null) row.hist.push({ t: now, cpu, mem: mem || 0 });
  else row.hist = [];
  if (row.hist.length > HISTORY + 1) row.hist.shift();
  const pct = [], mib = [];
  for (let i = 1; i < row.hist.length; i++) {
    const a = row.hist[i - 1], b = row.hist[i];
    pct.push(Math.max(0, (b.cpu - a.cpu) / ((b.t - a.t) * 10)));
    mib.push(b.mem / 1048576);
  }
  const lastPct = pct.length ? pct[pct.length - 1] : null, lastMib = mib.length ? mib[mib.length - 1] : null;
  draw(c.cpuG, pct, Math.max(100, ...pct), '#0b5cad');
  draw(c.rssG, mib, Math.max(v.mem_size_mib, ...mib), '#116329');
  c.cpuG.fig.textContent = lastPct == null ? '—' : `${lastPct.toFixed(1)} %`;
  c.rssG.fig.textContent = lastMib == null ? '—' : `${lastMib.toFixed(1)} MiB`;
  c.cpuG.canvas.setAttribute('aria-label', `CPU use of ${v.name}: ${c.cpuG.fig.textContent}`);
  c.rssG.canvas.setAttribute('aria-label', `Memory use of ${v.name}: ${c.rssG.fig.textContent}`);
  ACTIONS.forEach(([, enabled], i) => { row.buttons[i].disabled = !enabled(v, row.conf); });
  row.tr.dataset.state = v.state;
}

async function refresh() {
  let list;
  try { list = (await api('GET', '/v1/vms')).vms; } catch (e) { say('Refresh failed: ' + e.message); return; }
  const tbody = $('vms').tBodies[0];
  const seen = new Set();
  for (const v of list) {
    seen.add(v.name);
    let row = rows.get(v.name);
    if (!row) { row = await addRow(v); tbody.append(row.tr); }
    updateRow(row, v);
  }
  for (const [name, row] of rows) if (!seen.has(name)) { row.tr.remove(); rows.delete(name); }
  $('novms').hidden = list.length > 0;
}

async function act(name, what) {
  say(`${what} ${name}…`);
  try {
    const r = await api('POST', `/v1/vms/${encodeURIComponent(name)}/${what}`, what === 'stop' ? {} : undefined);
    say(`${name}: ${what} done${r && r.stop ? ' (' + r.stop + ')' : ''}`);
  } catch (e) { say(`${name}: ${what} failed: ${e.message}`); }
  refresh();
}

async function del(name) {
  if (!confirm(`Delete the VM ${name}? Its definition is forgotten.`)) return;
  try { await api('DELETE', `/v1/vms/${encodeURIComponent(name)}`); say(`${name} deleted`); }
  catch (e) { say(`${name}: delete failed: ${e.message}`); }
  refresh();
}

function snapshot(name) {
  const d = $('snap-dialog');
  $('snap-h').textContent = `Snapshot ${name}`;
  d.dataset.vm = name;
  d.showModal();
  $('snap-dir').focus();
}

$('snap-cancel').addEventListener('click', () => $('snap-dialog').close('cancel'));
$('snap-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const d = $('snap-dialog'), name = d.dataset.vm;
  d.close('ok');
  say(`snapshot ${name}…`);
  try {
    await api('POST', `/v1/vms/${encodeURIComponent(name)}/snapshot`, { dir: $('snap-dir').value });
    say(`${name}: snapshot written to ${$('snap-dir').value}`);
  } catch (e) { say(`${name}: snapshot failed: ${e.message}`); }
});

/* ---- create ----------------------------------------------------------------------------- */

$('create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = $('create-error');
  err.textContent = '';
  let config;
  try { config = JSON.parse($('vm-def').value); } catch (e) {
    err.textContent = 'Definition: not valid JSON: ' + e.message;
    $('vm-def').focus();
    return;
  }
  const name = $('vm-name').value;
  try {
    await api('POST', '/v1/vms', { name, config, autostart: $('vm-autostart').checked });
    say(`${name} defined`);
    if ($('vm-start').checked) await act(name, 'start');
    else refresh();
  } catch (e) { err.textContent = e.message; }
});

/* ---- console ---------------------------------------------------------------------------- */

function closeConsole() {
  if (termWs) { termWs.onclose = null; termWs.close(1000); termWs = null; }
  if (term) { term.dispose(); term = null; }
  $('console-panel').hidden = true;
}

function openConsole(name) {
  closeConsole();
  closeScreen();
  $('console-panel').hidden = false;
  $('console-h').textContent = `Serial console of ${name}`;
  term = new Terminal({ convertEol: true, screenReaderMode: true, fontSize: 14, scrollback: 2000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open($('terminal'));
  fit.fit();
  // Ctrl+] leaves the terminal (as trucectl console detaches): no keyboard trap.
  term.attachCustomKeyEventHandler((e) => {
    if (e.type === 'keydown' && e.ctrlKey && e.key === ']') { $('console-close').focus(); return false; }
    return true;
  });
  const ws = new WebSocket(wsUrl(name, 'console'), ['binary', 'bearer.' + token]);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { say(`console of ${name} attached`); term.focus(); };
  $('console-panel').scrollIntoView({ block: 'start' });
  ws.onmessage = (m) => term.write(new Uint8Array(m.data));
  ws.onclose = (e) => say(`console of ${name} closed (${e.code}${e.reason ? ': ' + e.reason : ''})`);
  const enc = new TextEncoder();
  term.onData((d) => { if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
  termWs = ws;
  window.truceConsole = { term, ws }; // for the browser test
}

$('console-close').addEventListener('click', () => { closeConsole(); say('console closed'); });

/* ---- screen ----------------------------------------------------------------------------- */

function closeScreen() {
  if (rfb) { rfb.disconnect(); rfb = null; }
  $('screen').innerHTML = '';
  $('screen-panel').hidden = true;
}

function openScreen(name) {
  closeConsole();
  closeScreen();
  $('screen-panel').hidden = false;
  $('screen-h').textContent = `Screen of ${name}`;
  rfb = new RFB($('screen'), wsUrl(name, 'vnc'), { wsProtocols: ['binary', 'bearer.' + token] });
  rfb.scaleViewport = false;
  rfb.addEventListener('connect', () => say(`screen of ${name} connected`));
  rfb.addEventListener('disconnect', (e) => say(`screen of ${name} disconnected${e.detail.clean ? '' : ' (error)'}`));
  rfb.addEventListener('credentialsrequired', () => say(`the screen of ${name} wants a VNC password`));
  const link = $('shot-link');
  link.onclick = async (ev) => {
    ev.preventDefault();
    const r = await fetch(`/v1/vms/${encodeURIComponent(name)}/screenshot`, { headers: { Authorization: 'Bearer ' + token } });
    if (!r.ok) { say('screenshot failed: ' + r.status); return; }
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await r.blob());
    a.download = `${name}.png`;
    a.click();
  };
  $('screen-panel').scrollIntoView({ block: 'start' });
}

$('screen-close').addEventListener('click', () => { closeScreen(); say('screen closed'); });

/* ---- start ------------------------------------------------------------------------------ */

$('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('token').value.trim()); });
$('logout').addEventListener('click', () => signOut('Signed out.'));
$('vms-h').tabIndex = -1;
$('vm-def').placeholder = JSON.stringify({
  'boot-source': { kernel_image_path: '/srv/vm/vmlinux', boot_args: 'console=ttyS0' },
  'machine-config': { vcpu_count: 1, mem_size_mib: 256 },
}, null, 1);
if (token) signIn(token); else $('token').focus();
window.truceReady = true;
