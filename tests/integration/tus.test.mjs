// tus.test.mjs - resumable uploads with tus 1.0.0 (core, creation,
// termination) on /api/imports, against the real server (ISSUE3.md): OPTIONS,
// creation and its errors, HEAD, PATCH in pieces and its errors, a PATCH cut
// off mid-body then resumed from HEAD, a PATCH taking over another, rows
// browsable while PATCHes arrive, DELETE. Every finished tus upload must give
// exactly the rows of a one-shot upload of the same file.

import assert from 'node:assert/strict';
import { generate } from './gen.mjs';
import {
	brief, checkExit, diffRuns, getJson, importFile, request, scaled, sendSlowly, sleep, startServer,
	TUS, tusCreate, tusHead, tusPatch, useServer, waitJob, walkProperties, wsConnect,
	test,
} from './lib.mjs';

const MAX = 64 * 1024 * 1024;
const srv = useServer({ args: ['--max-upload', String(MAX)] });
const small = generate({ rows: 3000, rejected: 7, seed: 4242 });
const big = generate({ rows: 30000, seed: 4343 });
const S = { base: null, baseJob: null, bigBase: null, bigJob: null };

function fmt(list, n = 20) {
	return list.slice(0, n).join('\n  ') + (list.length > n ? `\n  ... ${list.length - n} more` : '');
}

function tail(n = 25) {
	return `\n--- server stderr (tail) ---\n${srv.stderrTail(n)}`;
}

// A PATCH (lib.mjs tusPatch) that gives up after 30 s without an answer.
function patch(id, offset, bytes, opts = {}) {
	return tusPatch(srv.url, id, offset, bytes, { timeout: 30000, ...opts });
}

function assertJsonError(r, status, what) {
	assert.equal(r.status, status, `${what}: status ${r.status} ${r.text.slice(0, 200)}${tail(8)}`);
	assert.match(r.headers['content-type'] || '', /application\/json/, `${what}: content-type`);
	assert.ok(r.json && typeof r.json.error === 'string', `${what}: body ${r.text.slice(0, 200)}`);
}

// A finished tus job must equal the one-shot run of the same file.
async function assertLikeOneShot(id, base, baseJob, what) {
	const j = await waitJob(srv.url, id, 'done', 120000).catch((e) => { throw new Error(e.message + tail()); });
	for (const k of ['rows_parsed', 'rows_inserted', 'rows_rejected', 'rows_warned'])
		assert.equal(j[k], baseJob[k], `${what}: ${k}: ${brief(j)}`);
	assert.equal(j.bytes_received, baseJob.bytes_received, `${what}: ${brief(j)}`);
	assert.equal(j.resumable, true, `${what}: resumable ${brief(j)}`);
	const items = await walkProperties(srv.url, id);
	const bad = diffRuns(base, items);
	assert.deepEqual(bad, [], `${what}: ${bad.length} differences from the one-shot run:\n  ${fmt(bad)}`);
	return j;
}

async function create(buf, name) {
	const c = await tusCreate(srv.url, buf.length, name);
	assert.equal(c.status, 201, `creation: ${c.status} ${c.text.slice(0, 300)}${tail()}`);
	return c.json.id;
}

test('one-shot baselines of the files', { timeout: 120000 }, async () => {
	const a = await importFile(srv.url, small.buffer, 'small-oneshot.csv');
	S.baseJob = a.job;
	S.base = await walkProperties(srv.url, a.job.id);
	const b = await importFile(srv.url, big.buffer, 'big-oneshot.csv');
	S.bigJob = b.job;
	S.bigBase = await walkProperties(srv.url, b.job.id);
	assert.equal(S.base.length, small.truth.inserted);
	assert.equal(S.bigBase.length, big.truth.inserted);
});

