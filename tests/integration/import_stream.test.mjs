// import_stream.test.mjs - the heart of propflow, end to end against the real
// server and a real (embedded) PostgreSQL: a generated 30K-row messy export
// uploaded with chunked encoding in small pieces while a WebSocket watches and
// pages are fetched; then exact accounting, normalised values, raw rows,
// errors, a keyset walk, the WebSocket frames; the same file as multipart and
// with Expect: 100-continue; a Windows-1252 / semicolon / CRLF export.

import assert from 'node:assert/strict';
import http from 'node:http';
import { compareItem, FIELDS, generate, HEADER, rawObject } from './gen.mjs';
import {
	brief, COUNTERS, request, sleep, uploadChunked, useServer, waitJob, walkErrors,
	walkProperties, withAuth, wsConnect,
	test,
} from './lib.mjs';

const srv = useServer();
const { buffer, truth } = generate({ rows: 30000, bom: true });
const NAME = 'messy-30k.csv';
const TERMINAL = ['done', 'failed', 'interrupted', 'cancelled'];
const STATE_ORDER = { receiving: 0, processing: 1, done: 2, failed: 2, interrupted: 2, cancelled: 2 };

// What the first test learns, for the ones after it.
const S = { jobId: null, job: null, ws: null, upload: null, items: null };

// A deterministic pseudo-random piece size between 1 byte and 8 KB, so that
// chunk boundaries fall everywhere (inside quotes, CRLF, UTF-8 sequences).
const pieces = (i) => 1 + ((i * 2654435761) >>> 0) % 8192;

function fmtList(list, n = 15) {
	return list.slice(0, n).join('\n  ') + (list.length > n ? `\n  ... ${list.length - n} more` : '');
}

test('chunked upload in small pieces: rows are stored and served while the body arrives', {
	timeout: 300000,
}, async () => {
	const ws = wsConnect(srv.url);
	S.ws = ws;
	await ws.opened;
	const snap = await ws.next((m) => m.type === 'snapshot', 10000);
	assert.ok(Array.isArray(snap.jobs), 'snapshot has a jobs array');
	const known = new Set(snap.jobs.map((j) => j.id));

	let sent = 0;
	let uploadDone = false;
	const upload = uploadChunked(`${srv.url}/api/imports?name=${encodeURIComponent(NAME)}`,
		buffer, pieces, 1, { onPiece: (n) => { sent = n; } });
	upload.then(() => { uploadDone = true; }, () => { uploadDone = true; });

	// The job's id from its first WebSocket frame (or the job list).
	let jobId = null;
	const frameP = ws.next((m) => m.type === 'import' && !known.has(m.id), 60000)
		.then((m) => { jobId ??= m.id; }, () => {});
	while (jobId === null && !uploadDone) {
		const list = await request('GET', `${srv.url}/api/imports`);
		const j = list.json?.items?.find((x) => !known.has(x.id) && x.name === NAME);
		if (j) jobId ??= j.id;
		else await sleep(20);
	}
	await Promise.race([frameP, sleep(10)]);
	assert.ok(jobId !== null, 'the new job appeared (WebSocket frame or job list) during the upload');
	S.jobId = jobId;

	// Pages while the upload is still running.
	let during = null;
	let jobDuring = null;
	while (!uploadDone) {
		const sentNow = sent;
		const r = await request('GET', `${srv.url}/api/imports/${jobId}/properties?limit=100`);
		assert.equal(r.status, 200, `properties page during the upload: ${r.text.slice(0, 300)}`);
		if (r.json.items.length > 0 && !uploadDone) {
			during = { items: r.json.items, sentBefore: sentNow, sentAfter: sent };
			const j = await request('GET', `${srv.url}/api/imports/${jobId}`);
			jobDuring = j.json;
			break;
		}
		await sleep(25);
	}
	const res = await upload;
	S.upload = res;
	assert.ok(during, `a page of rows was served before the upload finished (upload took ` +
		`${res.elapsedMs} ms)`);
	assert.ok(during.sentAfter < buffer.length,
		`rows were served before the whole body was even sent (${during.sentAfter} of ${buffer.length})`);
	assert.ok(during.items.length > 0 && during.items.length <= 100);
	assert.equal(during.items[0].row, 1, 'the first page starts at record 1');
	assert.ok(jobDuring && ['receiving', 'processing'].includes(jobDuring.state),
		`job state while uploading: ${brief(jobDuring)}`);
	if (jobDuring.state === 'receiving')
		assert.equal(jobDuring.bytes_total, null, 'bytes_total is null for a chunked upload in progress');
	assert.ok(res.elapsedMs >= 1000, `the upload took at least a second (${res.elapsedMs} ms)`);

	assert.equal(res.status, 202, `upload answer: ${res.status} ${res.text.slice(0, 500)}`);
	assert.equal(res.headers.location, `/api/imports/${jobId}`, 'Location header');
	assert.match(res.headers['content-type'] || '', /application\/json/);
	assert.equal(res.json.id, jobId);
	assert.equal(res.json.name, NAME);
	assert.ok(['processing', 'done'].includes(res.json.state), `state in the 202: ${res.json.state}`);
	assert.equal(res.json.bytes_received, buffer.length, 'bytes_received in the 202 is the whole body');

	S.job = await waitJob(srv.url, jobId, 'done', 120000);
});

