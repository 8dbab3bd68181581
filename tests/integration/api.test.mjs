// api.test.mjs - the HTTP API's contract (API.md) against the real server:
// status codes and JSON errors, paging rules, the job object's fields, the
// job list's order, health, the static page and its security headers.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { FIELDS, generate } from './gen.mjs';
import {
	brief, embeddedConninfo, importFile, JOB_FIELDS, psql, request, SRC, uploadChunked, useServer,
	waitJob, walkErrors, walkProperties,
	test, waitFor,
} from './lib.mjs';

const srv = useServer();
const small = generate({ rows: 1200, rejected: 25, seed: 7, invalidRate: 0.02 });
const S = {};

// A JSON error answer: status, JSON body {error: string, detail}.
function assertJsonError(r, status, what) {
	assert.equal(r.status, status, `${what}: status ${r.status} ${r.text.slice(0, 200)}`);
	assert.match(r.headers['content-type'] || '', /application\/json/, `${what}: content-type`);
	assert.ok(r.json && typeof r.json.error === 'string' && r.json.error.length > 0,
		`${what}: body ${r.text.slice(0, 200)}`);
	assert.ok('detail' in r.json, `${what}: body has "detail" (null or a value): ${r.text.slice(0, 200)}`);
}

test('health', async () => {
	const r = await request('GET', `${srv.url}/api/health`);
	assert.equal(r.status, 200);
	assert.match(r.headers['content-type'] || '', /application\/json/);
	assert.deepEqual({ ok: r.json.ok, db: r.json.db }, { ok: true, db: true });
});

test('an import through the API, and the job object has every field of API.md', { timeout: 120000 }, async () => {
	const { res, job } = await importFile(srv.url, small.buffer, 'small-a.csv');
	assert.equal(res.headers.location, `/api/imports/${job.id}`);
	S.a = job;
	for (const f of JOB_FIELDS) assert.ok(f in job, `job object has ${f}: ${brief(job)}`);
	assert.equal(typeof job.id, 'number');
	assert.equal(job.name, 'small-a.csv');
	assert.equal(job.state, 'done');
	assert.equal(job.bytes_received, small.buffer.length);
	assert.equal(job.bytes_total, small.buffer.length, 'bytes_total known with Content-Length');
	assert.equal(job.rows_parsed, 1200);
	assert.equal(job.rows_rejected, 25);
	assert.equal(job.rows_inserted, small.truth.inserted);
	assert.equal(job.rows_warned, small.truth.warnedRows);
	for (const f of ['bytes_received', 'rows_parsed', 'rows_inserted', 'rows_rejected', 'rows_warned',
		'raw_bytes', 'raw_stored_bytes', 'raw_ratio'])
		assert.equal(typeof job[f], 'number', `${f} is a number`);
	assert.equal(job.encoding, 'utf-8');
	assert.equal(job.delimiter, ',');
	assert.ok(Array.isArray(job.columns) && job.columns.length === 22, 'columns: one per header');
	for (const c of job.columns) {
		for (const k of ['index', 'header', 'field', 'match', 'confidence'])
			assert.ok(k in c, `column has ${k}: ${JSON.stringify(c)}`);
		assert.ok(['exact', 'fuzzy', 'none', 'override'].includes(c.match), JSON.stringify(c));
		assert.ok(c.field === null || FIELDS.includes(c.field), JSON.stringify(c));
		if (c.field === null) assert.equal(c.match, 'none', JSON.stringify(c));
	}
	assert.ok(!Number.isNaN(Date.parse(job.created_at)) && /Z$|[+-]\d\d:?\d\d$/.test(job.created_at),
		`created_at ${job.created_at} is an ISO time with zone`);
	assert.ok(!Number.isNaN(Date.parse(job.finished_at)), `finished_at ${job.finished_at}`);
	assert.equal(job.error, null);
});

test('job list is newest first', { timeout: 120000 }, async () => {
	assert.ok(S.a, 'needs the first import');
	const b = generate({ rows: 50, rejected: 1, seed: 8 });
	const { job } = await importFile(srv.url, b.buffer, 'small-b.csv');
	S.b = job;
	const r = await request('GET', `${srv.url}/api/imports`);
	assert.equal(r.status, 200);
	assert.ok(Array.isArray(r.json.items));
	const ids = r.json.items.map((j) => j.id);
	assert.ok(ids.indexOf(job.id) >= 0 && ids.indexOf(S.a.id) >= 0, `both jobs listed: ${ids}`);
	assert.ok(ids.indexOf(job.id) < ids.indexOf(S.a.id), `newest first: ${ids}`);
	const times = r.json.items.map((j) => Date.parse(j.created_at));
	for (let i = 1; i < times.length; i++) assert.ok(times[i] <= times[i - 1], 'created_at descending');
	for (const j of r.json.items) for (const f of JOB_FIELDS) assert.ok(f in j, `list item has ${f}`);
});

