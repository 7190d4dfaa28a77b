'use strict';
/*
 * server.js - the peer benchmark's server: the smallest useful Node.js HTTP
 * service, answering every request with a short text body on a kept-alive
 * connection. The same file runs untraced, under OpenTelemetry JS
 * auto-instrumentation (node --require
 * @opentelemetry/auto-instrumentations-node/register) and with otelshim
 * preloaded into node.
 *
 *     node server.js [PORT]
 *
 * Listens on 127.0.0.1 (an ephemeral port by default) and prints
 * "listening <port>" once it accepts connections. Exits on SIGTERM.
 */
const http = require('http');

const body = 'hello\n';
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/plain',
    'Content-Length': body.length,
  });
  res.end(body);
});

server.keepAliveTimeout = 60000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  // The OpenTelemetry SDK, when loaded, flushes on its own SIGTERM handler.
  setTimeout(() => process.exit(0), 100).unref();
});
