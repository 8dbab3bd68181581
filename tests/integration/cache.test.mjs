// cache.test.mjs - the read cache, ETag/304 and GET /api/ready (issue 11,
// "Caching"). Two servers share one PostgreSQL of the test's own: A with the
// default progress interval, B with a long one (scaled), so that what B may
// serve from its cache, and for how long, can be seen.
//  - hits and misses (X-Cache), ETag and Cache-Control on the job, the list
//    and a first page; a cursor page and the errors page are not cached;
//  - If-None-Match: the tag, a list, W/, * -> 304 without a body;
//  - a new row, a reprocess, a new analysis_version, a delete: a new tag or
//    a 404 at once on the server that did it;
//  - owner scoping: bob, asking for the administrator's import by id with
//    the same parameters and even the tag, gets 404;
//  - the byte cap: many distinct pages stay under --cache-bytes (stats);
//  - B sees A's new rows within its interval, and its hits within the
//    interval send no query (stats.lookups);
//  - /api/ready: 200, 503 "migrations pending", 503 "database unavailable".

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { generate } from './gen.mjs';
import {
	checkExit, makeUser, psql, request, scaled, sendSlowly, sleep, startPostgres, startServer,
	test, waitAnalysis, waitFor, waitJob,
} from './lib.mjs';

const S = {};
const B_INTERVAL = scaled(1500); // ms: B's --progress-interval-ms
const file = generate({ rows: 300, rejected: 3, seed: 1101 });

before(async () => {
	S.pg = await startPostgres();
	// rows are held until --sample-rows are read: a small sample lets the
	// first half of an upload be stored before the rest is sent
	S.a = await startServer({ args: ['--db', S.pg.conninfo, '--sample-rows', '50'] });
	S.b = await startServer({
		args: ['--db', S.pg.conninfo, '--progress-interval-ms', String(B_INTERVAL)],
	});
	S.bob = await makeUser(S.a, 'bob');
	const r = await request('POST', `${S.a.url}/api/imports?name=one.csv`, {
		body: file.buffer, headers: { 'Content-Type': 'text/csv' },
	});
	assert.equal(r.status, 202, r.text);
	S.id = r.json.id;
	await waitJob(S.a.url, S.id, ['done']);
	// its final analysis is a new analysis_version, so a new tag: the
	// import is still until it is written (slow under valgrind)
	await waitAnalysis(S.a.url, S.id);
}, { timeout: scaled(180000) });

after(async () => {
	for (const srv of [S.c, S.b, S.a]) {
		if (!srv) continue;
		const x = await srv.stop();
		checkExit(x, srv.stderr(), 'server');
	}
	if (S.pg) await S.pg.destroy();
}, { timeout: scaled(60000) });

const get = (srv, p, headers = {}, auth = undefined) =>
	request('GET', srv.url + p, { headers, auth });

async function stats(srv) {
	const r = await get(srv, '/api/ready', {}, null);
	assert.ok(r.json && r.json.cache, `ready: ${r.status} ${r.text}`);
	return r.json.cache;
}

// Two GETs of p: a miss then a hit with the same tag and body.
async function missThenHit(srv, p) {
	const first = await get(srv, p);
	assert.equal(first.status, 200, `${p}: ${first.text.slice(0, 200)}`);
	assert.match(first.headers.etag, /^W\/"[0-9a-f]{16}"$/, `${p}: ETag (weak)`);
	assert.equal(first.headers['cache-control'], 'private, no-cache');
	assert.ok(['hit', 'miss'].includes(first.headers['x-cache']), `${p}: X-Cache`);
	const second = await get(srv, p);
	assert.equal(second.status, 200);
	assert.equal(second.headers['x-cache'], 'hit', `${p}: the second read is a hit`);
	assert.equal(second.headers.etag, first.headers.etag);
	assert.equal(second.text, first.text);
	return first;
}

