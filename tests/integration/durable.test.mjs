// durable.test.mjs - nothing lost, whatever fails (issue 3, "Durable jobs"),
// with real processes over real sockets and a real PostgreSQL:
// - kill -9 of the server during a one-shot upload and a tus upload, restart
//   on the same data dir (the embedded PostgreSQL is adopted): the cut-off
//   one-shot upload ends `interrupted` with its complete rows; the tus upload
//   tells its offset (HEAD), is finished by PATCHes and ends identical to an
//   uninterrupted run of the same file;
// - kill -9 right after uploads were fully received (while processing),
//   restart (and kill again during the recovery): they end identical;
// - SIGTERM while a job is processing and another upload is arriving: exit 0
//   within 10 s; the next start finishes the parked job identically;
// - clients gone mid-upload, 20 times: jobs `interrupted`, fds and memory of
//   the server bounded;
// - a PostgreSQL of the test's own stopped for ~2 s in the middle of an
//   import: 503 JSON + Retry-After while it is down, the server stays up, the
//   import completes with exact accounting and identical rows.
// "Identical" = diffRuns (lib.mjs): by `row`, every field but `id` equal, no
// gap, no duplicate; counters equal; raw rows equal on a sample.

import assert from 'node:assert/strict';
import { after } from 'node:test';
import { generate } from './gen.mjs';
import {
	brief, checkExit, diffRaw, diffRuns, getJson, importFile, killLeftoverPostgres, killServer,
	procStats, removeDir, request, sameCounts, scaled, sendSlowly, sleep, startPostgres, startServer,
	tempDir, tusCreate, tusHead, tusPatch, waitFor, waitJob, walkProperties,
	test,
} from './lib.mjs';

const INSTRUMENTED = process.env.PROPFLOW_SANITIZED === '1' || process.env.PROPFLOW_VALGRIND === '1';

// Small batches with one in flight make processing slow enough to kill it.
// Every upload here is the administrator's, and cut-off ones stay receiving
// until the server has drained their bytes: lift the per-user limit of
// concurrent imports (default 3; tested in accounts.test.mjs).
const ARGS = ['--batch-rows', '50', '--batches-in-flight', '1', '--user-max-imports', '100'];
const { buffer, truth } = generate({ rows: 30000, seed: 3303 });
const dataDir = tempDir('propflow-durable-');
const S = { srv: null, base: null, baseJob: null, pg: null, pgSrv: null };

after(async () => {
	for (const s of [S.srv, S.pgSrv]) {
		if (s && s.isRunning()) await s.stop({ keepDir: true });
	}
	killLeftoverPostgres(dataDir);
	await sleep(500);
	removeDir(dataDir);
	if (S.pg) await S.pg.destroy();
});

function fmt(list, n = 20) {
	return list.slice(0, n).join('\n  ') + (list.length > n ? `\n  ... ${list.length - n} more` : '');
}

function tail(srv, n = 30) {
	return srv ? `\n--- server stderr (tail) ---\n${srv.stderrTail(n)}` : '';
}

async function start() {
	S.srv = await startServer({ dataDir, args: ARGS });
	return S.srv;
}

// The server of this file, started again if an earlier test left it dead.
async function ensureUp() {
	if (S.srv && S.srv.isRunning()) return S.srv;
	return start();
}

// The job of that name (newest), or null.
async function jobNamed(url, name) {
	const r = await request('GET', `${url}/api/imports`);
	if (r.status !== 200 || !r.json) return null;
	return r.json.items.find((j) => j.name === name) || null;
}

// Byte offset just after each data record (its end of line included), in
// file order, for records [{row, end}]: from the physical line each record
// starts on and the newlines inside it.
const lineStart = [0, 0]; // lineStart[L] = offset of physical line L (1-based)
for (let i = 0; i < buffer.length; i++) if (buffer[i] === 0x0a) lineStart.push(i + 1);
const recordEnds = [...truth.records, ...truth.rejected]
	.map((r) => ({ row: r.row, end: lineStart[r.line + (r.fields.join('\u0000').match(/\n/g) || []).length + 1] ?? buffer.length }))
	.sort((a, b) => a.row - b.row);
// Data records complete within the first n bytes.
const completeWithin = (n) => recordEnds.filter((r) => r.end <= n).length;

