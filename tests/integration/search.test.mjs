// search.test.mjs - search, filters, sorts and keyset pages of records
// (GET /api/imports/ID/properties and GET /api/properties, api/query.c):
// every filter and its bounds, every 400, the typo classes and prefixes of
// q, a keyset walk under each sort in both directions while an import is
// still running (each row once, in order, NULLs last), the list across a
// user's imports, another user's import, cursors of another query, and the
// plan of every page statement the server ran (auto_explain), for a running
// import without statistics and after ANALYZE: no sort of a whole import,
// no sequential scan of a sealed segment of property_records.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { generate } from './gen.mjs';
import {
	embeddedConninfo, getJson, importFile, makeUser, psql, request, startServer, tempDir,
	removeDir, uploadChunked, waitAnalysis, waitJob, walk, test, waitFor, scaled,
} from './lib.mjs';
import { before, after } from 'node:test';

const SORTS = ['row', 'price', 'sqft', 'year_built', 'listed_on', 'price_per_sqft'];
let srv = null;
let dir = null;
const S = {};

// The server on a database whose every statement's plan goes to the log
// (auto_explain, JSON) and that never analyses on its own: the first
// server makes the database, the second runs with that configuration.
before(async () => {
	dir = tempDir('propflow-search-');
	const first = await startServer({ dataDir: dir });
	await first.stop();
	// (ALTER SYSTEM refuses auto_explain's settings before the module is loaded)
	fs.appendFileSync(path.join(dir, 'pg', 'postgresql.conf'), "\nsession_preload_libraries = 'auto_explain'\n" +
		"auto_explain.log_min_duration = 0\nauto_explain.log_format = 'json'\nautovacuum = off\n");
	srv = await startServer({ dataDir: dir });
}, { timeout: scaled(120000) });

after(async () => {
	if (srv) await srv.stop();
	if (dir) removeDir(dir);
}, { timeout: scaled(60000) });

const ci = () => embeddedConninfo(dir);
const pgLog = () => path.join(dir, 'postgresql.log');

// the order of a sort as a comparison of two records (NULLs last, then
// row order; descending: every part reversed but NULLs still last)
function keyOf(sort, x) {
	if (sort === 'row') return null;
	if (sort === 'price_per_sqft') return x.price === null || x.sqft === null || x.sqft === 0 ? null : x.price / x.sqft;
	return x[sort];
}

function cmp(sort, desc, a, b) {
	const ka = keyOf(sort, a), kb = keyOf(sort, b);
	const d = desc ? -1 : 1;
	if (ka === null && kb !== null) return 1;
	if (kb === null && ka !== null) return -1;
	if (ka !== null && kb !== null && ka !== kb) {
		// price per sqft: PostgreSQL divides exactly, JS in floating point
		if (sort === 'price_per_sqft' && Math.abs(ka - kb) <= 1e-9 * Math.abs(ka)) return 0;
		return (ka < kb ? -1 : 1) * d;
	}
	if (a.job_id !== b.job_id) return (a.job_id - b.job_id) * d;
	return (a.row - b.row) * d;
}

function assertOrdered(items, sort, desc, what) {
	for (let i = 1; i < items.length; i++)
		assert.ok(cmp(sort, desc, items[i - 1], items[i]) <= 0,
			`${what}: item ${i - 1} (${JSON.stringify(brief(items[i - 1]))}) before ${i} (${JSON.stringify(brief(items[i]))})`);
}

const brief = (x) => ({ job: x.job_id, row: x.row, price: x.price, sqft: x.sqft, year: x.year_built, listed: x.listed_on });

function assertOnce(items, what) {
	const ids = items.map((x) => x.id);
	assert.equal(new Set(ids).size, ids.length, `${what}: no row twice`);
}

// A small file whose search texts are known: the typo classes.
const TYPO_CSV = [
	'MLS #,Address,City,State,Zip Code,List Price,Sq Ft,Year Built',
	'A-100,12 Maple St,Springfield,IL,62701,100000,1000,1990',
	'A-101,120 Oak Avenue,Riverton,WY,82501,200000,2000,1980',
	'A-102,7 Elm Road,Lakeside,CA,92040,300000,,1970',
	'A-103,312 Birch Way,Hillview,KY,40150,,1500,',
	'B-200,45 Cedar Lane,Fairmont,WV,26554,500000,2500,2001',
	'B-201,9 Mapleton Court,Springdale,AR,72764,600000,0,2010',
].join('\n') + '\n';

