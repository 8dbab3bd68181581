// metrics.test.mjs - GET /metrics (issue 11): the exposition read by a strict
// parser of the Prometheus text format written here (every line a comment, a
// HELP/TYPE, or a sample of the family declared last; names and labels
// valid, label values escaped; HELP and TYPE once per family; no duplicate
// series; histograms cumulative with le ascending, +Inf equal to _count, a
// _sum), then behaviour: requests counted by route pattern and status with
// their latency, bytes in and out, an import's rows stored equal to its
// rows, its batches timed, the WebSocket gauge up and down, the loop lag
// and pool gauges present, and who may read it.
//
// The server trusts 127.0.0.1 as a reverse proxy (--trust-proxy), so a
// request carrying X-Forwarded-For: 203.0.113.9 comes from a client outside
// the default --metrics-allow (loopback): refused without credentials, with a
// non-admin's token, served to the administrator's session. A second server,
// started inside its test, shows --metrics-allow itself (loopback left out).
// If promtool is installed, it checks the text too (optional).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
	importFile, makeUser, request, scaled, startServer, test, useServer, waitFor, wsConnect,
} from './lib.mjs';
import { generate } from './gen.mjs';

const S = useServer({ args: ['--trust-proxy', '127.0.0.1'] });
const OUTSIDE = { 'X-Forwarded-For': '203.0.113.9' };
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// ------------------------------------------------------------- the parser

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s, where) {
	if (s === '+Inf') return Infinity;
	if (s === '-Inf') return -Infinity;
	if (s === 'NaN') return NaN;
	assert.match(s, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `${where}: value "${s}"`);
	return Number(s);
}

// HELP text: only \\ and \n are escapes.
function unescapeHelp(s, where) {
	return s.replace(/\\(.?)/g, (m, c) => {
		assert.ok(c === '\\' || c === 'n', `${where}: bad escape in HELP`);
		return c === 'n' ? '\n' : '\\';
	});
}

// {a="x",b="y\"z"} starting at s[i] === '{'; returns [labels, index after '}'].
function parseLabels(s, i, where) {
	const labels = {};
	assert.equal(s[i], '{');
	i++;
	for (;;) {
		if (s[i] === '}') return [labels, i + 1];
		const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
		assert.ok(m, `${where}: label name at ${i}`);
		const name = m[0];
		assert.ok(!(name in labels), `${where}: label ${name} twice`);
		i += name.length;
		assert.equal(s[i], '=', `${where}: '=' after ${name}`);
		assert.equal(s[i + 1], '"', `${where}: '"' opens ${name}'s value`);
		i += 2;
		let v = '';
		for (;;) {
			assert.ok(i < s.length, `${where}: unterminated value of ${name}`);
			const ch = s[i];
			if (ch === '"') break;
			if (ch === '\\') {
				const e = s[i + 1];
				assert.ok(e === '\\' || e === '"' || e === 'n', `${where}: bad escape \\${e}`);
				v += e === 'n' ? '\n' : e;
				i += 2;
				continue;
			}
			assert.notEqual(ch, '\n');
			v += ch;
			i++;
		}
		labels[name] = v;
		i++;
		if (s[i] === ',') {
			i++;
			continue;
		}
		assert.equal(s[i], '}', `${where}: ',' or '}' after ${name}`);
	}
}

/**
 * parseExposition(text) -> Map(family -> {type, help, samples: [{name,
 * labels, value}]}). Throws on anything the 0.0.4 text format does not
 * allow, or that we promise (HELP and TYPE for every family).
 */
