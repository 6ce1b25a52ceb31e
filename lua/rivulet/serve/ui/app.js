// rivulet inspector: the page's script. Plain JavaScript, no build step, no library; it
// talks only to the server that served it (ui/api/..., relative URLs), with the Basic
// credentials the browser already holds for this page. Everything it shows is built with
// DOM nodes and textContent: flow data never becomes markup.
(function () {
  'use strict';

  var NS = 'http://www.w3.org/2000/svg';
  var NODE_W = 156, NODE_H = 46, GAP_X = 36, GAP_Y = 58, PAD = 24;
  var REFRESH_MS = 250;          // events in a burst refresh the lists once
  var RETRY_MS = 2000;           // after the change feed failed

  var state = {
    flows: [], flow: null, graph: null, execs: [], exec: null, seq: 0,
    call: null, calls: {}, selectedNode: null, loadedSteps: 0
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') e.textContent = v;
        else if (k === 'class') e.className = v;
        else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : v);
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // ---- the server ------------------------------------------------------------------------

  function api(path, opts) {
    opts = opts || {};
    opts.credentials = 'same-origin';
    opts.headers = { 'Accept': 'application/json' };
    return fetch(path, opts).then(function (r) {
      var ct = r.headers.get('Content-Type') || '';
      var body = ct.indexOf('json') >= 0 ? r.json() : r.text();
      return body.then(function (b) {
        if (!r.ok) {
          var msg = (b && b.message) ? b.message : ('HTTP ' + r.status);
          var err = new Error(msg);
          err.status = r.status;
          throw err;
        }
        return b;
      });
    });
  }

  function post(path, fields) {
    return api(path, { method: 'POST', body: new URLSearchParams(fields) });
  }

  function q(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      if (params[k] !== undefined && params[k] !== null && params[k] !== '') {
        parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(params[k]));
      }
    });
    return parts.length ? '?' + parts.join('&') : '';
  }

  // ---- formatting -------------------------------------------------------------------------

  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }

  function when(t, ms) {
    if (typeof t !== 'number') return '-';
    var d = new Date(t * 1000);
    var s = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    return ms ? s + '.' + pad(d.getMilliseconds(), 3) : s;
  }

  function clock(t) {
    var d = new Date(t * 1000);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  function show(v) {
    if (v === undefined || v === null) return '(none)';
    if (typeof v === 'string') return JSON.stringify(v);
    return JSON.stringify(v);
  }

  function setHash() {
    var h = [];
    if (state.flow) h.push('flow=' + state.flow);
    if (state.exec) h.push('exec=' + state.exec);
    var s = h.length ? '#' + h.join('&') : '';
    if (location.hash !== s) history.replaceState(null, '', s || location.pathname);
  }

  function fromHash() {
    var out = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var p = kv.split('=');
      if (p[0]) out[p[0]] = decodeURIComponent(p[1] || '');
    });
    return out;
  }

  // ---- flows ---------------------------------------------------------------------------------

  function loadFlows() {
    return api('api/flows').then(function (r) {
      state.flows = r.flows;
      if (!state.seq) state.seq = r.seq;
      renderFlows();
    });
  }

  function renderFlows() {
    var ul = $('flows');
    clear(ul);
    $('flows-empty').hidden = state.flows.length > 0;
    state.flows.forEach(function (f) {
      ul.appendChild(el('li', null, [
        el('button', {
          type: 'button', 'aria-current': f.sid === state.flow ? 'true' : 'false', 'data-sid': f.sid,
          onclick: function () { selectFlow(f.sid); }
        }, [f.name, el('span', { class: 'sid', text: f.sid })])
      ]));
    });
    var sel = $('t-flow');
    var keep = sel.value;
    clear(sel);
    state.flows.forEach(function (f) {
      sel.appendChild(el('option', { value: f.sid, text: f.name }));
    });
    if (keep) sel.value = keep;
    if (state.flow) sel.value = state.flow;
  }

  function selectFlow(sid) {
    state.flow = sid;
    state.selectedNode = null;
    $('t-flow').value = sid;
    renderFlows();
    setHash();
    return Promise.all([loadGraph(), loadExecs()]);
  }

  function loadGraph() {
    if (!state.flow) return Promise.resolve();
    var sid = state.flow;
    return api('api/flows/' + sid).then(function (f) {
      if (sid !== state.flow) return;
      state.graph = f.graph;
      $('flow').hidden = false;
      $('flow-h').textContent = f.name;
      $('flow-meta').textContent = f.sid + ' · revision ' + f.revision + ' (' + f.status + ') · webhook ' + f.webhook_url;
      $('dot-link').setAttribute('href', 'api/flows/' + f.sid + '/dot');
      drawGraph();
    });
  }

  // ---- the graph: a layered drawing (ranks by distance from the trigger) ---------------------

  // Ranks: the longest path from the trigger over the transitions that do not go back (a
  // depth-first walk marks the ones that return to a widget on its way: retries, loops).
  function layout(g) {
    var byName = {}, out = {}, rank = {}, back = {};
    g.nodes.forEach(function (n) { byName[n.name] = n; out[n.name] = []; });
    g.edges.forEach(function (e) { if (out[e.from] && byName[e.to]) out[e.from].push(e.to); });
    var start = g.nodes.filter(function (n) { return n.type === 'trigger'; })[0] || g.nodes[0];
    var mark = {}, order = [];
    function dfs(v) {
      mark[v] = 1;
      out[v].forEach(function (to) {
        if (mark[to] === 1) back[v + '\u0000' + to] = true;
        else if (!mark[to]) dfs(to);
      });
      mark[v] = 2;
      order.push(v);
    }
    if (start) dfs(start.name);
    g.nodes.forEach(function (n) { if (!mark[n.name]) dfs(n.name); });
    order.reverse();                      // a topological order of the forward transitions
    order.forEach(function (v) { if (rank[v] === undefined) rank[v] = 0; });
    order.forEach(function (v) {
      out[v].forEach(function (to) {
        if (back[v + '\u0000' + to] || to === v) return;
        if (rank[to] < rank[v] + 1) rank[to] = rank[v] + 1;
      });
    });
    var max = 0;
    Object.keys(rank).forEach(function (k) { if (k !== 'Ended' && rank[k] > max) max = rank[k]; });
    if (byName.Ended) rank.Ended = max + 1;
    var layers = [];
    g.nodes.forEach(function (n) {
      var r = rank[n.name];
      (layers[r] = layers[r] || []).push(n.name);
    });
    layers = layers.map(function (l) { return l || []; });
    // two sweeps: each widget near the ones that lead to it
    var pos = {};
    function place() { layers.forEach(function (l) { l.forEach(function (name, i) { pos[name] = i - (l.length - 1) / 2; }); }); }
    place();
    var parents = {};
    g.edges.forEach(function (e) { (parents[e.to] = parents[e.to] || []).push(e.from); });
    for (var sweep = 0; sweep < 2; sweep++) {
      layers.forEach(function (l, r) {
        if (r === 0) return;
        var bary = {};
        l.forEach(function (name) {
          var ps = (parents[name] || []).filter(function (p) { return rank[p] < r; });
          bary[name] = ps.length ? ps.reduce(function (s, p) { return s + pos[p]; }, 0) / ps.length : pos[name];
        });
        l.sort(function (a, b) { return bary[a] - bary[b]; });
      });
      place();
    }
    var widest = Math.max.apply(null, layers.map(function (l) { return l.length; }).concat([1]));
    var width = widest * (NODE_W + GAP_X) - GAP_X + 2 * PAD + 120;
    var xy = {};
    layers.forEach(function (l, r) {
      l.forEach(function (name) {
        xy[name] = { x: PAD + (widest - 1) / 2 * (NODE_W + GAP_X) + pos[name] * (NODE_W + GAP_X), y: PAD + r * (NODE_H + GAP_Y) };
      });
    });
    return { xy: xy, rank: rank, width: width, height: layers.length * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD };
  }

  function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  function pathStates() {
    var ex = state.execDetail;
    if (!ex || ex.flow_sid !== state.flow) return {};
    var on = {};
    ex.steps.forEach(function (s) { on[s.from + '\u0000' + s.event + '\u0000' + s.to] = true; on[s.from] = true; on[s.to] = true; });
    return on;
  }

  function drawGraph() {
    var g = state.graph, box = $('graph');
    clear(box);
    if (!g) return;
    var L = layout(g);
    box.setAttribute('width', L.width);
    box.setAttribute('height', L.height);
    box.setAttribute('viewBox', '0 0 ' + L.width + ' ' + L.height);
    var defs = svg('defs');
    [['arrow', '#5b6670'], ['arrow-used', '#0b5cad'], ['arrow-path', '#d9480f']].forEach(function (a) {
      var m = svg('marker', { id: a[0], viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
      m.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: a[1] }));
      defs.appendChild(m);
    });
    box.appendChild(defs);
    var maxN = 1;
    g.edges.forEach(function (e) { if (e.n > maxN) maxN = e.n; });
    var on = pathStates();
    // edges between the same two widgets share one arrow and one label
    var groups = {}, order = [];
    var trigger = (g.nodes.filter(function (n) { return n.type === 'trigger'; })[0] || {}).name;
    g.edges.forEach(function (e) {
      // a trigger event the flow does not use: in the table, not drawn
      if (e.from === trigger && e.ends && e.n === 0) return;
      var k = e.from + '\u0000' + e.to;
      if (!groups[k]) { groups[k] = { from: e.from, to: e.to, items: [] }; order.push(k); }
      groups[k].items.push(e);
    });
    var sideways = 0;
    order.forEach(function (k) {
      var grp = groups[k], a = L.xy[grp.from], b = L.xy[grp.to];
      if (!a || !b) return;
      var n = grp.items.reduce(function (s, e) { return s + e.n; }, 0);
      var used = n > 0;
      var onPath = grp.items.some(function (e) { return on[e.from + '\u0000' + e.event + '\u0000' + e.to]; });
      var x1 = a.x + NODE_W / 2, y1 = a.y + NODE_H, x2 = b.x + NODE_W / 2, y2 = b.y, d, lx, ly;
      if (L.rank[grp.to] > L.rank[grp.from]) {
        var my = (y1 + y2) / 2;
        d = 'M' + x1 + ',' + y1 + ' C' + x1 + ',' + my + ' ' + x2 + ',' + my + ' ' + x2 + ',' + y2;
        lx = (x1 + x2) / 2; ly = my;
      } else {
        // back to an earlier widget (a retry, a loop): around the right side
        sideways++;
        var xr = Math.max(a.x, b.x) + NODE_W + 20 + 14 * sideways;
        var ya = a.y + NODE_H / 2, yb = b.y + NODE_H / 2;
        d = 'M' + (a.x + NODE_W) + ',' + ya + ' C' + xr + ',' + ya + ' ' + xr + ',' + yb + ' ' + (b.x + NODE_W) + ',' + yb;
        lx = xr - 10; ly = (ya + yb) / 2;
      }
      var width = used ? 1.5 + 4 * Math.log(1 + n) / Math.log(1 + maxN) : 1;
      var color = onPath ? '#d9480f' : used ? '#0b5cad' : '#aab1b8';
      var gEdge = svg('g', { class: 'edge' + (used ? ' used' : ' unused'), 'data-from': grp.from, 'data-to': grp.to, 'data-n': String(n) });
      var p = svg('path', { d: d, stroke: color, 'stroke-width': width.toFixed(2),
        'marker-end': 'url(#' + (onPath ? 'arrow-path' : used ? 'arrow-used' : 'arrow') + ')' });
      if (!used) p.setAttribute('stroke-dasharray', '4 3');
      gEdge.appendChild(p);
      var label = grp.items.map(function (e) { return clip(e.label, 28) + ' (' + e.n + ')'; }).join(', ');
      gEdge.appendChild(svg('title', {}, grp.items.map(function (e) { return e.from + ' —' + e.label + '→ ' + e.to + ': ' + e.n; }).join('\n')));
      // labels where they say something: transitions taken, and those of the chosen widget
      if (used || state.selectedNode === grp.from) gEdge.appendChild(svg('text', { x: lx + 4, y: ly - 3 }, clip(label, 60)));
      box.appendChild(gEdge);
    });
    g.nodes.forEach(function (nd) {
      var at = L.xy[nd.name];
      if (!at) return;
      var cls = 'node' + (nd.n > 0 ? ' visited' : '') + (on[nd.name] ? ' on-path' : '') +
        (nd.type === 'trigger' ? ' trigger' : '') + (nd.type === 'end' ? ' end' : '') +
        (state.selectedNode === nd.name ? ' selected' : '');
      var label = nd.name + ', ' + (nd.type === 'end' ? 'the end' : nd.type) + ', entered ' + nd.n + ' time' + (nd.n === 1 ? '' : 's');
      var gn = svg('g', { class: cls, tabindex: '0', role: 'button', 'aria-label': label, 'data-name': nd.name,
        transform: 'translate(' + at.x + ',' + at.y + ')' });
      gn.appendChild(svg('rect', { width: NODE_W, height: NODE_H, rx: nd.type === 'trigger' || nd.type === 'end' ? 22 : 6 }));
      gn.appendChild(svg('text', { x: 8, y: 18 }, clip(nd.name, 22)));
      gn.appendChild(svg('text', { x: 8, y: 34, class: 'type' }, clip(nd.type === 'end' ? 'Ended' : nd.type, 24)));
      gn.appendChild(svg('text', { x: NODE_W - 8, y: 18, class: 'count', 'text-anchor': 'end' }, String(nd.n)));
      gn.appendChild(svg('title', {}, label));
      gn.addEventListener('click', function () { selectNode(nd.name); });
      gn.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectNode(nd.name); }
      });
      box.appendChild(gn);
    });
    var tb = $('edge-table').tBodies[0];
    clear(tb);
    g.edges.forEach(function (e) {
      tb.appendChild(el('tr', { 'data-from': e.from, 'data-to': e.to }, [
        el('td', { text: e.from }), el('td', { text: e.label }), el('td', { text: e.to }), el('td', { text: String(e.n) })
      ]));
    });
  }

  function selectNode(name) {
    state.selectedNode = name;
    var g = state.graph;
    var nd = g.nodes.filter(function (n) { return n.name === name; })[0];
    var outs = g.edges.filter(function (e) { return e.from === name; })
      .map(function (e) { return e.label + ' → ' + e.to + ' (' + e.n + ')'; });
    $('node-info').textContent = name + ' (' + (nd ? nd.type : '?') + '): entered ' + (nd ? nd.n : 0) + ' times' +
      (outs.length ? '; ' + outs.join('; ') : '');
    var focused = document.activeElement && document.activeElement.getAttribute('data-name');
    drawGraph();
    if (focused) {
      var again = document.querySelector('#graph .node[data-name="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  // ---- executions ------------------------------------------------------------------------------

  function filters() {
    return { flow: state.flow, status: $('f-status').value, since: $('f-since').value.trim(),
      until: $('f-until').value.trim(), contact: $('f-contact').value.trim(), limit: $('f-limit').value.trim() };
  }

  function loadExecs() {
    var err = $('execs-error');
    return api('api/executions' + q(filters())).then(function (r) {
      err.hidden = true;
      state.execs = r.executions;
      renderExecs();
    }, function (e) {
      err.textContent = 'The list could not be read: ' + e.message;
      err.hidden = false;
    });
  }

  function statusCell(s) { return el('span', { class: 'status ' + s, text: s }); }

  function renderExecs() {
    var tb = $('exec-table').tBodies[0];
    clear(tb);
    var flowName = (state.flows.filter(function (f) { return f.sid === state.flow; })[0] || {}).name;
    $('execs-caption').textContent = (flowName ? 'Executions of ' + flowName : 'Executions of every flow') +
      ', newest first (' + state.execs.length + ')';
    state.execs.forEach(function (x) {
      tb.appendChild(el('tr', { 'data-sid': x.sid, 'aria-selected': x.sid === state.exec ? 'true' : 'false' }, [
        el('td', null, [el('button', { type: 'button', class: 'link', text: x.sid, 'aria-label': 'Open execution ' + x.sid,
          onclick: function () { selectExec(x.sid, true); } })]),
        el('td', null, [statusCell(x.status)]),
        el('td', { text: when(x.started_at) }),
        el('td', { text: x.contact || '-' }),
        el('td', { text: x.state || '-' }),
        el('td', { text: String(x.steps) }),
        el('td', { text: x.reason || '' })
      ]));
    });
  }

  function selectExec(sid, focus) {
    state.exec = sid;
    state.loadedSteps = 0;
    $('spec-box').hidden = true;
    $('spec-error').hidden = true;
    setHash();
    renderExecs();
    return loadExec().then(function () {
      if (focus) $('tl-h').focus();
    });
  }

  function loadExec() {
    if (!state.exec) return Promise.resolve();
    var sid = state.exec;
    return api('api/executions/' + sid).then(function (x) {
      if (sid !== state.exec) return;
      state.execDetail = x;
      renderExec(x);
      if (state.graph && x.flow_sid === state.flow) drawGraph();
    }, function (e) {
      $('timeline').hidden = false;
      $('spec-error').textContent = 'The execution could not be read: ' + e.message;
      $('spec-error').hidden = false;
    });
  }

  function dl(pairs) {
    var out = [];
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === '') return;
      out.push(el('dt', { text: p[0] }), el('dd', null, [p[1]]));
    });
    return out;
  }

  function changesTable(list) {
    if (!list.length) return el('p', { class: 'muted', text: 'Changed nothing in the context.' });
    var rows = list.map(function (c) {
      if (c.more) return el('tr', null, [el('td', { colspan: '3', text: '… and ' + c.more + ' more' })]);
      return el('tr', null, [
        el('td', { text: c.path }),
        el('td', { class: 'before', text: c.before === undefined ? '' : show(c.before) }),
        el('td', { class: 'after', text: c.after === undefined ? '(removed)' : show(c.after) })
      ]);
    });
    return el('table', { class: 'changes' }, [
      el('thead', null, [el('tr', null, [el('th', { text: 'context' }), el('th', { text: 'before' }), el('th', { text: 'after' })])]),
      el('tbody', null, rows)
    ]);
  }

  function httpBox(s) {
    var h = s.http, r = s.reply || {};
    var head = (h.method || 'POST') + ' ' + (h.mapped_url || h.url) + ' → ' +
      (h.status_code ? h.status_code : (h.reason || 'no reply')) +
      (typeof h.elapsed_ms === 'number' ? ' in ' + h.elapsed_ms.toFixed(1) + ' ms' : '');
    var parts = [el('p', null, [el('strong', { text: h.kind === 'twilio' ? 'Twilio API call' : 'HTTP call' }), ' ', el('code', { text: head })])];
    if (h.mapped_url) parts.push(el('p', { class: 'muted', text: 'as the flow asked for it: ' + h.url }));
    if (h.parameters) parts.push(el('p', null, ['Request parameters: ', el('code', { text: JSON.stringify(h.parameters) })]));
    if (h.body) parts.push(el('p', null, ['Request body: ', el('code', { text: h.body })]));
    if (r.body) {
      parts.push(el('p', { text: 'Reply' + (r.content_type ? ' (' + r.content_type + ')' : '') + ':' }));
      parts.push(el('pre', { class: 'code', tabindex: '0', text: r.body }));
    }
    if (r.message) parts.push(el('p', { class: 'failure', text: (r.reason ? r.reason + ': ' : '') + r.message }));
    return el('div', { class: 'http' }, parts);
  }

  function renderExec(x) {
    $('timeline').hidden = false;
    $('tl-h').textContent = 'Execution ' + x.sid;
    $('tl-h').setAttribute('tabindex', '-1');
    var meta = $('tl-meta');
    clear(meta);
    dl([
      ['Status', statusCell(x.status)], ['Reason', x.reason], ['Flow', (x.flow || '') + ' (' + x.flow_sid + ')'],
      ['Contact', x.contact], ['Flow number', x.channel], ['Trigger', x.trigger],
      ['Started', when(x.started_at, true)], ['Ended', x.ended_at ? when(x.ended_at, true) : null],
      ['Waits', x.wait ? x.wait.kind + ' at ' + x.wait.state + (x.wait.deadline ? ' until ' + when(x.wait.deadline) : '') : null],
      ['Subflow of', x.parent_sid]
    ]).forEach(function (n) { meta.appendChild(n); });
    var ol = $('steps');
    clear(ol);
    x.steps.forEach(function (s, i) {
      var failed = !!s.failure || s.event === 'fail' || s.event === 'failed';
      var li = el('li', { class: 'step' + (failed ? ' failed' : '') + (i >= state.loadedSteps && state.loadedSteps > 0 ? ' new' : ''),
        'data-from': s.from, 'data-event': s.event, 'data-to': s.to }, [
        el('h4', null, [
          el('span', { class: 'when', text: clock(s.at) }),
          s.from + ' ', el('span', { class: 'type', text: '(' + s.type + ')' }), ' ',
          el('span', { class: 'event', text: '—' + s.event + '→ ' + s.to })
        ])
      ]);
      if (s.failure) li.appendChild(el('p', { class: 'failure', text: 'Failed: ' + (s.failure.reason || '') + (s.failure.message ? ' — ' + s.failure.message : '') }));
      else if (s.reason) li.appendChild(el('p', { class: 'failure', text: 'Reason: ' + s.reason }));
      if (s.http) li.appendChild(httpBox(s));
      li.appendChild(changesTable(s.changes || []));
      ol.appendChild(li);
    });
    if (x.status === 'failed' && x.reason) {
      ol.appendChild(el('li', { class: 'step failed' }, [el('p', { class: 'failure', text: 'The execution failed: ' + x.reason })]));
    }
    state.loadedSteps = x.steps.length;
  }

  function replay() {
    var sid = state.exec;
    $('spec-error').hidden = true;
    return api('api/executions/' + sid + '/spec').then(function (text) {
      $('spec').textContent = text;
      $('spec-download').setAttribute('href', 'api/executions/' + sid + '/spec?download=1');
      $('spec-box').hidden = false;
      $('spec').focus();
    }, function (e) {
      $('spec-error').textContent = 'No spec: ' + e.message;
      $('spec-error').hidden = false;
    });
  }

  // ---- the conversation panel -------------------------------------------------------------------

  function talkAddr() { return { flow: $('t-flow').value, from: $('t-from').value.trim(), to: $('t-to').value.trim() }; }

  function chat(kind, text, voice) {
    var ol = $('chat');
    var li = el('li', { class: kind + (voice ? ' voice' : '') }, [
      el('span', { class: 'bubble', text: (voice && kind === 'out' ? '(voice) ' : '') + text })
    ]);
    ol.appendChild(li);
    ol.scrollTop = ol.scrollHeight;
  }

  function talkError(msg) {
    var p = $('talk-error');
    p.textContent = msg || '';
    p.hidden = !msg;
  }

  function sendText(ev) {
    ev.preventDefault();
    var t = talkAddr(), body = $('t-body').value;
    if (!t.flow) { talkError('Pick a flow first.'); return; }
    talkError('');
    $('t-body').value = '';
    post('api/talk/message', { Flow: t.flow, From: t.from, To: t.to, Body: body }).catch(function (e) {
      talkError('The message was not taken: ' + e.message);
    });
  }

  var KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

  // the newest state of a call: its answer and the change feed may come in either order
  function newest(c) {
    var seen = state.calls[c.sid];
    if (seen && seen.version > c.version) return seen;
    state.calls[c.sid] = c;
    return c;
  }

  function renderCall(c) {
    c = newest(c);
    state.call = c;
    var words = {
      connecting: 'Connecting… (the flow is working)',
      playing: 'The caller hears the flow…',
      input: 'The flow listens: press keys or say something.',
      recording: 'The flow records: say your message.',
      outcome: 'The flow waits for something outside the call.',
      ended: 'The call ended.' + (c && c.reason ? ' (' + c.reason + ')' : '')
    };
    $('call-state').textContent = c ? (words[c.state] || c.state) + (c.ask ? ' [' + c.ask.widget + ']' : '') : 'No call.';
    var live = c && c.state !== 'ended';
    $('call-hangup').disabled = !live;
    $('call-start').disabled = !!live;
    $('call-form').hidden = !(c && (c.state === 'input' || c.state === 'recording'));
    var oc = $('call-outcomes');
    Array.prototype.slice.call(oc.querySelectorAll('button')).forEach(function (b) { b.remove(); });
    var events = c && c.ask && c.state === 'outcome' ? c.ask.events : [];
    oc.hidden = events.length === 0;
    events.forEach(function (e) {
      oc.appendChild(el('button', { type: 'button', class: 'secondary', text: e, onclick: function () { choose(e); } }));
    });
  }

  function startCall() {
    var t = talkAddr();
    if (!t.flow) { talkError('Pick a flow first.'); return; }
    talkError('');
    chat('note', 'You call ' + t.to + '.');
    post('api/talk/call', { Flow: t.flow, From: t.from, To: t.to }).then(renderCall, function (e) {
      talkError('The call did not connect: ' + e.message);
    });
  }

  function callAction(what, fields) {
    if (!state.call) return Promise.resolve();
    return post('api/talk/calls/' + state.call.sid + '/' + what, fields || {}).then(renderCall, function (e) {
      talkError(e.message);
    });
  }

  function answer(ev) {
    if (ev) ev.preventDefault();
    var text = $('call-input').value;
    $('call-input').value = '';
    if (text) chat('in', text, true);
    else chat('note', '(you stay silent)');
    callAction('answer', { Text: text });
  }

  function choose(e) { chat('note', '(' + e + ')'); callAction('choose', { Event: e }); }

  function hangup() { chat('note', 'You hang up.'); callAction('hangup'); }

  function keypad() {
    var pad = $('keypad');
    KEYS.forEach(function (k) {
      pad.appendChild(el('button', { type: 'button', text: k, 'aria-label': 'key ' + k, onclick: function () {
        var input = $('call-input');
        input.value += k;
        var n = state.call && state.call.ask && Number(state.call.ask.num_digits);
        if (n && input.value.length >= n) answer();
      } }));
    });
  }

  function isMine(ev) {
    var t = talkAddr();
    if (ev.dir === 'in') return ev.from === t.from && (ev.to === t.to || ev.to === undefined) && !ev.voice;
    return ev.to === t.from && ev.from === t.to;
  }

  // ---- live updates: a long poll on the change feed -----------------------------------------------

  var pending = null;
  function later(fn) {
    pending = pending || {};
    pending[fn.name] = fn;
    if (pending.timer) return;
    pending.timer = setTimeout(function () {
      var p = pending;
      pending = null;
      Object.keys(p).forEach(function (k) { if (k !== 'timer') p[k](); });
    }, REFRESH_MS);
  }

  function onFeed(f) {
    if (f.reset) {
      later(loadFlows); later(loadExecs); later(loadGraph); later(loadExec);
    }
    f.events.forEach(function (ev) {
      if (ev.kind === 'step' || ev.kind === 'ended') {
        if (!state.flow || ev.flow_sid === state.flow || ev.parent_sid) later(loadExecs);
        if (ev.flow_sid === state.flow) later(loadGraph);
        if (ev.execution === state.exec) later(loadExec);
      } else if (ev.kind === 'message') {
        if (ev.dir === 'out' && isMine(ev)) chat('out', ev.body || '', ev.voice);
        else if (ev.dir === 'in' && isMine(ev)) chat('in', ev.body || '');
      } else if (ev.kind === 'call') {
        if (!ev.call) return;
        var c = newest(ev.call);
        if (state.call && c.sid === state.call.sid) renderCall(c);
      }
    });
    state.seq = f.seq;
  }

  function live(on, text) {
    var p = $('live');
    p.className = 'live ' + (on ? 'on' : 'off');
    p.textContent = text;
  }

  function watch() {
    return api('api/changes?since=' + state.seq).then(function (f) {
      live(true, 'Live');
      onFeed(f);
      return watch();
    }, function (e) {
      live(false, 'Disconnected (' + e.message + '); trying again');
      return sleep(RETRY_MS).then(watch);
    });
  }

  // ---- start -----------------------------------------------------------------------------------

  function start() {
    $('filters').addEventListener('submit', function (ev) { ev.preventDefault(); loadExecs(); });
    $('replay').addEventListener('click', replay);
    $('talk-form').addEventListener('submit', sendText);
    $('call-start').addEventListener('click', startCall);
    $('call-hangup').addEventListener('click', hangup);
    $('call-form').addEventListener('submit', answer);
    $('call-silence').addEventListener('click', function () { $('call-input').value = ''; answer(); });
    $('t-flow').addEventListener('change', function () { $('chat').textContent = ''; });
    keypad();
    var h = fromHash();
    loadFlows().then(function () {
      var first = h.flow || (state.flows[0] && state.flows[0].sid);
      var go = first ? selectFlow(first) : loadExecs();
      return go.then(function () { if (h.exec) return selectExec(h.exec, false); });
    }).then(function () {
      document.body.setAttribute('data-ready', 'true');
      live(true, 'Live');
      watch();
    }, function (e) {
      live(false, 'The inspector could not start: ' + e.message);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
