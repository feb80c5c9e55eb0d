/*
 * status.js -- timerd's status page: polls /v1/status every 2 s for the
 * numbers and tables and /v1/history every 5 s for the plots (uPlot).
 * Every string that comes from the server (keys, topics, probe specs, error
 * messages) goes into the DOM through textContent, never as HTML.
 */
'use strict';

const STATUS_MS = 2000, HISTORY_MS = 5000, POINTS = 600;
const METRICS = ['engine_arms', 'engine_fires', 'engine_pending', 'server_late_p50_ns', 'server_late_p99_ns',
                 'server_late_max_ns'];
const view = { span: 3600, zoom: null };   // seconds shown; zoom: [from_s, to_s] or null
let prev = null, plots = {}, historyTimer = null, historyEvery = HISTORY_MS;

/* Sets an element's text (never HTML). */
function setText(id, s) { document.getElementById(id).textContent = s; }

/* 1234567 -> "1,234,567"; null -> "-". */
function fmtInt(v) { return v == null || !isFinite(v) ? '-' : Math.round(v).toLocaleString('en-US'); }

/* A rate: whole numbers from 10 up, one decimal below. */
function fmtRate(v) { return v == null || !isFinite(v) ? '-' : v >= 10 || v === 0 ? fmtInt(v) : v.toFixed(1); }

/* Nanoseconds for people: "850 ns", "12.5 µs", "3.20 ms", "1.50 s", "2h 5m". */
function fmtNs(ns) {
  if (ns == null || !isFinite(ns)) return '-';
  const a = Math.abs(ns), s = ns < 0 ? '-' : '';
  if (a < 1e3) return s + a.toFixed(0) + ' ns';
  if (a < 1e6) return s + (a / 1e3).toPrecision(3) + ' µs';
  if (a < 1e9) return s + (a / 1e6).toPrecision(3) + ' ms';
  if (a < 60e9) return s + (a / 1e9).toPrecision(3) + ' s';
  const m = Math.floor(a / 60e9);
  if (m < 60) return s + m + 'm ' + Math.floor((a % 60e9) / 1e9) + 's';
  const h = Math.floor(m / 60);
  return h < 48 ? s + h + 'h ' + (m % 60) + 'm' : s + Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}

/* Unix ns -> "12:00:00.123" within a day from now, else "2026-12-01 12:00:00.123" (UTC). */
function fmtTime(ns) {
  const iso = new Date(ns / 1e6).toISOString().replace('T', ' ').replace('Z', '');
  return Math.abs(ns / 1e6 - Date.now()) < 86400e3 ? iso.slice(11) : iso;
}

/* Replaces a table's body with rows of cells (strings; a cell {t, cls} sets a class). */
function fillTable(id, rows) {
  const body = document.querySelector('#' + id + ' tbody'), frag = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement('tr');
    for (const c of r) {
      const td = document.createElement('td');
      if (c !== null && typeof c === 'object') {   // long user text: cut with an ellipsis, whole in the tooltip
        const span = document.createElement('span');
        span.textContent = c.t;
        span.className = c.cls;
        span.title = c.t;
        td.appendChild(span);
      } else {
        td.textContent = c;
      }
      tr.appendChild(td);
    }
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
}

/* Per-second rate of a counter between two /v1/status replies. */
function rate(a, b, group, name) {
  if (!a) return null;
  const dt = (b.stats.now_mono_ns - a.stats.now_mono_ns) / 1e9, d = b.stats[group][name] - a.stats[group][name];
  return dt > 0 && d >= 0 ? d / dt : null;
}

/* Fills the tiles from one /v1/status reply. */
function showTiles(st) {
  const e = st.stats.engine, sv = st.stats.server;
  const p = prev && st.stats.server.uptime_ns >= prev.stats.server.uptime_ns ? prev : null;
  setText('version', st.stats.version);
  setText('uptime', 'up ' + fmtNs(sv.uptime_ns));
  setText('pending', fmtInt(e.pending));
  setText('arms_rate', fmtRate(rate(p, st, 'engine', 'arms')));
  setText('fires_rate', fmtRate(rate(p, st, 'engine', 'fires')));
  setText('reqs_rate', fmtRate(rate(p, st, 'server', 'frames_in')));
  setText('errors_rate', fmtRate(rate(p, st, 'server', 'errors')));
  setText('conns', fmtInt(sv.conns));
  setText('watchers', fmtInt(sv.watchers));
  setText('late', fmtNs(e.late_p50_ns) + ' / ' + fmtNs(e.late_p99_ns) + ' / ' + fmtNs(e.late_max_ns));
}

