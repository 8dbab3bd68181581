// export.test.mjs - the downloads of issue 11 over real sockets: an import's
// records as CSV, ndjson and GeoJSON, each parsed back and compared with the
// stored rows (the API's pages); gzip when asked (and not with gzip;q=0);
// Content-Disposition; HEAD; 404 for another user's import, 400 naming a bad
// format; a client that closes mid-export (the server goes on); a client
// that reads nothing is dropped after the write timeout while a slow one
// that reads is not, and a slow reader neither makes another user's pages
// slower nor grows the server (its output stays at the cap); the error file
// (the file's header + each rejected row's text + its reason) fixed as a
// user would and uploaded again: all stored, 0 rejected, the reason column
// unmapped (UTF-8 and Windows-1252 files); the uploaded file back byte for
// byte (Windows-1252 + CRLF, a BOM, a multi-megabyte file) and 409 while a
// tus upload is still arriving.
//
// The server runs with --idle-timeout-ms 1500, so that the write timeout
// (a streamed response's client reads nothing for that long) shows within
// seconds; the slow reader reads across two of those periods.

import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import {
	authLines, importFile, makeUser, procStats, request, scaled, sleep, tusCreate, tusPatch, useServer,
	getJson, uploadChunked, waitAnalysis, waitFor, walk, walkProperties, test,
} from './lib.mjs';
import { FIELDS, generate } from './gen.mjs';

const INSTRUMENTED = process.env.PROPFLOW_SANITIZED === '1' || process.env.PROPFLOW_VALGRIND === '1';
const IDLE_MS = 1500;
const srv = useServer({ args: ['--idle-timeout-ms', String(IDLE_MS)] });
const S = {};
const NAME = 'Häuser "Q4"/März.csv';

// ------------------------------------------------------------------ helpers

// RFC 4180 records of text: each an array of fields; an unquoted empty
// field is null (PostgreSQL's NULL), a quoted one "".
function parseCsv(text, delim = ',') {
	const rows = [];
	let row = [];
	let i = 0;
	const n = text.length;
	while (i < n) {
		let v;
		if (text[i] === '"') {
			let s = '';
			i++;
			for (;;) {
				const q = text.indexOf('"', i);
				if (q < 0) throw new Error('unterminated quote');
				s += text.slice(i, q);
				if (text[q + 1] === '"') { s += '"'; i = q + 2; } else { i = q + 1; break; }
			}
			v = s;
		} else {
			let e = i;
			while (e < n && text[e] !== delim && text[e] !== '\r' && text[e] !== '\n') e++;
			v = e === i ? null : text.slice(i, e);
			i = e;
		}
		row.push(v);
		if (text[i] === delim) { i++; continue; }
		if (text[i] === '\r') i++;
		if (text[i] === '\n') i++;
		rows.push(row);
		row = [];
	}
	return rows;
}

function sameValue(field, csv, item) {
	const v = item[field];
	if (v === null || v === undefined) return csv === null;
	if (typeof v === 'number') return csv !== null && Number(csv) === v;
	return csv === v;
}