// Checks a job that must be identical to the uninterrupted run.
async function assertIdentical(srv, job, what, base = S.base) {
	assert.equal(job.state, 'done', `${what}: ${brief(job)}${tail(srv)}`);
	assert.deepEqual(sameCounts(S.baseJob, job), {}, `${what}: counters differ from the ` +
		`uninterrupted run: ${brief(job)}`);
	assert.equal(job.bytes_received, buffer.length, `${what}: bytes_received ${brief(job)}`);
	const items = await walkProperties(srv.url, job.id);
	const bad = diffRuns(base, items);
	assert.deepEqual(bad, [], `${what}: ${bad.length} differences from the uninterrupted run:\n  ${fmt(bad)}`);
	const badRaw = await diffRaw(srv.url, base, items, 40);
	assert.deepEqual(badRaw, [], `${what}: GET /api/properties/ID differs:\n  ${fmt(badRaw)}`);
}

test('baseline: an uninterrupted run of the file', { timeout: 180000 }, async () => {
	const srv = await start();
	const { res, job } = await importFile(srv.url, buffer, 'baseline.csv', 'done', 120000);
	assert.equal(res.status, 202);
	assert.equal(job.rows_parsed, truth.rows, brief(job));
	assert.equal(job.rows_inserted, truth.inserted, brief(job));
	assert.equal(job.rows_rejected, truth.rejected.length, brief(job));
	S.baseJob = job;
	S.base = await walkProperties(srv.url, job.id);
	assert.equal(S.base.length, truth.inserted);
	for (const f of ['upload_offset', 'resumable', 'bytes_durable'])
		assert.ok(f in job, `job object has ${f} (ISSUE3.md): ${brief(job)}`);
	assert.equal(job.bytes_durable, buffer.length, `bytes_durable of a finished upload: ${brief(job)}`);
	assert.equal(job.resumable, false, 'a one-shot upload is not resumable');
});

