// analysis.test.mjs - the market analysis (issue 11): GET /api/imports/ID/analysis
// exact against PostgreSQL's own percentile_cont on the same rows once final,
// every kind of grouping, the beds/status mixes and days on market, the outlier
// flags (impossible values at insert, price per sqft beyond 3 x IQR of the zip
// after the final pass), a running import's analysis advancing before its end,
// reprocess and delete, the WebSocket frame, and 404/400.
import assert from 'node:assert/strict';
import {
	embeddedConninfo, getJson, importFile, makeUser, psql, request, scaled, sleep, test,
	uploadChunked, useServer, waitFor, waitJob, wsConnect,
} from './lib.mjs';
import { generate } from './gen.mjs';

const srv = useServer();
const KINDS = { all: null, zip: 'zip', city: 'city', property_type: 'property_type' };

// A crafted file: zip 10001 has 24 ordinary rows (price per sqft ~200) and one
// at 5000 per sqft (an IQR outlier); zip 10002 has 12 rows; zip 10003 has 5
// rows with an extreme one (too small a group: never flagged); impossible
// values: sqft 0, year built 2999, price 2147483647 and 9999999; a price that
// cannot be read (a warned row).
function craftedCsv() {
	const lines = ['source_id,address,city,zip,price,beds,sqft,year_built,property_type,status,listed_on,sold_on'];
	let n = 0;
	const row = (city, zip, price, beds, sqft, year, type, status, listed, sold) => {
		n++;
		lines.push([`S${n}`, `${n} Main St`, city, zip, price, beds, sqft, year, type, status, listed, sold].join(','));
		return n;
	};
	const rows = {};
	for (let i = 0; i < 24; i++)
		row('Springfield', '10001', 300000 + i * 1000, i % 4 + 1, 1500 + (i % 5) * 10, 1950 + i,
			i % 2 ? 'Condo' : 'Single Family', i % 3 ? 'Active' : 'Sold', '2024-01-01',
			i % 3 ? '' : `2024-0${(i % 6) + 2}-15`);
	rows.iqr = row('Springfield', '10001', 7500000, 3, 1500, 1990, 'Condo', 'Active', '2024-01-01', '');
	for (let i = 0; i < 12; i++)
		row('Shelbyville', '10002', 200000 + i * 5000, i % 3 + 2, 1000 + i * 20, 1970 + i,
			'Townhouse', i % 2 ? 'Pending' : 'Sold', '2023-05-01', i % 2 ? '' : '2023-06-10');
	for (let i = 0; i < 4; i++)
		row('Ogdenville', '10003', 100000 + i, 2, 1000, 2000, 'Condo', 'Active', '', '');
	rows.small = row('Ogdenville', '10003', 9000000, 2, 1000, 2000, 'Condo', 'Active', '', '');
	rows.sqft0 = row('Springfield', '10001', 310000, 3, 0, 1990, 'Condo', 'Active', '', '');
	rows.future = row('Springfield', '10001', 320000, 3, 1600, 2999, 'Condo', 'Active', '', '');
	rows.intmax = row('Shelbyville', '10002', 2147483647, 3, 1200, 1980, 'Townhouse', 'Sold', '', '');
	rows.nines = row('Shelbyville', '', 9999999, 4, 1200, 1980, '', 'Sold', '', '');
	rows.warned = row('Shelbyville', '10002', 'call agent', 2, 1100, 1985, 'Townhouse', 'Active', '', '');
	return { text: lines.join('\n') + '\n', rows, n };
}

// What PostgreSQL computes itself over the stored rows of the visible gen,
// grouped like the route (key '' shown as null).
async function truth(ci, id, kind) {
	const col = KINDS[kind];
	const mix = (c) => `(SELECT coalesce(json_object_agg(b, n), '{}') FROM (SELECT ${c} b, count(*) n
		FROM rec r2 WHERE r2.k = r.k AND ${c} IS NOT NULL GROUP BY 1) s)`;
	const sql = `WITH rec AS (SELECT *, ${col ? `coalesce(${col}, '')` : "''"} AS k FROM property_records
		WHERE job_id = ${Number(id)} AND gen = (SELECT gen FROM import_jobs WHERE id = ${Number(id)}))
		SELECT json_agg(x ORDER BY x.count DESC, x.key) FROM (SELECT r.k AS key, count(*) AS count,
		min(price) AS min, max(price) AS max,
		percentile_cont(0.25) WITHIN GROUP (ORDER BY price) AS p25,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY price) AS median,
		percentile_cont(0.75) WITHIN GROUP (ORDER BY price) AS p75,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY price / nullif(sqft, 0)) AS ppsf,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY sqft) AS sqft,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY year_built) AS year,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY sold_on - listed_on) AS dom,
		count(outlier) AS outliers, ${mix('trim_scale(r2.beds)::text')} AS beds,
		${mix('r2.status')} AS status
		FROM rec r GROUP BY r.k) x`;
	return JSON.parse(await psql(ci, sql)) || [];
}