// GET path on a raw socket, returning {sock, head: promise of the head
// text}; bytes after the head are counted in sock.bodyBytes.
function rawGet(path, { accept = null } = {}) {
	const sock = net.connect(srv.port, srv.host);
	sock.bodyBytes = 0;
	let buf = Buffer.alloc(0);
	let headDone = false;
	const head = new Promise((resolve, reject) => {
		sock.on('data', (d) => {
			if (headDone) { sock.bodyBytes += d.length; return; }
			buf = Buffer.concat([buf, d]);
			const e = buf.indexOf('\r\n\r\n');
			if (e < 0) return;
			headDone = true;
			sock.bodyBytes += buf.length - e - 4;
			resolve(buf.subarray(0, e).toString('latin1'));
		});
		sock.once('error', reject);
	});
	sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n${authLines(srv.url)}` +
		`${accept ? `Accept-Encoding: ${accept}\r\n` : ''}\r\n`));
	return { sock, head };
}

// ------------------------------------------------------------------ the data

test('imports to export', { timeout: 240000 }, async () => {
	const small = generate({ rows: 3000, rejected: 8, seed: 11 });
	S.small = small;
	const a = await importFile(srv.url, small.buffer, NAME);
	S.job = a.job;
	await waitAnalysis(srv.url, a.job.id); // its outlier flags settle
	S.items = await walkProperties(srv.url, a.job.id);
	assert.equal(S.items.length, small.truth.inserted);
	// a big one (multi-megabyte, with a BOM) for the slow readers and byte identity
	const big = generate({ rows: 30000, rejected: 3, seed: 12, bom: true });
	S.big = big;
	S.bigJob = (await importFile(srv.url, big.buffer, 'big.csv', 'done', 240000)).job;
	assert.equal(S.bigJob.rows_inserted, big.truth.inserted);
});

// ------------------------------------------------------------------ formats

test('CSV: the field names, then every stored row in file order, RFC 4180', async () => {
	const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=csv`);
	assert.equal(r.status, 200, r.text.slice(0, 300));
	assert.equal(r.headers['content-type'], 'text/csv; charset=utf-8');
	assert.equal(r.headers['transfer-encoding'], 'chunked');
	assert.equal(r.headers['content-encoding'], undefined);
	assert.equal(r.headers.vary, 'Accept-Encoding');
	assert.equal(r.headers['content-disposition'],
		'attachment; filename="H_user _Q4__M_rz.csv"; filename*=UTF-8\'\'H%C3%A4user%20%22Q4%22%2FM%C3%A4rz.csv');
	const rows = parseCsv(r.text);
	assert.deepEqual(rows[0], FIELDS);
	assert.equal(rows.length - 1, S.items.length);
	const bad = [];
	for (let i = 0; i < S.items.length; i++)
		for (let f = 0; f < FIELDS.length; f++)
			if (!sameValue(FIELDS[f], rows[i + 1][f], S.items[i]))
				bad.push(`row ${S.items[i].row} ${FIELDS[f]}: csv ${JSON.stringify(rows[i + 1][f])} api ${JSON.stringify(S.items[i][FIELDS[f]])}`);
	assert.deepEqual(bad.slice(0, 10), []);
	// the default format is csv
	const d = await request('GET', `${srv.url}/api/imports/${S.job.id}/export`);
	assert.equal(d.text, r.text);
	S.csv = r.text;
});

test('ndjson: one record object per line, the API item', async () => {
	const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=ndjson`);
	assert.equal(r.status, 200);
	assert.equal(r.headers['content-type'], 'application/x-ndjson');
	assert.match(r.headers['content-disposition'], /filename="H_user _Q4__M_rz\.ndjson"/);
	assert.ok(r.text.endsWith('\n'));
	const lines = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
	assert.equal(lines.length, S.items.length);
	for (let i = 0; i < lines.length; i++) {
		for (const [k, v] of Object.entries(S.items[i]))
			assert.deepEqual(lines[i][k], v, `row ${S.items[i].row} ${k}`);
		assert.equal(lines[i].job_id, S.job.id);
	}
});

test('geojson: a FeatureCollection of Points, null geometry without coordinates', async () => {
	const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=geojson`);
	assert.equal(r.status, 200);
	assert.equal(r.headers['content-type'], 'application/geo+json');
	assert.match(r.headers['content-disposition'], /filename="H_user _Q4__M_rz\.geojson"/);
	const g = JSON.parse(r.text);
	assert.equal(g.type, 'FeatureCollection');
	assert.equal(g.features.length, S.items.length);
	let nulls = 0;
	for (let i = 0; i < S.items.length; i++) {
		const f = g.features[i];
		const it = S.items[i];
		assert.equal(f.type, 'Feature');
		if (it.latitude === null || it.longitude === null) {
			assert.equal(f.geometry, null, `row ${it.row}`);
			nulls++;
		} else {
			assert.deepEqual(f.geometry, { type: 'Point', coordinates: [it.longitude, it.latitude] });
		}
		for (const [k, v] of Object.entries(it)) assert.deepEqual(f.properties[k], v, `row ${it.row} ${k}`);
	}
	assert.ok(nulls > 0, 'the file has rows without coordinates');
});

