// tests/browser/status-page.js -- drives headless Chromium over the DevTools
// protocol on a pipe (--remote-debugging-pipe: NUL-terminated JSON on fds 3
// and 4; no WebSocket, no npm package, Node 18 is enough): opens timerd's
// status page, waits until the plots hold data, checks the DOM, the
// canvases and that the page logged no error, and saves a screenshot.
//
// usage: node status-page.js CHROMIUM URL PROFILE-DIR SHOT.png EVIL-KEY
// Prints one JSON line (what it saw, and the plots' boxes in CSS pixels);
// exits 1 with a message on the first check that fails.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');

const [chromium, url, profile, shot, evilKey] = process.argv.slice(2);
const DEADLINE_MS = 40000;
const started = Date.now();
let browser, session = null, seq = 0, inbuf = '';
const waiting = new Map(), problems = [];

function fail(msg) {
  console.error('FAIL: ' + msg);
  if (browser) browser.kill('SIGKILL');
  process.exit(1);
}
setTimeout(() => fail('timed out after ' + DEADLINE_MS + ' ms'), DEADLINE_MS).unref();

// Sends a DevTools command (to the page's session once attached) and resolves with its result.
function send(method, params = {}, toBrowser = false) {
  const id = ++seq, msg = { id, method, params };
  if (session && !toBrowser) msg.sessionId = session;
  browser.stdio[3].write(JSON.stringify(msg) + '\0');
  return new Promise((ok, ko) => waiting.set(id, { ok, ko, method }));
}

// Handles one message from Chromium: a command's answer, or an event worth noting.
function onMessage(msg) {
  if (msg.id && waiting.has(msg.id)) {
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    msg.error ? w.ko(new Error(w.method + ': ' + msg.error.message)) : w.ok(msg.result);
  } else if (msg.method === 'Runtime.exceptionThrown') {
    problems.push('exception: ' + JSON.stringify(msg.params.exceptionDetails.exception || msg.params.exceptionDetails.text));
  } else if (msg.method === 'Log.entryAdded' && msg.params.entry.level === 'error') {
    problems.push('log: ' + msg.params.entry.text + ' ' + (msg.params.entry.url || ''));
  } else if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') {
    problems.push('console.error: ' + JSON.stringify(msg.params.args));
  }
}

// Evaluates an expression in the page and returns its value (by value).
async function evaluate(expr) {
  const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(expr + ': ' + JSON.stringify(r.exceptionDetails));
  return r.result.value;
}

// Polls cond (a page expression) until it is true; fails with what it last saw.
async function waitFor(cond, what, ms = 25000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = await evaluate(cond).catch(e => e.message);
    if (last === true) return;
    await new Promise(r => setTimeout(r, 200));
  }
  fail('waiting for ' + what + ': ' + JSON.stringify(last));
}

// What the checks read from the page.
const probe = `(() => {
  const txt = id => document.getElementById(id).textContent;
  const rows = id => [...document.querySelectorAll('#' + id + ' tbody tr')].map(tr => [...tr.children].map(td => td.textContent));
  const canvases = [...document.querySelectorAll('.uplot canvas')].map(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, colors = new Set();
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) { ink++; colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
    }
    const b = c.getBoundingClientRect();
    return { w: c.width, h: c.height, ink, colors: colors.size, box: [b.left, b.top, b.width, b.height] };
  });
  return { pending: txt('pending'), fires: txt('fires_rate'), arms: txt('arms_rate'), conns: txt('conns'),
    late: txt('late'), state: document.getElementById('conn').className, next: rows('next'), errors: rows('errors'),
    probesNote: txt('probes-note'), historyNote: txt('history-note'), canvases,
    injected: document.querySelectorAll('#next img, #next b, img[src=x]').length,
    points: plots.rates.data[0].length, ratePoints: plots.rates.data[2].filter(v => v != null && v > 0).length,
    latePoints: plots.late.data[2].filter(v => v != null).length, dpr: window.devicePixelRatio };
})()`;

async function main() {
  browser = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-extensions', '--remote-debugging-pipe', '--user-data-dir=' + profile,
    '--window-size=1280,1500', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  browser.stderr.on('data', () => {});
  browser.on('exit', c => fail('chromium exited (' + c + ') before the checks were done'));
  browser.stdio[4].on('data', d => {
    inbuf += d.toString('utf8');
    for (let i; (i = inbuf.indexOf('\0')) >= 0; inbuf = inbuf.slice(i + 1)) onMessage(JSON.parse(inbuf.slice(0, i)));
  });
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' }, true);
  session = (await send('Target.attachToTarget', { targetId, flatten: true }, true)).sessionId;
  await send('Runtime.enable');
  await send('Log.enable');
  await send('Page.enable');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1500, deviceScaleFactor: 1, mobile: false });
  await send('Page.navigate', { url });
  await waitFor('typeof plots === "object" && plots.rates !== undefined', 'the page script to run');
  await waitFor('plots.rates.data[0].length >= 4 && plots.rates.data[2].filter(v => v > 0).length >= 2 && ' +
    'plots.late.data[2].filter(v => v != null).length >= 2', 'the plots to hold data');
  await waitFor('document.querySelectorAll("#next tbody tr").length === 10 && /[0-9]/.test(document.getElementById("fires_rate").textContent) && document.getElementById("fires_rate").textContent !== "0"',
    'the tiles and the next-timers table');
  await new Promise(r => setTimeout(r, 500));   // let the last redraw paint
  const s = await evaluate(probe);
  const num = t => Number(String(t).replace(/,/g, ''));
  if (!(num(s.pending) >= 20)) fail('pending tile: ' + s.pending);
  if (!(num(s.fires) > 0)) fail('fires/s tile: ' + s.fires);
  if (!/^[0-9.,]+$/.test(s.arms)) fail('arms/s tile: ' + s.arms);
  if (!(num(s.conns) >= 1)) fail('connections tile: ' + s.conns);
  if (!/[0-9]/.test(s.late)) fail('lateness tile: ' + s.late);
  if (s.state !== 'state ok') fail('connection state: ' + s.state);
  if (s.next.length !== 10 || !s.next.every(r => r.length === 6 && r[4] !== '' && /[0-9]/.test(r[0])))
    fail('next timers table: ' + JSON.stringify(s.next));
  if (!s.next.some(r => r[4] === evilKey)) fail('the key with markup is not shown as text: ' + JSON.stringify(s.next));
  if (s.injected !== 0) fail('markup from a key or topic became elements: ' + s.injected);
  if (s.errors.length < 5) fail('errors table: ' + JSON.stringify(s.errors));
  if (!s.probesNote) fail('probes note empty');
  if (s.canvases.length !== 3) fail('expected 3 plot canvases, saw ' + s.canvases.length);
  for (const c of s.canvases)
    if (c.ink < 200 || c.colors < 3) fail('a plot canvas is blank: ' + JSON.stringify(c));
  if (problems.length) fail('the page logged errors: ' + problems.join('; '));
  const png = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
  fs.writeFileSync(shot, Buffer.from(png.data, 'base64'));
  console.log(JSON.stringify({ elapsed_ms: Date.now() - started, pending: s.pending, fires: s.fires, arms: s.arms,
    points: s.points, ratePoints: s.ratePoints, latePoints: s.latePoints, boxes: s.canvases.map(c => c.box),
    canvases: s.canvases.map(c => ({ ink: c.ink, colors: c.colors })) }));
  browser.removeAllListeners('exit');
  browser.on('exit', () => process.exit(0));   // its profile directory is free once it has exited
  browser.kill('SIGTERM');
}
main().catch(e => fail(e.stack || String(e)));
