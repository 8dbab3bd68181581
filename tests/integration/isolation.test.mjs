// isolation.test.mjs - every route is scoped to its owner (ISSUE4.md): the
// administrator has an import (with rejected rows, so errors exist) and a tus
// upload left incomplete; bob walks every route for them and gets exactly the
// 404 of a job or record that does not exist; the same walk without
// credentials and with an expired session gets 401. bob's job list and
// WebSocket carry none of the administrator's or carol's jobs (not in the
// snapshot, no frame while they import, no `cancelled` frame when they
// delete), while his own frames do arrive. Nothing bob tried changed the
// administrator's data.
//
// Every request here names its credentials (auth: null plus explicit
// headers), so lib.mjs's default session never interferes.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { generate } from './gen.mjs';
import {
	brief, embeddedConninfo, psql, request, runCli, scaled, sendSlowly, sleep, TUS, useServer, waitAnalysis, waitFor,
	wsTry as libWsTry,
	test,
} from './lib.mjs';

const srv = useServer();
const adminFile = generate({ rows: 600, rejected: 6, seed: 9101, invalidRate: 0.02 });
const tusFile = generate({ rows: 800, rejected: 2, seed: 9102 });
const S = {};
const MISSING = 987654321;

// ---------------------------------------------------------------------------
// Helpers with explicit credentials.

function req(method, p, opts = {}) {
	return request(method, srv.url + p, { ...opts, auth: null });
}

function user(args, { input = null } = {}) {
	return runCli(['user', ...args, '--data-dir', srv.dataDir], { input, timeoutMs: 60000 });
}

function cliMsg(r) {
	return `code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-1500)}`;
}

async function token(name) {
	const t = await user(['token', name]);
	assert.equal(t.code, 0, `user token ${name}: ${cliMsg(t)}`);
	const tok = t.stdout.trim();
	assert.match(tok, /^pft_[A-Za-z0-9_-]{43}$/);
	return tok;
}

async function makeUser(name) {
	const password = `pw-${name}-${crypto.randomBytes(9).toString('base64url')}`;
	const a = await user(['add', name], { input: `${password}\n` });
	assert.equal(a.code, 0, `user add ${name}: ${cliMsg(a)}`);
	const tok = await token(name);
	return { name, password, token: tok, headers: { Authorization: `Bearer ${tok}` } };
}

async function login(name, password) {
	const r = await req('POST', '/api/session', {
		body: JSON.stringify({ name, password }), headers: { 'Content-Type': 'application/json' },
	});
	assert.equal(r.status, 200, `login ${name}: ${r.status} ${r.text.slice(0, 200)}`);
	const sc = [].concat(r.headers['set-cookie'] || []).find((c) => c.startsWith('pf_session='));
	assert.ok(sc, 'Set-Cookie');
	const cookie = { Cookie: sc.split(';')[0] };
	return { cookie, headers: { ...cookie, 'X-CSRF-Token': r.json.csrf } };
}

async function waitJobAs(id, headers, states = ['done'], ms = 120000) {
	const want = [].concat(states);
	let last = null;
	const end = Date.now() + scaled(ms);
	for (;;) {
		const r = await req('GET', `/api/imports/${id}`, { headers });
		if (r.status === 200) {
			last = r.json;
			if (want.includes(last.state)) return last;
			if (['done', 'failed', 'interrupted', 'cancelled'].includes(last.state))
				throw new Error(`job ${id} ended ${last.state}, wanted ${want}: ${brief(last)}`);
		} else {
			last = `${r.status} ${r.text.slice(0, 200)}`;
		}
		if (Date.now() > end) throw new Error(`job ${id}: not ${want} in ${ms} ms: ${JSON.stringify(last)}`);
		await sleep(100);
	}
}

