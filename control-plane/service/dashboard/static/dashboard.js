/*
 * The control plane's live dashboard (served at GET /; see control-plane/service/dashboard/).
 * Hand-written browser JavaScript, no build step: one EventSource on /v1/dashboard/events brings
 * the charts' history, then one JSON frame per second from the service's shared sampler; every
 * frame redraws the tables and appends a point to the uPlot charts.
 *
 * Every string that comes from the cluster (node ids, namespaces, keys, policies, problems) is
 * data from etcd or the nodes: it is written with textContent, never as HTML.
 */
(function () {
  'use strict';

  var WINDOW_MS = 5 * 60 * 1000;
  var MAX_POINTS = 600;
  var COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

  var history = { t: [], series: {} };
  var charts = {};

  function byId(id) { return document.getElementById(id); }

  // Figures as the CLI prints them (control-plane/cli/top-view.ts).
  function rate(v) { return v === null || v === undefined ? '-' : v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1); }
  function pct(v) { return v === null || v === undefined ? '-' : (v * 100).toFixed(1) + '%'; }
  function bytes(v) {
    if (v === null || v === undefined) return '-';
    if (v < 1024) return v + 'b';
    if (v < 1024 * 1024) return (v / 1024).toFixed(1) + 'kb';
    if (v < 1024 * 1024 * 1024) return (v / 1024 / 1024).toFixed(1) + 'mb';
    return (v / 1024 / 1024 / 1024).toFixed(1) + 'gb';
  }
  function ms(v) { return v === null || v === undefined ? '-' : v < 10 ? v.toFixed(2) + ' ms' : Math.round(v) + ' ms'; }
  function lag(bytesLag, msLag) {
    if (bytesLag === null || bytesLag === undefined) return '-';
    return msLag === null || msLag === undefined ? bytes(bytesLag) : bytes(bytesLag) + '/' + Math.round(msLag) + 'ms';
  }
  function clock(seconds) {
    var d = new Date(seconds * 1000);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (n) { return n < 10 ? '0' + n : String(n); }).join(':');
  }
  function num(v) { return v === null || v === undefined ? '-' : String(v); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  /**
   * Replaces a table's content. `columns`: [label, numeric]; `rows`: { cells, cls, attrs } where
   * a cell is text or a DOM node (built with textContent by the caller).
   */
  function fill(id, columns, rows, empty) {
    var table = byId(id);
    var head = el('tr');
    columns.forEach(function (c) { head.appendChild(el('th', c[0], c[1] ? 'num' : '')); });
    var parts = [el('thead'), el('tbody')];
    parts[0].appendChild(head);
    if (rows.length === 0) {
      var tr = el('tr');
      var td = el('td', empty || 'none', 'note');
      td.colSpan = columns.length;
      tr.appendChild(td);
      parts[1].appendChild(tr);
    }
    rows.forEach(function (row) {
      var tr = el('tr', null, row.cls || '');
      Object.keys(row.attrs || {}).forEach(function (name) { tr.setAttribute(name, row.attrs[name]); });
      row.cells.forEach(function (cell, i) {
        var td = el('td', null, columns[i] && columns[i][1] ? 'num' : '');
        if (cell !== null && typeof cell === 'object' && cell.nodeType) td.appendChild(cell);
        else td.textContent = cell === null || cell === undefined ? '-' : String(cell);
        if (columns[i] && columns[i][2]) td.classList.add(columns[i][2]);
        tr.appendChild(td);
      });
      parts[1].appendChild(tr);
    });
    table.replaceChildren(parts[0], parts[1]);
  }

  function word(text, cls) { return el('span', text, cls); }

  function renderSummary(f) {
    var s = f.summary;
    byId('cluster').textContent = f.cluster;
    document.title = 'shardcache · ' + f.cluster;
    byId('summary-shards').textContent = s.healthyShards + ' / ' + s.shards;
    byId('card-shards').classList.toggle('bad', s.unhealthyShards > 0);
    byId('summary-nodes').textContent = s.liveNodes + ' / ' + s.nodes;
    byId('summary-ops').textContent = rate(s.opsPerSec);
    byId('summary-hit').textContent = pct(s.hitRatio);
    byId('summary-memory').textContent = bytes(s.memoryBytes) + ' / ' + bytes(s.memoryLimitBytes);
    byId('summary-requests').textContent = rate(s.requestsPerSec) + ' · ' + pct(s.errorRate);
    byId('summary-revision').textContent = num(f.revision) + ' · ' + num(s.slotMapEpoch);
    var banner = byId('error');
    banner.hidden = f.error === null;
    banner.textContent = f.error === null ? '' : 'last sample failed: ' + f.error + ' (tables show the last good sample)';
    byId('updated').textContent = 'sampled ' + new Date(f.at).toLocaleTimeString() + (f.elapsedMs === null ? ' (rates from the next sample)' : ', rates over ' + (f.elapsedMs / 1000).toFixed(1) + ' s');
  }

  function renderShards(f) {
    fill('shards', [['shard'], ['primary'], ['health'], ['ops/s', 1], ['hit', 1], ['memory used / limit', 1], ['items', 1], ['evictions/s', 1], ['expirations/s', 1], ['repl lag', 1]],
      f.shards.map(function (s) {
        return {
          cls: s.healthy ? '' : 'bad',
          attrs: { 'data-shard': String(s.shardId), 'data-healthy': String(s.healthy) },
          cells: [s.shardId, s.primary, s.healthy ? word('ok', 'ok') : word('UNHEALTHY: ' + s.problems.join('; '), 'bad'), rate(s.opsPerSec), pct(s.hitRatio),
            bytes(s.memoryBytes) + ' / ' + bytes(s.memoryLimitBytes), num(s.items), rate(s.evictionsPerSec), rate(s.expirationsPerSec), lag(s.replLagBytes, s.replLagMs)],
        };
      }), 'no shards');
  }

  function renderNodes(f) {
    var nodes = f.nodes.slice().sort(function (a, b) {
      return a.shardId - b.shardId || (a.role === b.role ? (a.nodeId < b.nodeId ? -1 : 1) : a.role === 'primary' ? -1 : 1);
    });
    fill('nodes', [['shard'], ['node'], ['role'], ['addr'], ['live'], ['ops/s', 1], ['hit', 1], ['memory used / limit', 1], ['items', 1], ['evictions/s', 1], ['expirations/s', 1], ['repl lag', 1], ['state']],
      nodes.map(function (n) {
        var bad = !n.live || n.error !== null;
        return {
          cls: bad ? 'bad' : '',
          attrs: { 'data-node': n.nodeId },
          cells: [n.shardId, n.nodeId, n.role, n.addr, n.live ? 'yes' : 'no', rate(n.opsPerSec), pct(n.hitRatio), bytes(n.memoryBytes) + ' / ' + bytes(n.memoryLimitBytes),
            num(n.items), rate(n.evictionsPerSec), rate(n.expirationsPerSec), n.role === 'primary' ? '-' : n.replLag, n.error === null ? '' : 'no stats: ' + n.error],
        };
      }), 'no nodes registered');
  }

  function breakers(map) {
    var span = el('span');
    var names = Object.keys(map).sort();
    if (names.length === 0) span.textContent = '-';
    names.forEach(function (node, i) {
      if (i > 0) span.appendChild(document.createTextNode(' '));
      var state = map[node];
      span.appendChild(word(node + ':' + state, state === 'open' ? 'bad' : state === 'half-open' ? 'warn' : ''));
    });
    return span;
  }

  function renderProxies(f) {
    byId('proxies-note').hidden = f.proxies.length > 0;
    fill('proxies', [['proxy'], ['req/s', 1], ['errors', 1], ['p99', 1], ['breakers'], ['state']],
      f.proxies.map(function (p) {
        return {
          cls: p.error === null ? '' : 'bad',
          attrs: { 'data-proxy': p.url },
          cells: [p.url, rate(p.requestsPerSec), pct(p.errorRate), ms(p.p99Ms), breakers(p.breakers), p.error === null ? '' : 'unreachable: ' + p.error],
        };
      }), 'no proxies');
  }

  function ruleText(r) {
    if (!r) return '-';
    var parts = [r.mode, r.source];
    if (r.copies !== null) parts.push(r.copies + ' copies');
    if (r.ttlMs !== null) parts.push('ttl ' + r.ttlMs + ' ms');
    if (r.expiresAt !== null) parts.push('until ' + new Date(r.expiresAt).toLocaleTimeString());
    return parts.join(' · ');
  }

  function renderHotKeys(f) {
    fill('hotkeys', [['namespace'], ['key'], ['GETs/s', 1], ['mode'], ['proxies', 1], ['rule']],
      f.hotKeys.map(function (h) {
        return { attrs: { 'data-hot-key': h.namespace + '/' + h.key }, cells: [h.namespace, h.key, rate(h.qps), h.mode, h.proxies, ruleText(h.rule)] };
      }), f.proxies.length === 0 ? 'no proxies to ask' : 'no hot keys reported');
    fill('rules', [['namespace'], ['key'], ['rule']],
      f.rules.map(function (r) { return { attrs: { 'data-rule': r.namespace + '/' + r.key }, cells: [r.namespace, r.key, ruleText(r)] }; }), 'no rules in etcd');
  }

  function policyText(p) {
    if (!p) return '(no policy)';
    var keys = Object.keys(p).sort();
    return keys.length === 0 ? '(defaults)' : keys.map(function (k) { return k + '=' + (typeof p[k] === 'object' ? JSON.stringify(p[k]) : p[k]); }).join(' ');
  }

  function renderNamespaces(f) {
    fill('namespaces', [['namespace'], ['policy', 0, 'wrap'], ['items', 1], ['bytes', 1], ['quota', 1]],
      f.namespaces.map(function (n) {
        var quota = n.policy && n.policy.quotaBytes ? bytes(n.policy.quotaBytes) + ' (' + pct(n.bytes / n.policy.quotaBytes) + ')' : '-';
        return { attrs: { 'data-namespace': n.name }, cells: [n.name, policyText(n.policy), n.items, bytes(n.bytes), quota] };
      }), 'no namespaces');
  }

  function renderMigrations(f) {
    var m = f.migrations;
    fill('migrations', [['id'], ['state'], ['shards'], ['slots'], ['progress', 1], ['keys', 1], ['bytes', 1], ['cold', 1], ['max freeze', 1], ['note', 0, 'wrap']],
      m.list.map(function (r) {
        var done = r.slotsTotal === 0 ? '-' : r.slotsDone + '/' + r.slotsTotal + ' (' + pct(r.slotsDone / r.slotsTotal) + ')';
        return {
          cls: r.state === 'aborted' || r.coldSlots > 0 ? 'bad' : '',
          cells: [r.id + (m.running.indexOf(r.id) >= 0 ? ' (driving)' : ''), r.state, r.from + ' → ' + r.to, r.slots, done, r.keys, bytes(r.bytes), r.coldSlots, Math.round(r.freezeMsMax) + ' ms', r.reason || ''],
        };
      }), 'no migrations');
  }

  // --- charts -------------------------------------------------------------------------------

  /** Appends a frame's point to the history (the same rules as SeriesWindow on the server). */
  function appendPoint(point) {
    var t = history.t;
    if (t.length > 0 && point.t <= t[t.length - 1]) return;
    var before = t.length;
    t.push(point.t);
    Object.keys(point.values).forEach(function (name) {
      if (!history.series[name]) history.series[name] = new Array(before).fill(null);
    });
    Object.keys(history.series).forEach(function (name) {
      var v = point.values[name];
      history.series[name].push(typeof v === 'number' && isFinite(v) ? v : null);
    });
    var drop = 0;
    while (drop < t.length && (t[drop] < point.t - WINDOW_MS || t.length - drop > MAX_POINTS)) drop++;
    if (drop > 0) {
      t.splice(0, drop);
      Object.keys(history.series).forEach(function (name) { history.series[name].splice(0, drop); });
    }
  }

  /** The series of one chart: names with one of the prefixes, with their label. */
  function pick(prefixes) {
    var out = [];
    prefixes.forEach(function (prefix) {
      Object.keys(history.series).sort().forEach(function (name) {
        if (name.indexOf(prefix[0]) === 0) out.push({ name: name, label: prefix[1](name.slice(prefix[0].length)) });
      });
    });
    return out;
  }

  var CHARTS = {
    'chart-ops': { prefixes: [['ops:', function (s) { return 'shard ' + s; }]], value: rate },
    'chart-hit': { prefixes: [['hit:', function (s) { return 'shard ' + s; }]], value: pct, range: [0, 1] },
    'chart-mem': { prefixes: [['mem:', function (s) { return 'shard ' + s; }]], value: bytes },
    'chart-req': { prefixes: [['req:', function (p) { return 'req/s ' + p.replace(/^https?:\/\//, ''); }], ['err:', function (p) { return 'err/s ' + p.replace(/^https?:\/\//, ''); }]], value: rate },
  };

  function drawCharts() {
    if (typeof uPlot === 'undefined') return;
    var xs = history.t.map(function (t) { return t / 1000; });
    Object.keys(CHARTS).forEach(function (id) {
      var spec = CHARTS[id];
      var series = pick(spec.prefixes);
      var key = series.map(function (s) { return s.name; }).join('|');
      var data = [xs].concat(series.map(function (s) { return history.series[s.name]; }));
      var box = byId(id);
      var existing = charts[id];
      if (existing && existing.key === key) {
        existing.plot.setData(data);
        return;
      }
      if (existing) existing.plot.destroy();
      var opts = {
        width: Math.max(200, box.clientWidth),
        height: 130,
        legend: { live: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: spec.range ? { range: spec.range } : { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
        axes: [
          { space: 70, incrs: [1, 5, 10, 15, 30, 60, 120, 300], values: function (u, splits) { return splits.map(clock); } },
          { size: 60, values: function (u, splits) { return splits.map(spec.value); } },
        ],
        series: [{}].concat(series.map(function (s, i) {
          return { label: s.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false, value: function (u, v) { return spec.value(v); } };
        })),
      };
      charts[id] = { key: key, plot: new uPlot(opts, data, box) };
    });
  }

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (id) { charts[id].plot.setSize({ width: Math.max(200, byId(id).clientWidth), height: 130 }); });
  });

  // --- the stream -----------------------------------------------------------------------------

  function render(f) {
    renderSummary(f);
    renderShards(f);
    renderNodes(f);
    renderProxies(f);
    renderHotKeys(f);
    renderNamespaces(f);
    renderMigrations(f);
  }

  function connection(state, text) {
    var c = byId('conn');
    c.setAttribute('data-state', state);
    c.textContent = text;
  }

  var frames = 0;
  var source = new EventSource('/v1/dashboard/events');
  source.onopen = function () { connection('live', 'live'); };
  source.onerror = function () { connection('lost', 'connection lost; reconnecting…'); };
  source.addEventListener('history', function (e) {
    history = JSON.parse(e.data);
    drawCharts();
  });
  source.onmessage = function (e) {
    var f = JSON.parse(e.data);
    frames += 1;
    document.body.setAttribute('data-frames', String(frames));
    connection('live', 'live');
    render(f);
    appendPoint(f.point);
    drawCharts();
  };
})();