test('exact accounting and the job object', async () => {
	assert.ok(S.job, 'needs the upload test');
	const j = S.job;
	assert.equal(j.state, 'done', brief(j));
	assert.equal(j.rows_parsed, 30000, `rows_parsed: ${brief(j)}`);
	assert.equal(j.rows_rejected, truth.rejected.length, `rows_rejected: ${brief(j)}`);
	assert.equal(j.rows_inserted, truth.inserted, `rows_inserted: ${brief(j)}`);
	assert.equal(j.rows_parsed, j.rows_inserted + j.rows_rejected);
	assert.equal(j.rows_warned, truth.warnedRows, `rows_warned: ${brief(j)}`);
	assert.equal(j.bytes_received, buffer.length);
	assert.ok(j.bytes_total === null || j.bytes_total === buffer.length, `bytes_total ${j.bytes_total}`);
	assert.equal(j.encoding, 'utf-8');
	assert.equal(j.delimiter, ',');
	assert.equal(j.error, null);
	assert.ok(j.finished_at && !Number.isNaN(Date.parse(j.finished_at)), `finished_at ${j.finished_at}`);
	assert.ok(Date.parse(j.finished_at) >= Date.parse(j.created_at));
	// The raw rows must really compress (per-import dictionary or batches).
	assert.ok(j.raw_bytes > 0 && j.raw_stored_bytes > 0, brief(j));
	assert.ok(Math.abs(j.raw_ratio - j.raw_bytes / j.raw_stored_bytes) < 0.1, `raw_ratio ${brief(j)}`);
	assert.ok(j.raw_ratio >= 2, `raw rows compress at least 2x (got ${j.raw_ratio})`);
});

test('header mapping: every canonical column of the export is mapped', () => {
	assert.ok(S.job, 'needs the upload test');
	const cols = S.job.columns;
	assert.equal(cols.length, HEADER.length, JSON.stringify(cols));
	const bad = [];
	HEADER.forEach(([name, field], i) => {
		const c = cols.find((x) => x.index === i);
		if (!c) { bad.push(`column ${i} missing`); return; }
		if (c.header !== name && !(name === '' && c.header === `column_${i + 1}`)) bad.push(`column ${i}: header ${JSON.stringify(c.header)}, want ${JSON.stringify(name)}`);
		if (field && c.field !== field) bad.push(`${name}: field ${c.field}, want ${field}`);
		if (field && !['exact', 'fuzzy'].includes(c.match)) bad.push(`${name}: match ${c.match}`);
		if (c.field && !(c.confidence > 0 && c.confidence <= 1)) bad.push(`${name}: confidence ${c.confidence}`);
	});
	const dates = Object.fromEntries(cols.filter((c) => c.date_order).map((c) => [c.field, c.date_order]));
	if (dates.listed_on !== undefined && dates.listed_on !== 'mdy') bad.push(`listed_on date_order ${dates.listed_on}`);
	if (dates.sold_on !== undefined && dates.sold_on !== 'dmy') bad.push(`sold_on date_order ${dates.sold_on}`);
	assert.deepEqual(bad, [], `mapping problems:\n  ${fmtList(bad)}`);
});