test('gzip when accepted (q-values), the same bytes decoded; not with gzip;q=0', async () => {
	const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=csv`,
		{ headers: { 'Accept-Encoding': 'br;q=1, gzip;q=0.5' } });
	assert.equal(r.status, 200);
	assert.equal(r.headers['content-encoding'], 'gzip');
	assert.equal(r.headers.vary, 'Accept-Encoding');
	assert.ok(r.body.length < Buffer.byteLength(S.csv) / 2, `${r.body.length} bytes compressed`);
	assert.equal(zlib.gunzipSync(r.body).toString('utf8'), S.csv);
	const no = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=csv`,
		{ headers: { 'Accept-Encoding': 'gzip;q=0, identity' } });
	assert.equal(no.headers['content-encoding'], undefined);
	assert.equal(no.text, S.csv);
});

test('HEAD: the headers only; 404 for another user; 400 naming a bad format', async () => {
	const h = await request('HEAD', `${srv.url}/api/imports/${S.job.id}/export?format=ndjson`);
	assert.equal(h.status, 200);
	assert.equal(h.headers['content-type'], 'application/x-ndjson');
	assert.match(h.headers['content-disposition'], /\.ndjson"/);
	assert.equal(h.body.length, 0);
	const hz = await request('HEAD', `${srv.url}/api/imports/${S.job.id}/export`,
		{ headers: { 'Accept-Encoding': 'gzip' } });
	assert.equal(hz.headers['content-encoding'], 'gzip');
	assert.equal(hz.body.length, 0);
	const hf = await request('HEAD', `${srv.url}/api/imports/${S.job.id}/file`);
	assert.equal(hf.status, 200);
	assert.equal(hf.headers['content-length'], String(S.small.buffer.length));
	const bad = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=xlsx`);
	assert.equal(bad.status, 400);
	assert.match(bad.json.error, /format/);
	assert.equal(bad.json.detail.param, 'format');
	const other = await makeUser(srv, 'export-other');
	for (const p of ['export?format=csv', 'errors/export', 'file']) {
		const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/${p}`, { auth: other });
		assert.equal(r.status, 404, `${p} as another user: ${r.status}`);
		const n = await request('GET', `${srv.url}/api/imports/999999/${p}`);
		assert.equal(n.status, 404, `${p} of no import: ${n.status}`);
	}
	S.other = other;
});