test('imports for the tests: a running one, and finished ones', { timeout: 180000 }, async () => {
	const t = await importFile(srv.url, Buffer.from(TYPO_CSV), 'typos.csv');
	assert.equal(t.job.rows_inserted, 6);
	S.typos = t.job;
	const g = generate({ rows: 4000, rejected: 10, seed: 21, invalidRate: 0.05 });
	const d = await importFile(srv.url, g.buffer, 'done.csv');
	S.done = d.job;
	S.doneRows = await walk(srv.url, `/api/imports/${S.done.id}/properties?limit=1000`);
	assert.equal(S.doneRows.length, S.done.rows_inserted);
	// the market analysis flags outliers when the import ends: let it
	// finish before more are set by hand (as it would flag them)
	await waitAnalysis(srv.url, S.done.id);
	await psql(ci(), `UPDATE property_records SET outlier = 'sqft 0' WHERE job_id = ${S.done.id} AND row_no % 17 = 0`);
	await psql(ci(), `UPDATE property_records SET warned = true WHERE job_id = ${S.done.id} AND row_no % 13 = 0`);
	S.doneRows = await walk(srv.url, `/api/imports/${S.done.id}/properties?limit=1000`);
});

test('400 naming the parameter', async () => {
	const base = `${srv.url}/api/imports/${S.done.id}/properties`;
	const first = await getJson(`${base}?sort=price&limit=5`);
	const cases = [
		['bogus=1', 'bogus'], ['price_min=abc', 'price_min'], ['price_max=1e5', 'price_max'],
		['beds_min=', null], ['baths_min=two', 'baths_min'], ['sqft_min=-', 'sqft_min'],
		['sqft_max=1.', 'sqft_max'], ['year_min=1990.5', 'year_min'], ['year_max=abc', 'year_max'],
		['price_min=500000&price_max=100000', 'price_min'], ['sqft_min=3000&sqft_max=2000', 'sqft_min'],
		['year_min=2001&year_max=2000', 'year_min'], ['sort=bogus', 'sort'], ['sort=--price', 'sort'],
		['sort=Price', 'sort'], ['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'],
		['warned=yes', 'warned'], ['outlier=1', 'outlier'], ['q=a+b+c+d+e+f+g+h+i', 'q'],
		[`q=${'x'.repeat(41)}`, 'q'], [`q=${'ab '.repeat(90)}`, 'q'], [`zip=${'1'.repeat(201)}`, 'zip'],
		['after=nope', 'after'], ['price_min=1&price_min=2', 'price_min'], ['sort=price&sort=sqft', 'sort'],
		// a cursor of another query: another sort, filter, q or direction
		[`sort=sqft&after=${first.next}`, 'after'], [`sort=-price&after=${first.next}`, 'after'],
		[`sort=price&price_min=1&after=${first.next}`, 'after'], [`sort=price&q=maple&after=${first.next}`, 'after'],
	];
	for (const [q, param] of cases) {
		if (param === null) continue;
		for (const url of [`${base}?${q}`, `${srv.url}/api/properties?${q}`]) {
			if (url.startsWith(`${srv.url}/api/properties`) && q.includes('after=')) continue;
			const r = await request('GET', url);
			assert.equal(r.status, 400, `${url}: ${r.status} ${r.text.slice(0, 200)}`);
			assert.equal(r.json.detail.param, param, `${q}: names ${param}: ${r.text}`);
			assert.ok(r.json.error.startsWith(param), `${q}: ${r.json.error}`);
		}
	}
	// an empty value is no filter
	const empty = await getJson(`${base}?beds_min=&q=&zip=&limit=5`);
	assert.equal(empty.items.length, 5);
	// a cursor of one import's walk is not one of the list across imports, nor of another import
	const all = await request('GET', `${srv.url}/api/properties?sort=price&limit=5&after=${first.next}`);
	assert.equal(all.status, 400, all.text);
	const other = await request('GET', `${srv.url}/api/imports/${S.typos.id}/properties?sort=price&limit=5&after=${first.next}`);
	assert.equal(other.status, 400, other.text);
	const allFirst = await getJson(`${srv.url}/api/properties?sort=price&limit=5`);
	const back = await request('GET', `${base}?sort=price&limit=5&after=${allFirst.next}`);
	assert.equal(back.status, 400, back.text);
});