test('the job, the list and a first page: miss, then hit with the same ETag', async () => {
	const before_ = await stats(S.a);
	for (const p of [`/api/imports/${S.id}`, '/api/imports', `/api/imports/${S.id}/properties?limit=50`])
		await missThenHit(S.a, p);
	const now = await stats(S.a);
	// (waiting for the import may have cached the job object already)
	assert.ok(now.misses >= before_.misses + 2, `misses ${before_.misses} -> ${now.misses}`);
	assert.ok(now.hits >= before_.hits + 3, `hits ${before_.hits} -> ${now.hits}`);
	assert.ok(now.entries >= 3 && now.bytes > 0, JSON.stringify(now));

	// limit is part of the key: another limit is another entry
	const p10 = await get(S.a, `/api/imports/${S.id}/properties?limit=10`);
	assert.equal(p10.json.items.length, 10);
	const p50 = await get(S.a, `/api/imports/${S.id}/properties?limit=50`);
	assert.notEqual(p10.headers.etag, p50.headers.etag);
	assert.equal(p50.json.items.length, 50);

	// a page after a cursor and the errors page are read every time
	const next = await get(S.a, `/api/imports/${S.id}/properties?limit=50&after=${p50.json.next}`);
	assert.equal(next.status, 200);
	assert.equal(next.headers['x-cache'], undefined);
	assert.equal(next.headers.etag, undefined);
	const errs = await get(S.a, `/api/imports/${S.id}/errors`);
	assert.equal(errs.status, 200);
	assert.equal(errs.headers['x-cache'], undefined);
});

test('an analysis: miss, then hit with the same ETag; by and limit are part of the key', async () => {
	// the final analysis is written just after the import ends (a new analysis_version)
	await waitFor(async () => {
		const r = await get(S.a, `/api/imports/${S.id}/analysis`);
		return r.status === 200 && r.json.final === true;
	}, 30000, 'the final analysis');
	const zip = await missThenHit(S.a, `/api/imports/${S.id}/analysis?by=zip`);
	assert.equal(zip.json.final, true);
	const all = await missThenHit(S.a, `/api/imports/${S.id}/analysis?by=all`);
	const few = await missThenHit(S.a, `/api/imports/${S.id}/analysis?by=zip&limit=2`);
	assert.notEqual(zip.headers.etag, all.headers.etag);
	assert.notEqual(zip.headers.etag, few.headers.etag);
	const nm = await get(S.a, `/api/imports/${S.id}/analysis?by=zip`, { 'If-None-Match': zip.headers.etag });
	assert.equal(nm.status, 304);
	// bob: the same key is his own, and the import is not his
	const other = await get(S.a, `/api/imports/${S.id}/analysis?by=zip`, { 'If-None-Match': zip.headers.etag }, S.bob);
	assert.equal(other.status, 404);
});

test('a first page under q, filters and a sort: miss, then hit; the same search asked in other words is the same entry', async () => {
	const first = await get(S.a, `/api/imports/${S.id}/properties?limit=5`);
	const row = first.json.items.find((x) => x.city && x.zip && x.price != null);
	assert.ok(row, 'a stored row with a city, a zip and a price');
	const city = row.city.split(/\s+/)[0];
	const filtered = `/api/imports/${S.id}/properties?limit=20&price_min=${Math.floor(row.price)}&sort=-price`;
	const a = await missThenHit(S.a, filtered);
	assert.ok(a.json.items.length > 0 && a.json.items.every((x) => x.price >= Math.floor(row.price)));
	// the same parameters in another order: the same entry
	const reordered = await get(S.a, `/api/imports/${S.id}/properties?sort=-price&price_min=${Math.floor(row.price)}&limit=20`);
	assert.equal(reordered.headers['x-cache'], 'hit');
	assert.equal(reordered.headers.etag, a.headers.etag);
	// q: a city's first word, then in capitals and with spaces around it (the same words)
	const q = await missThenHit(S.a, `/api/imports/${S.id}/properties?limit=20&q=${encodeURIComponent(city)}`);
	assert.ok(q.json.items.length > 0);
	const loud = await get(S.a, `/api/imports/${S.id}/properties?limit=20&q=${encodeURIComponent(`  ${city.toUpperCase()} `)}`);
	assert.equal(loud.headers['x-cache'], 'hit');
	assert.equal(loud.text, q.text);
	// a value holding '&' and '=' is not another set of parameters
	const amp = await get(S.a, `/api/imports/${S.id}/properties?limit=20&city=${encodeURIComponent(`${city}&zip=${row.zip}`)}`);
	assert.equal(amp.status, 200);
	assert.equal(amp.headers['x-cache'], 'miss');
	assert.equal(amp.json.items.length, 0);
	const two = await missThenHit(S.a, `/api/imports/${S.id}/properties?limit=20&city=${encodeURIComponent(row.city)}&zip=${encodeURIComponent(row.zip)}`);
	assert.ok(two.json.items.length > 0);
	assert.notEqual(two.headers.etag, amp.headers.etag);
	// across the user's imports
	const all = await missThenHit(S.a, `/api/properties?limit=20&zip=${encodeURIComponent(row.zip)}&sort=sqft`);
	assert.ok(all.json.items.length > 0 && all.json.items.every((x) => x.zip === row.zip));
	// bob's search across his imports is his own (he has none)
	const bobs = await get(S.a, `/api/properties?limit=20&zip=${encodeURIComponent(row.zip)}&sort=sqft`, {}, S.bob);
	assert.equal(bobs.status, 200);
	assert.deepEqual(bobs.json.items, []);
	// a page after a cursor is read every time
	if (a.json.next) {
		const next = await get(S.a, `${filtered}&after=${a.json.next}`);
		assert.equal(next.status, 200);
		assert.equal(next.headers['x-cache'], undefined);
	}
});

