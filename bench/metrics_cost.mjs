// metrics_cost.mjs - what the instruments cost: the server run under
// callgrind (PROPFLOW_WRAP) through one 30K-row upload and N page reads,
// then the instructions of the server process (callgrind's "summary").
// Run it with the binary before and after; the difference is the cost.
//
//   node bench/metrics_cost.mjs --propflow BIN [--reads 2000] [--rows 30000] [--out DIR]
//
// PostgreSQL (forked by the server) is not traced; the numbers are the
// server's own work: HTTP, parsing, normalising, batches, JSON, metrics.
import fs from 'node:fs';
import path from 'node:path';

const arg = (n, d) => {
	const i = process.argv.indexOf(n);
	return i > 0 ? process.argv[i + 1] : d;
};
const bin = path.resolve(arg('--propflow', 'build/propflow'));
const reads = Number(arg('--reads', 2000));
const rows = Number(arg('--rows', 30000));
const out = path.resolve(arg('--out', fs.mkdtempSync('/tmp/pf-metrics-cost-')));
fs.mkdirSync(out, { recursive: true });
const cg = path.join(out, `callgrind.${path.basename(path.dirname(path.dirname(bin)))}.out`);
process.env.PROPFLOW_BIN = bin;
process.env.PROPFLOW_WRAP = `valgrind --tool=callgrind --trace-children=no --callgrind-out-file=${cg}`;
process.env.PROPFLOW_SRC ??= path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.env.TIME_FACTOR ??= '30';

const { startServer, importFile, request } = await import('../tests/integration/lib.mjs');
const { generate } = await import('../tests/integration/gen.mjs');
const S = await startServer({});
const { buffer } = generate({ rows, rejected: 9, seed: 30 });
const t0 = Date.now();
const { job } = await importFile(S.url, buffer, 'cost.csv', 'done', 1800000);
const t1 = Date.now();
for (let i = 0; i < reads; i++) {
	const r = await request('GET', `${S.url}/api/imports/${job.id}/properties?limit=100`);
	if (r.status !== 200) throw new Error(`read ${i}: ${r.status}`);
}
const t2 = Date.now();
await S.stop();
const text = fs.readFileSync(cg, 'utf8');
const ir = Number((/^summary:\s+(\d+)/m.exec(text) || /^totals:\s+(\d+)/m.exec(text))[1]);
console.log(JSON.stringify({ bin, rows: job.rows_inserted, reads, ir, import_ms: t1 - t0, reads_ms: t2 - t1, callgrind: cg }));