test('every filter and its bounds (inclusive; no value: no match)', { timeout: 60000 }, async () => {
	const rows = S.doneRows;
	const pick = (f) => rows.map((x) => x[f]).filter((v) => v !== null).sort((a, b) => a - b);
	const prices = pick('price'), sqfts = pick('sqft'), years = pick('year_built'), beds = pick('beds'), baths = pick('baths');
	const mid = (a) => a[Math.floor(a.length / 2)];
	const withCity = rows.find((x) => x.city);
	const withType = rows.find((x) => x.property_type);
	const withStatus = rows.find((x) => x.status);
	const withZip = rows.find((x) => x.zip);
	const lc = (v) => (v === null ? null : v.toLowerCase());
	const cases = [
		[`price_min=${mid(prices)}`, (x) => x.price !== null && x.price >= mid(prices)],
		[`price_max=${mid(prices)}`, (x) => x.price !== null && x.price <= mid(prices)],
		[`price_min=${prices[10]}&price_max=${prices[10]}`, (x) => x.price === prices[10]],
		[`beds_min=${mid(beds)}`, (x) => x.beds !== null && x.beds >= mid(beds)],
		[`baths_min=${mid(baths)}`, (x) => x.baths !== null && x.baths >= mid(baths)],
		[`sqft_min=${mid(sqfts)}`, (x) => x.sqft !== null && x.sqft >= mid(sqfts)],
		[`sqft_max=${mid(sqfts)}`, (x) => x.sqft !== null && x.sqft <= mid(sqfts)],
		[`year_min=${mid(years)}`, (x) => x.year_built !== null && x.year_built >= mid(years)],
		[`year_max=${mid(years)}`, (x) => x.year_built !== null && x.year_built <= mid(years)],
		[`year_min=${years[5]}&year_max=${years[5]}`, (x) => x.year_built === years[5]],
		[`zip=${encodeURIComponent(withZip.zip)}`, (x) => x.zip === withZip.zip],
		[`city=${encodeURIComponent(withCity.city.toUpperCase())}`, (x) => lc(x.city) === lc(withCity.city)],
		[`property_type=${encodeURIComponent(withType.property_type)}`, (x) => lc(x.property_type) === lc(withType.property_type)],
		[`status=${encodeURIComponent(withStatus.status.toLowerCase())}`, (x) => lc(x.status) === lc(withStatus.status)],
		['warned=true', (x) => x.warned === true],
		['warned=false', (x) => x.warned === false],
		['outlier=true', (x) => x.outlier === true],
		['outlier=false', (x) => x.outlier === false],
		[`price_min=${mid(prices)}&sqft_max=${mid(sqfts)}&outlier=false`,
			(x) => x.price !== null && x.price >= mid(prices) && x.sqft !== null && x.sqft <= mid(sqfts) && !x.outlier],
	];
	assert.ok(rows.some((x) => x.warned) && rows.some((x) => x.outlier), 'the file has warned rows and outliers');
	for (const [q, pred] of cases) {
		const want = rows.filter(pred).map((x) => x.id).sort((a, b) => a - b);
		assert.ok(want.length > 0, `${q}: matches some rows`);
		for (const sort of ['row', '-price']) {
			const got = await walk(srv.url, `/api/imports/${S.done.id}/properties?${q}&sort=${sort}&limit=500`);
			assertOnce(got, q);
			assert.deepEqual(got.map((x) => x.id).sort((a, b) => a - b), want, `${q} sort=${sort}`);
			assertOrdered(got, sort.replace('-', ''), sort.startsWith('-'), `${q} sort=${sort}`);
		}
	}
	const outlier = rows.find((x) => x.row % 17 === 0);
	assert.equal(outlier.outlier, true);
	assert.equal(outlier.outlier_reason, 'sqft 0');
	assert.equal(rows.find((x) => !x.outlier).outlier_reason, null);
});