function parseExposition(text) {
	assert.ok(text.endsWith('\n'), 'the text ends with a newline');
	const fams = new Map();
	const series = new Set();
	let current = null; // the family whose samples may come now
	const closed = new Set(); // families whose run of samples has ended
	const lines = text.slice(0, -1).split('\n');
	lines.forEach((line, n) => {
		const where = `line ${n + 1} "${line.slice(0, 120)}"`;
		if (line === '') return;
		if (line.startsWith('#')) {
			const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
			if (!m) return; // a plain comment
			const [, kind, name, rest = ''] = m;
			assert.match(name, METRIC_NAME, `${where}: family name`);
			assert.ok(!closed.has(name), `${where}: ${name} declared again after its samples`);
			if (current && current.name !== name) closed.add(current.name);
			let f = fams.get(name);
			if (!f) {
				f = { name, type: null, help: null, samples: [] };
				fams.set(name, f);
			}
			assert.equal(f.samples.length, 0, `${where}: ${kind} after samples of ${name}`);
			if (kind === 'HELP') {
				assert.equal(f.help, null, `${where}: HELP twice`);
				f.help = unescapeHelp(rest, where);
			} else {
				assert.equal(f.type, null, `${where}: TYPE twice`);
				assert.ok(TYPES.has(rest.trim()), `${where}: type ${rest}`);
				f.type = rest.trim();
			}
			current = f;
			return;
		}
		const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
		assert.ok(nm, `${where}: sample name`);
		const name = nm[0];
		let i = name.length;
		let labels = {};
		if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
		const rest = line.slice(i);
		const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
		assert.ok(vm, `${where}: ' value [timestamp]' after the labels`);
		const value = parseValue(vm[1], where);
		assert.ok(current, `${where}: a sample before any TYPE`);
		const f = current;
		const suffixes = f.type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
		assert.ok(suffixes.some((s) => name === f.name + s),
			`${where}: ${name} is not a sample of ${f.name} (${f.type})`);
		if (name.endsWith('_bucket') && f.type === 'histogram') assert.ok('le' in labels, `${where}: le`);
		else assert.ok(!('le' in labels), `${where}: le outside a bucket`);
		const key = name + JSON.stringify(Object.entries(labels).sort());
		assert.ok(!series.has(key), `${where}: duplicate series`);
		series.add(key);
		f.samples.push({ name, labels, value });
	});
	for (const f of fams.values()) {
		assert.ok(f.type, `${f.name}: TYPE`);
		assert.ok(f.help !== null, `${f.name}: HELP`);
		if (f.type === 'counter') {
			assert.match(f.name, /_total$/, `${f.name}: a counter's name ends in _total`);
			for (const s of f.samples) assert.ok(s.value >= 0, `${f.name}: counter ${s.value} < 0`);
		}
		if (f.type === 'histogram') checkHistogram(f);
	}
	return fams;
}

function withoutLe(labels) {
	const { le, ...rest } = labels;
	return JSON.stringify(Object.entries(rest).sort());
}

function checkHistogram(f) {
	const by = new Map();
	for (const s of f.samples) {
		const k = withoutLe(s.labels);
		if (!by.has(k)) by.set(k, { buckets: [], sum: undefined, count: undefined });
		const h = by.get(k);
		if (s.name.endsWith('_bucket')) h.buckets.push([parseValue(s.labels.le, f.name), s.value]);
		else if (s.name.endsWith('_sum')) h.sum = s.value;
		else h.count = s.value;
	}
	for (const [k, h] of by) {
		const what = `${f.name}${k}`;
		assert.ok(h.buckets.length >= 1, `${what}: buckets`);
		assert.notEqual(h.sum, undefined, `${what}: _sum`);
		assert.notEqual(h.count, undefined, `${what}: _count`);
		for (let i = 1; i < h.buckets.length; i++) {
			assert.ok(h.buckets[i][0] > h.buckets[i - 1][0], `${what}: le ascending`);
			assert.ok(h.buckets[i][1] >= h.buckets[i - 1][1], `${what}: cumulative`);
		}
		const last = h.buckets[h.buckets.length - 1];
		assert.equal(last[0], Infinity, `${what}: the last bucket is +Inf`);
		assert.equal(last[1], h.count, `${what}: +Inf equals _count`);
	}
}

// The value of family's sample name with exactly these labels (0 when absent).
function value(fams, family, labels = {}, name = family) {
	const f = fams.get(family);
	if (!f) return 0;
	const want = JSON.stringify(Object.entries(labels).sort());
	const s = f.samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
	return s ? s.value : 0;
}

async function scrape(opts = {}) {
	const r = await request('GET', `${S.url}/metrics`, { auth: null, ...opts });
	assert.equal(r.status, 200, r.text.slice(0, 300));
	assert.equal(r.headers['content-type'], CONTENT_TYPE);
	return { fams: parseExposition(r.text), text: r.text };
}