/* Fills the next-timers table. */
function showNext(st) {
  const n = st.next;
  fillTable('next', n.timers.map(t => [fmtNs(t.left_ns), fmtTime(t.deadline_unix_ns),
    t.period_ns ? fmtNs(t.period_ns) : '-', { t: t.topic || '-', cls: 'txt' }, { t: t.key || '-', cls: 'txt' },
    t.timer_id]));
  setText('next-note', n.complete ? '(' + fmtInt(st.stats.engine.pending) + ' pending)'
    : '(soonest of the first ' + fmtInt(n.scanned) + ' listed; ' + fmtInt(st.stats.engine.pending) + ' pending)');
}

/* Fills the probes table. */
function showProbes(st) {
  const pr = st.stats.probes;
  fillTable('probes', st.probes.map(p => [p.probe_id, fmtInt(p.hits), fmtInt(p.arms), fmtInt(p.cancels),
    fmtInt(p.ring_drops), fmtInt(p.errors), { t: p.spec, cls: 'txt' }]));
  setText('probes-note', pr.available ? '(' + fmtInt(pr.attached) + ' attached, ' + fmtInt(pr.hits) + ' hits, ' +
    fmtInt(pr.ring_drops) + ' dropped)' : '(BPF probes unavailable in this timerd)');
}

/* Fills the errors table: the totals and every error code that is not zero. */
function showErrors(st) {
  const sv = st.stats.server, rows = [['error replies', fmtInt(sv.errors)], ['engine errors', fmtInt(st.stats.engine.errors)],
    ['stats.db write failures', fmtInt(sv.db_errors)], ['store commit failures', fmtInt(st.stats.store.commit_errors)],
    ['fire events dropped (slow watchers)', fmtInt(sv.fires_dropped)]];
  for (const k of Object.keys(sv).sort())
    if (k.startsWith('err_') && sv[k]) rows.push(['  ' + k.slice(4), fmtInt(sv[k])]);
  fillTable('errors', rows);
  const so = st.stats.store;
  setText('store', so.failing ? 'store FAILING: ' + (so.last_error || '(no message)')
    : so.durable ? 'store: ' + so.path + ', fsync ' + so.fsync : 'store: memory only');
}

