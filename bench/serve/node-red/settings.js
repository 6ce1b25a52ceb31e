// Node-RED's settings for bench/serve/run.sh: the flow of flows.json served on
// 127.0.0.1:$NODE_RED_PORT from a temporary userDir (--userDir), nothing else: no editor
// or admin API, no telemetry, no context store, warnings only in the log.
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: Number(process.env.NODE_RED_PORT),
  flowFile: "flows.json",
  credentialSecret: false,
  httpAdminRoot: false,
  httpNodeRoot: "/",
  diagnostics: { enabled: false, ui: false },
  runtimeState: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  logging: { console: { level: "warn", metrics: false, audit: false } },
};
