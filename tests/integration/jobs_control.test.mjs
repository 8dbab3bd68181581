// jobs_control.test.mjs - cancel and reprocess (ISSUE3.md), against the real
// server and its embedded PostgreSQL:
// - DELETE /api/imports/ID of an upload in progress answers within a second,
//   closes the upload, removes the job and every row of it (checked through
//   the API and in the database), and the WebSocket's last frame for it says
//   `cancelled`; DELETE of a finished job; 404s;
// - POST /api/imports/ID/reprocess without a body gives the same rows; with
//   a mapping override the new rows follow it, and a reader polling pages
//   while it runs sees all-old or all-new rows on each page, never a mix;
//   409 while running, 400 for a bad body, unknown field or header, 404.

import assert from 'node:assert/strict';
import { generate } from './gen.mjs';
import {
	brief, diffRuns, embeddedConninfo, getJson, importFile, psql, request, scaled, sendSlowly, sleep,
	tusCreate, useServer, waitFor, waitJob, walkErrors, walkProperties, wsConnect,
	test,
} from './lib.mjs';

// Small batches, one in flight: a reprocess of 30K rows takes a while.
const srv = useServer({ args: ['--batch-rows', '50', '--batches-in-flight', '1'] });
const { buffer, truth } = generate({ rows: 30000, seed: 5151 });
const S = { job: null, base: null };

function fmt(list, n = 20) {
	return list.slice(0, n).join('\n  ') + (list.length > n ? `\n  ... ${list.length - n} more` : '');
}

function tail(n = 25) {
	return `\n--- server stderr (tail) ---\n${srv.stderrTail(n)}`;
}

// Rows left in the database for a job, per table (tables that exist).
async function rowsInDb(id) {
	const conninfo = embeddedConninfo(srv.dataDir);
	const out = {};
	for (const t of ['import_jobs', 'property_records', 'property_raw', 'import_errors', 'import_chunks']) {
		const col = t === 'import_jobs' ? 'id' : 'job_id';
		const exists = await psql(conninfo, `select to_regclass('public.${t}') is not null`);
		if (exists !== 't') continue;
		out[t] = Number(await psql(conninfo, `select count(*) from ${t} where ${col} = ${Number(id)}`));
	}
	return out;
}

async function jobNamed(name) {
	const r = await getJson(`${srv.url}/api/imports`);
	return r.items.find((j) => j.name === name) || null;
}

function reprocess(id, body = null) {
	const opts = body === null ? { body: '' } : {
		body: typeof body === 'string' ? body : JSON.stringify(body),
		headers: { 'Content-Type': 'application/json' },
	};
	return request('POST', `${srv.url}/api/imports/${id}/reprocess`, opts);
}