test('keyset walk (limit 1000) returns every stored row exactly once, normalised as the file says', {
	timeout: 120000,
}, async () => {
	assert.ok(S.job, 'needs the upload test');
	const items = await walkProperties(srv.url, S.jobId, 1000);
	S.items = items;
	assert.equal(items.length, truth.inserted, 'one item per stored row');
	const ids = new Set();
	const rows = new Set();
	let prevId = -Infinity;
	let prevRow = 0;
	const order = [];
	for (const it of items) {
		if (!(it.id > prevId)) order.push(`id ${it.id} after ${prevId}`);
		if (!(it.row > prevRow)) order.push(`row ${it.row} after ${prevRow}`);
		prevId = it.id;
		prevRow = it.row;
		ids.add(it.id);
		rows.add(it.row);
	}
	assert.deepEqual(order.slice(0, 10), [], 'ids and rows ascending');
	assert.equal(ids.size, items.length, 'unique ids');
	assert.equal(rows.size, items.length, 'unique row numbers');

	const byRow = new Map(truth.records.map((r) => [r.row, r]));
	const bad = [];
	let checked = 0;
	for (const it of items) {
		const rec = byRow.get(it.row);
		if (!rec) { bad.push(`row ${it.row}: not a stored record of the file (rejected or unknown)`); continue; }
		checked++;
		if (it.line !== rec.line) bad.push(`row ${it.row}: line ${it.line}, want ${rec.line}`);
		for (const k of FIELDS) if (!(k in it)) bad.push(`row ${it.row}: no field ${k}`);
		for (const m of compareItem(it, rec)) bad.push(`row ${it.row} (line ${rec.line}): ${m} [raw ${JSON.stringify(rec.fields[FIELDS.indexOf(m.split(':')[0])])}]`);
	}
	assert.ok(checked >= 200);
	assert.deepEqual(bad, [], `${bad.length} mismatches against the generator's truth:\n  ${fmtList(bad, 25)}`);
});

test('raw: /api/properties/ID gives the original fields keyed by header for sampled rows', {
	timeout: 120000,
}, async () => {
	assert.ok(S.items, 'needs the keyset walk');
	const byRow = new Map(truth.records.map((r) => [r.row, r]));
	// 250 rows spread over the file, plus every row with an embedded
	// newline, a warning or no locator among the first ones.
	const pick = new Set();
	for (let i = 0; i < 250; i++) pick.add(S.items[Math.floor((i * S.items.length) / 250)].row);
	for (const r of truth.records.filter((x) => x.fields.some((f) => f.includes('\n'))).slice(0, 30)) pick.add(r.row);
	for (const r of truth.records.filter((x) => x.warn.length || x.noLocator).slice(0, 30)) pick.add(r.row);
	const itemByRow = new Map(S.items.map((it) => [it.row, it]));
	const bad = [];
	for (const row of pick) {
		const it = itemByRow.get(row);
		if (!it) { bad.push(`row ${row} not in the walk`); continue; }
		const t0 = process.hrtime.bigint();
		const r = await request('GET', `${srv.url}/api/properties/${it.id}`);
		const ms = Number(process.hrtime.bigint() - t0) / 1e6;
		if (r.status !== 200) { bad.push(`GET /api/properties/${it.id}: ${r.status} ${r.text.slice(0, 200)}`); continue; }
		const p = r.json;
		if (p.job_id !== S.jobId) bad.push(`row ${row}: job_id ${p.job_id}`);
		if (p.id !== it.id || p.row !== row) bad.push(`row ${row}: id/row ${p.id}/${p.row}`);
		for (const k of FIELDS) {
			if (JSON.stringify(p[k]) !== JSON.stringify(it[k]))
				bad.push(`row ${row}: ${k} ${JSON.stringify(p[k])} differs from the list's ${JSON.stringify(it[k])}`);
		}
		const want = rawObject(truth, byRow.get(row));
		try {
			assert.deepEqual(p.raw, want);
		} catch {
			bad.push(`row ${row}: raw ${JSON.stringify(p.raw)}\n    want ${JSON.stringify(want)}`);
		}
		if (ms > 1000) bad.push(`row ${row}: took ${ms.toFixed(0)} ms`);
	}
	assert.ok(pick.size >= 250);
	assert.deepEqual(bad, [], `${bad.length} problems:\n  ${fmtList(bad, 10)}`);
});