async function walkAs(p, headers) {
	const items = [];
	let after = null;
	for (let i = 0; i < 10000; i++) {
		const sep = p.includes('?') ? '&' : '?';
		const r = await req('GET', `${p}${after === null ? '' : `${sep}after=${encodeURIComponent(after)}`}`, { headers });
		assert.equal(r.status, 200, `GET ${p}: ${r.status} ${r.text.slice(0, 200)}`);
		items.push(...r.json.items);
		if (r.json.next === null) return items;
		after = r.json.next;
	}
	throw new Error('too many pages');
}

async function importAs(buf, name, headers) {
	const r = await req('POST', `/api/imports?name=${encodeURIComponent(name)}`, {
		body: buf, headers: { 'Content-Type': 'text/csv', ...headers }, timeout: 120000,
	});
	assert.equal(r.status, 202, `POST ${name}: ${r.status} ${r.text.slice(0, 200)}`);
	return r.json;
}

// A WebSocket to /api/events with exactly these headers (lib.mjs wsTry).
const wsTry = (headers = {}) => libWsTry(srv.url, headers);

// Job ids a WebSocket message speaks of.
function jobIdsOf(m) {
	const ids = [];
	if (m && typeof m === 'object') {
		if (typeof m.id === 'number') ids.push(m.id);
		if (typeof m.job_id === 'number') ids.push(m.job_id);
		if (m.job && typeof m.job.id === 'number') ids.push(m.job.id);
		if (Array.isArray(m.jobs)) for (const j of m.jobs) ids.push(j.id);
	}
	return ids;
}

// Every request a user could make about a job (J, finished), a record (R)
// and a tus upload (T, incomplete), as [label, method, path, opts].
function routesFor(J, R, T, tusOffset, cursor) {
	const patchOpts = {
		body: Buffer.from('x'.repeat(64)),
		headers: { ...TUS, 'Upload-Offset': String(tusOffset), 'Content-Type': 'application/offset+octet-stream' },
	};
	const json = (o) => ({ body: JSON.stringify(o), headers: { 'Content-Type': 'application/json' } });
	return [
		['job', 'GET', `/api/imports/${J}`, {}],
		['job HEAD', 'HEAD', `/api/imports/${J}`, { headers: TUS }],
		['properties', 'GET', `/api/imports/${J}/properties`, {}],
		['properties page', 'GET', `/api/imports/${J}/properties?limit=10`, {}],
		['properties after a cursor', 'GET', `/api/imports/${J}/properties?limit=10&after=${encodeURIComponent(cursor)}`, {}],
		['errors', 'GET', `/api/imports/${J}/errors`, {}],
		['errors page', 'GET', `/api/imports/${J}/errors?limit=5`, {}],
		['record (raw row)', 'GET', `/api/properties/${R}`, {}],
		['tus job', 'GET', `/api/imports/${T}`, {}],
		['tus HEAD', 'HEAD', `/api/imports/${T}`, { headers: TUS }],
		['tus PATCH', 'PATCH', `/api/imports/${T}`, patchOpts],
		['reprocess', 'POST', `/api/imports/${J}/reprocess`, { body: '' }],
		['reprocess with a mapping', 'POST', `/api/imports/${J}/reprocess`, json({ mapping: { 'List Price': null } })],
		['reprocess of the tus job', 'POST', `/api/imports/${T}/reprocess`, { body: '' }],
		['DELETE tus', 'DELETE', `/api/imports/${T}`, { headers: TUS }],
		['DELETE job', 'DELETE', `/api/imports/${J}`, {}],
	];
}

function withHeaders(opts, headers) {
	return { ...opts, headers: { ...(opts.headers || {}), ...headers } };
}

// A body with the given ids replaced, to compare "another's" with "missing".
function norm(text, ids) {
	let t = text;
	for (const id of ids) t = t.replace(new RegExp(`\\b${id}\\b`, 'g'), 'ID');
	return t;
}