test('q, filters and sort: the rows and order of the properties list with the same parameters', async () => {
	const city = S.items.find((it) => it.city && /^[A-Za-z]{5,}$/.test(it.city)).city;
	for (const params of ['sort=-price&beds_min=3', `q=${encodeURIComponent(city.toLowerCase())}`,
		'sort=year_built&price_min=200000&price_max=900000', 'sort=-price_per_sqft&zip=95112']) {
		const want = await walk(srv.url, `/api/imports/${S.job.id}/properties?limit=1000&${params}`);
		assert.ok(want.length > 0, `${params}: some rows`);
		const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=ndjson&${params}`);
		assert.equal(r.status, 200, `${params}: ${r.text.slice(0, 200)}`);
		const got = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
		assert.deepEqual(got.map((x) => x.id), want.map((x) => x.id), params);
		const c = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=csv&${params}`);
		assert.equal(parseCsv(c.text).length - 1, want.length, `${params} as csv`);
	}
	for (const [params, name] of [['price_min=abc', 'price_min'], ['sort=color', 'sort'],
		['limit=5', 'limit'], ['after=x', 'after'], ['price_min=9&price_max=1', 'price_min'],
		['shoe_size=3', 'shoe_size']]) {
		const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?${params}`);
		assert.equal(r.status, 400, params);
		assert.equal(r.json.detail.param, name, params);
	}
});

test('a big export in file order (row ranges read several at once): every row once, in order', { timeout: 60000 }, async () => {
	for (const fmt of ['ndjson', 'csv']) {
		const r = await request('GET', `${srv.url}/api/imports/${S.bigJob.id}/export?format=${fmt}`, { timeout: 60000 });
		assert.equal(r.status, 200);
		const rows = fmt === 'ndjson' ? r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l).row)
			: parseCsv(r.text).slice(1).map((x) => x[0]);
		assert.equal(rows.length, S.bigJob.rows_inserted, fmt);
		if (fmt === 'ndjson')
			for (let i = 1; i < rows.length; i++) assert.ok(rows[i] > rows[i - 1], `row ${rows[i]} after ${rows[i - 1]}`);
		else
			assert.deepEqual(rows, S.bigSources, 'source ids in file order');
		if (fmt === 'ndjson') S.bigSources = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l).source_id);
	}
});

test('HTTP/1.0: the body ends with the connection (no chunks)', async () => {
	const body = await new Promise((resolve, reject) => {
		const sock = net.connect(srv.port, srv.host);
		const parts = [];
		sock.on('data', (d) => parts.push(d));
		sock.on('end', () => resolve(Buffer.concat(parts)));
		sock.on('error', reject);
		sock.on('connect', () => sock.write(`GET /api/imports/${S.job.id}/export?format=csv HTTP/1.0\r\n` +
			`${authLines(srv.url)}\r\n`));
	});
	const e = body.indexOf('\r\n\r\n');
	const head = body.subarray(0, e).toString('latin1');
	assert.match(head, /^HTTP\/1\.1 200/);
	assert.doesNotMatch(head, /Transfer-Encoding|Content-Length/i);
	assert.match(head, /Connection: close/);
	assert.equal(body.subarray(e + 4).toString('utf8'), S.csv);
});

test('while the import runs: the rows stored so far, each once, in order', { timeout: 120000 }, async () => {
	const g = generate({ rows: 10000, rejected: 0, seed: 15 });
	let id = null;
	const up = uploadChunked(`${srv.url}/api/imports?name=running.csv`, g.buffer, 8192, 5);
	// the job is the newest of the user's while its body arrives
	await waitFor(async () => {
		const jobs = await getJson(`${srv.url}/api/imports`);
		const j = jobs.items.find((x) => x.name === 'running.csv');
		if (j && j.rows_inserted > 0 && j.state === 'receiving') id = j.id;
		return id;
	}, 30000, 'rows stored while the upload runs');
	const before = (await getJson(`${srv.url}/api/imports/${id}`)).rows_inserted;
	const r = await request('GET', `${srv.url}/api/imports/${id}/export?format=ndjson`);
	assert.equal(r.status, 200);
	const rows = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l).row);
	assert.ok(rows.length >= before, `${rows.length} rows exported, ${before} stored before`);
	for (let i = 1; i < rows.length; i++) assert.ok(rows[i] > rows[i - 1], `row ${rows[i]} after ${rows[i - 1]}`);
	const res = await up;
	assert.equal(res.status, 202);
	const done = await waitFor(async () => {
		const j = await getJson(`${srv.url}/api/imports/${id}`);
		return j.state === 'done' && j;
	}, 60000, 'the import done');
	assert.ok(rows.length < done.rows_inserted, 'the export was taken before the end');
});

// ------------------------------------------------------------------ leaving and slow clients

test('a client that closes mid-export: the server goes on', async () => {
	for (const fmt of ['ndjson', 'csv', 'geojson']) {
		const { sock, head } = rawGet(`/api/imports/${S.bigJob.id}/export?format=${fmt}`,
			{ accept: fmt === 'csv' ? 'gzip' : null });
		assert.match(await head, /^HTTP\/1\.1 200/);
		await waitFor(() => sock.bodyBytes > 10000, 10000, 'some body');
		sock.destroy();
	}
	await sleep(200);
	const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/export?format=csv`);
	assert.equal(r.status, 200);
	assert.equal(r.text, S.csv);
});

test('a client that reads nothing is dropped after the write timeout', { timeout: 60000 }, async () => {
	const { sock, head } = rawGet(`/api/imports/${S.bigJob.id}/export?format=geojson`);
	assert.match(await head, /^HTTP\/1\.1 200/);
	sock.pause();
	await waitFor(() => /read nothing of a stream/.test(srv.stderr()), 15000 + 4 * IDLE_MS,
		'the write timeout');
	sock.destroy();
});