test('errors: exactly the rejected records with record and physical line numbers, plus warnings', {
	timeout: 60000,
}, async () => {
	assert.ok(S.job, 'needs the upload test');
	const errs = await walkErrors(srv.url, S.jobId, 1000);
	const ids = new Set(errs.map((e) => e.id));
	assert.equal(ids.size, errs.length, 'unique error ids');
	for (const e of errs) assert.ok(['rejected', 'warning'].includes(e.kind), JSON.stringify(e));

	const rejected = errs.filter((e) => e.kind === 'rejected');
	assert.deepEqual(rejected.map((e) => [e.row, e.line]), truth.rejected.map((r) => [r.row, r.line]),
		'rejected records (row, line), in file order');
	for (const e of rejected) {
		const t = truth.rejected.find((r) => r.row === e.row);
		assert.equal(e.column, null, JSON.stringify(e));
		assert.ok(typeof e.reason === 'string' && e.reason.length > 0, JSON.stringify(e));
		assert.ok(typeof e.raw === 'string' && e.raw.length > 0, `rejected raw: ${JSON.stringify(e)}`);
		const text = t.text;
		assert.ok(e.raw === text || e.raw === `${text}\n` || (text.startsWith(e.raw) && e.raw.length >= 64),
			`rejected record ${e.row}: raw ${JSON.stringify(e.raw)}\n want the original text ${JSON.stringify(text)}`);
	}

	const warnings = errs.filter((e) => e.kind === 'warning');
	const bad = [];
	const byRow = new Map(truth.records.map((r) => [r.row, r]));
	for (const w of truth.warnings) {
		const rec = byRow.get(w.row);
		const value = rec.fields[HEADER.findIndex((h) => h[0] === w.column)];
		const e = warnings.find((x) => x.row === w.row && x.column === w.column);
		if (!e) { bad.push(`missing warning: row ${w.row} column ${w.column} value ${JSON.stringify(value)}`); continue; }
		if (e.line !== w.line) bad.push(`warning row ${w.row}: line ${e.line}, want ${w.line}`);
		if (e.value !== value) bad.push(`warning row ${w.row} ${w.column}: value ${JSON.stringify(e.value)}, want ${JSON.stringify(value)}`);
		if (!e.reason) bad.push(`warning row ${w.row}: no reason`);
	}
	for (const w of truth.locatorWarnings) {
		if (!warnings.some((x) => x.row === w.row && x.line === w.line))
			bad.push(`missing "nothing locates this property" warning: row ${w.row} line ${w.line}`);
	}
	const expectRows = new Set([...truth.warnings, ...truth.locatorWarnings].map((w) => w.row));
	for (const e of warnings) {
		if (!expectRows.has(e.row))
			bad.push(`unexpected warning: ${JSON.stringify(e)} for raw ${JSON.stringify(byRow.get(e.row)?.fields)}`);
	}
	assert.deepEqual(bad, [], `${bad.length} problems:\n  ${fmtList(bad, 20)}`);
	assert.equal(new Set(warnings.map((e) => e.row)).size, S.job.rows_warned,
		'rows_warned = rows with at least one warning');

	// Small pages give the same list.
	const small = await walkErrors(srv.url, S.jobId, 7);
	assert.deepEqual(small.map((e) => e.id), errs.map((e) => e.id), 'errors paged by 7 = paged by 1000');
});