test('404 JSON for unknown jobs, properties and routes', async () => {
	const big = 987654321;
	assertJsonError(await request('GET', `${srv.url}/api/imports/${big}`), 404, 'unknown job');
	assertJsonError(await request('GET', `${srv.url}/api/imports/${big}/properties`), 404, 'properties of unknown job');
	assertJsonError(await request('GET', `${srv.url}/api/imports/${big}/errors`), 404, 'errors of unknown job');
	assertJsonError(await request('GET', `${srv.url}/api/properties/${big}`), 404, 'unknown property');
	assertJsonError(await request('GET', `${srv.url}/api/nothing-here`), 404, 'unknown API route');
	const r = await request('GET', `${srv.url}/api/imports/abc`);
	assert.ok([400, 404].includes(r.status), `non-numeric job id: ${r.status}`);
	assertJsonError(r, r.status, 'non-numeric job id');
	const r2 = await request('GET', `${srv.url}/api/imports/99999999999999999999999`);
	assert.ok([400, 404].includes(r2.status), `overflowing job id: ${r2.status}`);
	const s = await request('GET', `${srv.url}/no-such-file.js`);
	assert.equal(s.status, 404, 'unknown static file');
});

test('400 for a bad limit or cursor', async () => {
	assert.ok(S.a, 'needs the first import');
	const base = `${srv.url}/api/imports/${S.a.id}`;
	for (const what of ['properties', 'errors']) {
		for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=-5', 'limit=10x',
			'after=not-a-cursor', 'after=%00', 'limit=10&after=zzz!'])
			assertJsonError(await request('GET', `${base}/${what}?${q}`), 400, `${what}?${q}`);
		const ok = await request('GET', `${base}/${what}?limit=1000`);
		assert.equal(ok.status, 200, `${what}?limit=1000 is allowed`);
	}
});

// Cursors are sealed (AES-GCM under a key kept in PostgreSQL): nothing in
// them can be read or made by a client. Anything that is not a cursor this
// server handed out for this list of this import is 400: before, a records
// cursor was the row number and an errors cursor a global import_errors id,
// so another import's cursor paged this one and a huge one answered 500.
test('cursors are opaque; malformed, out of range, forged, another import\'s or list\'s: 400', async () => {
	assert.ok(S.a && S.b, 'needs both imports');
	const page = async (id, what, q) => await request('GET', `${srv.url}/api/imports/${id}/${what}?${q}`);
	const a1 = await page(S.a.id, 'properties', 'limit=10');
	const a1again = await page(S.a.id, 'properties', 'limit=10');
	const ae = await page(S.a.id, 'errors', 'limit=10');
	const b1 = await page(S.b.id, 'properties', 'limit=10');
	for (const r of [a1, a1again, ae, b1]) assert.equal(r.status, 200, r.text.slice(0, 200));
	const cur = a1.json.next;
	const flip = (c, i) => c.slice(0, i) + (c[i] === 'A' ? 'B' : 'A') + c.slice(i + 1);
	const cases = [
		['out of range (was 500)', 'properties', '999999999999999999'],
		['out of range, errors', 'errors', '999999999999999999'],
		['overflowing', 'properties', '99999999999999999999999999'],
		['a row number', 'properties', '10'],
		['an error id', 'errors', String(ae.json.items[9].id)],
		['zero', 'properties', '0'],
		['negative', 'properties', '-1'],
		['cut short', 'properties', cur.slice(0, -1)],
		['one character more', 'properties', cur + 'A'],
		['padded', 'properties', cur + '='],
		['base64, not base64url', 'properties', cur.replace(/[-_]/g, '+').replace(/^./, '+')],
		['forged (first character changed)', 'properties', flip(cur, 0)],
		['forged (middle)', 'properties', flip(cur, 30)],
		['forged (last)', 'properties', flip(cur, cur.length - 1)],
		['another import\'s', 'properties', b1.json.next],
		['an errors cursor for records', 'properties', ae.json.next],
		['a records cursor for errors', 'errors', cur],
	];
	for (const [what, list, after] of cases)
		assertJsonError(await page(S.a.id, list, `limit=10&after=${encodeURIComponent(after)}`), 400, what);
	for (const c of [cur, ae.json.next, b1.json.next]) {
		assert.match(c, /^[A-Za-z0-9_-]{40,}$/, `a cursor is URL-safe text: ${c}`);
		assert.doesNotMatch(c, /^\d+$/, 'a cursor is not a number');
	}
	// the same page read twice has two different cursors (a page after a
	// cursor: a first page may come from the read cache, bytes and all)
	const a2 = await page(S.a.id, 'properties', `limit=10&after=${cur}`);
	const a2again = await page(S.a.id, 'properties', `limit=10&after=${cur}`);
	assert.notEqual(a2again.json.next, a2.json.next, 'the same page twice: two different cursors (nothing to read in them)');
	const ok = await page(S.a.id, 'properties', `limit=10&after=${a1again.json.next}`);
	assert.equal(ok.status, 200, ok.text.slice(0, 200));
	assert.deepEqual(ok.json.items.map((x) => x.row), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
		'either cursor of a page continues after its last row');

	// another user's import stays a 404 whatever the cursor (isolation.test.mjs)
	assertJsonError(await page(987654321, 'properties', `limit=10&after=${encodeURIComponent(cur)}`), 404,
		'a real cursor on a missing import');
});