test('OPTIONS advertises version, extensions and max size (with and without credentials)', async () => {
	for (const [p, auth] of [['/api/imports', undefined], ['/api/imports/1', undefined],
		['/api/imports', null], ['/api/imports/1', null]]) {
		const r = await request('OPTIONS', `${srv.url}${p}`, { auth });
		assert.equal(r.status, 204, `OPTIONS ${p} (${auth === null ? 'no credentials' : 'logged in'}): ` +
			`${r.status} ${r.text.slice(0, 200)}`);
		assert.equal(r.headers['tus-resumable'], '1.0.0', `OPTIONS ${p}: Tus-Resumable`);
		assert.ok((r.headers['tus-version'] || '').split(',').map((s) => s.trim()).includes('1.0.0'),
			`OPTIONS ${p}: Tus-Version ${r.headers['tus-version']}`);
		const ext = (r.headers['tus-extension'] || '').split(',').map((s) => s.trim());
		assert.ok(ext.includes('creation') && ext.includes('termination'),
			`OPTIONS ${p}: Tus-Extension ${r.headers['tus-extension']}`);
		assert.equal(r.headers['tus-max-size'], String(MAX), `OPTIONS ${p}: Tus-Max-Size`);
		assert.equal(r.body.length, 0);
	}
});

test('creation: 201, Location, job JSON; filename from Upload-Metadata', async () => {
	const name = 'Listings – März.csv';
	const meta = `filetype ${Buffer.from('text/csv').toString('base64')},filename ` +
		`${Buffer.from(name).toString('base64')},empty`;
	const r = await request('POST', `${srv.url}/api/imports`, {
		body: '', headers: { ...TUS, 'Upload-Length': '12345', 'Upload-Metadata': meta },
	});
	assert.equal(r.status, 201, `${r.status} ${r.text.slice(0, 300)}${tail()}`);
	const j = r.json;
	assert.ok(j && typeof j.id === 'number', r.text);
	assert.equal(r.headers.location, `/api/imports/${j.id}`);
	assert.equal(r.headers['tus-resumable'], '1.0.0');
	assert.match(r.headers['content-type'] || '', /application\/json/);
	assert.equal(j.state, 'receiving', brief(j));
	assert.equal(j.resumable, true, brief(j));
	assert.equal(j.bytes_total, 12345, brief(j));
	assert.equal(j.upload_offset, 0, brief(j));
	assert.equal(j.name, name, brief(j));
	const g = await getJson(`${srv.url}/api/imports/${j.id}`);
	assert.equal(g.state, 'receiving');
	assert.equal(g.resumable, true);
	const d = await request('DELETE', `${srv.url}/api/imports/${j.id}`, { headers: TUS });
	assert.equal(d.status, 204);
});

test('creation errors: 400 missing/invalid/zero length, 413 over max, 412 other version', async () => {
	const post = (headers) => request('POST', `${srv.url}/api/imports`, { body: '', headers });
	assertJsonError(await post({ ...TUS }), 400, 'no Upload-Length');
	for (const bad of ['abc', '-5', '1.5', '', '12abc', '99999999999999999999999'])
		assert.ok([400, 413].includes((await post({ ...TUS, 'Upload-Length': bad })).status),
			`Upload-Length ${JSON.stringify(bad)} refused`);
	assertJsonError(await post({ ...TUS, 'Upload-Length': 'abc' }), 400, 'Upload-Length abc');
	assertJsonError(await post({ ...TUS, 'Upload-Length': '0' }), 400, 'Upload-Length 0');
	assertJsonError(await post({ ...TUS, 'Upload-Length': String(MAX + 1) }), 413, 'over max');
	const ok = await post({ ...TUS, 'Upload-Length': String(MAX) });
	assert.equal(ok.status, 201, `Upload-Length = max is fine: ${ok.status}`);
	await request('DELETE', `${srv.url}/api/imports/${ok.json.id}`);
	const v = await post({ 'Tus-Resumable': '0.2.2', 'Upload-Length': '100' });
	assert.equal(v.status, 412, `Tus-Resumable 0.2.2: ${v.status} ${v.text.slice(0, 200)}`);
	assert.equal(v.headers['tus-version'], '1.0.0', 'the 412 names the version');
});