function near(got, want, what) {
	if (want === null || want === undefined) return assert.equal(got, null, what);
	assert.equal(typeof got, 'number', `${what}: ${got}`);
	assert.ok(Math.abs(got - Number(want)) <= 1e-9 * Math.max(1, Math.abs(Number(want))),
		`${what}: got ${got}, want ${want}`);
}

function sameGroups(got, want, what) {
	assert.equal(got.length, want.length, `${what}: groups`);
	for (let i = 0; i < want.length; i++) {
		const g = got[i], w = want[i], at = `${what} group ${JSON.stringify(w.key)}`;
		assert.equal(g.key, w.key === '' ? null : w.key, at);
		assert.equal(g.count, w.count, `${at} count`);
		near(g.price.min, w.min, `${at} min`);
		near(g.price.max, w.max, `${at} max`);
		near(g.price.p25, w.p25, `${at} p25`);
		near(g.price.median, w.median, `${at} median`);
		near(g.price.p75, w.p75, `${at} p75`);
		near(g.price_per_sqft.median, w.ppsf, `${at} ppsf`);
		near(g.sqft.median, w.sqft, `${at} sqft`);
		near(g.year_built.median, w.year, `${at} year`);
		near(g.days_on_market.median, w.dom, `${at} dom`);
		assert.deepEqual(g.beds, w.beds, `${at} beds`);
		assert.deepEqual(g.status, w.status, `${at} status`);
		assert.equal(g.outliers, w.outliers, `${at} outliers`);
	}
}

async function analysis(id, q = 'by=all', opts = {}) {
	return request('GET', `${srv.url}/api/imports/${id}/analysis?${q}`, opts);
}

async function waitFinal(id) {
	let last;
	await waitFor(async () => {
		last = (await analysis(id)).json;
		return last && last.final;
	}, 30000, 'final analysis', 200);
	return last;
}

async function checkExact(ci, id) {
	for (const kind of Object.keys(KINDS)) {
		const r = await analysis(id, `by=${kind}&limit=1000`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.final, true);
		assert.equal(r.json.by, kind);
		sameGroups(r.json.groups, await truth(ci, id, kind), kind);
	}
}

test('final analysis: exact, every grouping, outlier and warned flags, the frame', { timeout: 120000 }, async () => {
	const ci = embeddedConninfo(srv.dataDir);
	const ws = wsConnect(srv.url);
	await ws.opened;
	await ws.next((m) => m.type === 'snapshot');
	const { text, rows, n } = craftedCsv();
	const { job } = await importFile(srv.url, Buffer.from(text), 'crafted.csv');
	assert.equal(job.rows_inserted, n);
	const a = await waitFinal(job.id);
	assert.equal(a.rows, n);
	assert.equal(a.as_of_rows, n);
	assert.equal(a.job_id, job.id);
	const frame = await ws.next((m) => m.type === 'analysis' && m.job_id === job.id && m.final, 10000);
	assert.equal(frame.as_of_rows, n);
	assert.equal(typeof frame.version, 'number');
	assert.equal(frame.version, a.version);
	await ws.close();

	const flags = JSON.parse(await psql(ci, `SELECT json_object_agg(row_no, json_build_object('o', outlier, 'w', warned))
		FROM property_records WHERE job_id = ${job.id}`));
	assert.match(flags[rows.iqr].o, /^price per sqft 5000(\.00)? is beyond 3 x IQR of its zip/);
	assert.equal(flags[rows.small].o, null, 'a zip of 5 rows is no IQR group');
	assert.equal(flags[rows.sqft0].o, 'sqft is 0');
	assert.equal(flags[rows.future].o, 'year built 2999 is in the future');
	assert.equal(flags[rows.intmax].o, 'price 2147483647 is a placeholder');
	assert.equal(flags[rows.nines].o, 'price 9999999 is a placeholder');
	assert.equal(flags[rows.warned].w, true);
	assert.equal(flags[1].w, false);
	assert.equal(flags[1].o, null);
	const flagged = Object.values(flags).filter((f) => f.o).length;
	assert.equal(flagged, 5);
	assert.equal(a.groups[0].outliers, 5);
	// values are never changed by a flag
	assert.equal(await psql(ci, `SELECT price FROM property_records WHERE job_id = ${job.id} AND row_no = ${rows.intmax}`),
		'2147483647');
	await checkExact(ci, job.id);
	// limit and order
	const z = (await analysis(job.id, 'by=zip&limit=2')).json;
	assert.deepEqual(z.groups.map((g) => g.key), ['10001', '10002']);
});