// --------------------------------------------------------------- the tests

test('the exposition parses strictly and has every family', async () => {
	await request('GET', `${S.url}/api/health`, { auth: null });
	const { fams, text } = await scrape();
	const want = {
		pf_http_requests_total: 'counter', pf_http_request_duration_seconds: 'histogram',
		pf_http_received_bytes_total: 'counter', pf_http_sent_bytes_total: 'counter',
		pf_http_connections: 'gauge', pf_websockets: 'gauge',
		pf_import_rows_stored_total: 'counter', pf_import_batch_duration_seconds: 'histogram',
		pf_imports: 'gauge', pf_imports_finished_total: 'counter',
		pf_db_pipeline_depth: 'gauge', pf_db_waiting: 'gauge', pf_db_connections_ready: 'gauge',
		pf_event_loop_lag_seconds: 'histogram',
		process_resident_memory_bytes: 'gauge', process_open_fds: 'gauge',
		process_start_time_seconds: 'gauge',
	};
	for (const [name, type] of Object.entries(want)) {
		assert.ok(fams.has(name), `family ${name}`);
		assert.equal(fams.get(name).type, type, `${name} is a ${type}`);
	}
	for (const role of ['writer', 'reader']) {
		assert.ok(fams.get('pf_db_connections_ready').samples.some((s) => s.labels.role === role), role);
		assert.ok(fams.get('pf_db_pipeline_depth').samples.some((s) => s.labels.role === role), role);
	}
	for (const st of ['receiving', 'processing', 'done', 'failed', 'interrupted', 'cancelled'])
		assert.ok(fams.get('pf_imports').samples.some((s) => s.labels.state === st), st);
	assert.ok(value(fams, 'process_resident_memory_bytes') > 1 << 20, 'RSS over 1 MB');
	assert.ok(value(fams, 'process_open_fds') >= 4, 'open fds');
	const start = value(fams, 'process_start_time_seconds');
	assert.ok(start > Date.now() / 1000 - 3600 && start <= Date.now() / 1000, `start time ${start}`);
	// the scrape is answered from a connection: it counts itself
	assert.ok(value(fams, 'pf_http_connections') >= 1);
	// the lag timer runs four times a second
	await waitFor(async () => {
		const f = (await scrape()).fams;
		return value(f, 'pf_event_loop_lag_seconds', {}, 'pf_event_loop_lag_seconds_count') >= 2;
	}, scaled(5000), 'loop lag samples');

	// optional: promtool, when installed, must parse it too (its lint
	// advice aside, which it also reports on stderr)
	const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
	if (!promtool.error)
		assert.ok(!/pars(e|ing) error|error parsing/i.test(promtool.stderr), promtool.stderr);
});

test('requests are counted by route pattern and status, with latency and bytes', async () => {
	const before = (await scrape()).fams;
	for (let i = 0; i < 3; i++) assert.equal((await request('GET', `${S.url}/api/health`, { auth: null })).status, 200);
	// a raw path never becomes a label: the id stays "{id}"
	assert.equal((await request('GET', `${S.url}/api/imports/987654321`)).status, 404);
	assert.equal((await request('GET', `${S.url}/no/such/page-${Date.now()}`, { auth: null })).status, 404);
	const after = (await scrape()).fams;
	const health = { route: '/api/health', method: 'GET', status: '200' };
	assert.equal(value(after, 'pf_http_requests_total', health) - value(before, 'pf_http_requests_total', health), 3);
	const job = { route: '/api/imports/{id}', method: 'GET', status: '404' };
	assert.equal(value(after, 'pf_http_requests_total', job) - value(before, 'pf_http_requests_total', job), 1);
	const hc = ['pf_http_request_duration_seconds', { route: '/api/health', method: 'GET' },
		'pf_http_request_duration_seconds_count'];
	assert.equal(value(after, ...hc) - value(before, ...hc), 3);
	for (const s of after.get('pf_http_requests_total').samples) {
		assert.ok(!/\d{5}/.test(s.labels.route) && !s.labels.route.includes('page-'),
			`no raw path in a route label: ${s.labels.route}`);
		assert.match(s.labels.status, /^[1-5]\d\d$/);
	}
	assert.ok(value(after, 'pf_http_received_bytes_total') > value(before, 'pf_http_received_bytes_total') + 200);
	assert.ok(value(after, 'pf_http_sent_bytes_total') > value(before, 'pf_http_sent_bytes_total') + 200);
});

