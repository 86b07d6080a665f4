// clinic board: polls the board's JSON every 2 s and draws the runs'
// curves as inline SVG. No library, no network beyond the board itself.
'use strict';
(function () {
  const METRICS = [
    ['loss', 'training loss'], ['val_loss', 'validation loss'], ['val_bleu', 'validation BLEU'],
    ['lr', 'learning rate'], ['grad_norm', 'gradient norm'], ['tokens_per_s', 'tokens/s']];
  // Record fields that may carry wall time (seconds); clinic's records
  // carry none today, so the wall-time axis stays off until they do.
  const TIME_KEYS = ['time', 'wall_time', 'elapsed_s'];
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const MAX_POINTS = 2000; // per series drawn; longer runs are thinned evenly
  const POLL_MS = 2000;
  const SVGNS = 'http://www.w3.org/2000/svg';

  // follow: the selection follows a sweep's runs (or all runs) as they
  // appear, until the user picks runs by hand.
  const st = { list: null, selected: new Set(), records: {}, follow: null, polls: 0, sig: {}, open: {}, auto: true };

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
    return r.json();
  }

  function followed(list) {
    if (!st.follow) return null;
    if (st.follow === 'all') return list.runs.slice(-10).map((r) => r.id);
    const s = list.sweeps.find((s) => s.id === st.follow);
    return s ? s.runs : [];
  }

  async function poll() {
    try {
      const list = await getJSON('api/runs');
      st.list = list;
      if (st.auto) {
        st.auto = false;
        const sw = list.sweeps.find((s) => s.runs.length > 0);
        st.follow = sw ? sw.id : 'all';
      }
      const f = followed(list);
      if (f) st.selected = new Set(f);
      const ids = new Set(list.runs.map((r) => r.id));
      for (const id of [...st.selected]) if (!ids.has(id)) st.selected.delete(id);
      await Promise.all([...st.selected].map(async (id) => {
        try {
          st.records[id] = await getJSON('api/run?id=' + encodeURIComponent(id));
        } catch (e) {
          st.records[id] = { id: id, records: [], error: String(e.message || e) };
        }
      }));
      st.polls++;
      render();
      status('updated ' + new Date().toLocaleTimeString() + ' · ' + list.runs.length + ' runs', false);
    } catch (e) {
      status('board unreachable: ' + (e.message || e), true);
    }
    setTimeout(poll, POLL_MS);
  }

  function status(text, bad) {
    const s = $('status');
    s.textContent = text;
    s.className = bad ? 'bad' : '';
    document.body.dataset.polls = st.polls;
  }

  function runByID(id) { return st.list.runs.find((r) => r.id === id); }
  function selectedRuns() { return st.list.runs.filter((r) => st.selected.has(r.id)); }
  function color(i) { return COLORS[i % COLORS.length]; }
  // label is a run's name on the charts: a sweep's runs by their own
  // name (postln-L6) when all the runs charted are of one sweep.
  function label(r) {
    const sweeps = new Set(selectedRuns().map((x) => x.sweep));
    return r.sweep && sweeps.size === 1 ? r.name.slice(r.name.lastIndexOf('/') + 1) : r.name;
  }

  function render() {
    if (!st.list) return;
    toURL();
    $('roots').textContent = st.list.roots.map((r) => r.path + (r.error ? ' (' + r.error + ')' : '')).join(' · ');
    renderNav();
    renderCharts();
    renderCards();
  }

  // --- the list of sweeps and runs --------------------------------------

  function renderNav() {
    const sig = JSON.stringify([st.list.sweeps, st.list.runs.map((r) => [r.id, r.records, r.last_step, r.error]), [...st.selected]]);
    if (st.sig.nav === sig) return;
    st.sig.nav = sig;
    const nav = $('runs');
    nav.replaceChildren();
    const sel = selectedRuns().map((r) => r.id);
    const row = (r) => {
      const cb = el('input', { type: 'checkbox', 'data-run': r.id });
      cb.checked = st.selected.has(r.id);
      cb.addEventListener('change', () => {
        st.follow = null;
        if (cb.checked) st.selected.add(r.id); else st.selected.delete(r.id);
        st.sig = {};
        poll0();
      });
      const i = sel.indexOf(r.id);
      const sw = el('span', { class: 'swatch' });
      sw.style.background = i >= 0 ? color(i) : 'transparent';
      const meta = (r.last_step !== undefined ? 'step ' + r.last_step + ' · ' : '') + r.records + ' records';
      return el('label', {}, cb, sw, r.sweep ? r.name.slice(r.name.lastIndexOf('/') + 1) : r.name, el('span', { class: 'meta' + (r.error ? ' err' : '') }, r.error ? 'error' : meta));
    };
    const head = (title, follow) => {
      const b = el('button', {}, 'show all');
      b.addEventListener('click', () => { st.follow = follow; st.sig = {}; poll0(); });
      return el('h2', {}, title, b);
    };
    for (const s of st.list.sweeps) {
      nav.append(head('sweep ' + s.name, s.id));
      if (s.error) nav.append(el('div', { class: 'err' }, s.error));
      for (const id of s.runs) nav.append(row(runByID(id)));
    }
    const lone = st.list.runs.filter((r) => !r.sweep);
    if (lone.length) {
      nav.append(head(st.list.sweeps.length ? 'other runs' : 'runs', 'all'));
      for (const r of lone) nav.append(row(r));
    }
    if (!st.list.runs.length) nav.append(el('div', { class: 'empty' }, 'No runs yet: a run is a directory with metrics.jsonl.'));
  }

  // poll0 redraws at once after a change of selection.
  let pending = null;
  function poll0() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      await Promise.all([...st.selected].filter((id) => !st.records[id]).map(async (id) => {
        try { st.records[id] = await getJSON('api/run?id=' + encodeURIComponent(id)); } catch (e) { /* next poll */ }
      }));
      render();
    }, 0);
  }

  // --- charts -----------------------------------------------------------

  // timeOf is a record's wall time in seconds: a number, or a date.
  function timeOf(rec) {
    for (const k of TIME_KEYS) {
      const v = typeof rec[k] === 'string' ? Date.parse(rec[k]) / 1000 : rec[k];
      if (typeof v === 'number' && isFinite(v)) return v;
    }
    return undefined;
  }

  // series returns each selected run's points [x, y] of metric.
  function series(metric, xaxis, logy) {
    return selectedRuns().map((r, i) => {
      const recs = (st.records[r.id] || { records: [] }).records;
      const first = recs.find((rec) => timeOf(rec) !== undefined);
      const t0 = first ? timeOf(first) : undefined;
      const pts = [];
      for (const rec of recs) {
        const y = rec[metric];
        if (typeof y !== 'number' || !isFinite(y) || (logy && y <= 0)) continue;
        const x = xaxis === 'time' ? (timeOf(rec) === undefined || t0 === undefined ? undefined : timeOf(rec) - t0) : rec.step;
        if (typeof x !== 'number') continue;
        pts.push([x, y]);
      }
      return { run: r, color: color(i), pts: thin(pts) };
    });
  }

  function thin(pts) {
    if (pts.length <= MAX_POINTS) return pts;
    const out = [];
    const stride = pts.length / MAX_POINTS;
    for (let i = 0; i < MAX_POINTS - 1; i++) out.push(pts[Math.floor(i * stride)]);
    out.push(pts[pts.length - 1]);
    return out;
  }

  function niceTicks(lo, hi, n) {
    if (lo === hi) { lo -= 1; hi += 1; }
    const raw = (hi - lo) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a >= 1e4) return a >= 1e6 ? fmt(v / 1e6) + 'M' : fmt(v / 1e3) + 'k';
    if (a !== 0 && a < 1e-3) return v.toExponential(0);
    return String(Number(v.toPrecision(4)));
  }
  // timeUnit is the unit of a wall-time axis reaching s seconds.
  function timeUnit(s) {
    return s < 120 ? [1, 's'] : s < 7200 ? [60, 'm'] : [3600, 'h'];
  }

  function chart(metric, title, xaxis, logy) {
    const ss = series(metric, xaxis, logy);
    const all = ss.flatMap((s) => s.pts);
    if (!all.length && metric !== 'loss') return null;
    const W = 440, H = 230, L = 54, R = 12, T = 22, B = 30;
    const svg = sv('svg', { class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, 'data-metric': metric });
    svg.append(sv('text', { x: L, y: 14, class: 'title' }, title + (logy ? ' (log)' : '')));
    if (!all.length) {
      svg.append(sv('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no records yet'));
      return svg;
    }
    let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    const f = logy ? Math.log10 : (v) => v;
    let y0 = Math.min(...all.map((p) => f(p[1]))), y1 = Math.max(...all.map((p) => f(p[1])));
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const px = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
    const py = (y) => T + (1 - (f(y) - y0) / (y1 - y0)) * (H - T - B);
    const axis = sv('g', { stroke: '#ccc' });
    const [u, unit] = xaxis === 'time' ? timeUnit(x1) : [1, ''];
    for (const t of niceTicks(x0 / u, x1 / u, 5)) {
      axis.append(sv('line', { x1: px(t * u), x2: px(t * u), y1: T, y2: H - B }));
      svg.append(sv('text', { x: px(t * u), y: H - B + 13, 'text-anchor': 'middle' }, fmt(t) + unit));
    }
    const yt = logy && y1 - y0 >= 1 ? niceTicks(Math.ceil(y0), Math.floor(y1), 4).filter((v) => Number.isInteger(v)).map((v) => Math.pow(10, v))
      : niceTicks(y0, y1, 4).map((v) => (logy ? Math.pow(10, v) : v));
    for (const t of yt) {
      axis.append(sv('line', { x1: L, x2: W - R, y1: py(t), y2: py(t) }));
      svg.append(sv('text', { x: L - 4, y: py(t) + 3, 'text-anchor': 'end' }, fmt(t)));
    }
    svg.append(axis);
    svg.append(sv('text', { x: W - R, y: H - 3, 'text-anchor': 'end' }, xaxis === 'time' ? 'wall time' : 'step'));
    for (const s of ss) {
      if (!s.pts.length) continue;
      const line = sv('polyline', {
        points: s.pts.map((p) => px(p[0]).toFixed(1) + ',' + py(p[1]).toFixed(1)).join(' '),
        fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'data-run': s.run.id, 'data-n': s.pts.length,
      });
      line.append(sv('title', {}, label(s.run)));
      svg.append(line);
      if (s.pts.length <= 60) {
        for (const p of s.pts) svg.append(sv('circle', { cx: px(p[0]).toFixed(1), cy: py(p[1]).toFixed(1), r: 2, fill: s.color }));
      }
    }
    return svg;
  }

  function renderCharts() {
    const logy = $('logy').checked;
    const hasTime = selectedRuns().some((r) => (st.records[r.id] || { records: [] }).records.some((rec) => timeOf(rec) !== undefined));
    const xs = $('xaxis');
    xs.options[1].disabled = !hasTime;
    xs.title = hasTime ? '' : 'the records of these runs carry no wall time';
    if (!hasTime) xs.value = 'step';
    const legend = $('legend');
    legend.replaceChildren(...selectedRuns().map((r, i) => {
      const sw = el('span', { class: 'swatch' });
      sw.style.background = color(i);
      return el('span', {}, sw, label(r));
    }));
    const charts = $('charts');
    charts.replaceChildren();
    if (!st.selected.size) {
      charts.append(el('div', { class: 'empty' }, 'Pick runs on the left to chart them.'));
      return;
    }
    for (const [m, title] of METRICS) {
      const c = chart(m, title, xs.value, logy);
      if (c) charts.append(c);
    }
  }

  // --- cards: errors, flags, ω profile, checkpoints -----------------------

  function renderCards() {
    const cards = $('cards');
    const runs = selectedRuns();
    const sig = JSON.stringify(runs);
    if (st.sig.cards === sig) return;
    st.sig.cards = sig;
    cards.className = 'cards';
    cards.replaceChildren(...runs.map(card));
  }

  function card(r) {
    const c = el('div', { class: 'card', 'data-run': r.id }, el('h3', {}, r.name));
    c.append(el('div', {}, (r.last_step !== undefined ? 'step ' + r.last_step + ' · ' : '') + r.records + ' records · written ' + new Date(r.modified).toLocaleString()));
    const rec = st.records[r.id];
    for (const e of [r.error, rec && rec.error !== r.error ? rec.error : '', r.flags_error, r.profile_error]) {
      if (e) c.append(el('div', { class: 'err' }, e));
    }
    const last = rec && rec.records.length ? rec.records[rec.records.length - 1] : null;
    if (last && (last.diverged || last.stop_reason || last.stopped)) {
      c.append(el('div', { class: 'err' }, last.diverged ? 'diverged at step ' + last.step : 'stopped: ' + (last.stop_reason || last.stopped)));
    }
    if (r.profile) c.append(profile(r.profile));
    c.append(flags(r));
    c.append(checkpoints(r));
    return c;
  }

  // flags lists the flags given on the run's command line (a sweep's
  // run: its norm and depth), all of them folded below.
  function flags(r) {
    const given = [], all = [];
    if (r.flags) {
      for (const [k, v] of Object.entries(r.flags).sort()) {
        all.push([k, v.value]);
        if (v.changed) given.push([k, v.value]);
      }
    } else {
      const s = st.list.sweeps.find((s) => s.id === r.sweep);
      const m = /([a-z]+)-L([0-9]+)$/.exec(r.name);
      if (m) given.push(['norm', m[1]], ['layers', m[2]]);
      // The sweep's own norm and layers are its first run's: this run's
      // are in its name.
      if (s && s.flags) for (const [k, v] of Object.entries(s.flags).sort()) if (!m || (k !== 'norm' && k !== 'layers')) all.push([k, v]);
    }
    const table = (rows) => el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', {}, '--' + k), el('td', {}, String(v)))));
    const d = el('details', { 'data-flags': all.length + given.length });
    d.open = true;
    d.append(el('summary', {}, all.length || given.length ? 'flags' : 'flags: none recorded'), table(given));
    if (all.length) {
      const open = st.open[r.id] === true;
      const more = el('details', {}, el('summary', {}, r.flags ? 'all flags' : 'the sweep\'s flags'), table(all));
      more.open = open;
      more.addEventListener('toggle', () => { st.open[r.id] = more.open; });
      d.append(more);
    }
    return d;
  }

  function profile(p) {
    const d = el('details', { 'data-omega': (p.omega || []).length + (p.encoder_omega || []).length });
    d.open = true;
    d.append(el('summary', {}, 'Admin ω profile (' + p.method + ', ' + p.layers + ' layers)'));
    if (p.encoder_omega && p.encoder_omega.length) d.append(bars('encoder ω (attention, FFN per layer)', p.encoder_omega, 2));
    const per = p.encoder_omega && p.encoder_omega.length ? 3 : 2;
    d.append(bars((p.encoder_omega && p.encoder_omega.length ? 'decoder ω (self-attention, cross-attention, FFN per layer)' : 'ω (attention, FFN per layer)'), p.omega || [], per));
    return d;
  }

  function bars(title, vals, per) {
    const W = 420, H = 110, L = 40, T = 16, B = 16;
    const svg = sv('svg', { class: 'chart', width: W, height: H, 'data-bars': vals.length });
    svg.append(sv('text', { x: L, y: 11 }, title));
    const max = Math.max(1, ...vals);
    const bw = (W - L - 4) / Math.max(1, vals.length);
    vals.forEach((v, i) => {
      const h = (H - T - B) * v / max;
      const b = sv('rect', { x: L + i * bw + 1, y: H - B - h, width: Math.max(1, bw - 2), height: h, fill: COLORS[i % per] });
      b.append(sv('title', {}, 'layer ' + (Math.floor(i / per) + 1) + ', sublayer ' + (i % per + 1) + ': ω = ' + v));
      svg.append(b);
    });
    svg.append(sv('text', { x: L - 4, y: T + 6, 'text-anchor': 'end' }, fmt(max)));
    svg.append(sv('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'));
    svg.append(sv('text', { x: L, y: H - 3 }, 'layer 1'));
    svg.append(sv('text', { x: W - 4, y: H - 3, 'text-anchor': 'end' }, 'layer ' + Math.ceil(vals.length / per)));
    return svg;
  }

  function checkpoints(r) {
    const d = el('details', { 'data-checkpoints': r.checkpoints.length });
    d.open = true;
    d.append(el('summary', {}, r.checkpoints.length ? 'checkpoints' : 'checkpoints: none yet'));
    const t = el('table');
    for (const c of r.checkpoints) {
      t.append(el('tr', {}, el('td', {}, c.name), el('td', {}, c.step ? 'step ' + c.step : ''),
        el('td', {}, (c.size / 1048576).toFixed(1) + ' MiB'), el('td', {}, new Date(c.modified).toLocaleTimeString()),
        c.error ? el('td', { class: 'err' }, c.error) : null));
    }
    d.append(t);
    return d;
  }

  // The view is in the address, to bookmark or share: ?sweep=ID or
  // ?run=ID&run=ID, &x=time, &log=1.
  function fromURL() {
    const q = new URLSearchParams(location.search);
    if (q.get('log') === '1') $('logy').checked = true;
    if (q.get('x') === 'time') $('xaxis').value = 'time';
    if (q.getAll('run').length) {
      st.selected = new Set(q.getAll('run'));
      st.follow = null;
    } else if (q.get('sweep')) {
      st.follow = q.get('sweep');
    }
    st.auto = !q.has('run') && !q.has('sweep'); // else no default selection
  }
  function toURL() {
    const q = new URLSearchParams();
    if (st.follow && st.follow !== 'all') q.set('sweep', st.follow);
    else if (!st.follow) for (const id of st.selected) q.append('run', id);
    if ($('xaxis').value === 'time') q.set('x', 'time');
    if ($('logy').checked) q.set('log', '1');
    const u = q.toString() ? '?' + q.toString() : location.pathname;
    if (u !== location.search) history.replaceState(null, '', u);
  }

  window.addEventListener('DOMContentLoaded', () => {
    $('logy').addEventListener('change', () => render());
    $('xaxis').addEventListener('change', () => render());
    fromURL();
    poll();
  });
})();