test('q: a wrong, missing, extra or swapped letter per word, prefixes, short words', async () => {
	const find = async (q) => (await walk(srv.url,
		`/api/imports/${S.typos.id}/properties?q=${encodeURIComponent(q)}&limit=100`)).map((x) => x.source_id).sort();
	const cases = [
		['12 mapel st', ['A-100']], // swapped, and the issue's example
		['12 Maple St', ['A-100']], // exact, any case
		['mapke', ['A-100', 'B-201']], // wrong letter
		['mple', ['A-100', 'B-201']], // missing letter
		['maaple', ['A-100', 'B-201']], // extra letter
		['mpale', ['A-100', 'B-201']], // swapped at the start
		// each also a prefix of Mapleton, give or take the letter
		['maple', ['A-100', 'B-201']],
		['mapleton', ['B-201']],
		['mapelton', ['B-201']], // swapped, longer word
		['sprin', ['A-100', 'B-201']], // a prefix (Springfield, Springdale)
		['spirngfield', ['A-100']], // swapped
		['springfeld', ['A-100']], // missing
		['springfiield', ['A-100']], // extra
		['sprongfield', ['A-100']], // wrong
		['lkeside', ['A-102']],
		['riverto', ['A-101']],
		['avenue oak', ['A-101']], // any order of words
		['62701', ['A-100']], // zip
		['6270', ['A-100']], // zip prefix
		['62710', []], // numbers take no typo
		['a-100', ['A-100']], // source id
		['b-2', ['B-200', 'B-201']],
		['12', ['A-100', 'A-101']], // a short word: a prefix of a word (12, 120), not inside one (312)
		['7', ['A-102', 'B-201']], // 7 Elm Road, and zip 72764
		['st', ['A-100']],
		['xyzzy', []],
		['maple oak', []], // every word must match
		['elm hillview', []],
		['birch', ['A-103']],
		['brich', ['A-103']],
	];
	for (const [q, want] of cases)
		assert.deepEqual(await find(q), want, `q=${q}`);
});

// Walks q's pages by sort; returns items.
const walkBy = (scope, query, limit) => walk(srv.url,
	`${scope === 'all' ? '/api/properties' : `/api/imports/${scope}/properties`}?${query}&limit=${limit}`);

test('keyset walks under every sort, both directions, while an import is still running', { timeout: 240000 }, async () => {
	// (over 8,192 rows: segment 0 fills and is sealed while it runs)
	const g = generate({ rows: 12000, rejected: 5, seed: 33, invalidRate: 0.08 });
	// sent slowly: the import is running throughout the walks
	const upload = uploadChunked(`${srv.url}/api/imports?name=running.csv`, g.buffer, 4096, 25);
	const id = await waitFor(async () => {
		const list = await getJson(`${srv.url}/api/imports`);
		const j = list.items.find((x) => x.name === 'running.csv');
		return j && j.rows_inserted > 300 ? j.id : null;
	}, 60000, 'the running import stores rows');
	// every row stored before a walk starts must be in it
	const before = await walkBy(id, 'sort=row', 1000);
	const walks = [];
	for (const sort of SORTS) {
		for (const desc of [false, true]) {
			walks.push((async () => {
				const q = `sort=${desc ? '-' : ''}${sort}`;
				const items = await walkBy(id, q, 97);
				return { sort, desc, q, items };
			})());
		}
	}
	const done = await Promise.all(walks);
	const job = await getJson(`${srv.url}/api/imports/${id}`);
	assert.notEqual(job.state, 'done', 'the walks ran while the import was running');
	// with q and filters too, per import and across imports
	const more = [];
	for (const sort of SORTS) {
		for (const desc of [false, true]) {
			const q = `sort=${desc ? '-' : ''}${sort}&q=st&price_min=100000&sqft_max=6000`;
			more.push((async () => ({ sort, desc, q, items: await walkBy(id, q, 50) }))());
			more.push((async () => ({ sort, desc, q, all: true, items: await walkBy('all', q, 50) }))());
		}
	}
	const filtered = await Promise.all(more);
	const res = await upload;
	assert.equal(res.status, 202, res.text);
	await waitJob(srv.url, id, ['done']);
	S.running = id;
	const final = await walkBy(id, 'sort=row', 1000);
	const byId = new Map(final.map((x) => [x.id, x]));
	for (const { q, sort, desc, items } of done) {
		assertOnce(items, q);
		const ids = new Set(items.map((x) => x.id));
		const missed = before.filter((x) => !ids.has(x.id));
		assert.deepEqual(missed.map((x) => x.row), [], `${q}: rows stored before the walk began are all in it`);
		assertOrdered(items.map((x) => byId.get(x.id)), sort, desc, q);
		// NULLs last in both directions
		const firstNull = items.findIndex((x) => keyOf(sort, x) === null);
		if (firstNull >= 0)
			assert.ok(items.slice(firstNull).every((x) => keyOf(sort, x) === null), `${q}: NULLs last`);
	}
	for (const { q, sort, desc, items, all } of filtered) {
		assertOnce(items, `${q} ${all ? 'all' : ''}`);
		assertOrdered(items, sort, desc, `${q} ${all ? 'all' : ''}`);
		for (const x of items) {
			assert.ok(x.price >= 100000 && x.sqft !== null && x.sqft <= 6000, `${q}: filtered ${JSON.stringify(brief(x))}`);
			assert.match(`${x.address} ${x.city} ${x.zip} ${x.source_id}`.toLowerCase(), /(^|[^a-z0-9])st/, `${q}: matches q`);
		}
	}
	// once the import is done, each sort's walk is the whole import
	for (const sort of SORTS) {
		for (const desc of [false, true]) {
			const q = `sort=${desc ? '-' : ''}${sort}`;
			const items = await walkBy(id, q, 331);
			assertOnce(items, q);
			assert.equal(items.length, final.length, `${q}: every row`);
			assertOrdered(items, sort, desc, `${q} (done)`);
		}
	}
});