test('a slow reader (100 KB/s) is not dropped, holds a bounded buffer, and slows nobody', { timeout: 120000 }, async () => {
	const { sock, head } = rawGet(`/api/imports/${S.bigJob.id}/export?format=ndjson`);
	assert.match(await head, /^HTTP\/1\.1 200/);
	// read 100 KB/s: paused, 10 KB taken every 100 ms (node reads the socket
	// only as its own buffer empties)
	sock.pause();
	sock.removeAllListeners('data');
	let ended = false;
	sock.on('end', () => { ended = true; });
	sock.on('close', () => { ended = true; });
	const pump = setInterval(() => {
		const n = Math.min(10240, sock.readableLength);
		const c = n > 0 ? sock.read(n) : null;
		if (c) sock.bodyBytes += c.length;
	}, 100);
	const rss0 = procStats(srv.proc.pid).rssKb;
	// another user pages through the other import meanwhile
	const times = [];
	const t0 = Date.now();
	while (Date.now() - t0 < 2 * IDLE_MS + 500) { // the idle time is the server's, unscaled
		const s = Date.now();
		const r = await request('GET', `${srv.url}/api/imports/${S.job.id}/properties?limit=200`);
		assert.equal(r.status, 200);
		times.push(Date.now() - s);
		await sleep(20);
	}
	const rss1 = procStats(srv.proc.pid).rssKb;
	clearInterval(pump);
	times.sort((a, b) => a - b);
	const median = times[times.length >> 1];
	assert.ok(!ended, 'the slow reader was dropped');
	assert.ok(median < scaled(100), `pages took a median ${median} ms next to the slow reader`);
	// it got a few hundred KB of a ~20 MB export: the server holds at most
	// the cap (256 KB) + a page for it, never the export
	assert.ok(sock.bodyBytes < 8 << 20, `${sock.bodyBytes} bytes read`);
	if (!INSTRUMENTED)
		assert.ok(rss1 - rss0 < 16 * 1024, `server RSS grew ${rss1 - rss0} kB next to the slow reader`);
	sock.destroy();
});

// ------------------------------------------------------------------ the error file