test('DELETE of an upload in progress: within a second, everything gone, WebSocket says cancelled', {
	timeout: 120000,
}, async () => {
	const ws = wsConnect(srv.url);
	await ws.opened;
	await ws.next((m) => m.type === 'snapshot', 10000);
	const up = sendSlowly('POST', `${srv.url}/api/imports?name=to-cancel.csv`, buffer,
		{ chunked: true, pieceSize: 16384, delayMs: 10, headers: { 'Content-Type': 'text/csv' } });
	let job = null;
	for (let i = 0; i < 600; i++) {
		job = await jobNamed('to-cancel.csv');
		if (job && job.rows_inserted > 1000) break;
		await sleep(50);
	}
	assert.ok(job && job.rows_inserted > 1000, `rows stored before the DELETE: ${brief(job)}`);
	assert.ok(up.sent() < buffer.length, 'the upload is still running');
	const before = await rowsInDb(job.id).catch((e) => ({ error: e.message }));

	const t0 = Date.now();
	const d = await request('DELETE', `${srv.url}/api/imports/${job.id}`);
	const ms = Date.now() - t0;
	assert.equal(d.status, 204, `DELETE: ${d.status} ${d.text.slice(0, 200)}${tail()}`);
	assert.ok(ms < 1000, `DELETE answered in ${ms} ms (at most 1 s)`);
	const res = await up.done;
	assert.ok(res.status === null || res.status === 410,
		`the upload got its connection closed or 410: ${res.status} ${res.text?.slice(0, 200)}`);
	const sentAfter = up.sent();

	for (const p of ['', '/properties', '/errors']) {
		const r = await request('GET', `${srv.url}/api/imports/${job.id}${p}`);
		assert.equal(r.status, 404, `GET /api/imports/${job.id}${p} after DELETE: ${r.status} ${r.text.slice(0, 200)}`);
	}
	assert.equal((await request('HEAD', `${srv.url}/api/imports/${job.id}`)).status, 404);
	assert.equal((await reprocess(job.id)).status, 404, 'reprocess of a deleted job');
	const list = await getJson(`${srv.url}/api/imports`);
	assert.ok(!list.items.some((j) => j.id === job.id), 'not in the job list');

	// The WebSocket: a final frame with state cancelled, nothing after it.
	const fin = await ws.next((m) => m.type === 'import' && m.id === job.id && m.state === 'cancelled', 5000)
		.catch((e) => { throw new Error(`${e.message}; frames for the job: ` +
			JSON.stringify(ws.messages.filter((m) => m.id === job.id).map((m) => m.state))); });
	await sleep(1000);
	const frames = ws.messages.filter((m) => m.type === 'import' && m.id === job.id);
	assert.equal(frames[frames.length - 1], fin, `no frame after the cancelled one: ${frames.map((m) => m.state)}`);
	await ws.close();

	// The database holds nothing of it (job, rows, raw rows, errors, chunks).
	let after;
	try {
		after = await rowsInDb(job.id);
	} catch (e) {
		process.stderr.write(`# could not check the database with psql: ${e.message}\n`);
		return;
	}
	process.stderr.write(`# rows for job ${job.id} before the DELETE: ${JSON.stringify(before)}; ` +
		`after: ${JSON.stringify(after)}; upload sent ${sentAfter} bytes\n`);
	for (const [t, n] of Object.entries(after)) assert.equal(n, 0, `${t} still has ${n} rows of job ${job.id}`);
	await sleep(1500); // no batch in flight may land afterwards
	const later = await rowsInDb(job.id);
	for (const [t, n] of Object.entries(later)) assert.equal(n, 0, `${t} has ${n} rows of job ${job.id} 1.5 s later`);
});

test('DELETE of a finished job; 404 for an unknown one; the server goes on importing', {
	timeout: 120000,
}, async () => {
	const small = generate({ rows: 500, rejected: 3, seed: 9 });
	const { job } = await importFile(srv.url, small.buffer, 'finished-delete.csv');
	assert.equal((await request('DELETE', `${srv.url}/api/imports/${job.id}`)).status, 204);
	assert.equal((await request('GET', `${srv.url}/api/imports/${job.id}`)).status, 404);
	assert.equal((await request('GET', `${srv.url}/api/imports/${job.id}/properties`)).status, 404);
	const anyId = await walkProperties(srv.url, job.id).catch((e) => e);
	assert.ok(anyId instanceof Error, 'properties of a deleted job are gone');
	assert.equal((await request('DELETE', `${srv.url}/api/imports/${job.id}`)).status, 404, 'second DELETE');
	assert.equal((await request('DELETE', `${srv.url}/api/imports/987654321`)).status, 404);
	assert.equal((await request('DELETE', `${srv.url}/api/imports/abc`)).status, 404);
	const db = await rowsInDb(job.id).catch(() => null);
	if (db) for (const [t, n] of Object.entries(db)) assert.equal(n, 0, `${t}: ${n} rows left`);
});