test('If-None-Match: the tag, a list, W/ and * answer 304 without a body', async () => {
	const p = `/api/imports/${S.id}/properties?limit=20`;
	const r = await get(S.a, p);
	const tag = r.headers.etag;
	const opaque = tag.replace(/^W\//, '');
	for (const inm of [tag, `"0000000000000000", ${tag}`, opaque, `W/"0", ${opaque}`, '*']) {
		const x = await get(S.a, p, { 'If-None-Match': inm });
		assert.equal(x.status, 304, `If-None-Match: ${inm}`);
		assert.equal(x.body.length, 0);
		assert.equal(x.headers.etag, tag);
	}
	const other = await get(S.a, p, { 'If-None-Match': '"0000000000000000"' });
	assert.equal(other.status, 200);
	assert.equal(other.text, r.text);
	// the tag of one page is not the tag of another
	const job = await get(S.a, `/api/imports/${S.id}`, { 'If-None-Match': tag });
	assert.equal(job.status, 200);
});

test("owner scoping: bob never gets the administrator's entry, not even by its tag", async () => {
	const paths = [`/api/imports/${S.id}`, `/api/imports/${S.id}/properties?limit=50`];
	for (const p of paths) {
		const mine = await get(S.a, p);
		assert.equal(mine.status, 200);
		for (const inm of [undefined, mine.headers.etag, '*']) {
			const x = await get(S.a, p, inm ? { 'If-None-Match': inm } : {}, S.bob);
			assert.equal(x.status, 404, `bob ${p} (If-None-Match ${inm}): ${x.status} ${x.text}`);
			assert.notEqual(x.headers['x-cache'], 'hit');
		}
	}
	const admins = await get(S.a, '/api/imports');
	assert.ok(admins.json.items.some((j) => j.id === S.id));
	const bobs = await get(S.a, '/api/imports', {}, S.bob);
	assert.equal(bobs.status, 200);
	assert.deepEqual(bobs.json.items, []);
	assert.notEqual(bobs.headers.etag, admins.headers.etag);
	const again = await get(S.a, '/api/imports', { 'If-None-Match': admins.headers.etag }, S.bob);
	assert.equal(again.status, 200);
	assert.deepEqual(again.json.items, []);
});

// A POST of buf sent slowly (the first piece at once, then small pieces),
// so that its rows are stored while it runs; resolves with its job id.
async function slowImport(name, buf, first) {
	const up = sendSlowly('POST', `${S.a.url}/api/imports?name=${name}`, buf, {
		headers: { 'Content-Type': 'text/csv' },
		// scaled: the import must stay partial for longer than server B's
		// (scaled) interval, or B may never see it between its lookups
		pieceSize: (i) => (i === 0 ? first : 2048), delayMs: scaled(150),
	});
	const job = await waitFor(async () => {
		const r = await get(S.a, '/api/imports');
		return r.json.items.find((j) => j.name === name);
	}, 30000, `${name} listed`);
	return { id: job.id, done: up.done };
}

test('a new row stored, a new analysis, a reprocess, a delete: a new tag (or 404) on the next read', async () => {
	// rows stored while the upload runs: each new count is a new tag
	const buf = generate({ rows: 400, rejected: 0, seed: 1102 }).buffer;
	const { id, done } = await slowImport('slow.csv', buf, Math.floor(buf.length / 3));
	const jobTags = new Map(); // rows_inserted -> tag
	const pageTags = new Map(); // items on the first page -> tag
	for (;;) {
		const j = await get(S.a, `/api/imports/${id}`);
		const p = await get(S.a, `/api/imports/${id}/properties?limit=1000`);
		assert.equal(j.status, 200);
		for (const [m, k, r] of [[jobTags, j.json.rows_inserted, j], [pageTags, p.json.items.length, p]]) {
			if (m.has(k)) continue;
			for (const [k2, t2] of m)
				assert.notEqual(t2, r.headers.etag, `the tags of ${k} and ${k2} rows`);
			m.set(k, r.headers.etag);
		}
		if (j.json.state === 'done' && j.json.rows_inserted === 400 && p.json.items.length === 400) break;
		assert.ok(!['failed', 'interrupted', 'cancelled'].includes(j.json.state), j.text);
		await sleep(50);
	}
	assert.equal((await done).status, 202);
	assert.ok(pageTags.size >= 3, `first pages seen while it ran: ${[...pageTags.keys()]}`);
	const [firstCount, firstTag] = [...pageTags][0];
	assert.ok(firstCount < 400);
	assert.equal((await get(S.a, `/api/imports/${id}/properties?limit=1000`,
		{ 'If-None-Match': firstTag })).status, 200);

	// the market analysis changed (what the analysis bumps): a new tag
	// within the interval, with no change to the rows
	const tagBefore = (await get(S.a, `/api/imports/${id}/properties?limit=10`)).headers.etag;
	await psql(S.pg.conninfo, `UPDATE import_jobs SET analysis_version = analysis_version + 1 WHERE id = ${id}`);
	await waitFor(async () =>
		(await get(S.a, `/api/imports/${id}/properties?limit=10`)).headers.etag !== tagBefore,
	2000, 'a new tag after analysis_version moved');

	// reprocess: the job's tag moves at once, the page's once it is done
	const jobTag = (await get(S.a, `/api/imports/${id}`)).headers.etag;
	const pageTag = (await get(S.a, `/api/imports/${id}/properties?limit=10`)).headers.etag;
	const rp = await request('POST', `${S.a.url}/api/imports/${id}/reprocess`, { body: '' });
	assert.equal(rp.status, 202, rp.text);
	const right = await get(S.a, `/api/imports/${id}`, { 'If-None-Match': jobTag });
	assert.equal(right.status, 200, 'the reprocessed job is not the cached one');
	await waitJob(S.a.url, id, ['done']);
	const rpage = await get(S.a, `/api/imports/${id}/properties?limit=10`, { 'If-None-Match': pageTag });
	assert.equal(rpage.status, 200);
	assert.notEqual(rpage.headers.etag, pageTag);

	// delete: 404 at once, and the list drops it at once
	await get(S.a, '/api/imports');
	const del = await request('DELETE', `${S.a.url}/api/imports/${id}`);
	assert.equal(del.status, 204, del.text);
	assert.equal((await get(S.a, `/api/imports/${id}`)).status, 404);
	assert.equal((await get(S.a, `/api/imports/${id}/properties?limit=10`)).status, 404);
	const list = await get(S.a, '/api/imports');
	assert.ok(!list.json.items.some((j) => j.id === id), 'the deleted import is not listed');
});

test('two servers on one database: B sees A\'s new rows within its progress interval, and its hits within it query nothing', async () => {
	const buf = generate({ rows: 400, rejected: 0, seed: 1103 }).buffer;
	const { id, done } = await slowImport('two.csv', buf, Math.floor(buf.length / 3));
	// B holds a page of the running import in its cache
	const early = await waitFor(async () => {
		const r = await get(S.b, `/api/imports/${id}`);
		return r.status === 200 && r.json.rows_inserted > 0 && r.json.rows_inserted < 400 ? r : null;
	}, 30000, 'B shows some rows of the running import');
	assert.equal((await done).status, 202);
	await waitJob(S.a.url, id, ['done']);
	const t1 = Date.now();
	const last = await waitFor(async () => {
		const r = await get(S.b, `/api/imports/${id}`);
		return r.json.rows_inserted === 400 && r.json.state === 'done' ? r : null;
	}, B_INTERVAL * 3, 'B shows the whole import');
	const took = Date.now() - t1;
	assert.ok(took <= B_INTERVAL + scaled(1000), `B was stale for ${took} ms (interval ${B_INTERVAL} ms)`);
	assert.notEqual(last.headers.etag, early.headers.etag);
	const page = await get(S.b, `/api/imports/${id}/properties?limit=1000`);
	assert.equal(page.json.items.length, 400);

	// hits within one interval: no stamp lookup
	const s0 = await stats(S.b);
	const t0 = Date.now();
	const hits = [];
	for (let i = 0; i < 5; i++) hits.push(await get(S.b, `/api/imports/${id}`));
	const quick = Date.now() - t0 < B_INTERVAL;
	const s1 = await stats(S.b);
	for (const h of hits) {
		assert.equal(h.headers['x-cache'], 'hit');
		assert.equal(h.headers.etag, last.headers.etag);
	}
	if (quick) assert.ok(s1.lookups - s0.lookups <= 1, `lookups ${s0.lookups} -> ${s1.lookups} within one interval`);
	assert.ok(s1.lookups - s0.lookups <= 1 + Math.ceil((Date.now() - t0) / B_INTERVAL),
		`lookups ${s0.lookups} -> ${s1.lookups} in ${Date.now() - t0} ms`);
});

test('the byte cap: many distinct pages stay under --cache-bytes, the oldest evicted', async () => {
	const cap = 96 * 1024;
	S.c = await startServer({ args: ['--db', S.pg.conninfo, '--cache-bytes', String(cap)] });
	let stored = 0;
	for (let limit = 1; limit <= 60; limit++) {
		const r = await get(S.c, `/api/imports/${S.id}/properties?limit=${limit}`);
		assert.equal(r.status, 200);
		assert.equal(r.headers['x-cache'], 'miss');
		if (r.body.length < cap / 8 - 512) stored++;
	}
	const s = await stats(S.c);
	assert.equal(s.cap, cap);
	assert.ok(s.bytes <= cap, `bytes ${s.bytes} over the cap ${cap}`);
	assert.ok(s.evictions > 0, `evictions: ${JSON.stringify(s)}`);
	assert.ok(s.entries < stored, `entries ${s.entries} of ${stored} storable`);
	// the most recent small page is still there, the first one was evicted
	const small = [];
	for (let limit = 1; limit <= 60; limit++) {
		const r = await get(S.c, `/api/imports/${S.id}/properties?limit=${limit}`);
		if (r.body.length < cap / 8 - 512) small.push([limit, r.headers['x-cache']]);
		if (small.length >= 1) break;
	}
	assert.deepEqual(small[0], [1, 'miss'], 'limit=1 was the least recently used');
	const s2 = await stats(S.c);
	assert.ok(s2.bytes <= cap);

	// --cache-bytes 0: no cache, no tag
	const off = await startServer({ args: ['--db', S.pg.conninfo, '--cache-bytes', '0'] });
	try {
		for (let i = 0; i < 2; i++) {
			const r = await get(off, `/api/imports/${S.id}`);
			assert.equal(r.status, 200);
			assert.equal(r.headers.etag, undefined);
			assert.equal(r.headers['x-cache'], undefined);
		}
		const z = await stats(off);
		assert.equal(z.entries, 0);
		assert.equal(z.lookups, 0);
	} finally {
		checkExit(await off.stop(), off.stderr(), 'server without cache');
	}
});

test('/api/ready: 200, then 503 while a migration is missing, then 503 while the database is down', async () => {
	const ok = await get(S.a, '/api/ready', {}, null);
	assert.equal(ok.status, 200, ok.text);
	assert.equal(ok.json.ready, true);
	assert.ok(ok.json.migrations >= 8 && ok.json.applied === ok.json.migrations, ok.text);
	const health = await get(S.a, '/api/health', {}, null);
	assert.equal(health.status, 200);

	const name = await psql(S.pg.conninfo, 'SELECT max(name) FROM schema_migrations');
	await psql(S.pg.conninfo, `DELETE FROM schema_migrations WHERE name = '${name}'`);
	try {
		const pending = await get(S.a, '/api/ready', {}, null);
		assert.equal(pending.status, 503, pending.text);
		assert.equal(pending.json.ready, false);
		assert.equal(pending.json.reason, 'migrations pending');
		assert.equal(pending.json.applied, pending.json.migrations - 1);
	} finally {
		await psql(S.pg.conninfo, `INSERT INTO schema_migrations (name) VALUES ('${name}')`);
	}
	assert.equal((await get(S.a, '/api/ready', {}, null)).status, 200);

	await S.pg.stop();
	try {
		const down = await waitFor(async () => {
			const r = await get(S.a, '/api/ready', {}, null);
			return r.status === 503 ? r : null;
		}, 15000, 'ready 503 with the database down');
		assert.equal(down.json.ready, false);
		assert.equal(down.json.reason, 'database unavailable');
	} finally {
		await S.pg.start();
	}
	await waitFor(async () => (await get(S.a, '/api/ready', {}, null)).status === 200, 30000,
		'ready again once the database is back');
});
