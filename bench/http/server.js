// Loopback server for bench/http: every request gets 200 {"number":4} application/json
// over HTTP/1.1 keep-alive; a path starting with /slow answers after 100 ms.
//
//   node bench/http/server.js            prints "PORT n" once listening on 127.0.0.1:n
//
// It exits when its stdin closes (run.sh holds the other end of a pipe), so it never
// outlives the benchmark.
'use strict';

const http = require('node:http');

const BODY = Buffer.from('{"number":4}');
const HEADERS = { 'Content-Type': 'application/json', 'Content-Length': BODY.length };
const SLOW_MS = Number(process.env.BENCH_SLOW_MS || 100);

function reply(res) {
  res.writeHead(200, HEADERS);
  res.end(BODY);
}

const server = http.createServer((req, res) => {
  const slow = req.url.startsWith('/slow');
  req.on('data', () => {}); // the request body is read and dropped
  req.on('end', () => {
    if (slow) setTimeout(reply, SLOW_MS, res);
    else reply(res);
  });
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;

// A backlog for 1,000 connections arriving at once (the kernel caps it at somaxconn).
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