test('reprocess without a body: 202 processing, ends done with the same rows', { timeout: 180000 }, async () => {
	const { job } = await importFile(srv.url, buffer, 'reprocess.csv', 'done', 120000);
	S.job = job;
	S.base = await walkProperties(srv.url, job.id);
	assert.equal(S.base.length, truth.inserted);
	const r = await reprocess(job.id);
	assert.equal(r.status, 202, `reprocess: ${r.status} ${r.text.slice(0, 300)}${tail()}`);
	assert.equal(r.json.id, job.id);
	assert.equal(r.json.state, 'processing', brief(r.json));
	// 409 while it runs.
	const again = await reprocess(job.id);
	const now = await getJson(`${srv.url}/api/imports/${job.id}`);
	if (now.state === 'processing' || again.status !== 202)
		assert.equal(again.status, 409, `reprocess of a running job: ${again.status} ${again.text.slice(0, 200)}`);
	const j = await waitJob(srv.url, job.id, 'done', 120000);
	for (const k of ['rows_parsed', 'rows_inserted', 'rows_rejected', 'rows_warned', 'bytes_received'])
		assert.equal(j[k], job[k], `${k} after the reprocess: ${brief(j)}`);
	assert.equal(j.error, null);
	const items = await walkProperties(srv.url, job.id);
	const bad = diffRuns(S.base, items);
	assert.deepEqual(bad, [], `rows after the reprocess:\n  ${fmt(bad)}`);
	const errs = await walkErrors(srv.url, job.id);
	assert.equal(errs.filter((e) => e.kind === 'rejected').length, truth.rejected.length,
		'the errors are those of one run (not doubled)');
	S.base = items;
});

test('reprocess with a mapping override (price unmapped): new rows follow it; readers never see a mix', {
	timeout: 180000,
}, async () => {
	assert.ok(S.job, 'needs the previous test');
	const id = S.job.id;
	const oldPrice = new Map(S.base.map((it) => [it.row, it.price]));
	const r = await reprocess(id, { mapping: { 'List Price': null } });
	assert.equal(r.status, 202, `reprocess: ${r.status} ${r.text.slice(0, 300)}${tail()}`);
	let polls = 0;
	let oldPages = 0;
	let newPages = 0;
	const mixed = [];
	let sawColumns = null;
	for (;;) {
		const [job, page] = await Promise.all([
			getJson(`${srv.url}/api/imports/${id}`),
			getJson(`${srv.url}/api/imports/${id}/properties?limit=200`),
		]);
		polls++;
		const isOld = page.items.every((it) => it.price === oldPrice.get(it.row));
		const isNew = page.items.every((it) => it.price === null);
		if (isOld && !isNew) oldPages++;
		else if (isNew && !isOld) newPages++;
		else if (!isOld && !isNew) mixed.push(page.items.map((it) => `${it.row}:${it.price}`).slice(0, 8).join(' '));
		assert.equal(page.items.length, 200, `page ${polls}: a full first page while reprocessing`);
		if (job.state === 'processing' && !sawColumns && job.columns.length) sawColumns = job.columns; // [] until the new run has read its header
		if (job.state !== 'processing') {
			assert.equal(job.state, 'done', brief(job));
			break;
		}
		// a breath between polls: back to back they starve the reprocess of a
		// server slowed down by valgrind (94 s for this test)
		await sleep(scaled(10));
	}
	process.stderr.write(`# ${polls} polls during the reprocess: ${oldPages} old pages, ${newPages} new\n`);
	assert.deepEqual(mixed, [], 'every page is all-old or all-new');
	assert.ok(polls >= 3, `the reprocess lasted a few polls (${polls})`);
	const j = await waitJob(srv.url, id, 'done', 1000);
	const col = j.columns.find((c) => c.header === 'List Price');
	assert.ok(col && col.field === null && col.match === 'override', `List Price column: ${JSON.stringify(col)}`);
	if (sawColumns) {
		const c2 = sawColumns.find((c) => c.header === 'List Price');
		assert.ok(c2 && c2.match === 'override', `columns show the new run while it runs: ${JSON.stringify(c2)}`);
	}
	for (const k of ['rows_parsed', 'rows_inserted', 'rows_rejected'])
		assert.equal(j[k], S.job[k], `${k}: ${brief(j)}`);
	const items = await walkProperties(srv.url, id);
	const want = S.base.map((it) => ({ ...it, price: null }));
	const bad = diffRuns(want, items);
	assert.deepEqual(bad, [], `rows after the override:\n  ${fmt(bad)}`);
	const raw = await getJson(`${srv.url}/api/properties/${items[5].id}`);
	assert.ok(raw.raw && 'List Price' in raw.raw, `raw keeps the original columns: ${JSON.stringify(raw).slice(0, 300)}`);
});