test('paging walks every row and every error exactly once, in order', { timeout: 60000 }, async () => {
	assert.ok(S.a, 'needs the first import');
	for (const limit of [1, 7, 100]) {
		const rows = (await walkProperties(srv.url, S.a.id, limit)).map((x) => x.row);
		assert.equal(rows.length, S.a.rows_inserted, `limit ${limit}: every record`);
		for (let i = 1; i < rows.length; i++) assert.ok(rows[i] > rows[i - 1], `limit ${limit}: row order at ${i}`);
		const errs = (await walkErrors(srv.url, S.a.id, limit)).map((e) => e.id);
		assert.equal(new Set(errs).size, errs.length, `limit ${limit}: no error twice`);
		for (let i = 1; i < errs.length; i++) assert.ok(errs[i] > errs[i - 1], `limit ${limit}: error order at ${i}`);
		assert.deepEqual(errs, (await walkErrors(srv.url, S.a.id, 1000)).map((e) => e.id), `limit ${limit}: every error`);
	}
});

test('GET /api/fields: the field table, open to anyone; records carry exactly its fields', async () => {
	const r = await request('GET', `${srv.url}/api/fields`, { auth: null });
	assert.equal(r.status, 200, r.text.slice(0, 200));
	const items = r.json.items;
	assert.ok(Array.isArray(items));
	// the first fields keep their names and order (a new one may follow)
	assert.deepEqual(items.slice(0, FIELDS.length).map((f) => f.name), FIELDS);
	for (const f of items) {
		for (const k of ['name', 'kind', 'type', 'sql', 'format', 'width', 'label', 'brief'])
			assert.ok(k in f, `${f.name} has ${k}`);
		assert.ok(['text', 'number', 'date'].includes(f.kind), JSON.stringify(f));
	}
	const kinds = Object.fromEntries(items.map((f) => [f.name, f.kind]));
	assert.equal(kinds.price, 'number');
	assert.equal(kinds.listed_on, 'date');
	assert.equal(kinds.zip, 'text');
	const p = await request('GET', `${srv.url}/api/imports/${S.a.id}/properties?limit=50`);
	assert.equal(p.status, 200);
	for (const it of p.json.items) {
		assert.deepEqual(Object.keys(it), ['id', 'row', 'line', 'job_id', ...items.map((f) => f.name),
			'warned', 'outlier', 'outlier_reason'], 'record keys');
		for (const f of items) {
			const v = it[f.name];
			if (v === null) continue;
			if (f.kind === 'number') assert.equal(typeof v, 'number', `${f.name}: ${v}`);
			else assert.equal(typeof v, 'string', `${f.name}: ${v}`);
			if (f.kind === 'date') assert.match(v, /^\d{4}-\d\d-\d\d$/, `${f.name}: ${v}`);
		}
	}
});

