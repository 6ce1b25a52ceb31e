// LiquidJS side of rivulet's Liquid benchmark.
//   node bench/liquid/liquidjs.js BENCH_DIR OUT_DIR
// Prints one JSON line: ops/s per workload and measure, plus VmHWM. Writes each
// workload's rendered output to OUT_DIR/liquidjs-<workload>.out. BENCH_SECONDS (default 1)
// is the time spent on each measure (5 samples, median reported).
'use strict'
const fs = require('fs')
const path = require('path')
const { Liquid } = require('liquidjs')

const [benchDir, outDir] = process.argv.slice(2)
if (!benchDir || !outDir) {
  console.error('usage: liquidjs.js BENCH_DIR OUT_DIR')
  process.exit(2)
}
const SECONDS = Number(process.env.BENCH_SECONDS || '1')
const WORKLOADS = (process.env.BENCH_WORKLOADS || 'studio theme').split(/\s+/).filter(Boolean)

// Process CPU time (all threads), as the other two engines measure it (see bench/README.md).
const clock = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

// ops/s of fn: warm up, size a batch to SECONDS/5, take the median of 5 batches.
function measure (fn) {
  const sample = SECONDS / 5
  let t0 = clock()
  let n = 0
  while (n < 3 || clock() - t0 < Math.min(0.2, sample)) { fn(); n++ }
  const perOp = (clock() - t0) / n
  const batch = Math.max(Math.round(sample / perOp), 1)
  const rates = []
  for (let s = 0; s < 5; s++) {
    t0 = clock()
    for (let i = 0; i < batch; i++) fn()
    rates.push(batch / (clock() - t0))
  }
  rates.sort((a, b) => a - b)
  return rates[2]
}

const version = require('liquidjs/package.json').version
const result = { engine: 'liquidjs', version: `liquidjs ${version}, node ${process.versions.node}` }
for (const w of WORKLOADS) {
  const dir = path.join(benchDir, w)
  const tdir = path.join(dir, 'templates')
  const data = JSON.parse(fs.readFileSync(path.join(dir, 'data.json'), 'utf8'))
  const src = fs.readFileSync(path.join(tdir, 'index.liquid'), 'utf8')
  const opts = { root: [tdir], partials: [tdir], extname: '.liquid', timezoneOffset: 0 }
  // Partials are cached (parsed once) for render and parse+render, as rivulet caches them;
  // the index itself is always parsed from source (parse() does not use the cache; a
  // template keeps the instance that parsed it, and that instance loads its partials).
  const cached = new Liquid({ ...opts, cache: true })
  const uncached = new Liquid({ ...opts, cache: false })

  const template = cached.parse(src)
  fs.writeFileSync(path.join(outDir, `liquidjs-${w}.out`), cached.renderSync(template, data))

  result[`${w}_parse`] = measure(() => uncached.parse(src))
  result[`${w}_render`] = measure(() => cached.renderSync(template, data))
  result[`${w}_parse_render`] = measure(() => cached.renderSync(cached.parse(src), data))
}
let status = ''
try { status = fs.readFileSync('/proc/self/status', 'utf8') } catch (e) {}
const m = /VmHWM:\s+(\d+)/.exec(status)
result.vmhwm_kb = m ? Number(m[1]) : 0
console.log(JSON.stringify(result))