test('HEAD: Upload-Offset, Upload-Length, no-store, no body; 404 unknown', async () => {
	const id = await create(small.buffer, 'head.csv');
	const h = await tusHead(srv.url, id);
	assert.equal(h.status, 200, `${h.status}${tail()}`);
	assert.equal(h.headers['upload-offset'], '0');
	assert.equal(h.headers['upload-length'], String(small.buffer.length));
	assert.equal(h.headers['tus-resumable'], '1.0.0');
	assert.match(h.headers['cache-control'] || '', /no-store/);
	assert.equal(h.body.length, 0);
	const n = await tusHead(srv.url, 987654321);
	assert.equal(n.status, 404);
	// Any job: a finished one-shot upload reports its bytes.
	const o = await tusHead(srv.url, S.baseJob.id);
	assert.equal(o.status, 200);
	assert.equal(o.headers['upload-offset'], String(small.buffer.length));
	await request('DELETE', `${srv.url}/api/imports/${id}`);
});

test('PATCH in several pieces: 204 + Upload-Offset each; ends done like a one-shot upload', {
	timeout: 120000,
}, async () => {
	const buf = small.buffer;
	const id = await create(buf, 'pieces.csv');
	// Cuts at awkward places: 1 byte, mid-record, a 0-byte PATCH, the rest.
	const cuts = [0, 1, 1, 777, 200001, 200001, Math.floor(buf.length * 0.7), buf.length];
	for (let i = 1; i < cuts.length; i++) {
		const [from, to] = [cuts[i - 1], cuts[i]];
		const r = await patch(id, from, buf.subarray(from, to),
			{ chunked: i === 4, pieceSize: 4096 }).done;
		assert.equal(r.status, 204, `PATCH ${from}..${to}: ${r.status} ${r.error || r.text}${tail()}`);
		assert.equal(r.headers['upload-offset'], String(to), `PATCH ${from}..${to}: Upload-Offset`);
		assert.equal(r.headers['tus-resumable'], '1.0.0');
		if (to < buf.length) {
			const h = await tusHead(srv.url, id);
			assert.equal(h.headers['upload-offset'], String(to), 'HEAD after the PATCH');
			const j = await getJson(`${srv.url}/api/imports/${id}`);
			assert.equal(j.state, 'receiving', brief(j));
			assert.equal(j.upload_offset, to, brief(j));
		}
	}
	await assertLikeOneShot(id, S.base, S.baseJob, 'PATCHed in pieces');
});

test('PATCH errors: 409 wrong offset, 415 content type, 400 offset, 413 past length, 404, 409 done', {
	timeout: 120000,
}, async () => {
	const buf = small.buffer;
	const id = await create(buf, 'errors.csv');
	const first = await patch(id, 0, buf.subarray(0, 1000)).done;
	assert.equal(first.status, 204, `first PATCH right after the 201: ${first.status} ${first.text || first.error}`);
	const w = await patch(id, 500, buf.subarray(500, 1500)).done;
	assert.equal(w.status, 409, `wrong offset: ${w.status} ${w.text}`);
	assert.equal(w.headers['upload-offset'], '1000', 'the 409 tells the current offset');
	const w2 = await patch(id, 2000, buf.subarray(2000, 3000)).done;
	assert.equal(w2.status, 409, `offset ahead: ${w2.status}`);
	const ct = await patch(id, 1000, buf.subarray(1000, 2000), { contentType: 'text/csv' }).done;
	assert.equal(ct.status, 415, `Content-Type text/csv: ${ct.status} ${ct.text}`);
	for (const off of [null, 'x', '-1', '1.0'].map((v) => v)) {
		const headers = { ...TUS, 'Content-Type': 'application/offset+octet-stream' };
		if (off !== null) headers['Upload-Offset'] = off;
		const r = await sendSlowly('PATCH', `${srv.url}/api/imports/${id}`, buf.subarray(1000, 1100),
			{ headers }).done;
		assert.equal(r.status, 400, `Upload-Offset ${JSON.stringify(off)}: ${r.status} ${r.text}`);
	}
	const v = await patch(id, 1000, buf.subarray(1000, 1100),
		{ headers: { 'Tus-Resumable': '0.2.2' } }).done;
	assert.equal(v.status, 412, `PATCH with Tus-Resumable 0.2.2: ${v.status}`);
	const nf = await patch(987654321, 0, buf.subarray(0, 10)).done;
	assert.equal(nf.status, 404);
	let h = await tusHead(srv.url, id);
	assert.equal(h.headers['upload-offset'], '1000', 'refused PATCHes appended nothing');

	// Past Upload-Length: the rest plus 100 bytes.
	const over = Buffer.concat([buf.subarray(1000), Buffer.from('x'.repeat(100))]);
	const o = await patch(id, 1000, over, { pieceSize: 65536 }).done;
	assert.equal(o.status, 413, `past Upload-Length: ${o.status} ${o.error || o.text}`);
	h = await tusHead(srv.url, id);
	const k = Number(h.headers['upload-offset']);
	assert.ok(k >= 1000 && k <= buf.length, `offset after the 413: ${k}`);
	// The upload can still be finished properly from there.
	if (k < buf.length) {
		const r = await patch(id, k, buf.subarray(k), { pieceSize: 65536 }).done;
		assert.equal(r.status, 204, `finishing after the 413: ${r.status} ${r.text}`);
	}
	await assertLikeOneShot(id, S.base, S.baseJob, 'finished after refused PATCHes');
	const late = await patch(id, buf.length, Buffer.from('a,b\n')).done;
	assert.equal(late.status, 409, `PATCH to a done job: ${late.status}`);
	const ct2 = await request('PATCH', `${srv.url}/api/imports/${S.baseJob.id}`, {
		body: 'x', headers: { ...TUS, 'Upload-Offset': String(small.buffer.length), 'Content-Type': 'application/offset+octet-stream' },
	});
	assert.equal(ct2.status, 409, `PATCH to a done one-shot job: ${ct2.status}`);
});