test('reprocess swapping two headers (City <-> Address)', { timeout: 180000 }, async () => {
	assert.ok(S.job, 'needs the first reprocess test');
	const id = S.job.id;
	const r = await reprocess(id, { mapping: { City: 'address', Address: 'city', 'List Price': 'price' } });
	assert.equal(r.status, 202, `reprocess: ${r.status} ${r.text.slice(0, 300)}${tail()}`);
	const j = await waitJob(srv.url, id, 'done', 120000);
	for (const [h, f] of [['City', 'address'], ['Address', 'city']]) {
		const c = j.columns.find((x) => x.header === h);
		assert.ok(c && c.field === f && c.match === 'override', `${h} column: ${JSON.stringify(c)}`);
	}
	const items = await walkProperties(srv.url, id);
	const want = S.base.map((it) => ({ ...it, address: it.city, city: it.address }));
	const bad = diffRuns(want, items);
	assert.deepEqual(bad, [], `rows after the swap:\n  ${fmt(bad)}`);
});

test('reprocess errors: 409 while receiving, 400 bad body / unknown field / unknown header, 404', {
	timeout: 120000,
}, async () => {
	assert.ok(S.job, 'needs the first reprocess test');
	const id = S.job.id;
	const bad = [
		['not json', '{"mapping": '],
		['mapping not an object', { mapping: ['City'] }],
		['unknown field', { mapping: { City: 'bogus_field' } }],
		['unknown header', { mapping: { 'No Such Header': 'city' } }],
		['field not a string', { mapping: { City: 5 } }],
	];
	for (const [what, body] of bad) {
		const r = await reprocess(id, body);
		assert.equal(r.status, 400, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
		assert.ok(r.json && typeof r.json.error === 'string', `${what}: JSON error ${r.text.slice(0, 200)}`);
	}
	const j = await getJson(`${srv.url}/api/imports/${id}`);
	assert.equal(j.state, 'done', `refused reprocesses changed nothing: ${brief(j)}`);
	assert.equal((await reprocess(987654321)).status, 404);

	const up = sendSlowly('POST', `${srv.url}/api/imports?name=receiving.csv`, buffer,
		{ chunked: true, pieceSize: 16384, delayMs: 10, headers: { 'Content-Type': 'text/csv' } });
	let job = null;
	for (let i = 0; i < 200 && !job; i++) {
		job = await jobNamed('receiving.csv');
		if (!job) await sleep(50);
	}
	assert.ok(job, 'the upload is listed');
	const rr = await reprocess(job.id);
	assert.equal(rr.status, 409, `reprocess of a receiving job: ${rr.status} ${rr.text.slice(0, 200)}`);
	up.abort();
	await waitJob(srv.url, job.id, 'interrupted', 30000);
	// An interrupted job has its bytes stored: it can be reprocessed.
	const ri = await reprocess(job.id);
	assert.equal(ri.status, 202, `reprocess of an interrupted job: ${ri.status} ${ri.text.slice(0, 200)}`);
	const end = await waitJob(srv.url, job.id, ['done', 'interrupted'], 60000);
	assert.equal(end.rows_parsed, end.rows_inserted + end.rows_rejected, brief(end));
});

// Issue 10: a misspelt key or a wrong type used to start a full reprocess with
// the default mapping; now 400 naming what is wrong, and an unknown field
// lists the valid ones.
test('reprocess body validation: 400 naming an unknown key, a wrong type, an unknown field', {
	timeout: 60000,
}, async () => {
	assert.ok(S.job, 'needs the first reprocess test');
	const id = S.job.id;
	const before = await getJson(`${srv.url}/api/imports/${id}`);
	const cases = [
		['misspelt key', { mapings: { City: 'city' } }, /"mapings"/],
		['extra key', { mapping: { City: 'city' }, force: true }, /"force"/],
		['mapping a string', { mapping: 'city' }, /mapping/],
		['mapping an array', { mapping: [] }, /mapping/],
		['mapping value a number', { mapping: { City: 5 } }, /"City"/],
		['mapping value an object', { mapping: { City: { field: 'city' } } }, /"City"/],
		['mapping value true', { mapping: { City: true } }, /"City"/],
		['body an array', [], /object/],
		['body a JSON string', '"mapping"', /object/],
		['unknown field', { mapping: { City: 'town' } }, /"town"/],
	];
	for (const [what, body, re] of cases) {
		const r = await reprocess(id, body);
		assert.equal(r.status, 400, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
		assert.match(r.json.error, re, `${what}: the error names it: ${r.json.error}`);
	}
	const u = await reprocess(id, { mapping: { City: 'town' } });
	const fields = u.json.detail && u.json.detail.fields;
	assert.ok(Array.isArray(fields) && fields.length === 17, `the valid fields are listed: ${u.text}`);
	for (const f of ['source_id', 'price', 'city', 'longitude']) assert.ok(fields.includes(f), `${f} in ${fields}`);
	const after = await getJson(`${srv.url}/api/imports/${id}`);
	assert.equal(after.state, 'done', `nothing was reprocessed: ${brief(after)}`);
	assert.equal(after.finished_at, before.finished_at, 'the job was not run again');
});

// Issue 10: a reprocess counts against --user-max-imports (3 here) like an
// upload: with the places taken by waiting tus uploads, it gets 429 with
// Retry-After and {running, max}; once a place is free, 202.
test('reprocess counts as a running import: 429 + Retry-After at the limit, 202 once a place is free', {
	timeout: 120000,
}, async () => {
	assert.ok(S.job, 'needs the first reprocess test');
	await waitFor(async () => (await getJson(`${srv.url}/api/imports`)).items
		.every((j) => !['receiving', 'processing'].includes(j.state)), 60000, 'earlier imports end');
	const held = [];
	try {
		for (let i = 0; i < 10; i++) {
			const c = await tusCreate(srv.url, 1000, `holder-${i}.csv`);
			if (c.status === 429) break;
			assert.equal(c.status, 201, `holder ${i}: ${c.status} ${c.text.slice(0, 200)}`);
			held.push(c.json.id);
		}
		assert.equal(held.length, 3, `--user-max-imports 3: ${held.length} uploads admitted`);
		const r = await reprocess(S.job.id);
		assert.equal(r.status, 429, `reprocess at the limit: ${r.status} ${r.text.slice(0, 200)}`);
		assert.ok(Number(r.headers['retry-after']) > 0, `Retry-After: ${r.headers['retry-after']}`);
		assert.deepEqual(r.json.detail, { running: 3, max: 3 }, r.text);
		assert.equal((await getJson(`${srv.url}/api/imports/${S.job.id}`)).state, 'done', 'not started');
		assert.equal((await request('DELETE', `${srv.url}/api/imports/${held.pop()}`)).status, 204);
		const ok = await reprocess(S.job.id);
		assert.equal(ok.status, 202, `reprocess with a free place: ${ok.status} ${ok.text.slice(0, 200)}`);
		// now the reprocess holds the place: an upload is refused
		const t = await tusCreate(srv.url, 1000, 'one-too-many.csv');
		if (t.status === 201) held.push(t.json.id);
		const now = await getJson(`${srv.url}/api/imports/${S.job.id}`);
		if (now.state === 'processing')
			assert.equal(t.status, 429, `upload while the reprocess runs: ${t.status}`);
		const end = await waitJob(srv.url, S.job.id, 'done', 60000);
		assert.equal(end.rows_inserted, S.job.rows_inserted, brief(end));
	} finally {
		for (const h of held) await request('DELETE', `${srv.url}/api/imports/${h}`);
	}
});

test('DELETE during a reprocess: within a second, gone', { timeout: 120000 }, async () => {
	assert.ok(S.job, 'needs the first reprocess test');
	const id = S.job.id;
	const r = await reprocess(id);
	assert.equal(r.status, 202);
	await sleep(100);
	const t0 = Date.now();
	const d = await request('DELETE', `${srv.url}/api/imports/${id}`);
	const ms = Date.now() - t0;
	assert.equal(d.status, 204, `${d.status} ${d.text}`);
	assert.ok(ms < 1000, `DELETE in ${ms} ms`);
	await sleep(1500);
	assert.equal((await request('GET', `${srv.url}/api/imports/${id}`)).status, 404);
	assert.equal((await request('GET', `${srv.url}/api/imports/${id}/properties`)).status, 404);
	const db = await rowsInDb(id).catch(() => null);
	if (db) for (const [t, n] of Object.entries(db)) assert.equal(n, 0, `${t}: ${n} rows left after DELETE during reprocess`);
});