test('405 for a wrong method', async () => {
	assert.ok(S.a, 'needs the first import');
	const cases = [['PUT', '/api/imports'], ['DELETE', '/api/health'], ['POST', '/api/health'],
		['PUT', `/api/imports/${S.a.id}`], ['POST', `/api/imports/${S.a.id}/properties`],
		['POST', '/api/properties/1'], ['PUT', `/api/imports/${S.a.id}/errors`]];
	for (const [m, p] of cases) assertJsonError(await request(m, srv.url + p), 405, `${m} ${p}`);
	// Allow names the path's methods, from the one route table
	for (const [m, p, allow] of [['PUT', '/api/imports', 'GET, POST, OPTIONS'],
		['PUT', `/api/imports/${S.a.id}`, 'GET, HEAD, PATCH, DELETE, OPTIONS'],
		['GET', `/api/imports/${S.a.id}/reprocess`, 'POST'], ['POST', '/api/health', 'GET'],
		['PUT', '/api/session', 'GET, POST, DELETE'], ['POST', '/', 'GET, HEAD'],
		['POST', '/api/fields', 'GET']]) {
		const r = await request(m, srv.url + p);
		assert.equal(r.status, 405, `${m} ${p}`);
		assert.equal(r.headers.allow, allow, `${m} ${p}: Allow`);
	}
});

test('properties paging: default limit 100, cursor chain, items carry every field', { timeout: 60000 }, async () => {
	assert.ok(S.a, 'needs the first import');
	const first = await request('GET', `${srv.url}/api/imports/${S.a.id}/properties`);
	assert.equal(first.status, 200);
	assert.equal(first.json.items.length, 100, 'default limit is 100');
	assert.equal(typeof first.json.next, 'string', 'next is a cursor string');
	for (const k of ['id', 'row', 'line', ...FIELDS]) assert.ok(k in first.json.items[0], `item has ${k}`);
	const all = await walkProperties(srv.url, S.a.id, 37);
	assert.equal(all.length, S.a.rows_inserted);
	assert.deepEqual(all.slice(0, 100).map((x) => x.id), first.json.items.map((x) => x.id));
	const big = await walkProperties(srv.url, S.a.id, 1000);
	assert.deepEqual(big.map((x) => x.id), all.map((x) => x.id), 'pages of 37 = pages of 1000');
	// One property with its raw row.
	const p = await request('GET', `${srv.url}/api/properties/${all[5].id}`);
	assert.equal(p.status, 200);
	assert.equal(p.json.job_id, S.a.id);
	assert.equal(typeof p.json.raw, 'object');
	assert.equal(Object.keys(p.json.raw).length, 22, 'raw has every column');
	// Another job's rows never show up.
	const other = await walkProperties(srv.url, S.b.id, 1000);
	assert.equal(other.length, S.b.rows_inserted);
	assert.ok(!other.some((x) => all.some((y) => y.id === x.id)), 'jobs do not share rows');
});

// A page must be read in index order whatever the statistics say. A running
// import is always newer than the last ANALYZE, and the planner then expects
// one row for its job: with an index that only found the job's rows it sorted
// the whole job for every page (50-70 ms per page of 30K rows in
// bench/concurrent.sh). With statistics it may instead walk the id primary key
// and skip other jobs' rows. The server's own statements, as pg_stat_activity
// last saw them, are explained with and without statistics for the job.
test('pages are read in index order, for a job newer than the statistics', { timeout: 120000 }, async () => {
	const ci = embeddedConninfo(srv.dataDir);
	await psql(ci, 'ANALYZE property_records, import_errors');
	const big = generate({ rows: 20000, rejected: 300, seed: 11 });
	const { job } = await importFile(srv.url, big.buffer, 'no-stats.csv');
	assert.equal(job.rows_inserted, big.truth.inserted);
	const user = await psql(ci, `SELECT user_id FROM import_jobs WHERE id = ${job.id}`);
	// the page statements as query.c and reads.c make them, and their
	// parameters: (job, user, limit, after row) and (job, after id, limit, user)
	const pages = [
		['properties', 'property_records', 'row', '(SELECT %FROM property_records r WHERE r.job_id = $1 %',
			(last) => [job.id, user, 51, last]],
		['errors', 'import_errors', 'id', 'SELECT %FROM import_errors WHERE job_id = $1 %',
			(last) => [job.id, last, 51, user]],
	];
	for (const [what, table, key, like, params] of pages) {
		let after = null;
		const keys = [];
		for (let i = 0; i < 3; i++) {
			const r = await request('GET', `${srv.url}/api/imports/${job.id}/${what}?limit=50` +
				(after === null ? '' : `&after=${encodeURIComponent(after)}`));
			assert.equal(r.status, 200);
			assert.equal(r.json.items.length, 50);
			keys.push(...r.json.items.map((x) => x[key]));
			after = r.json.next;
		}
		assert.deepEqual(keys, [...keys].sort((x, y) => x - y), `${what} pages follow ${key} order`);
		assert.equal(new Set(keys).size, 150, `${what}: no item twice`);
		// pg_stat_activity keeps each backend's last statement only; a reader may
		// have run something else since (the takeover scan, a job read), so ask
		// for a page again until a reader shows the page statement
		let sql = '';
		await waitFor(async () => {
			// (a page after a cursor: a first page may be a hit of the read cache)
			await request('GET', `${srv.url}/api/imports/${job.id}/${what}?limit=50&after=${encodeURIComponent(after)}`);
			sql = await psql(ci, 'SELECT query FROM pg_stat_activity WHERE query LIKE ' +
				`'${like}' AND pid <> pg_backend_pid() LIMIT 1`);
			return /ORDER BY/.test(sql);
		}, 10000, `the ${what} page statement in pg_stat_activity (last seen: ${sql})`, 100);
		// the statement's position: the page's last key (the cursor itself is sealed)
		// (a first page has no position: fewer parameters)
		const used = Math.max(...(sql.match(/\$\d+/g) || []).map((x) => Number(x.slice(1))));
		await checkPlans(ci, sql, table, params(keys[keys.length - 1]).slice(0, used), what);
	}
});