test('GET /api/properties: every import of the user, merged in one order; another user sees none', { timeout: 120000 }, async () => {
	const mine = [...S.doneRows, ...(await walkBy(S.typos.id, 'sort=row', 1000)),
		...(await walkBy(S.running, 'sort=row', 1000))];
	const other = await makeUser(srv, 'searcher2');
	const theirs = await importFile(srv.url, Buffer.from(TYPO_CSV), 'theirs.csv', 'done', 60000, { auth: other });
	for (const sort of ['row', 'price', 'listed_on', 'price_per_sqft']) {
		for (const desc of [false, true]) {
			const q = `sort=${desc ? '-' : ''}${sort}`;
			const items = await walkBy('all', q, 733);
			assertOnce(items, `all ${q}`);
			assert.deepEqual(items.map((x) => x.id).sort((a, b) => a - b), mine.map((x) => x.id).sort((a, b) => a - b),
				`all ${q}: every row of the user's imports`);
			assertOrdered(items, sort, desc, `all ${q}`);
		}
	}
	// q and a filter across imports
	const maple = await walkBy('all', 'q=maple&sort=price', 10);
	assert.deepEqual(maple.filter((x) => x.job_id === S.typos.id).map((x) => x.source_id), ['A-100', 'B-201']);
	// the other user: only their own rows; my import is a 404 to them
	const theirItems = await walk(srv.url, '/api/properties?sort=-price&limit=2', 100000, { auth: other });
	assert.deepEqual([...new Set(theirItems.map((x) => x.job_id))], [theirs.job.id]);
	assert.equal(theirItems.length, 6);
	for (const q of ['', '?sort=price', '?q=maple&price_min=1'])
		assert.equal((await request('GET', `${srv.url}/api/imports/${S.done.id}/properties${q}`, { auth: other })).status, 404, q);
	assert.equal((await request('GET', `${srv.url}/api/imports/${theirs.job.id}/properties?sort=price`)).status, 404);
});

// Every page statement the server ran, as auto_explain logged its plan.
// property_records is partitioned: per import, then per segment of rows
// (schema/011_segments.sql); a plan names the segments it reads
// (property_records_j<job>_<segment>). No whole import is ever sorted:
// - a sealed segment is read through an index: no Seq Scan, and a Sort only
//   over q's or the filters' matches (found by their index, or kept by the
//   scan's filter) or over per-import pages (a Limit below it);
// - a running import's last two segments (the open one, at most 65,536
//   rows, and the one just filled, until its seal commits) have only their
//   row index and may be sorted; once every import is done and sealed
//   (allSealed), none may.
function pagePlans(text) {
	const plans = [];
	const lines = text.split('\n');
	for (let i = 0; i < lines.length; i++) {
		if (!/plan:\s*$/.test(lines[i])) continue;
		const body = [];
		for (i++; i < lines.length && /^\t/.test(lines[i]); i++) body.push(lines[i]);
		i--;
		try {
			const p = JSON.parse(body.join('\n'));
			if (/FROM property_records r WHERE/.test(p['Query Text'] || '')) plans.push(p);
		} catch { /* a plan cut by the log's rotation: not ours to judge */ }
	}
	return plans;
}

const LEAF = /^property_records_j(\d+)_(\d+)$/;
const isRecords = (n) => n['Relation Name'] === 'property_records' || LEAF.test(n['Relation Name'] || '');

// an index scan that reads part of a segment: an index of q or of a filter
// with a condition on its column, or a partial index (outlier, warned)
const narrows = (b) => /Index/.test(b['Node Type']) &&
	(/_(outlier|warned)$/.test(b['Index Name'] || '') ||
		/regexp_replace|zip|city|price|sqft|year_built|listed_on/.test(b['Index Cond'] || ''));