// The error file fixed as a user would: each row padded or cut to the
// header's width (the reason kept in the last column), then uploaded again.
async function roundTrip(job, truth, delim, name) {
	const r = await request('GET', `${srv.url}/api/imports/${job.id}/errors/export`);
	assert.equal(r.status, 200, r.text.slice(0, 300));
	assert.equal(r.headers['content-type'], 'text/csv; charset=utf-8');
	assert.match(r.headers['content-disposition'], /-errors\.csv"/);
	const rows = parseCsv(r.text, delim);
	const header = rows[0];
	assert.deepEqual(header, [...truth.header.map((h) => (h === '' ? null : h)), 'propflow_reason']);
	assert.equal(rows.length - 1, truth.rejected.length);
	// each rejected row's original text, in order, then its reason
	let at = r.text.indexOf('\n') + 1;
	for (let i = 0; i < truth.rejected.length; i++) {
		const want = truth.rejected[i].text;
		assert.equal(r.text.slice(at, at + want.length), want, `rejected row ${truth.rejected[i].row}`);
		at = r.text.indexOf('\r\n', at + want.length) + 2;
		assert.match(rows[i + 1][rows[i + 1].length - 1], /expected \d+ fields, found \d+/);
	}
	const width = header.length - 1;
	const q = (v) => (v === null ? '' : /["\r\n]/.test(v) || v.includes(delim) ? `"${v.replaceAll('"', '""')}"` : v);
	const fixed = rows.slice(1).map((row) => {
		const reason = row[row.length - 1];
		const f = row.slice(0, row.length - 1).slice(0, width);
		while (f.length < width) f.push('');
		return [...f, reason].map(q).join(delim);
	});
	const file = [header.map(q).join(delim), ...fixed].join('\r\n') + '\r\n';
	const again = await importFile(srv.url, Buffer.from(file, 'utf8'), name);
	assert.equal(again.job.rows_inserted, truth.rejected.length);
	assert.equal(again.job.rows_rejected, 0);
	const cols = again.job.columns;
	assert.equal(cols[cols.length - 1].header, 'propflow_reason');
	assert.equal(cols[cols.length - 1].field, null);
}

test('error file round trip: every rejected row as in the file + reason; fixed, all stored', { timeout: 120000 }, async () => {
	await roundTrip(S.job, S.small.truth, ',', 'fixed.csv');
});

test('error file of a Windows-1252 file with ; and CRLF: the same text, in UTF-8', { timeout: 120000 }, async () => {
	const g = generate({ rows: 400, rejected: 8, seed: 13, encoding: 'windows-1252', eol: '\r\n', delimiter: ';' });
	const { job } = await importFile(srv.url, g.buffer, 'latin.csv');
	assert.equal(job.rows_rejected, 8);
	S.latin = { job, g };
	await roundTrip(job, g.truth, ';', 'latin-fixed.csv');
});

// ------------------------------------------------------------------ the original file

test('the uploaded file back, byte for byte', { timeout: 120000 }, async () => {
	for (const [job, buf, name] of [[S.job, S.small.buffer, NAME], [S.bigJob, S.big.buffer, 'big.csv'],
		[S.latin.job, S.latin.g.buffer, 'latin.csv']]) {
		const r = await request('GET', `${srv.url}/api/imports/${job.id}/file`,
			{ headers: { 'Accept-Encoding': 'gzip' }, timeout: 120000 });
		assert.equal(r.status, 200);
		assert.equal(r.headers['content-type'], 'application/octet-stream');
		assert.equal(r.headers['content-encoding'], undefined);
		assert.equal(r.headers['content-length'], String(buf.length));
		assert.ok(r.body.equals(buf), `${name}: ${r.body.length} bytes back of ${buf.length}`);
	}
	assert.ok(S.big.buffer.length > 2 << 20, 'a multi-megabyte file');
	assert.ok(S.big.buffer.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), 'with a BOM');
});

test('the file of an upload still arriving: 409 until complete', { timeout: 60000 }, async () => {
	const g = generate({ rows: 300, rejected: 0, seed: 14 });
	const c = await tusCreate(srv.url, g.buffer.length, 'partial.csv');
	assert.equal(c.status, 201, c.text);
	const id = c.json.id;
	const half = g.buffer.length >> 1;
	const p = await tusPatch(srv.url, id, 0, g.buffer.subarray(0, half)).done;
	assert.equal(p.status, 204, p.text);
	const r = await request('GET', `${srv.url}/api/imports/${id}/file`);
	assert.equal(r.status, 409);
	const p2 = await tusPatch(srv.url, id, half, g.buffer.subarray(half)).done;
	assert.equal(p2.status, 204, p2.text);
	await waitFor(async () => (await request('GET', `${srv.url}/api/imports/${id}/file`)).status === 200,
		10000, 'the complete file');
	const r2 = await request('GET', `${srv.url}/api/imports/${id}/file`);
	assert.ok(r2.body.equals(g.buffer));
});

test('the exports show in /metrics: downloads by kind and how they ended, rows, bytes', async () => {
	const r = await request('GET', `${srv.url}/metrics`);
	assert.equal(r.status, 200, r.text.slice(0, 200));
	const value = (series) => {
		const line = r.text.split('\n').find((l) => l.startsWith(series + ' '));
		assert.ok(line, `${series} in /metrics`);
		return Number(line.slice(series.length + 1));
	};
	// the tests above downloaded records, the error files and the files, to the end, and cut some
	assert.ok(value('pf_exports_total{kind="records",result="done"}') >= 5);
	assert.ok(value('pf_exports_total{kind="records",result="cut"}') >= 1);
	assert.ok(value('pf_exports_total{kind="errors",result="done"}') >= 2);
	assert.ok(value('pf_exports_total{kind="file",result="done"}') >= 3);
	assert.ok(value('pf_export_rows_total{kind="records"}') >= S.bigJob.rows_inserted);
	assert.ok(value('pf_export_bytes_total{kind="file"}') >= S.big.buffer.length);
	assert.equal(value('pf_exports_active'), 0);
	assert.ok(value('pf_http_requests_total{route="/api/imports/{id}/export",method="GET",status="200"}') >= 5);
});