test('kill -9 during a one-shot upload and a tus upload; restart: interrupted, and tus resumes from HEAD', {
	timeout: 240000,
}, async () => {
	assert.ok(S.base, 'needs the baseline');
	let srv = await ensureUp();
	// A: one-shot, chunked, slow (about 8 s for the whole file).
	const a = sendSlowly('POST', `${srv.url}/api/imports?name=cut-oneshot.csv`, buffer,
		{ chunked: true, pieceSize: 16384, delayMs: 15, headers: { 'Content-Type': 'text/csv' } });
	// T: tus; the first third in one PATCH, the rest slowly.
	const c = await tusCreate(srv.url, buffer.length, 'cut-tus.csv');
	assert.equal(c.status, 201, `tus creation: ${c.status} ${c.text.slice(0, 300)}${tail(srv)}`);
	const tid = c.json.id;
	const third = Math.floor(buffer.length / 3);
	const p1 = await tusPatch(srv.url, tid, 0, buffer.subarray(0, third), { pieceSize: 65536 }).done;
	assert.equal(p1.status, 204, `first PATCH: ${p1.status} ${p1.error || p1.text}${tail(srv)}`);
	assert.equal(p1.headers['upload-offset'], String(third));
	const t = tusPatch(srv.url, tid, third, buffer.subarray(third), { pieceSize: 16384, delayMs: 15 });

	// Kill once A has sent ~40% and stored rows, and T has gone on too.
	let seenA = null;
	await waitFor(async () => {
		if (a.sent() < buffer.length * 0.4) return false;
		seenA = await jobNamed(srv.url, 'cut-oneshot.csv');
		return seenA && seenA.rows_inserted > 0 && t.sent() > 0;
	}, 60000, 'the one-shot upload to be 40% sent with rows stored', 100);
	const seenT = await getJson(`${srv.url}/api/imports/${tid}`);
	assert.ok(a.sent() < buffer.length && t.sent() < buffer.length - third,
		'the uploads were still in progress at the kill');
	const killedAt = { a: a.sent(), t: third + t.sent() };
	const x = await killServer(srv);
	assert.equal(x.signal, 'SIGKILL');
	const [ra, rt] = await Promise.all([a.done, t.done]);
	assert.ok(ra.status === null || ra.status >= 500, `A got an answer: ${ra.status}`);
	assert.ok(rt.status === null || rt.status >= 500, `T got an answer: ${rt.status}`);

	srv = await start();
	// A: cut off -> interrupted, with every complete record of its durable bytes.
	const ja = await waitJob(srv.url, seenA.id, 'interrupted', 60000).catch((e) => {
		throw new Error(e.message + tail(srv));
	});
	assert.ok(ja.bytes_received > 0 && ja.bytes_received <= killedAt.a,
		`bytes_received ${ja.bytes_received} (sent ${killedAt.a}): ${brief(ja)}`);
	assert.match(String(ja.error), /interrupted/, `error: ${brief(ja)}`);
	assert.equal(ja.rows_parsed, ja.rows_inserted + ja.rows_rejected, brief(ja));
	assert.ok(ja.rows_inserted >= seenA.rows_inserted,
		`rows stored before the kill are kept (${seenA.rows_inserted} seen then): ${brief(ja)}`);
	const durable = Math.min(ja.bytes_received, ja.bytes_durable ?? Infinity);
	const k = completeWithin(durable);
	assert.ok(ja.rows_parsed >= k && ja.rows_parsed <= k + 1,
		`the ${k} records complete within the ${durable} durable bytes are parsed: ${brief(ja)}`);
	const itemsA = await walkProperties(srv.url, ja.id);
	assert.equal(itemsA.length, ja.rows_inserted);
	const lastRow = itemsA.length ? itemsA[itemsA.length - 1].row : 0;
	const prefix = S.base.filter((b) => b.row <= lastRow);
	const badA = diffRuns(prefix, itemsA);
	assert.deepEqual(badA, [], `cut-off upload's rows are a gapless prefix of the uninterrupted run:\n  ${fmt(badA)}`);

	// T: tus stays receiving; HEAD tells where to go on from.
	const h = await tusHead(srv.url, tid);
	assert.equal(h.status, 200, `HEAD after restart: ${h.status}${tail(srv)}`);
	const off = Number(h.headers['upload-offset']);
	assert.ok(Number.isInteger(off) && off >= third && off <= killedAt.t,
		`Upload-Offset ${h.headers['upload-offset']}: at least the acknowledged ${third}, at most the ` +
		`${killedAt.t} sent (seen before the kill: upload_offset ${seenT.upload_offset})`);
	assert.equal(h.headers['upload-length'], String(buffer.length));
	const jt = await getJson(`${srv.url}/api/imports/${tid}`);
	assert.equal(jt.state, 'receiving', `tus job after restart: ${brief(jt)}`);
	assert.equal(jt.upload_offset, off, `upload_offset = HEAD's Upload-Offset: ${brief(jt)}`);
	// The rest in three PATCHes.
	let o = off;
	const step = Math.ceil((buffer.length - off) / 3);
	while (o < buffer.length) {
		const piece = buffer.subarray(o, Math.min(buffer.length, o + step));
		const r = await tusPatch(srv.url, tid, o, piece, { pieceSize: 65536 }).done;
		assert.equal(r.status, 204, `PATCH at ${o}: ${r.status} ${r.error || r.text}${tail(srv)}`);
		assert.equal(r.headers['upload-offset'], String(o + piece.length));
		o += piece.length;
	}
	const doneT = await waitJob(srv.url, tid, 'done', 120000);
	await assertIdentical(srv, doneT, 'tus upload resumed after kill -9');
});

test('kill -9 right after an upload was received (tus, then one-shot); restart, kill again: identical rows', {
	timeout: 240000,
}, async () => {
	assert.ok(S.base, 'needs the baseline');
	let srv = await ensureUp();
	// tus: the whole file in one PATCH, kill -9 at its 204.
	const c = await tusCreate(srv.url, buffer.length, 'full-tus.csv');
	assert.equal(c.status, 201, `tus creation: ${c.status} ${c.text.slice(0, 300)}`);
	const tid = c.json.id;
	const rt = await tusPatch(srv.url, tid, 0, buffer, { pieceSize: 262144 }).done;
	await killServer(srv);
	assert.equal(rt.status, 204, `tus PATCH: ${rt.status} ${rt.error || rt.text}${tail(srv)}`);
	srv = await start();
	// one-shot: kill -9 at its 202.
	const rb = await request('POST', `${srv.url}/api/imports?name=full-oneshot.csv`, {
		body: buffer, headers: { 'Content-Type': 'text/csv' }, timeout: 120000,
	});
	await killServer(srv);
	assert.equal(rb.status, 202, `one-shot upload: ${rb.status} ${rb.text.slice(0, 300)}${tail(srv)}`);
	const bid = rb.json.id;
	process.stderr.write(`# killed at the 202: job was ${rb.json.state} ` +
		`(rows_inserted ${rb.json.rows_inserted} of ${truth.inserted})\n`);

	srv = await start();
	// Kill once more during the recovery, when there is still work to do.
	const mid = await getJson(`${srv.url}/api/imports/${bid}`);
	if (mid.state === 'processing') {
		await killServer(srv);
		process.stderr.write(`# killed again during the recovery at rows_inserted ${mid.rows_inserted}\n`);
		srv = await start();
	}
	const jb = await waitJob(srv.url, bid, 'done', 120000).catch((e) => { throw new Error(e.message + tail(srv)); });
	await assertIdentical(srv, jb, 'one-shot upload killed at its 202');
	const jt = await waitJob(srv.url, tid, 'done', 120000).catch((e) => { throw new Error(e.message + tail(srv)); });
	await assertIdentical(srv, jt, 'tus upload killed at its last 204');
});