// What admin owns, as seen by admin: the numbers bob must not change.
async function adminState() {
	const conninfo = embeddedConninfo(srv.dataDir);
	const job = (await req('GET', `/api/imports/${S.J}`, { headers: S.admin })).json;
	const tus = await req('HEAD', `/api/imports/${S.T}`, { headers: { ...TUS, ...S.admin } });
	const props = await walkAs(`/api/imports/${S.J}/properties?limit=1000`, S.admin);
	const errors = await walkAs(`/api/imports/${S.J}/errors?limit=1000`, S.admin);
	const db = await psql(conninfo, `SELECT (SELECT count(*) FROM property_records WHERE job_id = ${S.J}) || ',' || ` +
		`(SELECT count(*) FROM import_errors WHERE job_id = ${S.J}) || ',' || ` +
		`(SELECT count(*) FROM import_jobs WHERE user_id = (SELECT id FROM users WHERE name = 'admin'))`);
	return {
		state: job.state, rows_inserted: job.rows_inserted, rows_rejected: job.rows_rejected,
		rows_warned: job.rows_warned, columns: job.columns.map((c) => c.field),
		tusStatus: tus.status, tusOffset: tus.headers['upload-offset'],
		props: props.length, propsSum: crypto.createHash('sha256').update(JSON.stringify(props)).digest('hex'),
		errors: errors.length, db,
	};
}

// ---------------------------------------------------------------------------

