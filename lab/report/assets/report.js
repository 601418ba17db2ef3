// lab report: the table (decode, search, sort, pages), the product panel and the charts.
// Everything it reads is inlined in the page; it makes no network request.
(function () {
  'use strict';
  const meta = JSON.parse(document.getElementById('lab-meta').textContent);
  const report = window.labReport = { ready: false, errors: [], rows: 0, shown: 0, charts: 0 };
  const $ = (id) => document.getElementById(id);
  const numberFormat = new Intl.NumberFormat('en', { maximumSignificantDigits: 6 });

  function fmt(x) {
    if (x === null || x === undefined || Number.isNaN(x)) return '—';
    if (x === Infinity) return '∞';
    if (x === -Infinity) return '−∞';
    const a = Math.abs(x);
    if (a !== 0 && (a >= 1e7 || a < 1e-3)) return x.toExponential(4);
    return numberFormat.format(x);
  }

  function fail(where, err) {
    const text = where + ': ' + (err && err.message ? err.message : String(err));
    report.errors.push(text);
    console.error('lab report: ' + text);
  }

  // ---------------------------------------------------------------- columns

  function base64Bytes(text) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function gunzip(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  function unshuffle(bytes, width) {
    const n = bytes.length / width;
    const out = new Uint8Array(bytes.length);
    for (let k = 0; k < width; k++) {
      const base = k * n;
      for (let i = 0; i < n; i++) out[i * width + k] = bytes[base + i];
    }
    return out;
  }

  async function decode(el) {
    const raw = await gunzip(base64Bytes(el.textContent.trim()));
    const type = el.dataset.type;
    if (type === 'str') return JSON.parse(new TextDecoder().decode(raw));
    const bytes = unshuffle(raw, type === 'f4' ? 4 : 8);
    return type === 'f4' ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
  }

  // ---------------------------------------------------------------- table

  const table = {
    cols: {}, specs: meta.table.columns, n: meta.table.rows, view: null, page: 0, size: 100,
    sortKey: null, sortDir: 1, query: '', lower: {}, selected: -1,
  };

  function lowered(key) {
    if (!table.lower[key]) table.lower[key] = table.cols[key].map((s) => s.toLowerCase());
    return table.lower[key];
  }

  function filterRows() {
    const q = table.query.trim().toLowerCase();
    const n = table.n;
    if (!q) {
      const all = new Uint32Array(n);
      for (let i = 0; i < n; i++) all[i] = i;
      return all;
    }
    const texts = table.specs.filter((c) => c.kind === 'text').map((c) => lowered(c.key));
    const hits = [];
    for (let i = 0; i < n; i++) {
      for (const t of texts) { if (t[i].includes(q)) { hits.push(i); break; } }
    }
    return Uint32Array.from(hits);
  }

  function sortRows(rows) {
    if (!table.sortKey) return rows;
    const col = table.cols[table.sortKey];
    const dir = table.sortDir;
    const spec = table.specs.find((c) => c.key === table.sortKey);
    const arr = Array.from(rows);
    if (spec.kind === 'text') {
      arr.sort((a, b) => (col[a] < col[b] ? -dir : col[a] > col[b] ? dir : a - b));
    } else {
      arr.sort((a, b) => {
        const x = col[a], y = col[b];
        const xn = Number.isNaN(x), yn = Number.isNaN(y);
        if (xn || yn) return xn && yn ? a - b : xn ? 1 : -1;  // no number: always last
        return x < y ? -dir : x > y ? dir : a - b;
      });
    }
    return Uint32Array.from(arr);
  }

  function refresh(resetPage) {
    table.view = sortRows(filterRows());
    if (resetPage) table.page = 0;
    draw();
  }

  function pages() {
    return table.size === Infinity ? 1 : Math.max(1, Math.ceil(table.view.length / table.size));
  }

  function draw() {
    const view = table.view;
    const size = table.size === Infinity ? view.length : table.size;
    table.page = Math.min(table.page, pages() - 1);
    const start = table.page * size;
    const stop = Math.min(view.length, start + size);
    const body = document.querySelector('#targets tbody');
    const frag = document.createDocumentFragment();
    for (let r = start; r < stop; r++) {
      const i = view[r];
      const tr = document.createElement('tr');
      tr.dataset.row = String(i);
      if (i === table.selected) tr.className = 'selected';
      for (const c of table.specs) {
        const td = document.createElement('td');
        const v = table.cols[c.key][i];
        if (c.kind === 'text') {
          td.textContent = v;
        } else {
          td.className = 'num';
          td.textContent = c.fmt === 'd' ? String(v) : fmt(v);
          if (c.key === 'fulfilment' && v < 1 - 1e-9) td.classList.add('low');
        }
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    report.shown = stop - start;
    const filtered = view.length !== table.n ? ` (filtered from ${table.n.toLocaleString('en')})` : '';
    $('status').textContent = view.length
      ? `rows ${(start + 1).toLocaleString('en')}–${stop.toLocaleString('en')} of ${view.length.toLocaleString('en')}${filtered}`
      : `no row matches${filtered}`;
    $('page-info').textContent = `page ${table.page + 1} of ${pages()}`;
    for (const th of document.querySelectorAll('#targets th')) {
      th.setAttribute('aria-sort', th.dataset.key !== table.sortKey ? 'none'
        : table.sortDir > 0 ? 'ascending' : 'descending');
    }
  }

  function wireTable() {
    let timer = null;
    $('search').addEventListener('input', (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { table.query = e.target.value; refresh(true); },
        table.n > 100000 ? 250 : 60);
    });
    $('page-size').addEventListener('change', (e) => {
      table.size = e.target.value === 'all' ? Infinity : Number(e.target.value);
      table.page = 0;
      draw();
    });
    const go = (p) => { table.page = Math.max(0, Math.min(pages() - 1, p)); draw(); };
    $('first').addEventListener('click', () => go(0));
    $('prev').addEventListener('click', () => go(table.page - 1));
    $('next').addEventListener('click', () => go(table.page + 1));
    $('last').addEventListener('click', () => go(pages() - 1));
    for (const th of document.querySelectorAll('#targets th')) {
      th.querySelector('button').addEventListener('click', () => {
        const key = th.dataset.key;
        table.sortDir = table.sortKey === key ? -table.sortDir : 1;
        table.sortKey = key;
        refresh(true);
      });
    }
    document.querySelector('#targets tbody').addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr) showProduct(Number(tr.dataset.row));
    });
    $('close-product').addEventListener('click', () => { $('product').hidden = true; });
  }

  // ---------------------------------------------------------------- product panel

  const trajectories = {};

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function showProduct(i) {
    table.selected = i;
    const body = $('product-body');
    body.replaceChildren();
    const code = table.cols.code[i];
    body.appendChild(el('h3', code));
    if (table.cols.name && table.cols.name[i]) body.appendChild(el('p', table.cols.name[i]));
    const dl = el('table', undefined, 'plain');
    for (const c of table.specs) {
      if (c.kind === 'text') continue;
      const tr = el('tr');
      tr.appendChild(el('th', c.label));
      tr.appendChild(el('td', c.fmt === 'd' ? String(table.cols[c.key][i]) : fmt(table.cols[c.key][i])));
      tr.title = c.note || '';
      dl.appendChild(tr);
    }
    body.appendChild(dl);
    if (trajectories.codes) drawTrajectory(body, code);
    const chain = meta.chains[code];
    if (chain) {
      body.appendChild(el('h3', 'Main supply chains'));
      body.appendChild(el('p', `value ${fmt(chain.value)}: each path is ${code} ← an input ← its input …, ` +
        'with the share of the value its last product\'s direct labour contributes.', 'note'));
      chain.paths.forEach((path, k) => {
        const div = el('div', undefined, 'path');
        const label = el('div');
        path.forEach((c, j) => {
          if (j) label.appendChild(document.createTextNode(' ← '));
          const span = el('code', c);
          span.title = meta.names[c] || '';
          label.appendChild(span);
        });
        label.appendChild(document.createTextNode(`: ${fmt(chain.contribution[k])} (${(100 * chain.share[k]).toFixed(1)} %)`));
        const bar = el('div', undefined, 'bar');
        bar.style.width = `${Math.max(0.5, 100 * chain.share[k])}%`;
        div.append(label, bar);
        body.appendChild(div);
      });
      body.appendChild(el('p', `every other path: ${fmt(chain.remainder)} ` +
        `(${(100 * chain.remainder / (chain.value || 1)).toFixed(1)} %)` +
        (chain.certified ? '; these are exactly the largest paths.' :
          `; a path not listed contributes at most ${fmt(chain.bound_pruned)}.`), 'note'));
    } else {
      body.appendChild(el('p', meta.chains_note || 'no supply chains in this report', 'note'));
    }
    $('product').hidden = false;
    for (const tr of document.querySelectorAll('#targets tbody tr')) {
      tr.classList.toggle('selected', Number(tr.dataset.row) === i);
    }
  }

  function drawTrajectory(body, code) {
    if (!trajectories.index) {
      trajectories.index = new Map(trajectories.codes.map((c, k) => [c, k]));
    }
    const k = trajectories.index.get(code);
    if (k === undefined) return;
    const T = meta.years.T, m = trajectories.codes.length;
    const rows = [];
    for (const s of ['output', 'consumption', 'investment', 'stocks']) {
      for (let y = 0; y < T; y++) rows.push({ year: y + 1, series: s, amount: trajectories[s][y * m + k] });
    }
    const box = el('div', undefined, 'chart');
    box.id = 'chart-product';
    body.appendChild(el('h3', 'By year'));
    body.appendChild(box);
    chart(box, { ...meta.product_chart, data: { values: rows } }).catch((e) => fail('product chart', e));
  }

  // ---------------------------------------------------------------- charts

  function chart(container, spec) {  // a Vega-Lite specification with its data inline
    return vegaEmbed(container, spec, { actions: false, renderer: 'svg', mode: 'vega-lite' });
  }

  async function drawCharts() {
    const jobs = meta.charts.map((c) => chart($('chart-' + c.id), c.spec)
      .then(() => { report.charts += 1; })
      .catch((e) => fail('chart ' + c.id, e)));
    await Promise.all(jobs);
  }

  // ---------------------------------------------------------------- start

  async function loadTable() {
    if (typeof DecompressionStream === 'undefined') {
      throw new Error('this browser cannot unpack the table (it needs DecompressionStream: ' +
        'Chrome 80, Firefox 113, Safari 16.4 or newer); the rest of the page is complete');
    }
    for (const node of document.querySelectorAll('script.lab-column')) {
      const key = node.dataset.key;
      const data = await decode(node);
      if (key.startsWith('traj:')) trajectories[key.slice(5)] = data;
      else table.cols[key] = data;
    }
    report.rows = table.n;
    wireTable();
    const first = meta.table.sort || '';
    if (first) {
      table.sortKey = first.replace(/^-/, '');
      table.sortDir = first.startsWith('-') ? -1 : 1;
    }
    refresh(true);
  }

  async function start() {
    const t0 = performance.now();
    await Promise.all([loadTable().catch((e) => {
      fail('table', e);
      $('status').textContent = 'the table could not be shown: ' + e.message;
    }), drawCharts()]);
    report.seconds = (performance.now() - t0) / 1000;
    report.readyAt = performance.now() / 1000;  // seconds since the navigation started
    report.ready = true;
    document.body.dataset.ready = report.errors.length ? 'error' : 'yes';
  }

  start();
})();
