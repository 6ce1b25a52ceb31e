// Node-RED's side of the scale benchmark (bench/scale/run.sh): N executions at once, each
// the flow of bench/scale/scale.lua built of Node-RED's own nodes (node-red-scale.json):
// `parameters` (change: the form parameter from the contact, a JSONata expression as
// rivulet's is Liquid) -> `call` (http request: POST the form to the function, the reply
// parsed as JSON; Node-RED's keep-alive agent) -> `done` (change: the reply's number as
// text) -> a junction where the finished messages are counted. Node-RED 4.1.8
// (bench/serve/node-red, pinned), embedded: no HTTP server of its own, no editor.
//
//   node bench/scale/node-red-scale.js URL N        URL: the function (the C server's /slow)
//
// A warm-up pass of 1,000 (V8 compiles as it goes), then N messages started at once, as
// scale.lua starts its executions; every finished message must carry "4". Prints one JSON line {"impl":"node-red","executions":..,
// "succeeded":..,"wall_s":..,"cpu_s":..}.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const nr = require('../lib/node-red.js');

const URL = process.argv[2];
const N = Number(process.argv[3] || 10000);
if (!URL) {
  process.stderr.write('usage: node bench/scale/node-red-scale.js URL [N]\n');
  process.exit(2);
}

const flows = fs.readFileSync(path.join(__dirname, 'node-red-scale.json'), 'utf8').replace('"URL"', JSON.stringify(URL));
const { fail, nodes, stop } = nr.embed('bench/scale/node-red-scale.js', flows, ['f000000000000001', 'f000000000000004']);

(async () => {
  const [start, end] = await nodes();
  // a pass: n messages started at once; resolves with how many sent the function's number
  let sink = null;
  end.on('input', (msg, send, nodeDone) => { sink(msg); nodeDone(); });
  function pass(n, from) {
    return new Promise((resolve) => {
      let finished = 0, ok = 0;
      sink = (msg) => {
        if (msg.payload === '4') ok++;
        if (++finished === n) resolve(ok);
      };
      for (let i = 1; i <= n; i++) start.receive({ from: '+1555' + String(from + i).padStart(7, '0') });
    });
  }
  await pass(Math.min(1000, N), N);          // V8's JIT runs the first pass at half speed
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const ok = await pass(N, 0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ impl: 'node-red', executions: N, succeeded: ok, wall_s: wall,
    cpu_s: (c.user + c.system) / 1e6 }) + '\n');
  await stop();
  if (ok !== N) fail(`${ok} of ${N} executions sent the function's number`);
  process.exit(0);
})().catch((e) => fail(String(e && e.stack || e)));
