// bench/http/report.js: the table and goal lines of bench/http/run.sh.
//
//   node bench/http/report.js LATENCY.jsonl CONCURRENT.jsonl CONCURRENCY
//
// LATENCY.jsonl holds one line per round and implementation (bare.c, rivulet.lua latency);
// CONCURRENT.jsonl one line per concurrent run. Goals are informational: exit status 0.
'use strict';

const fs = require('node:fs');

const GOAL_RATIO = 1.10;
const GOAL_WALL_S = 0.3;

function lines(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const [latFile, concFile, concurrency] = process.argv.slice(2);
const lat = lines(latFile);
const conc = lines(concFile);

const NAMES = {
  bare: 'bare libcurl easy (C)',
  rivulet: 'rivulet.run_function',
  rivulet_signed: '  same, signed',
  rivulet_step: 'Run Function step',
};
const impls = ['bare', 'rivulet', 'rivulet_signed', 'rivulet_step'].filter((i) => lat.some((r) => r.impl === i));
const summary = {};
for (const impl of impls) {
  const rounds = lat.filter((r) => r.impl === impl);
  summary[impl] = {
    rounds: rounds.length,
    n: rounds.reduce((a, r) => a + r.n, 0),
    median: median(rounds.map((r) => r.median_us)),
    p10: median(rounds.map((r) => r.p10_us)),
    p90: median(rounds.map((r) => r.p90_us)),
    spread: rounds.map((r) => r.median_us.toFixed(1)).join(' '),
  };
}

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

console.log('');
console.log('(a) Run Function round trip, sequential, keep-alive: per-call µs (median of the rounds\' medians);\n' +
  '    a step is a whole execution, Trigger -> Run Function -> Ended, in one engine');
console.log(`  ${pad('implementation', 24)}${lpad('calls', 8)}${lpad('median', 9)}${lpad('p10', 8)}${lpad('p90', 8)}${lpad('vs bare', 9)}${lpad('+µs', 7)}   round medians`);
const bare = summary.bare;
for (const impl of impls) {
  const s = summary[impl];
  const ratio = bare ? (s.median / bare.median).toFixed(2) + '×' : '-';
  const extra = bare ? (s.median - bare.median).toFixed(1) : '-';
  console.log(`  ${pad(NAMES[impl], 24)}${lpad(s.n, 8)}${lpad(s.median.toFixed(1), 9)}${lpad(s.p10.toFixed(1), 8)}${lpad(s.p90.toFixed(1), 8)}${lpad(ratio, 9)}${lpad(extra, 7)}   ${s.spread}`);
}

console.log('');
console.log(`(b) ${concurrency} concurrent client:run_function calls to the 100 ms endpoint, one thread, fresh client per run`);
console.log(`  ${pad('run', 5)}${lpad('wall s', 9)}${lpad('start s', 9)}${lpad('ok', 7)}${lpad('failed', 8)}`);
conc.forEach((r, i) => {
  console.log(`  ${pad(i + 1, 5)}${lpad(r.wall_s.toFixed(3), 9)}${lpad(r.start_s.toFixed(3), 9)}${lpad(r.ok, 7)}${lpad(r.failed, 8)}${r.first_failure ? '   first failure: ' + r.first_failure : ''}`);
});
const wall = median(conc.map((r) => r.wall_s));

console.log('');
if (bare && summary.rivulet) {
  const ratio = summary.rivulet.median / bare.median;
  console.log(`goal (a) rivulet.run_function <= ${GOAL_RATIO.toFixed(2)}× bare libcurl: ${ratio.toFixed(2)}× ` +
    `(${summary.rivulet.median.toFixed(1)} vs ${bare.median.toFixed(1)} µs): ${ratio <= GOAL_RATIO ? 'met' : 'not met'}`);
} else {
  console.log('goal (a): not measured');
}
if (conc.length) {
  console.log(`goal (b) ${concurrency} concurrent calls <= ${GOAL_WALL_S} s wall: ${wall.toFixed(3)} s (median of ${conc.length}): ` +
    `${wall <= GOAL_WALL_S && conc.every((r) => r.failed === 0) ? 'met' : 'not met'}`);
} else {
  console.log('goal (b): not measured');
}