test('kill -9 during a reprocess; restart: it finishes, rows identical, never a mix', {
	timeout: 180000,
}, async () => {
	assert.ok(S.baseJob, 'needs the baseline');
	let srv = await ensureUp();
	const r = await request('POST', `${srv.url}/api/imports/${S.baseJob.id}/reprocess`, { body: '' });
	assert.equal(r.status, 202, `reprocess: ${r.status} ${r.text.slice(0, 300)}${tail(srv)}`);
	await sleep(150);
	const mid = await getJson(`${srv.url}/api/imports/${S.baseJob.id}`);
	await killServer(srv);
	process.stderr.write(`# killed during the reprocess: ${mid.state}, rows_parsed ${mid.rows_parsed}\n`);
	srv = await start();
	// And once more while the adopted reprocess runs, if it still does.
	const mid2 = await getJson(`${srv.url}/api/imports/${S.baseJob.id}`);
	if (mid2.state === 'processing') {
		await killServer(srv);
		process.stderr.write(`# killed again during the resumed reprocess at rows_parsed ${mid2.rows_parsed}\n`);
		srv = await start();
	}
	// Old rows or new rows, a full page either way, while it finishes.
	const page = await getJson(`${srv.url}/api/imports/${S.baseJob.id}/properties?limit=1000`);
	const bad = diffRuns(S.base.slice(0, 1000), page.items);
	assert.deepEqual(bad, [], `first page after the kill, before the reprocess finished:\n  ${fmt(bad)}`);
	const j = await waitJob(srv.url, S.baseJob.id, 'done', 120000).catch((e) => { throw new Error(e.message + tail(srv)); });
	assert.deepEqual(sameCounts(S.baseJob, j), {}, `counters after the reprocess: ${brief(j)}`);
	const items = await walkProperties(srv.url, j.id);
	const bad2 = diffRuns(S.base, items);
	assert.deepEqual(bad2, [], `rows after the reprocess:\n  ${fmt(bad2)}`);
	S.base = items; // the ids changed; diffRaw needs live ones
});

test('SIGTERM while jobs process (an import, a reprocess) and an upload arrives: exit 0 within 10 s; restart finishes it', {
	timeout: 240000,
}, async () => {
	assert.ok(S.base, 'needs the baseline');
	let srv = await ensureUp();
	const slow = sendSlowly('POST', `${srv.url}/api/imports?name=term-cut.csv`, buffer,
		// slow enough (scaled: valgrind) to be still sending at the SIGTERM:
		// ~26 s at factor 1 (the SIGTERM cuts it), while the full-speed upload
		// and the reprocess before the SIGTERM take a few seconds (15 ms a
		// piece, 8 s, was overtaken once imports got slower in issue 11)
		{ chunked: true, pieceSize: 16384, delayMs: scaled(50), headers: { 'Content-Type': 'text/csv' } });
	const r = await request('POST', `${srv.url}/api/imports?name=term-parked.csv`, {
		body: buffer, headers: { 'Content-Type': 'text/csv' }, timeout: 120000,
	});
	assert.equal(r.status, 202, `${r.status} ${r.text.slice(0, 300)}`);
	const id = r.json.id;
	const slowJob = await waitFor(() => jobNamed(srv.url, 'term-cut.csv'), 30000, 'the slow upload to be listed');
	// A reprocess is sure to be processing at the SIGTERM.
	const rp = await request('POST', `${srv.url}/api/imports/${S.baseJob.id}/reprocess`, { body: '' });
	assert.equal(rp.status, 202, `reprocess: ${rp.status} ${rp.text.slice(0, 200)}`);
	await sleep(100);
	const t0 = Date.now();
	srv.proc.kill('SIGTERM');
	const x = await srv.exited;
	const ms = Date.now() - t0;
	checkExit(x, srv.stderr(), 'server');
	assert.ok(ms < 10000, `exited ${ms} ms after SIGTERM (at most 10 s)`);
	const rs = await slow.done;
	assert.ok(rs.status === null || rs.status === 503,
		`upload in progress at SIGTERM: 503 or connection closed, got ${rs.status} ${rs.text?.slice(0, 200)}`);
	if (rs.status === 503) assert.ok(rs.json && rs.json.error, `503 is JSON: ${rs.text}`);
	process.stderr.write(`# SIGTERM -> exit in ${ms} ms (job answered ${r.json.state})\n`);

	srv = await start();
	const jr = await waitJob(srv.url, S.baseJob.id, 'done', 120000).catch((e) => { throw new Error(e.message + tail(srv)); });
	assert.deepEqual(sameCounts(S.baseJob, jr), {}, `reprocess parked by SIGTERM: ${brief(jr)}`);
	const itemsR = await walkProperties(srv.url, jr.id);
	const badR = diffRuns(S.base, itemsR);
	assert.deepEqual(badR, [], `reprocess parked by SIGTERM, rows:\n  ${fmt(badR)}`);
	S.base = itemsR;
	const j = await waitJob(srv.url, id, 'done', 120000).catch((e) => { throw new Error(e.message + tail(srv)); });
	await assertIdentical(srv, j, 'job parked by SIGTERM');
	const jc = await waitJob(srv.url, slowJob.id, 'interrupted', 60000);
	assert.ok(jc.bytes_received > 0, brief(jc));
	assert.equal(jc.rows_parsed, jc.rows_inserted + jc.rows_rejected, brief(jc));
});