test('400 names a bad by or limit; another user\'s import is 404', { timeout: 60000 }, async () => {
	const { job } = await importFile(srv.url, Buffer.from(craftedCsv().text), 'mine.csv');
	for (const [q, param] of [['by=street', 'by'], ['by=', 'by'], ['limit=0', 'limit'], ['limit=1001', 'limit'],
		['limit=ten', 'limit'], ['by=zip&limit=-1', 'limit']]) {
		const r = await analysis(job.id, q);
		assert.equal(r.status, 400, q);
		assert.match(r.json.error, new RegExp(`^${param} `), q);
	}
	const other = await makeUser(srv, 'analyst');
	const r = await analysis(job.id, 'by=all', { auth: other });
	assert.equal(r.status, 404);
	assert.equal((await analysis(999999)).status, 404);
	assert.equal((await analysis(job.id, 'by=city&limit=1000')).status, 200);
});

test('a running import\'s analysis advances before the end, a few seconds behind', { timeout: 180000 }, async () => {
	const { buffer } = generate({ rows: 12000, seed: 11 });
	const ws = wsConnect(srv.url);
	await ws.opened;
	await ws.next((m) => m.type === 'snapshot');
	// ~12 s of upload: 60 pieces, 200 ms apart
	const pieces = 60;
	const piece = Math.ceil(buffer.length / pieces);
	const up = uploadChunked(`${srv.url}/api/imports?name=running.csv`, buffer, piece, 200);
	const seen = []; // [t, rows_inserted, as_of_rows, final]
	let id = null;
	const t0 = Date.now();
	let done = false;
	up.then(() => { done = true; }, () => { done = true; });
	while (!done || !id) {
		if (!id) {
			const list = (await getJson(`${srv.url}/api/imports`)).items || [];
			const j = list.find((x) => x.name === 'running.csv');
			if (j) id = j.id;
		} else {
			const job = (await getJson(`${srv.url}/api/imports/${id}`));
			const a = (await analysis(id)).json;
			if (job.state !== 'done') seen.push([Date.now() - t0, job.rows_inserted, a.as_of_rows, a.final]);
		}
		await sleep(200);
	}
	process.stderr.write(`# upload over at ${Date.now() - t0} ms\n`);
	const job = await waitJob(srv.url, id, 'done');
	process.stderr.write(`# done at ${Date.now() - t0} ms\n`);
	const running = seen.filter((s) => !s[3] && s[2] > 0);
	assert.ok(running.length >= 3, `running analyses seen: ${JSON.stringify(seen)}`);
	assert.ok(new Set(running.map((s) => s[2])).size >= 2, `as_of_rows grows while running: ${JSON.stringify(seen)}`);
	// never more than a few seconds behind: what was stored LAG ms ago is in
	const lag = scaled(4000);
	for (const [t, , asOf] of seen) {
		const before = seen.filter((s) => s[0] <= t - lag).pop();
		if (before) assert.ok(asOf >= before[1], `at ${t} ms as_of ${asOf} < ${before[1]} stored at ${before[0]} ms`);
	}
	const frames = ws.messages.filter((m) => m.type === 'analysis' && m.job_id === id);
	assert.ok(frames.some((m) => !m.final && m.as_of_rows > 0), 'running frames');
	const fin = await waitFinal(id);
	process.stderr.write(`# final at ${Date.now() - t0} ms\n`);
	assert.equal(fin.as_of_rows, job.rows_inserted);
	await ws.close();
	await checkExact(embeddedConninfo(srv.dataDir), id);
});

test('reprocess: the new generation is analysed; delete drops the analysis', { timeout: 120000 }, async () => {
	const ci = embeddedConninfo(srv.dataDir);
	const { job } = await importFile(srv.url, Buffer.from(craftedCsv().text), 'again.csv');
	const first = await waitFinal(job.id);
	// map zip to nothing: every group of the new gen has key null
	const r = await request('POST', `${srv.url}/api/imports/${job.id}/reprocess`, {
		body: JSON.stringify({ mapping: { zip: null } }), headers: { 'Content-Type': 'application/json' },
	});
	assert.equal(r.status, 202, r.text);
	await waitJob(srv.url, job.id, 'done');
	const a = await waitFinal(job.id);
	assert.ok(a.version > first.version);
	const z = (await analysis(job.id, 'by=zip')).json;
	assert.deepEqual(z.groups.map((g) => g.key), [null]);
	await checkExact(ci, job.id);
	assert.equal(await psql(ci, `SELECT count(DISTINCT gen) FROM property_market_state WHERE job_id = ${job.id}`), '1');
	const d = await request('DELETE', `${srv.url}/api/imports/${job.id}`);
	assert.ok(d.status === 200 || d.status === 204, d.text);
	assert.equal((await analysis(job.id)).status, 404);
	for (const t of ['property_market_state', 'property_market_analysis', 'property_market_bins'])
		assert.equal(await psql(ci, `SELECT count(*) FROM ${t} WHERE job_id = ${job.id}`), '0', t);
});