test('WebSocket frames: seq increasing, counters never go backwards, final frame done', {
	timeout: 60000,
}, async () => {
	assert.ok(S.job, 'needs the upload test');
	const ws = S.ws;
	await ws.next((m) => m.type === 'import' && m.id === S.jobId && TERMINAL.includes(m.state), 20000);
	await sleep(300); // nothing may follow the final frame
	const frames = ws.messages.filter((m) => m.type === 'import' && m.id === S.jobId);
	assert.ok(frames.length >= 3, `live progress: ${frames.length} frames`);
	assert.equal(frames[0].seq, 1, 'a client connected before the job sees seq 1');
	const bad = [];
	for (let i = 1; i < frames.length; i++) {
		const a = frames[i - 1];
		const b = frames[i];
		if (!(b.seq > a.seq)) bad.push(`frame ${i}: seq ${b.seq} after ${a.seq}`);
		for (const c of COUNTERS)
			if (b[c] < a[c]) bad.push(`frame ${i} (seq ${b.seq}): ${c} ${b[c]} < ${a[c]}`);
		if (STATE_ORDER[b.state] < STATE_ORDER[a.state]) bad.push(`frame ${i}: state ${b.state} after ${a.state}`);
	}
	for (const f of frames) {
		if (typeof f.rows_per_sec !== 'number' || !(f.rows_per_sec >= 0)) bad.push(`seq ${f.seq}: rows_per_sec ${f.rows_per_sec}`);
		if (!(f.eta_seconds === null || (typeof f.eta_seconds === 'number' && f.eta_seconds >= 0)))
			bad.push(`seq ${f.seq}: eta_seconds ${f.eta_seconds}`);
		if (!(f.state in STATE_ORDER)) bad.push(`seq ${f.seq}: state ${f.state}`);
	}
	assert.deepEqual(bad, [], `frame problems:\n  ${fmtList(bad)}`);
	const last = frames[frames.length - 1];
	assert.equal(last.state, 'done', 'the last frame is the terminal state');
	assert.equal(frames.filter((f) => TERMINAL.includes(f.state)).length, 1, 'one terminal frame');
	for (const c of COUNTERS) assert.equal(last[c], S.job[c], `final frame ${c}`);
	assert.ok(frames.some((f) => f.state === 'receiving' && f.rows_inserted > 0),
		'frames show rows stored while the body was still arriving');
	// Coalescing: at most ~10 frames a second.
	const seconds = (Date.parse(S.job.finished_at) - Date.parse(S.job.created_at)) / 1000;
	assert.ok(frames.length <= (seconds + 1) * 15, `${frames.length} frames in ${seconds} s`);
	assert.deepEqual(ws.bad, [], 'every frame is JSON text');
	await ws.close();

	// A client that reconnects gets a fresh snapshot with the job done.
	const ws2 = wsConnect(srv.url);
	await ws2.opened;
	const snap = await ws2.next(() => true, 10000);
	assert.equal(snap.type, 'snapshot', 'the first message is the snapshot');
	const j = snap.jobs.find((x) => x.id === S.jobId);
	assert.ok(j, 'the snapshot lists the job');
	assert.equal(j.state, 'done');
	for (const c of COUNTERS) assert.equal(j[c], S.job[c], `snapshot ${c}`);
	await ws2.close();
});

function sameCounts(job, what) {
	assert.equal(job.state, 'done', `${what}: ${brief(job)}`);
	assert.equal(job.rows_parsed, 30000, `${what}: ${brief(job)}`);
	assert.equal(job.rows_inserted, truth.inserted, `${what}: ${brief(job)}`);
	assert.equal(job.rows_rejected, truth.rejected.length, `${what}: ${brief(job)}`);
	assert.equal(job.rows_warned, truth.warnedRows, `${what}: ${brief(job)}`);
}