// Explains a page statement without and with statistics for its job.
async function checkPlans(ci, sql, table, params, what) {
	const plan = async () => await psql(ci, `PREPARE page AS ${sql}; ` +
		`EXPLAIN (FORMAT JSON) EXECUTE page(${params.join(', ')})`);
	// every node that reads the table finds the job's rows through an
	// index, in the order of the page: no sort, no walk of other jobs' rows
	const problems = (text) => {
		const bad = [];
		const visit = (n) => {
			if (n['Node Type'] === 'Sort' || n['Node Type'] === 'Incremental Sort') bad.push(n['Node Type']);
			// (property_records is read through its segments: schema/011_segments.sql)
			const rel = n['Relation Name'] || '';
			if ((rel === table || (table === 'property_records' && /^property_records_j\d+_\d+$/.test(rel))) &&
				!(n['Node Type'] === 'Index Scan' && /job_id = /.test(n['Index Cond'] || '')))
				bad.push(`${n['Node Type']} ${n['Index Name'] || ''} ${n['Index Cond'] || ''} ${n.Filter || ''}`);
			for (const c of n.Plans || []) visit(c);
		};
		visit(JSON.parse(text.slice(text.indexOf('[')))[0].Plan);
		return bad;
	};
	const without = await plan();
	assert.deepEqual(problems(without), [], `${what}: while the job has no statistics`);
	await psql(ci, `ANALYZE ${table}`);
	const withStats = await plan();
	assert.deepEqual(problems(withStats), [], `${what}: with statistics for the job`);
}

test('errors paging: limit 10 chains through all errors in id order', { timeout: 60000 }, async () => {
	assert.ok(S.a, 'needs the first import');
	const first = await request('GET', `${srv.url}/api/imports/${S.a.id}/errors?limit=10`);
	assert.equal(first.status, 200);
	assert.equal(first.json.items.length, 10);
	assert.equal(typeof first.json.next, 'string');
	const all = await walkErrors(srv.url, S.a.id, 10);
	const big = await walkErrors(srv.url, S.a.id, 1000);
	assert.deepEqual(all.map((e) => e.id), big.map((e) => e.id));
	for (let i = 1; i < all.length; i++) assert.ok(all[i].id > all[i - 1].id, 'ascending ids');
	const rejected = all.filter((e) => e.kind === 'rejected');
	assert.equal(rejected.length, 25);
	assert.deepEqual(rejected.map((e) => e.row), small.truth.rejected.map((r) => r.row));
	for (const e of all) {
		for (const k of ['id', 'kind', 'row', 'line', 'column', 'value', 'reason', 'raw'])
			assert.ok(k in e, `error item has ${k}: ${JSON.stringify(e)}`);
	}
	assert.equal(new Set(all.filter((e) => e.kind === 'warning').map((e) => e.row)).size, S.a.rows_warned);
});