test('setup: admin has an import with errors and an incomplete tus upload; users bob, carol, dave', {
	timeout: scaled(180000),
}, async () => {
	S.admin = { Authorization: `Bearer ${await token('admin')}` };
	S.bob = await makeUser('bob');
	S.carol = await makeUser('carol');
	S.dave = await makeUser('dave');

	const j = await importAs(adminFile.buffer, 'admin.csv', S.admin);
	S.J = j.id;
	const done = await waitJobAs(S.J, S.admin);
	assert.equal(done.rows_rejected, 6);
	// the final analysis settles the records' outlier flags: before any
	// snapshot of admin's state is taken (adminState hashes the records)
	await waitAnalysis(srv.url, S.J);
	const page = await req('GET', `/api/imports/${S.J}/properties?limit=10`, { headers: S.admin });
	assert.equal(page.status, 200);
	S.R = page.json.items[3].id;
	S.cursor = page.json.next;
	assert.equal(typeof S.cursor, 'string');
	const errs = await req('GET', `/api/imports/${S.J}/errors`, { headers: S.admin });
	assert.ok(errs.json.items.length >= 6, 'admin has errors');

	const c = await req('POST', '/api/imports', {
		body: '', headers: { ...TUS, ...S.admin, 'Upload-Length': String(tusFile.buffer.length) },
	});
	assert.equal(c.status, 201, `tus creation: ${c.status} ${c.text.slice(0, 200)}`);
	S.T = c.json.id;
	S.tusOffset = Math.floor(tusFile.buffer.length / 2);
	const p = await req('PATCH', `/api/imports/${S.T}`, {
		body: tusFile.buffer.subarray(0, S.tusOffset),
		headers: { ...TUS, ...S.admin, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
	});
	assert.equal(p.status, 204, `tus PATCH: ${p.status} ${p.text.slice(0, 200)}`);
	assert.equal(p.headers['upload-offset'], String(S.tusOffset));

	// carol's own import, for bob not to see either.
	const cj = await importAs(generate({ rows: 200, rejected: 3, seed: 9103 }).buffer, 'carol.csv', S.carol.headers);
	S.CJ = cj.id;
	await waitJobAs(S.CJ, S.carol.headers);
	S.CR = (await req('GET', `/api/imports/${S.CJ}/properties?limit=5`, { headers: S.carol.headers })).json.items[0].id;
	// bob's own import.
	const bj = await importAs(generate({ rows: 150, rejected: 1, seed: 9104 }).buffer, 'bob.csv', S.bob.headers);
	S.BJ = bj.id;
	await waitJobAs(S.BJ, S.bob.headers);
	// dave logs in with a session that will expire.
	S.daveSession = await login('dave', S.dave.password);
	const dj = await importAs(generate({ rows: 50, rejected: 0, seed: 9105 }).buffer, 'dave.csv', S.daveSession.headers);
	S.DJ = dj.id;
	await waitJobAs(S.DJ, S.daveSession.cookie);

	S.before = await adminState();
});

test('bob gets for every route of admin\'s (and carol\'s) exactly the 404 of a missing job or record', {
	timeout: scaled(120000),
}, async () => {
	assert.ok(S.before, 'needs the setup');
	const bad = [];
	const mine = routesFor(S.J, S.R, S.T, S.tusOffset, S.cursor);
	const missing = routesFor(MISSING, MISSING + 1, MISSING + 2, S.tusOffset, S.cursor);
	const carols = routesFor(S.CJ, S.CR, S.CJ, 0, S.cursor);
	for (let i = 0; i < mine.length; i++) {
		const [label, method, p, opts] = mine[i];
		const [, , mp, mopts] = missing[i];
		const m = await req(method, mp, withHeaders(mopts, S.bob.headers));
		if (m.status !== 404) bad.push(`missing ${label}: ${method} ${mp} -> ${m.status} ${m.text.slice(0, 160)}`);
		for (const [whose, [, , op, oopts], ids] of [['admin', [label, method, p, opts], [S.J, S.R, S.T]],
			['carol', carols[i], [S.CJ, S.CR]]]) {
			const r = await req(method, op, withHeaders(oopts, S.bob.headers));
			if (r.status !== 404) {
				bad.push(`${whose}'s ${label}: ${method} ${op} -> ${r.status} ${r.text.slice(0, 160)}`);
				continue;
			}
			if (norm(r.text, ids) !== norm(m.text, [MISSING, MISSING + 1, MISSING + 2]))
				bad.push(`${whose}'s ${label}: body ${JSON.stringify(r.text)} differs from a missing one's ${JSON.stringify(m.text)}`);
			if ((r.headers['content-type'] || '') !== (m.headers['content-type'] || ''))
				bad.push(`${whose}'s ${label}: content-type ${r.headers['content-type']} vs ${m.headers['content-type']}`);
			for (const h of ['tus-resumable', 'upload-offset', 'upload-length', 'location'])
				if (r.headers[h] !== m.headers[h] && h !== 'tus-resumable')
					bad.push(`${whose}'s ${label}: header ${h}: ${r.headers[h]} vs ${m.headers[h]}`);
		}
	}
	assert.deepEqual(bad, [], `bob's walk:\n  ${bad.join('\n  ')}`);

	const list = await req('GET', '/api/imports', { headers: S.bob.headers });
	assert.equal(list.status, 200);
	const ids = list.json.items.map((j) => j.id);
	assert.deepEqual(ids, [S.BJ], `bob's list holds only his own job: ${ids}`);
	// bob's own job paged with admin's cursor: refused (a cursor is sealed
	// for one import; before, it was a row number that paged any import).
	const withCursor = await req('GET', `/api/imports/${S.BJ}/properties?limit=1000&after=${encodeURIComponent(S.cursor)}`,
		{ headers: S.bob.headers });
	assert.equal(withCursor.status, 400, `admin's cursor on bob's job: ${withCursor.status} ${withCursor.text.slice(0, 160)}`);
	const errs = await req('GET', `/api/imports/${S.BJ}/errors?limit=1`, { headers: S.bob.headers });
	assert.equal(errs.status, 200);
	if (errs.json.next !== null) {
		// bob's errors cursor tells nothing of how many errors anyone stored
		assert.doesNotMatch(errs.json.next, /^\d+$/, `bob's errors cursor: ${errs.json.next}`);
		const onAdmins = await req('GET', `/api/imports/${S.J}/errors?after=${encodeURIComponent(errs.json.next)}`,
			{ headers: S.admin });
		assert.equal(onAdmins.status, 400, `bob's errors cursor on admin's job, by admin: ${onAdmins.status}`);
	}
});

test('admin is scoped too: bob\'s job is a 404 for admin', async () => {
	assert.ok(S.BJ, 'needs the setup');
	const r = await req('GET', `/api/imports/${S.BJ}`, { headers: S.admin });
	const m = await req('GET', `/api/imports/${MISSING}`, { headers: S.admin });
	assert.equal(r.status, 404, `admin reads bob's job: ${r.status} ${r.text.slice(0, 200)}`);
	assert.equal(norm(r.text, [S.BJ]), norm(m.text, [MISSING]));
	const list = await req('GET', '/api/imports', { headers: S.admin });
	const ids = list.json.items.map((j) => j.id);
	assert.ok(!ids.includes(S.BJ) && !ids.includes(S.CJ), `admin's list: ${ids}`);
	assert.ok(ids.includes(S.J) && ids.includes(S.T), `admin's list has admin's jobs: ${ids}`);
});

// A tus upload that waits, idle, for its owner's next PATCH leaves memory
// (it parks). Another user's PATCH or HEAD on it must neither take it back
// into memory (which made the owner's own PATCH meet a job "not theirs") nor
// answer otherwise than for an id that does not exist.
test('bob loops PATCH and HEAD on admin\'s idle tus upload while admin resumes it 30 times: admin always 204, bob always the missing 404', {
	timeout: scaled(240000),
}, async () => {
	assert.ok(S.bob, 'needs the setup');
	const file = generate({ rows: 1500, rejected: 2, seed: 9106 });
	const buf = file.buffer;
	const c = await req('POST', '/api/imports', {
		body: '', headers: { ...TUS, ...S.admin, 'Upload-Length': String(buf.length) },
	});
	assert.equal(c.status, 201, `tus creation: ${c.status} ${c.text.slice(0, 200)}`);
	const id = c.json.id;
	const patchHeaders = (off, who) => ({
		...TUS, ...who, 'Upload-Offset': String(off), 'Content-Type': 'application/offset+octet-stream',
	});
	// what bob gets for an id that does not exist
	const missPatch = await req('PATCH', `/api/imports/${MISSING}`, {
		body: Buffer.from('x'.repeat(64)), headers: patchHeaders(0, S.bob.headers),
	});
	const missHead = await req('HEAD', `/api/imports/${MISSING}`, { headers: { ...TUS, ...S.bob.headers } });
	assert.equal(missPatch.status, 404, `bob's PATCH of a missing id: ${missPatch.status} ${missPatch.text}`);
	assert.equal(missHead.status, 404);

	let stop = false;
	const bobBad = [];
	let bobTries = 0;
	// several loops at once, as a script would: one of bob's requests is
	// nearly always in flight when admin's PATCH comes
	const bobLoop = async () => {
		while (!stop) {
			const off = bobTries % 2 ? 0 : 64;
			const p = await req('PATCH', `/api/imports/${id}`, {
				body: Buffer.from('y'.repeat(64)), headers: patchHeaders(off, S.bob.headers),
			});
			if (p.status !== 404 || norm(p.text, [id]) !== norm(missPatch.text, [MISSING]))
				bobBad.push(`PATCH -> ${p.status} ${p.text.slice(0, 160)}`);
			const h = await req('HEAD', `/api/imports/${id}`, { headers: { ...TUS, ...S.bob.headers } });
			if (h.status !== 404 || h.text !== missHead.text)
				bobBad.push(`HEAD -> ${h.status} ${h.text.slice(0, 160)}`);
			bobTries++;
		}
	};
	const bob = Promise.all([bobLoop(), bobLoop(), bobLoop(), bobLoop()]);

	const pieces = 30;
	const adminBad = [];
	let off = 0;
	for (let i = 0; i < pieces; i++) {
		const end = i === pieces - 1 ? buf.length : Math.floor((buf.length * (i + 1)) / pieces);
		// let the upload go idle (park) between two PATCHes, as a page
		// resuming after a pause does
		await sleep(40);
		const p = await req('PATCH', `/api/imports/${id}`, {
			body: buf.subarray(off, end), headers: patchHeaders(off, S.admin),
		});
		if (p.status !== 204) adminBad.push(`PATCH ${i} at ${off}: ${p.status} ${p.text.slice(0, 160)}`);
		else off = Number(p.headers['upload-offset']);
	}
	stop = true;
	await bob;
	assert.deepEqual(adminBad, [], `admin's resumes while bob looped (${bobTries} tries):\n  ${adminBad.join('\n  ')}`);
	assert.deepEqual(bobBad.slice(0, 10), [], `bob's answers (${bobBad.length} of ${bobTries * 2} differ from a missing id's)`);
	assert.ok(bobTries >= 5, `bob tried ${bobTries} times`);
	const done = await waitJobAs(id, S.admin);
	assert.equal(done.rows_rejected, 2, brief(done));
	assert.equal(done.bytes_received, buf.length, brief(done));
	assert.equal(done.rows_parsed, done.rows_inserted + done.rows_rejected, brief(done));
	const del = await req('DELETE', `/api/imports/${id}`, { headers: { ...TUS, ...S.admin } });
	assert.equal(del.status, 204);
});

async function walk401(headers, what) {
	const bad = [];
	const routes = [
		...routesFor(S.J, S.R, S.T, S.tusOffset, S.cursor),
		...routesFor(MISSING, MISSING + 1, MISSING + 2, 0, S.cursor),
		...routesFor(S.DJ, S.R, S.DJ, 0, S.cursor),
		['list', 'GET', '/api/imports', {}],
		['upload', 'POST', '/api/imports?name=x.csv', { body: 'a,b\n1,2\n', headers: { 'Content-Type': 'text/csv' } }],
		['tus creation', 'POST', '/api/imports', { body: '', headers: { ...TUS, 'Upload-Length': '100' } }],
		['password change', 'POST', '/api/account/password',
			{ body: '{"current":"a","new":"b"}', headers: { 'Content-Type': 'application/json' } }],
		['unknown API route', 'GET', '/api/nothing-here', {}],
	];
	for (const [label, method, p, opts] of routes) {
		const r = await req(method, p, withHeaders(opts, headers));
		if (r.status !== 401) {
			bad.push(`${label}: ${method} ${p} -> ${r.status} ${r.text.slice(0, 160)}`);
			continue;
		}
		if (method !== 'HEAD' && !(r.json && r.json.error === 'not logged in'))
			bad.push(`${label}: ${method} ${p}: body ${r.text.slice(0, 160)}`);
		if (!/^Bearer/.test(r.headers['www-authenticate'] || ''))
			bad.push(`${label}: ${method} ${p}: WWW-Authenticate ${r.headers['www-authenticate']}`);
	}
	const ws = await wsTry(headers);
	if (ws.open) {
		bad.push(`WebSocket opened ${what}; messages ${JSON.stringify(ws.messages).slice(0, 200)}`);
		ws.ws.terminate();
	} else if (ws.status !== 401) {
		bad.push(`WebSocket ${what}: ${JSON.stringify(ws).slice(0, 200)}`);
	}
	return bad;
}

test('no credentials: 401 on every owned route and the WebSocket; health, session, OPTIONS answer', {
	timeout: scaled(60000),
}, async () => {
	assert.ok(S.before, 'needs the setup');
	const bad = await walk401({}, 'without credentials');
	for (const [what, h] of [['an unknown bearer token', { Authorization: `Bearer pft_${'A'.repeat(43)}` }],
		['a malformed bearer', { Authorization: 'Bearer nonsense' }],
		['an unknown cookie', { Cookie: `pf_session=${'A'.repeat(43)}` }],
		['a malformed cookie', { Cookie: 'pf_session=;;;' }]]) {
		const r = await req('GET', `/api/imports/${S.J}`, { headers: h });
		if (r.status !== 401) bad.push(`${what}: ${r.status} ${r.text.slice(0, 160)}`);
	}
	assert.deepEqual(bad, [], `without credentials:\n  ${bad.join('\n  ')}`);
	const h = await req('GET', '/api/health');
	assert.equal(h.status, 200, 'health needs no credentials');
	const o = await req('OPTIONS', '/api/imports');
	assert.equal(o.status, 204, `OPTIONS: ${o.status}`);
	const s = await req('GET', '/api/session');
	assert.equal(s.status, 401);
	const page = await req('GET', '/');
	assert.equal(page.status, 200, 'the page needs no credentials');
});

test('expired session: 401 on every route, its own job included', { timeout: scaled(60000) }, async () => {
	assert.ok(S.daveSession, 'needs the setup');
	assert.equal((await req('GET', `/api/imports/${S.DJ}`, { headers: S.daveSession.cookie })).status, 200);
	await psql(embeddedConninfo(srv.dataDir), "UPDATE sessions SET expires_at = now() - interval '1 s' " +
		"WHERE user_id = (SELECT id FROM users WHERE name = 'dave')");
	const bad = await walk401(S.daveSession.headers, 'with an expired session');
	assert.deepEqual(bad, [], `expired session:\n  ${bad.join('\n  ')}`);
	assert.equal((await req('GET', `/api/imports/${S.DJ}`, { headers: S.dave.headers })).status, 200,
		'dave\'s token still reads his job');
});

test('nothing bob (or anyone) tried changed admin\'s data', { timeout: scaled(60000) }, async () => {
	assert.ok(S.before, 'needs the setup');
	const now = await adminState();
	assert.deepEqual(now, S.before);
	assert.equal(now.state, 'done');
	assert.equal(now.tusOffset, String(S.tusOffset));
});

test('WebSocket: bob sees only his own jobs, in the snapshot and in frames', { timeout: scaled(180000) }, async () => {
	assert.ok(S.before, 'needs the setup');
	const bobWs = await wsTry(S.bob.headers);
	assert.equal(bobWs.open, true, `bob's WebSocket: ${JSON.stringify(bobWs).slice(0, 200)}`);
	const carolSession = await login('carol', S.carol.password);
	const carolWs = await wsTry(carolSession.cookie);
	assert.equal(carolWs.open, true, `carol's cookie WebSocket: ${JSON.stringify(carolWs).slice(0, 200)}`);
	const adminWs = await wsTry(S.admin);
	assert.equal(adminWs.open, true);
	const snap = await waitFor(() => bobWs.messages.find((m) => m.type === 'snapshot'), 10000, 'bob\'s snapshot');
	assert.deepEqual(snap.jobs.map((j) => j.id), [S.BJ], 'bob\'s snapshot holds only his job');
	const csnap = await waitFor(() => carolWs.messages.find((m) => m.type === 'snapshot'), 10000, 'carol\'s snapshot');
	assert.deepEqual(csnap.jobs.map((j) => j.id), [S.CJ], 'carol\'s snapshot holds only her job');
	const asnap = await waitFor(() => adminWs.messages.find((m) => m.type === 'snapshot'), 10000, 'admin\'s snapshot');
	assert.ok(!asnap.jobs.some((j) => [S.BJ, S.CJ, S.DJ].includes(j.id)), 'admin\'s snapshot: only admin\'s');

	// All three import at once; admin's upload is slow (about 3 s of
	// progress frames) and bob's and carol's run while it goes on.
	const adminBuf = generate({ rows: 6000, seed: 9201 }).buffer;
	const slow = sendSlowly('POST', `${srv.url}/api/imports?name=admin-live.csv`, adminBuf, {
		chunked: true, pieceSize: 16384, delayMs: 25, auth: null,
		headers: { 'Content-Type': 'text/csv', ...S.admin },
	});
	const adminLive = await waitFor(async () => {
		const r = await req('GET', '/api/imports', { headers: S.admin });
		return r.json.items.find((j) => j.name === 'admin-live.csv' && j.rows_inserted > 0);
	}, 20000, 'admin\'s live import under way');
	const [b, c] = await Promise.all([
		importAs(generate({ rows: 3000, seed: 9202 }).buffer, 'bob-live.csv', S.bob.headers),
		importAs(generate({ rows: 3000, seed: 9203 }).buffer, 'carol-live.csv', carolSession.headers),
	]);
	const sr = await slow.done;
	assert.equal(sr.status, 202, `admin's slow upload: ${sr.status} ${sr.error || sr.text}`);
	const a = sr.json;
	assert.equal(a.id, adminLive.id);
	await Promise.all([waitJobAs(a.id, S.admin), waitJobAs(b.id, S.bob.headers), waitJobAs(c.id, S.carol.headers)]);
	const term = (ws, id) => waitFor(() => ws.messages.find((m) => m.type === 'import' && m.id === id && m.state === 'done'),
		10000, `final frame of job ${id}`);
	await term(bobWs, b.id);
	await term(carolWs, c.id);
	await term(adminWs, a.id);
	// admin reprocesses its first job: frames to admin only.
	const rp = await req('POST', `/api/imports/${S.J}/reprocess`, { body: '', headers: S.admin });
	assert.equal(rp.status, 202, `admin's reprocess: ${rp.status} ${rp.text.slice(0, 200)}`);
	await waitJobAs(S.J, S.admin);
	await waitFor(() => adminWs.messages.find((m) => m.type === 'import' && m.id === S.J && m.state === 'done'), 10000,
		'admin\'s reprocess frames');
	// admin deletes its tus upload and the live job: `cancelled` frames, to admin only.
	assert.equal((await req('DELETE', `/api/imports/${S.T}`, { headers: { ...TUS, ...S.admin } })).status, 204);
	assert.equal((await req('DELETE', `/api/imports/${a.id}`, { headers: S.admin })).status, 204);
	await waitFor(() => adminWs.messages.find((m) => m.id === S.T && m.state === 'cancelled'), 10000,
		'admin\'s cancelled frame');
	await sleep(500);

	const bobIds = new Set([S.BJ, b.id]);
	const carolIds = new Set([S.CJ, c.id]);
	const foreignToBob = bobWs.messages.filter((m) => jobIdsOf(m).some((id) => !bobIds.has(id)));
	assert.deepEqual(foreignToBob.map((m) => JSON.stringify({ ...m, columns: undefined }).slice(0, 200)), [],
		'bob received frames about jobs not his');
	const foreignToCarol = carolWs.messages.filter((m) => jobIdsOf(m).some((id) => !carolIds.has(id)));
	assert.deepEqual(foreignToCarol.map((m) => JSON.stringify({ ...m, columns: undefined }).slice(0, 200)), [],
		'carol received frames about jobs not hers');
	const foreignToAdmin = adminWs.messages.filter((m) => jobIdsOf(m).some((id) => bobIds.has(id) || carolIds.has(id)));
	assert.equal(foreignToAdmin.length, 0, 'admin received frames about bob\'s or carol\'s jobs');
	const bobFrames = bobWs.messages.filter((m) => m.type === 'import' && m.id === b.id);
	assert.ok(bobFrames.length >= 1, 'bob received his own frames');
	const seqs = bobFrames.map((m) => m.seq);
	for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq increasing: ${seqs}`);
	const adminFrames = adminWs.messages.filter((m) => m.type === 'import' && m.id === a.id).length;
	assert.ok(adminFrames >= 5,
		`admin received ${adminFrames} frames of its own import (so their absence for bob means something)`);
	process.stderr.write(`# frames: bob ${bobWs.messages.length}, carol ${carolWs.messages.length}, ` +
		`admin ${adminWs.messages.length}\n`);
	for (const w of [bobWs, carolWs, adminWs]) w.ws.close();
});