const bitmaps = (n) => [n, ...(n.Plans || []).flatMap(bitmaps)].filter((m) => m['Node Type'] === 'Bitmap Index Scan');
// what a scan yields is q's or the filters' matches, not the segment: an
// index that finds them, or their predicates as the scan's filter (the
// planner sorts matches when its statistics say they are few)
const found = (n) => (n['Node Type'] === 'Bitmap Heap Scan' && bitmaps(n).some(narrows)) ||
	(/^Index (Only )?Scan$/.test(n['Node Type']) && narrows(n)) ||
	/regexp_replace|price|beds|baths|sqft|year_built|zip|city|property_type|status|warned|outlier/.test(n.Filter || '');

function planProblems(plan, allSealed) {
	const bad = [];
	// per import, the highest segment this plan reads
	const last = new Map();
	const scan = (n) => {
		const m = LEAF.exec(n['Relation Name'] || '');
		if (m) last.set(m[1], Math.max(last.get(m[1]) ?? -1, Number(m[2])));
		for (const c of n.Plans || []) scan(c);
	};
	scan(plan.Plan);
	const sortable = (n) => {
		const m = LEAF.exec(n['Relation Name'] || '');
		return !allSealed && m && Number(m[2]) >= last.get(m[1]) - 1;
	};
	const visit = (n) => {
		const type = n['Node Type'];
		if (isRecords(n) && /Seq Scan/.test(type) && !sortable(n)) bad.push(`${type} on ${n['Relation Name']}`);
		if (type === 'Sort' || type === 'Incremental Sort') {
			// what the sort reads: leaf scans not under a Limit
			const reaches = (m) => (m['Node Type'] === 'Limit' ? [] :
				isRecords(m) ? [m] : (m.Plans || []).flatMap(reaches));
			for (const m of (n.Plans || []).flatMap(reaches))
				if (!found(m) && !sortable(m)) bad.push(`${type} over ${m['Node Type']} on ${m['Relation Name']}`);
		}
		for (const c of n.Plans || []) visit(c);
	};
	visit(plan.Plan);
	return bad;
}

async function checkLoggedPlans(what, from, allSealed) {
	const text = fs.readFileSync(pgLog(), 'utf8').slice(from);
	const plans = pagePlans(text);
	assert.ok(plans.length >= 20, `${what}: page plans logged (${plans.length})`);
	const problems = [];
	for (const p of plans) {
		const bad = planProblems(p, allSealed);
		if (bad.length) problems.push(`${bad.join(', ')} in: ${p['Query Text'].slice(0, 600)}`);
	}
	assert.deepEqual(problems.slice(0, 3), [], `${what}: ${problems.length} of ${plans.length} plans`);
	return plans.length;
}

test('every page statement is read through an index, with and without statistics', { timeout: 180000 }, async () => {
	// the walks above ran on a database that was never analysed
	const n = await checkLoggedPlans('without statistics', 0, false);
	// every import done and its analysis final: each is sealed whole
	const unsealed = "SELECT count(*) FROM pg_class c WHERE c.relname ~ '^property_records_j[0-9]+_[0-9]+$' " +
		"AND to_regclass(c.relname || '_search') IS NULL";
	await waitFor(async () => (await psql(ci(), unsealed)).trim() === '0', scaled(60000),
		'every segment sealed', 200);
	const mark = fs.statSync(pgLog()).size;
	await psql(ci(), 'ANALYZE property_records, import_jobs');
	for (const scope of [S.running, 'all']) {
		for (const sort of SORTS) {
			for (const desc of [false, true]) {
				for (const extra of ['', '&q=maple+st', '&price_min=200000&beds_min=2&city=springfield', '&q=12&outlier=false']) {
					const q = `sort=${desc ? '-' : ''}${sort}${extra}`;
					// two pages: a first one and one after a cursor
					const p1 = await getJson(`${srv.url}${scope === 'all' ? '/api/properties' : `/api/imports/${scope}/properties`}?${q}&limit=20`);
					if (p1.next) await getJson(`${srv.url}${scope === 'all' ? '/api/properties' : `/api/imports/${scope}/properties`}?${q}&limit=20&after=${p1.next}`);
				}
			}
		}
	}
	const m = await checkLoggedPlans('with statistics', mark, true);
	assert.ok(n > 0 && m > 0);
});