test('GET / serves the page with CSP and nosniff', async () => {
	const r = await request('GET', `${srv.url}/`);
	assert.equal(r.status, 200, r.text.slice(0, 200));
	assert.match(r.headers['content-type'] || '', /text\/html/);
	assert.ok(r.headers['content-security-policy'], 'Content-Security-Policy header');
	assert.match(r.headers['content-security-policy'], /default-src/);
	assert.equal(r.headers['x-content-type-options'], 'nosniff');
	const index = fs.readFileSync(path.join(SRC, 'static', 'index.html'));
	assert.ok(r.body.equals(index), 'GET / is static/index.html');
	// Other static files by path, with a JavaScript type for modules.
	const js = fs.readdirSync(path.join(SRC, 'static')).find((f) => f.endsWith('.js'));
	if (js) {
		const j = await request('GET', `${srv.url}/${js}`);
		assert.equal(j.status, 200);
		assert.match(j.headers['content-type'] || '', /javascript/);
		assert.equal(j.headers['x-content-type-options'], 'nosniff');
	}
	// HEAD gives the headers without a body.
	const h = await request('HEAD', `${srv.url}/`);
	assert.ok([200, 405].includes(h.status), `HEAD / ${h.status}`);
	if (h.status === 200) assert.equal(h.body.length, 0);
});

test('no path traversal out of the static directory', async () => {
	for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd',
		'/static/../../etc/passwd', '/%00']) {
		const r = await request('GET', srv.url + p);
		assert.ok([400, 403, 404].includes(r.status), `${p}: ${r.status}`);
		assert.ok(!r.text.includes('root:'), `${p} leaked a file`);
	}
});

test('edge uploads: header only, empty body; two uploads at once', { timeout: 120000 }, async () => {
	const header = Buffer.from('MLS #,Address,City,Zip Code,List Price\n');
	const { job } = await importFile(srv.url, header, 'header-only.csv', ['done', 'failed']);
	assert.equal(job.rows_parsed, 0, brief(job));
	assert.equal(job.rows_inserted, 0);
	assert.ok(job.columns.length === 5, 'header mapped even without rows');

	const e = await request('POST', `${srv.url}/api/imports?name=empty.csv`, { body: Buffer.alloc(0) });
	assert.ok(e.status === 202 || (e.status >= 400 && e.status < 500), `empty body: ${e.status} ${e.text}`);
	if (e.status === 202) await waitJob(srv.url, e.json.id, ['done', 'failed']);
	else assert.ok(e.json && e.json.error, 'JSON error');

	// Two uploads at once interleave on the one loop and both finish right.
	const x = generate({ rows: 4000, rejected: 3, seed: 11 });
	const y = generate({ rows: 3000, rejected: 2, seed: 12, delimiter: '|' });
	const [rx, ry] = await Promise.all([
		uploadChunked(`${srv.url}/api/imports?name=x.csv`, x.buffer, 3000, 1),
		uploadChunked(`${srv.url}/api/imports?name=y.csv`, y.buffer, 2000, 1),
	]);
	assert.equal(rx.status, 202);
	assert.equal(ry.status, 202);
	const [jx, jy] = await Promise.all([waitJob(srv.url, rx.json.id), waitJob(srv.url, ry.json.id)]);
	assert.deepEqual([jx.rows_parsed, jx.rows_inserted, jx.rows_rejected], [4000, x.truth.inserted, 3], brief(jx));
	assert.deepEqual([jy.rows_parsed, jy.rows_inserted, jy.rows_rejected], [3000, y.truth.inserted, 2], brief(jy));
	assert.equal(jy.delimiter, '|');
	const h = await request('GET', `${srv.url}/api/health`);
	assert.equal(h.status, 200);
});

// A cursor remembers the generation of the rows it paged: once a reprocess
// replaced them, it is refused with 409 (start again), not continued into
// rows of another mapping.
test('a cursor made before a reprocess: 409; a new walk sees every row', { timeout: 120000 }, async () => {
	assert.ok(S.b, 'needs the second import');
	const first = await request('GET', `${srv.url}/api/imports/${S.b.id}/properties?limit=10`);
	assert.equal(first.status, 200);
	const r = await request('POST', `${srv.url}/api/imports/${S.b.id}/reprocess`, { body: '' });
	assert.equal(r.status, 202, `reprocess: ${r.status} ${r.text.slice(0, 200)}`);
	const done = await waitJob(srv.url, S.b.id, ['done']);
	const old = await request('GET', `${srv.url}/api/imports/${S.b.id}/properties?limit=10&after=${first.json.next}`);
	assertJsonError(old, 409, 'a cursor of the rows before the reprocess');
	const all = await walkProperties(srv.url, S.b.id, 10);
	assert.equal(all.length, done.rows_inserted);
});