test('the same file as multipart/form-data (curl -F) gives the same counts', { timeout: 180000 }, async () => {
	const boundary = '------------------------propflowtest1234';
	const body = Buffer.concat([
		Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; ` +
			`filename="messy-multipart.csv"\r\nContent-Type: text/csv\r\n\r\n`),
		buffer,
		Buffer.from(`\r\n--${boundary}--\r\n`),
	]);
	const r = await request('POST', `${srv.url}/api/imports`, {
		body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, timeout: 120000,
	});
	assert.equal(r.status, 202, `${r.status} ${r.text.slice(0, 300)}`);
	assert.equal(r.headers.location, `/api/imports/${r.json.id}`);
	assert.equal(r.json.name, 'messy-multipart.csv', 'name defaults to the part filename');
	const job = await waitJob(srv.url, r.json.id, 'done', 120000);
	sameCounts(job, 'multipart');
	assert.equal(job.bytes_total === null || job.bytes_total > 0, true);
	const errs = await walkErrors(srv.url, job.id, 1000);
	assert.deepEqual(errs.filter((e) => e.kind === 'rejected').map((e) => [e.row, e.line]),
		truth.rejected.map((x) => [x.row, x.line]), 'multipart: rejected rows and lines');
});

test('Content-Length with Expect: 100-continue gives 100 then 202, same counts', { timeout: 180000 }, async () => {
	const res = await new Promise((resolve, reject) => {
		let got100 = false;
		const url = `${srv.url}/api/imports?name=expect.csv`;
		const req = http.request(url, {
			method: 'POST', agent: false,
			headers: withAuth(url, 'POST',
				{ 'Content-Type': 'text/csv', 'Content-Length': buffer.length, Expect: '100-continue' }),
		}, (resp) => {
			const chunks = [];
			resp.on('data', (c) => chunks.push(c));
			resp.on('end', () => resolve({ status: resp.statusCode, headers: resp.headers, got100,
				json: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
		});
		req.on('error', reject);
		const fallback = setTimeout(() => req.end(buffer), 5000); // no 100: send anyway
		req.on('continue', () => {
			got100 = true;
			clearTimeout(fallback);
			req.end(buffer);
		});
		req.flushHeaders();
	});
	assert.ok(res.got100, 'the server answered 100 Continue');
	assert.equal(res.status, 202, JSON.stringify(res.json));
	assert.equal(res.headers.location, `/api/imports/${res.json.id}`);
	assert.equal(res.json.bytes_received, buffer.length);
	const job = await waitJob(srv.url, res.json.id, 'done', 120000);
	sameCounts(job, 'expect-100');
	assert.equal(job.bytes_total, buffer.length, 'bytes_total known with Content-Length');
});

test('Windows-1252, semicolons, CRLF, no final newline: transcoded and accounted for', { timeout: 180000 }, async () => {
	const w = generate({ rows: 3000, rejected: 5, seed: 1252, encoding: 'windows-1252', eol: '\r\n',
		delimiter: ';', finalEol: false, blankLines: 2, invalidRate: 0.01, noLocatorRate: 0.005 });
	assert.ok(w.buffer.includes(0xe9) || w.buffer.includes(0xf1), 'the file has Windows-1252 bytes');
	const res = await uploadChunked(`${srv.url}/api/imports?name=latin.csv`, w.buffer, 4096, 0);
	assert.equal(res.status, 202, `${res.status} ${res.text.slice(0, 300)}`);
	const job = await waitJob(srv.url, res.json.id, 'done', 120000);
	assert.equal(job.encoding, 'windows-1252', brief(job));
	assert.equal(job.delimiter, ';', brief(job));
	assert.equal(job.rows_parsed, 3000, brief(job));
	assert.equal(job.rows_rejected, 5, brief(job));
	assert.equal(job.rows_inserted, w.truth.inserted, brief(job));
	assert.equal(job.rows_warned, w.truth.warnedRows, brief(job));

	const items = await walkProperties(srv.url, job.id, 500);
	assert.equal(items.length, w.truth.inserted);
	const byRow = new Map(w.truth.records.map((r) => [r.row, r]));
	const bad = [];
	for (const it of items) {
		const rec = byRow.get(it.row);
		if (!rec) { bad.push(`row ${it.row} unknown`); continue; }
		if (it.line !== rec.line) bad.push(`row ${it.row}: line ${it.line}, want ${rec.line}`);
		for (const m of compareItem(it, rec)) bad.push(`row ${it.row}: ${m}`);
	}
	assert.deepEqual(bad, [], `${bad.length} mismatches:\n  ${fmtList(bad)}`);
	// Raw rows come back as UTF-8 text equal to the original (CRLF kept in fields).
	for (const it of items.filter((_, i) => i % 25 === 0 || /[^\x00-\x7f]/.test(JSON.stringify(_)))
		.slice(0, 150)) {
		const p = (await request('GET', `${srv.url}/api/properties/${it.id}`)).json;
		assert.deepEqual(p.raw, rawObject(w.truth, byRow.get(it.row)), `raw of row ${it.row}`);
	}
	const errs = await walkErrors(srv.url, job.id, 1000);
	assert.deepEqual(errs.filter((e) => e.kind === 'rejected').map((e) => [e.row, e.line]),
		w.truth.rejected.map((x) => [x.row, x.line]), 'rejected rows and physical lines (CRLF)');
});

// ---------------------------------------------------------------------------
// Refused uploads (issue 10): a name that is not UTF-8 is a 400 (it was a 503
// with Retry-After, which the page retried forever), and an upload refused
// with 400 keeps no job in the user's list.

async function jobIds() {
	const r = await request('GET', `${srv.url}/api/imports`);
	assert.equal(r.status, 200, r.text.slice(0, 200));
	return r.json.items.map((j) => j.id).sort((a, b) => a - b);
}

function multipartBody(boundary, filename, content, { close = true } = {}) {
	return Buffer.concat([
		Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="`),
		Buffer.isBuffer(filename) ? filename : Buffer.from(filename),
		Buffer.from('"\r\nContent-Type: text/csv\r\n\r\n'),
		Buffer.from(content),
		Buffer.from(close ? `\r\n--${boundary}--\r\n` : ''),
	]);
}