test('client gone mid-upload, 20 times: interrupted, server up, fds and memory bounded', {
	timeout: 180000,
}, async () => {
	const srv = await ensureUp();
	const pid = srv.proc.pid;
	const cut = async (i) => {
		const at = 100000 + ((i * 7919 * 131) % 1500000);
		const up = sendSlowly('POST', `${srv.url}/api/imports?name=gone-${i}.csv`, buffer,
			{ chunked: i % 2 === 0, pieceSize: 32768, abortAt: at, abortDelayMs: 100,
				headers: { 'Content-Type': 'text/csv' } });
		const res = await up.done;
		assert.equal(res.aborted, true, `upload ${i} was cut by the client: ${JSON.stringify(res).slice(0, 200)}`);
		return at;
	};
	const settle = async (names) => waitFor(async () => {
		const list = await getJson(`${srv.url}/api/imports`);
		const jobs = list.items.filter((j) => names.includes(j.name));
		return jobs.length === names.length && jobs.every((j) => j.state === 'interrupted') && jobs;
	}, 60000, 'every cut-off job interrupted', 200);
	// Warm up (first allocations, connection pools), then measure.
	await cut(100);
	await settle(['gone-100.csv']);
	await sleep(300);
	const s0 = procStats(pid);
	const names = [];
	const stats = [];
	for (let i = 0; i < 20; i++) {
		await cut(i);
		names.push(`gone-${i}.csv`);
		if (i === 9) {
			await settle(names.slice());
			stats.push(procStats(pid));
		}
	}
	const jobs = await settle(names);
	await sleep(300);
	const s2 = procStats(pid);
	for (const j of jobs) {
		assert.ok(j.bytes_received > 0, `${j.name}: ${brief(j)}`);
		assert.equal(j.rows_parsed, j.rows_inserted + j.rows_rejected, brief(j));
	}
	const h = await request('GET', `${srv.url}/api/health`);
	assert.equal(h.status, 200, 'server still serves');
	assert.ok(srv.isRunning());
	const msg = `fds ${s0.fds} -> ${stats[0].fds} -> ${s2.fds}; VmRSS ${s0.rssKb} -> ${stats[0].rssKb} -> ${s2.rssKb} kB`;
	process.stderr.write(`# 20 cut-off uploads: ${msg}\n`);
	assert.ok(s2.fds <= s0.fds + 4, `no leaked descriptors: ${msg}`);
	// Memory is judged on the plain build: ASan's quarantine (freed blocks held
	// back, up to 256 MB) and valgrind inflate the resident size whatever the
	// program does (seen: +68 MB under ASan for these 20 uploads).
	if (!INSTRUMENTED) {
		assert.ok(s2.rssKb - s0.rssKb < 48 * 1024, `memory bounded: ${msg}`);
		assert.ok(s2.rssKb - stats[0].rssKb < 24 * 1024, `memory does not keep growing: ${msg}`);
	}
	const x = await srv.stop({ keepDir: true });
	checkExit(x, srv.stderr(), 'server');
});