/* Polls /v1/status once and shows it; says so when timerd does not answer. */
async function pollStatus() {
  const c = document.getElementById('conn');
  try {
    const r = await fetch('/v1/status', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const st = await r.json();
    showTiles(st); showNext(st); showProbes(st); showErrors(st);
    prev = st;
    c.textContent = 'live · updated ' + new Date().toLocaleTimeString();
    c.className = 'state ok';
  } catch (err) {
    c.textContent = 'timerd not reachable (' + err.message + '), retrying';
    c.className = 'state bad';
    prev = null;
  }
}

/* Rates per second from a cumulative series (null across a restart or a gap). */
function rates(ts, v) {
  return v.map((x, i) => {
    if (i === 0 || x == null || v[i - 1] == null) return null;
    const dt = (ts[i] - ts[i - 1]) / 1000, d = x - v[i - 1];
    return dt > 0 && d >= 0 ? d / dt : null;
  });
}

/* Creates a uPlot in a div; drag selects a range to zoom into, double-click resets. */
function makePlot(id, series, yfmt) {
  const el = document.getElementById(id);
  const opts = {
    width: Math.max(el.clientWidth, 300), height: 220,
    cursor: { drag: { x: true, y: false, setScale: false } },
    scales: { x: { time: true } },
    axes: [{ space: 90 }, { values: (u, vals) => vals.map(yfmt), size: 70 }],
    series: [{}].concat(series.map(s => Object.assign({ width: 1.5, spanGaps: false, value: (u, v) => yfmt(v) }, s))),
    hooks: {
      setSelect: [u => {
        if (u.select.width < 5) return;
        const from = u.posToVal(u.select.left, 'x'), to = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        view.zoom = [from, to];
        loadHistory();
      }],
      ready: [u => u.over.addEventListener('dblclick', () => { view.zoom = null; loadHistory(); })],
    },
  };
  return new uPlot(opts, [[]].concat(series.map(() => [])), el);
}

/* Builds the three plots. */
function makePlots() {
  const us = v => v == null ? '-' : fmtNs(v * 1e3);
  plots.rates = makePlot('plot-rates', [{ label: 'arms/s', stroke: '#1f77b4' }, { label: 'fires/s', stroke: '#d62728' }], fmtRate);
  plots.pending = makePlot('plot-pending', [{ label: 'pending', stroke: '#2ca02c', fill: 'rgba(44,160,44,0.1)' }], fmtInt);
  plots.late = makePlot('plot-late', [{ label: 'p50', stroke: '#9467bd' }, { label: 'p99', stroke: '#ff7f0e' },
    { label: 'max', stroke: '#8c564b', dash: [4, 4] }], us);
}

/* Fetches the history of the range on view and redraws the plots. */
async function loadHistory() {
  const now = Date.now(), from = view.zoom ? view.zoom[0] * 1000 : now - view.span * 1000;
  const to = view.zoom ? view.zoom[1] * 1000 : now;
  const q = '/v1/history?since=' + Math.floor(from) + '&until=' + Math.ceil(to) + '&points=' + POINTS +
    '&metric=' + METRICS.join(',');
  const note = document.getElementById('history-note');
  try {
    const r = await fetch(q, { cache: 'no-store' });
    const h = await r.json();
    if (!r.ok) throw new Error(h.error ? h.error.message : 'HTTP ' + r.status);
    const t = h.ts_ms.map(x => x / 1000), s = h.series, ns2us = a => a.map(x => x == null ? null : x / 1e3);
    plots.rates.setData([t, rates(h.ts_ms, s.engine_arms), rates(h.ts_ms, s.engine_fires)]);
    plots.pending.setData([t, s.engine_pending]);
    plots.late.setData([t, ns2us(s.server_late_p50_ns), ns2us(s.server_late_p99_ns), ns2us(s.server_late_max_ns)]);
    // the range asked for; a daemon younger than the range: from its first row
    const x0 = view.zoom || !t.length ? from / 1000 : Math.max(from / 1000, t[0]);
    for (const p of Object.values(plots)) p.setScale('x', { min: x0, max: to / 1000 });
    note.textContent = h.ts_ms.length + ' points, one per ' + fmtNs(h.step_ms * 1e6) + (view.zoom ? ' (zoomed)' : '') +
      (h.ts_ms.length ? '' : ' — no stats.db rows in this range yet');
    document.body.dataset.historyPoints = String(h.ts_ms.length);
    historyEvery = Math.max(HISTORY_MS, h.step_ms);   // a wide range: no new point before a bucket's worth
  } catch (err) {
    note.textContent = 'history unavailable: ' + err.message;
  }
}

/* Shows span (seconds) as the chosen range and remembers it in the URL (#range=900). */
function setSpan(span) {
  view.span = span;
  view.zoom = null;
  for (const o of document.querySelectorAll('#ranges button')) o.classList.toggle('on', Number(o.dataset.span) === span);
  history.replaceState(null, '', '#range=' + span);
}

/* Range buttons pick the span shown (and leave any zoom); #range=SECONDS in the URL picks it at load. */
function setupRanges() {
  const m = /range=([0-9]+)/.exec(location.hash);
  if (m && Number(m[1]) >= 10 && Number(m[1]) <= 86400 * 7) setSpan(Number(m[1]));
  for (const b of document.querySelectorAll('#ranges button'))
    b.addEventListener('click', () => { setSpan(Number(b.dataset.span)); loadHistory(); });
}

/* Resizes the plots to their boxes. */
function resize() {
  for (const [k, p] of Object.entries(plots))
    p.setSize({ width: Math.max(document.getElementById('plot-' + k).clientWidth, 300), height: 220 });
}

makePlots();
setupRanges();
window.addEventListener('resize', resize);
pollStatus();
loadHistory();
setInterval(pollStatus, STATUS_MS);
/* Refreshes the plots every 5 s, or once per point for a wide range (a day: every 144 s), unless zoomed. */
function historyTick() {
  if (!view.zoom) loadHistory();
  historyTimer = setTimeout(historyTick, historyEvery);
}
historyTimer = setTimeout(historyTick, HISTORY_MS);