test('a name that is not UTF-8 (?name=, multipart filename): 400, no Retry-After, no job', {
	timeout: 60000,
}, async () => {
	const before = await jobIds();
	const q = await request('POST', `${srv.url}/api/imports?name=%FF%FEbad.csv`,
		{ body: 'a,b\n1,2\n', headers: { 'Content-Type': 'text/csv' } });
	assert.equal(q.status, 400, `?name= not UTF-8: ${q.status} ${q.text.slice(0, 200)}`);
	assert.match(q.json.error, /UTF-8/, q.text);
	assert.equal(q.headers['retry-after'], undefined, 'a 400 is not retried');
	for (const [what, name] of [['lone continuation byte', Buffer.from([0x80, 0x2e, 0x63])],
		['overlong slash', Buffer.from([0xc0, 0xaf, 0x78])],
		['surrogate', Buffer.from([0xed, 0xa0, 0x80, 0x78])]]) {
		const boundary = 'propflowutf8boundary';
		const r = await request('POST', `${srv.url}/api/imports`, {
			body: multipartBody(boundary, name, 'a,b\n1,2\n'),
			headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
		});
		assert.equal(r.status, 400, `multipart filename, ${what}: ${r.status} ${r.text.slice(0, 200)}`);
		assert.match(r.json.error, /UTF-8/, r.text);
	}
	// a valid UTF-8 name still works
	const ok = await request('POST', `${srv.url}/api/imports?name=${encodeURIComponent('Zürich ümlaut.csv')}`,
		{ body: 'a,b\n1,2\n', headers: { 'Content-Type': 'text/csv' } });
	assert.equal(ok.status, 202, `${ok.status} ${ok.text.slice(0, 200)}`);
	assert.equal(ok.json.name, 'Zürich ümlaut.csv');
	await waitJob(srv.url, ok.json.id, 'done', 30000);
	const after = await jobIds();
	assert.deepEqual(after.filter((id) => !before.includes(id)), [ok.json.id],
		'only the valid upload made a job');
});

test('an upload refused with 400 (empty, no file part, unreadable header) keeps no job', {
	timeout: 60000,
}, async () => {
	const boundary = 'propflowrefusedboundary';
	const mp = { 'Content-Type': `multipart/form-data; boundary=${boundary}` };
	const wideHeader = Array.from({ length: 5000 }, (_, i) => `c${i}`).join(',') + '\n1,2\n';
	const cases = [
		['raw, empty body', '/api/imports?name=empty.csv', '', { 'Content-Type': 'text/csv' }],
		['raw, blank lines only', '/api/imports?name=blank.csv', '\n\n\n', { 'Content-Type': 'text/csv' }],
		['raw, header over --fields-max', '/api/imports?name=wide.csv', wideHeader, { 'Content-Type': 'text/csv' }],
		['multipart, empty file part', '/api/imports', multipartBody(boundary, 'empty.csv', ''), mp],
		['multipart, no file part', '/api/imports',
			Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--${boundary}--\r\n`), mp],
		['multipart, cut off inside the file part', '/api/imports',
			multipartBody(boundary, 'cut.csv', 'a,b\n1,2\n', { close: false }), mp],
		['multipart, header over --fields-max', '/api/imports', multipartBody(boundary, 'wide.csv', wideHeader), mp],
	];
	for (const [what, p, body, headers] of cases) {
		const before = await jobIds();
		const r = await request('POST', `${srv.url}${p}`, { body, headers });
		assert.equal(r.status, 400, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
		assert.ok(r.json && typeof r.json.error === 'string', `${what}: ${r.text.slice(0, 200)}`);
		const after = await jobIds();
		assert.deepEqual(after, before, `${what}: the job list right after the 400 is unchanged ` +
			`(new: ${after.filter((id) => !before.includes(id))}; error ${r.json.error})`);
	}
});
