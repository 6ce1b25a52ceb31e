// Node-RED's side of the step benchmark (bench/engine/run.sh): the flow of
// bench/engine/steps.lua built of Node-RED's own nodes (node-red-steps.json): `count`
// (change: msg.n = n + 1, a JSONata expression as rivulet's is Liquid) -> `check` (switch:
// msg.n < LOOPS back to count, else on) -> `done` (change: msg.payload = $string(n)) -> a
// junction where the finished messages are counted. Node-RED 4.1.8 (bench/serve/node-red,
// pinned), embedded: no HTTP server, no editor, no context store.
//
//   node bench/engine/node-red-steps.js EXECUTIONS LOOPS
//
// One warm-up pass (V8's JIT runs the first at half speed), then one timed pass: EXECUTIONS
// messages, 100 in flight at a time. Every finished message must carry payload
// String(LOOPS). Prints one JSON line {"impl":"node-red","executions":..,"cpu_s":..,"wall_s":..}.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const nr = require('../lib/node-red.js');

const N = Number(process.argv[2] || 20000);
const LOOPS = Number(process.argv[3] || 10);
const IN_FLIGHT = 100;

const flows = fs.readFileSync(path.join(__dirname, 'node-red-steps.json'), 'utf8').replace('"LOOPS"', `"${LOOPS}"`);
const { fail, nodes, stop } = nr.embed('bench/engine/node-red-steps.js', flows, ['e000000000000001', 'e000000000000004']);

function pass(count, start, sink) {
  return new Promise((resolve) => {
    let started = 0, finished = 0;
    const expect = String(LOOPS);
    sink.handler = (msg) => {
      if (msg.payload !== expect) fail(`a message finished with payload ${JSON.stringify(msg.payload)}`);
      finished++;
      if (finished === count) resolve();
      else if (started < count) { started++; start.receive({ n: 0 }); }
    };
    for (; started < Math.min(IN_FLIGHT, count); started++) start.receive({ n: 0 });
  });
}

(async () => {
  const [start, end] = await nodes();
  const sink = { handler: null };
  end.on('input', (msg, send, done) => { sink.handler(msg); done(); });
  await pass(Math.max(1000, N >> 2), start, sink);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await pass(N, start, sink);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ impl: 'node-red', executions: N, cpu_s: (c.user + c.system) / 1e6, wall_s: wall }) + '\n');
  await stop();
  process.exit(0);
})().catch((e) => fail(String(e && e.stack || e)));
