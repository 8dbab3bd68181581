import net from 'node:net';
import { startServer, sleep } from './lib.mjs';
import { generate } from './gen.mjs';
const csv = generate({ rows: 1500, rejected: 2, seed: 99 });
const args = process.argv.slice(2);
const srv = await startServer({ args });
for (const n of [50000]) {
const sock = net.connect(srv.port, srv.host);
await new Promise((r) => sock.once('connect', r));
const t0 = Date.now();
sock.on('data', (d) => console.log(n, Date.now() - t0, 'data', JSON.stringify(d.toString().slice(0, 40))));
sock.on('end', () => console.log(n, Date.now() - t0, 'end'));
sock.on('close', () => console.log(n, Date.now() - t0, 'close'));
sock.on('error', (e) => console.log(n, Date.now() - t0, 'error', e.code));
sock.write(`POST /api/imports?name=p.csv HTTP/1.1\r\nHost: t\r\nContent-Length: ${csv.buffer.length}\r\n\r\n`);
sock.write(csv.buffer.subarray(0, n));
await sleep(8000);
console.log('destroyed?', sock.destroyed);
sock.destroy();
}
await srv.stop();