test('a PATCH cut off mid-body: job stays receiving; resume from HEAD; done with exact rows', {
	timeout: 120000,
}, async () => {
	const buf = small.buffer;
	const id = await create(buf, 'dropped.csv');
	const cutAt = 300007;
	const r = await patch(id, 0, buf, { pieceSize: 8192, delayMs: 2, abortAt: cutAt }).done;
	assert.equal(r.aborted, true, 'the client cut the PATCH');
	await sleep(1500);
	const j = await getJson(`${srv.url}/api/imports/${id}`);
	assert.equal(j.state, 'receiving', `a dropped PATCH does not interrupt a tus upload: ${brief(j)}`);
	const h = await tusHead(srv.url, id);
	const k = Number(h.headers['upload-offset']);
	assert.ok(k > 0 && k <= cutAt, `Upload-Offset ${k} after ${cutAt} bytes sent`);
	assert.equal(j.upload_offset, k);
	// A second cut, then the rest.
	const r2 = await patch(id, k, buf.subarray(k), { pieceSize: 8192, abortAt: 100000 }).done;
	assert.equal(r2.aborted, true);
	await sleep(500);
	const k2 = Number((await tusHead(srv.url, id)).headers['upload-offset']);
	assert.ok(k2 >= k && k2 <= k + 100000, `offset ${k2} after the second cut`);
	const r3 = await patch(id, k2, buf.subarray(k2), { pieceSize: 65536 }).done;
	assert.equal(r3.status, 204, `${r3.status} ${r3.error || r3.text}${tail()}`);
	await assertLikeOneShot(id, S.base, S.baseJob, 'resumed after dropped PATCHes');
});