test('an import: rows stored equal its rows, its batches are timed', async () => {
	const before = (await scrape()).fams;
	const g = generate({ rows: 1500, rejected: 11, seed: 1111 });
	const { job } = await importFile(S.url, g.buffer, 'metrics.csv');
	assert.equal(job.rows_inserted, g.truth.inserted);
	const after = (await scrape()).fams;
	assert.equal(value(after, 'pf_import_rows_stored_total') - value(before, 'pf_import_rows_stored_total'),
		g.truth.inserted, 'rows stored = the rows of the file');
	const bc = ['pf_import_batch_duration_seconds', {}, 'pf_import_batch_duration_seconds_count'];
	assert.ok(value(after, ...bc) - value(before, ...bc) >= 1, 'batches observed');
	assert.equal(value(after, 'pf_imports_finished_total', { state: 'done' }) -
		value(before, 'pf_imports_finished_total', { state: 'done' }), 1);
	const up = { route: '/api/imports', method: 'POST', status: '202' };
	assert.equal(value(after, 'pf_http_requests_total', up) - value(before, 'pf_http_requests_total', up), 1);
});

test('the WebSocket gauge goes up and down', async () => {
	const base = value((await scrape()).fams, 'pf_websockets');
	const a = wsConnect(S.url);
	const b = wsConnect(S.url);
	await Promise.all([a.opened, b.opened]);
	await waitFor(async () => value((await scrape()).fams, 'pf_websockets') === base + 2,
		scaled(5000), 'two WebSockets counted');
	const up = (await scrape()).fams;
	assert.ok(value(up, 'pf_http_requests_total', { route: '/api/events', method: 'GET', status: '101' }) >= 2);
	await a.close();
	await b.close();
	await waitFor(async () => value((await scrape()).fams, 'pf_websockets') === base,
		scaled(5000), 'WebSockets gone');
});

test('who may read it: --metrics-allow addresses and administrators', async () => {
	// from loopback without credentials: allowed (the default list)
	assert.equal((await request('GET', `${S.url}/metrics`, { auth: null })).status, 200);
	// from outside the list (forwarded by the trusted proxy): no credentials
	let r = await request('GET', `${S.url}/metrics`, { auth: null, headers: OUTSIDE });
	assert.equal(r.status, 403, r.text);
	assert.ok(!r.text.includes('pf_http'), 'nothing of the metrics in a refusal');
	// a non-admin's token
	const bob = await makeUser(S, 'metrics-bob');
	r = await request('GET', `${S.url}/metrics`, { auth: bob, headers: OUTSIDE });
	assert.equal(r.status, 403, r.text);
	// a bad token: the gate's 401
	r = await request('GET', `${S.url}/metrics`, {
		auth: { Authorization: 'Bearer pft_nonsense' }, headers: OUTSIDE,
	});
	assert.equal(r.status, 401, r.text);
	// the administrator: its session (the default credential) and a token
	r = await request('GET', `${S.url}/metrics`, { headers: OUTSIDE });
	assert.equal(r.status, 200, r.text.slice(0, 200));
	parseExposition(r.text);
	const root = await makeUser(S, 'metrics-root', { admin: true });
	r = await request('GET', `${S.url}/metrics`, { auth: root, headers: OUTSIDE });
	assert.equal(r.status, 200, r.text.slice(0, 200));
	// a spoofed X-Forwarded-For from an untrusted peer changes nothing: the
	// peer here is trusted, so the refusal above came from the list
});

test('--metrics-allow without loopback refuses loopback', async () => {
	const B = await startServer({ args: ['--metrics-allow', '10.0.0.0/8, 192.0.2.7'] });
	try {
		const r = await request('GET', `${B.url}/metrics`, { auth: null });
		assert.equal(r.status, 403, r.text);
		const a = await request('GET', `${B.url}/metrics`); // the administrator's session
		assert.equal(a.status, 200);
		assert.equal(a.headers['content-type'], CONTENT_TYPE);
	} finally {
		await B.stop();
	}
});