test('PostgreSQL stopped (fast, then immediate) for ~2 s mid-import: 503 + Retry-After, server up, import completes identical', {
	timeout: 300000,
}, async () => {
	assert.ok(S.base, 'needs the baseline');
	S.pg = await startPostgres();
	const pg = S.pg;
	const srv = await startServer({ args: ['--db', pg.conninfo, ...ARGS] });
	S.pgSrv = srv;
	// An uninterrupted run in this database too (raw rows are read by id).
	const b = await importFile(srv.url, buffer, 'pg-baseline.csv', 'done', 120000);
	const basePg = await walkProperties(srv.url, b.job.id);
	const badB = diffRuns(S.base, basePg);
	assert.deepEqual(badB, [], `the same file in another database gives other rows:\n  ${fmt(badB)}`);
	// fast: sessions are terminated cleanly; immediate: a crash (recovery at start).
	for (const mode of ['fast', 'immediate']) {
		const up = sendSlowly('POST', `${srv.url}/api/imports?name=pg-${mode}.csv`, buffer,
			{ chunked: true, pieceSize: 16384, delayMs: 10, headers: { 'Content-Type': 'text/csv' } });
		const seen = await waitFor(async () => {
			const j = await jobNamed(srv.url, `pg-${mode}.csv`);
			return j && j.rows_inserted > 2000 && j;
		}, 60000, 'rows stored before stopping PostgreSQL', 100);
		await pg.stop(mode);
		const downAt = Date.now();
		const answers = [];
		while (Date.now() - downAt < 2000) {
			const r = await request('GET', `${srv.url}/api/imports`, { timeout: 5000 });
			answers.push(r);
			await sleep(200);
		}
		const page = await request('GET', `${srv.url}/`, { timeout: 5000 });
		const post = await request('POST', `${srv.url}/api/imports?name=while-down.csv`, {
			body: buffer.subarray(0, 20000), headers: { 'Content-Type': 'text/csv' }, timeout: 5000,
		}).catch((e) => ({ status: null, text: e.message, headers: {} }));
		const tusPost = await tusCreate(srv.url, 1000, 'while-down.csv').catch((e) => ({ status: null, text: e.message, headers: {} }));
		assert.ok(srv.isRunning(), `server alive while PostgreSQL is down${tail(srv)}`);
		await pg.start();
		for (const [what, r] of [['one-shot POST', post], ['tus creation', tusPost]]) {
			assert.equal(r.status, 503, `${what} while PostgreSQL is down: ${r.status} ${r.text.slice(0, 200)}`);
			assert.equal(r.headers['retry-after'], '1', `${what}: Retry-After`);
		}
		const upAt = Date.now();
		// The first answers may still come from before the server noticed.
		const late = answers.slice(Math.floor(answers.length / 2));
		for (const r of late) {
			assert.equal(r.status, 503, `GET /api/imports while PostgreSQL is down: ${r.status} ${r.text.slice(0, 200)}${tail(srv)}`);
			assert.match(r.headers['content-type'] || '', /application\/json/);
			assert.equal(r.json?.error, 'database unavailable', r.text);
			assert.equal(r.headers['retry-after'], '1', `Retry-After: ${r.headers['retry-after']}`);
		}
		assert.equal(page.status, 200, 'the static page is served while the database is down');
		// Reconnects (with backoff) and answers again.
		await waitFor(async () =>
			(await request('GET', `${srv.url}/api/imports`)).status === 200, 30000, 'GET /api/imports to answer 200 again', 200);
		process.stderr.write(`# PostgreSQL stop -m ${mode}: API back ${Date.now() - upAt} ms after PostgreSQL started; ` +
			`job had ${seen.rows_inserted} rows when it stopped\n`);
		const res = await up.done;
		assert.equal(res.status, 202, `upload across the restart (${mode}): ${res.status} ${res.error || res.text?.slice(0, 300)}${tail(srv)}`);
		const j = await waitJob(srv.url, res.json.id, 'done', 120000).catch((e) => { throw new Error(e.message + tail(srv)); });
		await assertIdentical(srv, j, `import across a PostgreSQL restart (stop -m ${mode})`, basePg);
	}
	const x = await srv.stop();
	checkExit(x, srv.stderr(), 'server');
	await pg.destroy();
	S.pg = null;
});