test('rows are browsable while PATCHes arrive; a second PATCH takes over the first', {
	timeout: 180000,
}, async () => {
	const buf = big.buffer;
	const id = await create(buf, 'browse.csv');
	const slow = patch(id, 0, buf, { pieceSize: 16384, delayMs: 10 });
	let page = null;
	for (let i = 0; i < 400 && slow.sent() < buf.length; i++) {
		const r = await request('GET', `${srv.url}/api/imports/${id}/properties?limit=100`);
		assert.equal(r.status, 200, r.text.slice(0, 200));
		if (r.json.items.length > 0) { page = r.json; break; }
		await sleep(50);
	}
	const sentThen = slow.sent();
	assert.ok(page, 'a page of rows was served while the PATCH was arriving');
	assert.ok(sentThen < buf.length, `rows served before the body was all sent (${sentThen} of ${buf.length})`);
	assert.equal(page.items[0].row, 1);
	const during = await getJson(`${srv.url}/api/imports/${id}`);
	assert.equal(during.state, 'receiving', brief(during));
	assert.ok(during.rows_inserted > 0, brief(during));

	// Take over: a new PATCH from the current offset; the old connection is closed.
	let off = Number((await tusHead(srv.url, id)).headers['upload-offset']);
	let res = null;
	for (let tries = 0; tries < 5; tries++) {
		res = await patch(id, off, buf.subarray(off), { pieceSize: 65536 }).done;
		if (res.status !== 409) break;
		off = Number(res.headers['upload-offset']); // the old PATCH moved on meanwhile
	}
	assert.equal(res.status, 204, `taking-over PATCH from ${off}: ${res.status} ${res.error || res.text}${tail()}`);
	const old = await slow.done;
	assert.ok(old.status === null || old.status >= 400,
		`the taken-over PATCH was closed or refused: ${old.status} ${old.text?.slice(0, 100)}`);
	await assertLikeOneShot(id, S.bigBase, S.bigJob, 'browsed during PATCHes, taken over');
});

test('DELETE terminates: 204, then HEAD/GET/PATCH 404; also while a PATCH is attached', {
	timeout: 60000,
}, async () => {
	const id = await create(small.buffer, 'delete.csv');
	const p = await patch(id, 0, small.buffer.subarray(0, 100000)).done;
	assert.equal(p.status, 204);
	const d = await request('DELETE', `${srv.url}/api/imports/${id}`, { headers: TUS });
	assert.equal(d.status, 204, `${d.status} ${d.text}`);
	assert.equal((await tusHead(srv.url, id)).status, 404);
	assert.equal((await request('GET', `${srv.url}/api/imports/${id}`)).status, 404);
	assert.equal((await request('GET', `${srv.url}/api/imports/${id}/properties`)).status, 404);
	assert.equal((await patch(id, 100000, small.buffer.subarray(100000, 100100)).done).status, 404);
	assert.equal((await request('DELETE', `${srv.url}/api/imports/${id}`)).status, 404);

	const id2 = await create(big.buffer, 'delete-attached.csv');
	const slow = patch(id2, 0, big.buffer, { pieceSize: 16384, delayMs: 10 });
	let slowEnded = null;
	slow.done.then((r) => { slowEnded = r; });
	while (slow.sent() < 500000 && !slowEnded) await sleep(20);
	assert.equal(slowEnded, null, `the PATCH is still running: ${slowEnded?.status} ${slowEnded?.text || slowEnded?.error}`);
	const t0 = Date.now();
	const d2 = await request('DELETE', `${srv.url}/api/imports/${id2}`);
	const ms = Date.now() - t0;
	assert.equal(d2.status, 204);
	assert.ok(ms < 1000, `DELETE answered in ${ms} ms`);
	const old = await slow.done;
	assert.ok(old.status === null || old.status === 410 || old.status === 404,
		`the attached PATCH was closed: ${old.status}`);
	assert.equal((await tusHead(srv.url, id2)).status, 404);
});

test('an abandoned tus upload ends interrupted after --upload-expiry and frees its place', {
	timeout: scaled(120000),
}, async () => {
	// its own server: uploads expire after 1 s of silence, one import at a time
	const s2 = await startServer({ args: ['--upload-expiry', '1', '--user-max-imports', '1'] });
	try {
		const c = await tusCreate(s2.url, small.buffer.length, 'abandoned.csv');
		assert.equal(c.status, 201, c.text);
		const id = c.json.id;
		const half = Math.floor(small.buffer.length / 2);
		const p = await tusPatch(s2.url, id, 0, small.buffer.subarray(0, half)).done;
		assert.equal(p.status, 204, p.text);
		// while it waits, it holds the one place
		const busy = await tusCreate(s2.url, 1000, 'second.csv');
		assert.equal(busy.status, 429, busy.text);
		// the recovery scan (every 10 s) ends it
		const job = await waitJob(s2.url, id, ['interrupted'], scaled(60000));
		assert.match(job.error, /upload abandoned/);
		assert.equal(job.rows_parsed, job.rows_inserted + job.rows_rejected);
		assert.ok(job.rows_inserted > 0, 'the complete rows received are kept');
		const again = await tusCreate(s2.url, 1000, 'third.csv');
		assert.equal(again.status, 201, again.text);
	} finally {
		checkExit(await s2.stop(), s2.stderr(), 'server');
	}
});

