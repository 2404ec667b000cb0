// A Node.js peer for the fan-out benchmark: the usual advice for this
// problem, an HTTP server plus npm `ws`. POST /pub/CHANNEL broadcasts the
// body to every WebSocket subscribed at /sub/CHANNEL, one send() each.
// Listens on 127.0.0.1 only; exits by itself after MAX_SECONDS.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 19002);
const maxSeconds = Number(process.argv[3] || 900);
const channels = new Map(); // name -> Set of sockets

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

const server = http.createServer((req, res) => {
  const m = /^\/pub\/([A-Za-z0-9_.-]+)$/.exec(req.url);
  if (req.method !== 'POST' || !m) {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const subs = channels.get(m[1]);
    let n = 0;
    if (subs) {
      for (const ws of subs) {
        if (ws.readyState === 1) {
          ws.send(body);
          n++;
        }
      }
    }
    const out = `${n}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': out.length });
    res.end(out);
  });
});

server.on('upgrade', (req, socket, head) => {
  const m = /^\/sub\/([A-Za-z0-9_.-]+)$/.exec(req.url);
  if (!m) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let set = channels.get(m[1]);
    if (!set) {
      set = new Set();
      channels.set(m[1], set);
    }
    set.add(ws);
    ws.on('close', () => set.delete(ws));
    ws.on('error', () => set.delete(ws));
  });
});

server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.error(`node-ws: 127.0.0.1:${port}`));
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
process.on('SIGTERM', () => process.exit(0));
