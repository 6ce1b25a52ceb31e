// Node-RED 4.1.8 embedded for the benches that run a flow in it (bench/engine/node-red-steps.js,
// bench/scale/node-red-scale.js): the pinned install in bench/serve/node-red, a throwaway user
// folder holding the flow, no HTTP server of its own, no editor, no context store.
//
//   const nr = require('../lib/node-red.js')
//   const { RED, fail, nodes, stop } = nr.embed(me, flowsText, ['id of the first node', 'id of the last'])
//   const [start, end] = await nodes()     // the flow's nodes, once it runs
//   ... fail(message) exits 1 saying `me: message`; await stop() ends Node-RED and the folder
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const RED = require(path.join(__dirname, '../serve/node-red/node_modules/node-red'));

function embed(me, flows, ids) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rivulet-nr-'));
  fs.writeFileSync(path.join(userDir, 'flows.json'), flows);
  RED.init({
    userDir, flowFile: 'flows.json', credentialSecret: false, httpAdminRoot: false, httpNodeRoot: false,
    diagnostics: { enabled: false, ui: false }, runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: 'error', metrics: false, audit: false } },
  });
  function fail(msg) {
    process.stderr.write(`${me}: ${msg}\n`);
    fs.rmSync(userDir, { recursive: true, force: true });
    process.exit(1);
  }
  // the nodes named by ids, once the started flow has made them (it does so asynchronously)
  async function nodes() {
    await RED.start();
    for (let i = 0; i < 100; i++) {
      const found = ids.map((id) => RED.nodes.getNode(id));
      if (found.every(Boolean)) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    return fail('the flow did not start');
  }
  async function stop() {
    await RED.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  return { RED, fail, nodes, stop };
}

module.exports = { embed };