test('progress frames of a tus upload stay in seq order across its idle pauses', {
	timeout: scaled(120000),
}, async () => {
	const w = wsConnect(srv.url);
	await w.opened;
	await w.next((m) => m.type === 'snapshot');
	const buf = small.buffer;
	const c = await tusCreate(srv.url, buf.length, 'seq-across-pauses.csv');
	assert.equal(c.status, 201, c.text);
	const id = c.json.id;
	// three PATCHes with a pause after each: in between, nobody sends and the
	// job leaves memory; the next PATCH takes it back as a new object
	const cuts = [0, Math.floor(buf.length / 3), Math.floor((2 * buf.length) / 3), buf.length];
	for (let i = 0; i < 3; i++) {
		const r = await tusPatch(srv.url, id, cuts[i], buf.subarray(cuts[i], cuts[i + 1]),
			{ pieceSize: 65536 }).done;
		assert.equal(r.status, 204, `PATCH ${i}: ${r.status} ${r.text || r.error}`);
		await sleep(500);
	}
	const last = await w.next((m) => m.type === 'import' && m.id === id && m.state === 'done',
		scaled(60000));
	const seqs = w.messages.filter((m) => m.type === 'import' && m.id === id).map((m) => m.seq);
	for (let i = 1; i < seqs.length; i++)
		assert.ok(seqs[i] > seqs[i - 1], `seq strictly increasing across pauses: ${seqs.join(' ')}`);
	assert.equal(last.rows_parsed, 3000);
	await w.close();
});

// Issue 10: a filename that is not UTF-8 is a 400 (it was a 503 with
// Retry-After, retried forever), and a tus upload refused with 400 keeps no
// job: creation errors make none, and a file whose header cannot be read is
// refused at the PATCH that completes it, its job deleted.
test('tus refusals: filename not UTF-8 is 400; no job is left by any 400', { timeout: 60000 }, async () => {
	const ids = async () => (await getJson(`${srv.url}/api/imports`)).items.map((j) => j.id).sort((a, b) => a - b);
	const before = await ids();
	const post = (headers) => request('POST', `${srv.url}/api/imports`, { body: '', headers });
	for (const [what, bytes] of [['0xFF 0xFE', [0xff, 0xfe, 0x61]], ['lone continuation', [0x61, 0x80]],
		['overlong', [0xc0, 0x80]], ['truncated', [0x61, 0xe2, 0x82]]]) {
		const meta = `filename ${Buffer.from(bytes).toString('base64')}`;
		const r = await post({ ...TUS, 'Upload-Length': '100', 'Upload-Metadata': meta });
		assertJsonError(r, 400, `filename ${what}`);
		assert.match(r.json.error, /UTF-8/, r.text);
		assert.equal(r.headers['retry-after'], undefined, `filename ${what}: no Retry-After`);
		assert.equal(r.headers['tus-resumable'], '1.0.0', `filename ${what}: Tus-Resumable`);
	}
	assertJsonError(await post({ ...TUS, 'Upload-Length': '0' }), 400, 'Upload-Length 0');
	assertJsonError(await post({ ...TUS, 'Upload-Length': '100', 'Upload-Metadata': 'filename !!!' }), 400,
		'malformed metadata');
	assert.deepEqual(await ids(), before, 'no job from a refused creation');

	// a header past --fields-max: the completing PATCH is refused, the job deleted
	const wide = Buffer.from(Array.from({ length: 5000 }, (_, i) => `c${i}`).join(',') + '\n1,2\n');
	const id = await create(wide, 'wide.csv');
	const p = await patch(id, 0, wide).done;
	assertJsonError(p, 400, 'PATCH of a file whose header cannot be read');
	assert.match(p.json.error, /header/, p.text);
	assert.deepEqual(await ids(), before, `the refused upload ${id} left no job`);
	assert.equal((await request('GET', `${srv.url}/api/imports/${id}`)).status, 404);
});
