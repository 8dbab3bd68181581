// accounts.test.mjs - accounts and the front door (ISSUE4.md), against the
// real server and its embedded PostgreSQL:
// - `propflow user` add (password on stdin or generated), duplicate and bad
//   names, list (text, --json), token, disable/enable, password, link;
// - the first run prints one one-time login link, and only once;
// - POST/GET/DELETE /api/session: cookie attributes, 401, 415, 413, the login
//   throttle per client address and per name (429 + Retry-After), expiry;
// - CSRF (cookie needs X-CSRF-Token, bearer does not), Origin checks on state
//   changes and on the WebSocket upgrade, CORS closed, security headers;
// - --trust-proxy: Secure cookie and X-Forwarded-For only from trusted peers;
// - the access log: one line per request, client, user, path without query,
//   and never a password, token, cookie, CSRF token or link secret;
// - per-user limits: concurrent imports (429), stored bytes (413), stored
//   rows (413 / "row quota exceeded"), and --max-upload.
//
// Every request here names its credentials (auth: null plus explicit
// headers), so lib.mjs's default session never interferes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import fs from 'node:fs';
import { after } from 'node:test';
import { generate } from './gen.mjs';
import {
	BIN, brief, checkExit, embeddedConninfo, psql, rawExchange, removeDir, request, runCli, scaled,
	serverEnv, sleep, SRC, TUS, tempDir, uploadChunked, useServer, waitFor, WRAP, wsTry as libWsTry,
	test,
} from './lib.mjs';

// A: defaults (plus a small --max-upload); B: behind a trusted proxy with a
// tight login throttle; C: tight per-user limits.
const MAX_UPLOAD_A = 64 * 1024 * 1024;
// (A's throttle is loose: every test here logs in from 127.0.0.1.)
const A = useServer({ args: ['--max-upload', String(MAX_UPLOAD_A), '--login-max-failures', '100'] });
const B = useServer({ args: ['--trust-proxy', '127.0.0.1', '--login-max-failures', '3',
	'--login-window', '60'] });
// C also writes its access log to a file.
const ACCESS_DIR = tempDir('propflow-access-');
const ACCESS_FILE = path.join(ACCESS_DIR, 'access.log');
const C = useServer({ args: ['--user-max-imports', '2', '--user-max-rows', '2000',
	'--user-max-bytes', '1M', '--max-upload', '2M', '--access-log', ACCESS_FILE] });
after(() => removeDir(ACCESS_DIR));
// D: behind a proxy at known public URLs (issue 10): Origin is compared with
// them, not with the Host header a client chooses.
const D = useServer({ args: ['--public-url', 'https://props.example.com/app/',
	'--public-url', 'http://Alt.Example:8080,https://third.example:8443'] });

const SECRETS = new Map(); // secret text -> what it is, never to appear in A's stderr
const ANSWERS = []; // every answer of this file, checked for Access-Control-* headers
const S = {};

function secret(text, what) {
	if (text) SECRETS.set(text, what);
	return text;
}

// ---------------------------------------------------------------------------
// Helpers with explicit credentials.

async function req(method, url, opts = {}) {
	const r = await request(method, url, { ...opts, auth: null });
	ANSWERS.push({ what: `${method} ${url}`, headers: r.headers });
	return r;
}

function dbArgs(srv) {
	return ['--data-dir', srv.dataDir];
}

// `propflow user ARGS` against a server's database.
function user(srv, args, { input = null } = {}) {
	return runCli(['user', ...args, ...dbArgs(srv)], { input, timeoutMs: 60000 });
}

function cliMsg(r) {
	return `code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-1500)}`;
}

// A user with a known password and an API token.
async function makeUser(srv, name, { admin = false, password = null } = {}) {
	const pw = secret(password ?? `pw-${name}-${crypto.randomBytes(9).toString('base64url')}`,
		`password of ${name}`);
	const a = await user(srv, ['add', name, ...(admin ? ['--admin'] : [])], { input: `${pw}\n` });
	assert.equal(a.code, 0, `user add ${name}: ${cliMsg(a)}`);
	const t = await user(srv, ['token', name]);
	assert.equal(t.code, 0, `user token ${name}: ${cliMsg(t)}`);
	const token = secret(t.stdout.trim(), `token of ${name}`);
	assert.match(token, /^pft_[A-Za-z0-9_-]{43}$/, `token of ${name}`);
	return { name, password: pw, token, headers: { Authorization: `Bearer ${token}` } };
}

function setCookieOf(r) {
	return [].concat(r.headers['set-cookie'] || []).find((c) => /^pf_session=/.test(c)) || null;
}

// POST /api/session with body (an object, JSON-encoded); the session's
// headers when it worked.
async function login(srv, body, headers = {}) {
	const r = await req('POST', `${srv.url}/api/session`, {
		body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers },
	});
	const sc = setCookieOf(r);
	const out = { r, setCookie: sc, secret: null, csrf: null, cookie: null, headers: null };
	if (r.status === 200 && sc) {
		out.secret = secret(sc.split(';')[0].slice('pf_session='.length), 'session cookie');
		out.csrf = secret(r.json && r.json.csrf, 'csrf token');
		out.cookie = { Cookie: `pf_session=${out.secret}` };
		out.headers = { ...out.cookie, 'X-CSRF-Token': out.csrf };
	}
	return out;
}

async function loginOk(srv, body, headers = {}) {
	const l = await login(srv, body, headers);
	assert.equal(l.r.status, 200, `login ${JSON.stringify(Object.keys(body))}: ${l.r.status} ${l.r.text.slice(0, 300)}`);
	assert.ok(l.setCookie, `login: Set-Cookie ${JSON.stringify(l.r.headers['set-cookie'])}`);
	return l;
}

function assertJsonError(r, status, what, error = null) {
	assert.equal(r.status, status, `${what}: status ${r.status} ${r.text.slice(0, 300)}`);
	assert.match(r.headers['content-type'] || '', /application\/json/, `${what}: content-type`);
	assert.ok(r.json && typeof r.json.error === 'string', `${what}: body ${r.text.slice(0, 300)}`);
	if (error instanceof RegExp) assert.match(r.json.error, error, `${what}: error`);
	else if (error !== null) assert.equal(r.json.error, error, `${what}: error`);
}

function assert401(r, what) {
	assertJsonError(r, 401, what, 'not logged in');
	assert.match(r.headers['www-authenticate'] || '', /^Bearer/, `${what}: WWW-Authenticate`);
}

// A WebSocket to /api/events with headers (and an Origin), its answer's
// headers kept for the CORS check: lib.mjs wsTry.
async function wsTry(srv, headers = {}, origin = undefined) {
	const r = await libWsTry(srv.url, headers, origin);
	if (r.headers) ANSWERS.push({ what: `WS ${srv.url}`, headers: r.headers });
	return r;
}

// The ACCESS lines of a server's stderr.
function accessLines(srv) {
	return srv.stderr().split('\n').filter((l) => l.startsWith('ACCESS '));
}

const ACCESS_RE = /^ACCESS (\S+) (\S+) (\S+) ([A-Z]+) (\S+) (\d{3}) (\d+) ([\d.]+)ms$/;

async function accessLineFor(srv, pathPart, what) {
	return waitFor(() => accessLines(srv).find((l) => l.includes(` ${pathPart} `)), 3000,
		`${what}: ACCESS line for ${pathPart}`);
}

async function waitJobAs(srv, id, headers, states = ['done'], ms = 120000) {
	const want = [].concat(states);
	let last = null;
	const end = Date.now() + scaled(ms);
	for (;;) {
		const r = await req('GET', `${srv.url}/api/imports/${id}`, { headers });
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

function postCsv(srv, buf, name, headers) {
	return req('POST', `${srv.url}/api/imports?name=${encodeURIComponent(name)}`, {
		body: buf, headers: { 'Content-Type': 'text/csv', ...headers }, timeout: 120000,
	});
}

function tusCreateAs(srv, length, headers) {
	return req('POST', `${srv.url}/api/imports`, {
		body: '', headers: { ...TUS, 'Upload-Length': String(length), ...headers },
	});
}

const tiny = generate({ rows: 20, rejected: 0, seed: 31, blankLines: 0 });

// ---------------------------------------------------------------------------
// First run (a server of this test's own: its stdout is what is tested).

function serveOnce(dir) {
	const argv = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dir,
		'--static-dir', path.join(SRC, 'static')];
	const proc = WRAP.length ?
		spawn(WRAP[0], [...WRAP.slice(1), BIN, ...argv], { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] }) :
		spawn(BIN, argv, { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	let err = '';
	proc.stdout.setEncoding('utf8');
	proc.stderr.setEncoding('utf8');
	proc.stderr.on('data', (s) => { err += s; });
	const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
	const ready = new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(`no listening line in 90 s\nstdout: ${out}\nstderr: ${err.slice(-2000)}`)),
			scaled(90000));
		proc.stdout.on('data', (s) => {
			out += s;
			const m = out.match(/^propflow listening on (http:\/\/\S+)\s*$/m);
			if (m) { clearTimeout(t); resolve(m[1]); }
		});
		exited.then((x) => { clearTimeout(t); reject(new Error(`server exited ${JSON.stringify(x)}: ${err.slice(-2000)}`)); });
	});
	return {
		ready, stdout: () => out, stderr: () => err,
		async stop() {
			proc.kill('SIGTERM');
			const t = setTimeout(() => proc.kill('SIGKILL'), scaled(15000));
			const x = await exited;
			clearTimeout(t);
			return x;
		},
	};
}

test('first run: one one-time login link on stdout before the listening line, and never again', {
	timeout: scaled(240000),
}, async () => {
	const dir = tempDir('propflow-firstrun-');
	try {
		const s1 = serveOnce(dir);
		const url = await s1.ready;
		const out = s1.stdout();
		const lines = out.split('\n').filter((l) => l.startsWith('propflow first run:'));
		assert.equal(lines.length, 1, `one first-run line:\n${out}`);
		const esc = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
		const m = lines[0].match(new RegExp(`^propflow first run: log in as admin at ${esc}/#login=([A-Za-z0-9_-]{43}) \\(one-time link, valid 24 h\\)$`));
		assert.ok(m, `first-run line: ${JSON.stringify(lines[0])}`);
		assert.ok(out.indexOf(lines[0]) < out.indexOf('propflow listening on'), 'first-run line before the listening line');
		const link = m[1];
		assert.ok(!s1.stderr().includes(link), 'the link secret is not on stderr');

		const l = await loginOk({ url }, { link });
		assert.equal(l.r.json.user.name, 'admin');
		assert.equal(l.r.json.user.admin, true);
		assert.equal(l.r.json.user.has_password, false);
		assert.match(l.r.json.csrf, /^[A-Za-z0-9_-]{43}$/);
		const again = await login({ url }, { link });
		assertJsonError(again.r, 401, 'first-run link used twice', 'login link invalid or used');
		checkExit(await s1.stop(), s1.stderr(), 'first-run server');
		assert.ok(!s1.stderr().includes(link) && !s1.stderr().includes(l.secret),
			'no link or cookie secret on stderr');

		const s2 = serveOnce(dir);
		await s2.ready;
		assert.ok(!/first run/.test(s2.stdout()), `no first-run line on a restart:\n${s2.stdout()}`);
		checkExit(await s2.stop(), s2.stderr(), 'restarted server');
	} finally {
		removeDir(dir);
	}
});

// ---------------------------------------------------------------------------
// The CLI.

test('user add: password from stdin, or generated and printed; duplicate exit 1; bad name exit 2', {
	timeout: scaled(120000),
}, async () => {
	const pw = secret('stdin-pw-Ω-' + crypto.randomBytes(6).toString('hex'), 'password of alice');
	const a = await user(A, ['add', 'alice'], { input: `${pw}\n` });
	assert.equal(a.code, 0, cliMsg(a));
	assert.match(a.stdout, /^created user alice$/m, cliMsg(a));
	assert.ok(!/password:/.test(a.stdout), `no generated password printed: ${a.stdout}`);
	const l = await loginOk(A, { name: 'alice', password: pw });
	assert.deepEqual(Object.keys(l.r.json).sort(), ['csrf', 'expires_at', 'user']);
	assert.equal(l.r.json.user.name, 'alice');
	assert.equal(l.r.json.user.admin, false);
	assert.equal(l.r.json.user.has_password, true);
	assert.ok(!Number.isNaN(Date.parse(l.r.json.expires_at)), `expires_at ${l.r.json.expires_at}`);
	S.alice = { name: 'alice', password: pw, session: l };

	const g = await user(A, ['add', 'gen.user@x-y']);
	assert.equal(g.code, 0, cliMsg(g));
	assert.match(g.stdout, /^created user gen\.user@x-y$/m, cliMsg(g));
	const pm = g.stdout.match(/^password: (\S+)$/m);
	assert.ok(pm, `generated password printed: ${g.stdout}`);
	assert.equal(pm[1].length, 20, `generated password ${pm[1].length} chars`);
	secret(pm[1], 'generated password');
	await loginOk(A, { name: 'gen.user@x-y', password: pm[1] });

	const ad = await user(A, ['add', 'root2', '--admin'], { input: 'root2-pw-1234\n' });
	secret('root2-pw-1234', 'password of root2');
	assert.equal(ad.code, 0, cliMsg(ad));
	const la = await loginOk(A, { name: 'root2', password: 'root2-pw-1234' });
	assert.equal(la.r.json.user.admin, true);

	const dup = await user(A, ['add', 'alice'], { input: 'other-pass-123\n' });
	assert.equal(dup.code, 1, `duplicate: ${cliMsg(dup)}`);
	assert.match(dup.stderr, /propflow: user alice exists/, cliMsg(dup));
	for (const bad of ['bad name', 'a/b', 'x'.repeat(65), 'semi;colon', 'ümlaut']) {
		const b = await user(A, ['add', bad], { input: 'pw\n' });
		assert.equal(b.code, 2, `bad name ${JSON.stringify(bad)}: ${cliMsg(b)}`);
	}
	const ok64 = await user(A, ['add', 'y'.repeat(64)], { input: 'pw64-pw64\n' });
	assert.equal(ok64.code, 0, `a 64-char name: ${cliMsg(ok64)}`);
});

test('user list (text and --json), user token', { timeout: scaled(60000) }, async () => {
	const t = await user(A, ['list']);
	assert.equal(t.code, 0, cliMsg(t));
	const rows = t.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
	const byName = new Map(rows.map((r) => [r[0], r]));
	for (const r of rows) {
		assert.equal(r.length, 4, `list line ${JSON.stringify(r)}`);
		assert.ok(['admin', 'user'].includes(r[1]) && ['active', 'disabled'].includes(r[2]), JSON.stringify(r));
		assert.ok(!Number.isNaN(Date.parse(r[3])), `created ${r[3]}`);
	}
	assert.deepEqual(byName.get('admin')?.slice(0, 3), ['admin', 'admin', 'active'], t.stdout);
	assert.deepEqual(byName.get('alice')?.slice(0, 3), ['alice', 'user', 'active'], t.stdout);
	assert.deepEqual(byName.get('root2')?.slice(0, 3), ['root2', 'admin', 'active'], t.stdout);

	const j = await user(A, ['list', '--json']);
	assert.equal(j.code, 0, cliMsg(j));
	const arr = JSON.parse(j.stdout);
	assert.ok(Array.isArray(arr), j.stdout);
	const alice = arr.find((u) => u.name === 'alice');
	assert.ok(alice, j.stdout);
	assert.deepEqual(Object.keys(alice).sort(), ['admin', 'created_at', 'disabled', 'id', 'name']);
	assert.equal(typeof alice.id, 'number');
	assert.equal(alice.admin, false);
	assert.equal(alice.disabled, false);
	assert.equal(arr.find((u) => u.name === 'admin')?.admin, true);
	assert.equal(arr.length, rows.length, 'text and JSON list the same users');

	const tok = await user(A, ['token', 'alice', '--label', 'script']);
	assert.equal(tok.code, 0, cliMsg(tok));
	assert.equal(tok.stdout.split('\n').filter(Boolean).length, 1, `token alone on one line: ${tok.stdout}`);
	const token = secret(tok.stdout.trim(), 'token of alice');
	assert.match(token, /^pft_[A-Za-z0-9_-]{43}$/);
	const r = await req('GET', `${A.url}/api/imports`, { headers: { Authorization: `Bearer ${token}` } });
	assert.equal(r.status, 200, `bearer works: ${r.status} ${r.text.slice(0, 200)}`);
	S.alice.token = token;
	const none = await user(A, ['token', 'no-such-user']);
	assert.equal(none.code, 1, `token of no such user: ${cliMsg(none)}`);
});

test('disable: token, login and existing session all 401; enable; password; link once', {
	timeout: scaled(120000),
}, async () => {
	const u = await makeUser(A, 'carl');
	const sess = await loginOk(A, { name: 'carl', password: u.password });
	assert.equal((await req('GET', `${A.url}/api/imports`, { headers: sess.cookie })).status, 200);

	const d = await user(A, ['disable', 'carl']);
	assert.equal(d.code, 0, cliMsg(d));
	assert401(await req('GET', `${A.url}/api/imports`, { headers: u.headers }), 'token of a disabled user');
	assert401(await req('GET', `${A.url}/api/imports`, { headers: sess.cookie }), 'session of a disabled user');
	assertJsonError(await req('GET', `${A.url}/api/session`, { headers: sess.cookie }), 401, 'GET /api/session, disabled');
	const dws = await wsTry(A, u.headers);
	assert.equal(dws.status, 401, `WebSocket with a disabled user's token: ${JSON.stringify(dws).slice(0, 200)}`);
	const dl = await login(A, { name: 'carl', password: u.password });
	assertJsonError(dl.r, 401, 'login of a disabled user', 'wrong name or password');
	assert.equal(dl.setCookie, null, 'no cookie for a refused login');
	const listed = JSON.parse((await user(A, ['list', '--json'])).stdout).find((x) => x.name === 'carl');
	assert.equal(listed.disabled, true);
	assert.equal((await user(A, ['disable', 'nobody-here'])).code, 1, 'disable of no such user');

	const e = await user(A, ['enable', 'carl']);
	assert.equal(e.code, 0, cliMsg(e));
	const back = await loginOk(A, { name: 'carl', password: u.password });
	assert.equal((await req('GET', `${A.url}/api/imports`, { headers: back.cookie })).status, 200);
	assert401(await req('GET', `${A.url}/api/imports`, { headers: sess.cookie }), 'a session deleted by disable stays gone');
	assert.equal((await user(A, ['enable', 'nobody-here'])).code, 1, 'enable of no such user');

	const newPw = secret('carl-new-pw-' + crypto.randomBytes(6).toString('hex'), 'new password of carl');
	const p = await user(A, ['password', 'carl'], { input: `${newPw}\n` });
	assert.equal(p.code, 0, cliMsg(p));
	await loginOk(A, { name: 'carl', password: newPw });
	assertJsonError((await login(A, { name: 'carl', password: u.password })).r, 401, 'old password', 'wrong name or password');

	const k = await user(A, ['link', 'carl', '--listen', `${A.host}:${A.port}`]);
	assert.equal(k.code, 0, cliMsg(k));
	const lm = k.stdout.trim().match(/^(http:\/\/\S+)\/#login=([A-Za-z0-9_-]{43})$/);
	assert.ok(lm, `link: ${k.stdout}`);
	assert.equal(lm[1], A.url, 'the link points at --listen');
	secret(lm[2], 'login link');
	const viaLink = await loginOk(A, { link: lm[2] });
	assert.equal(viaLink.r.json.user.name, 'carl');
	assertJsonError((await login(A, { link: lm[2] })).r, 401, 'link used twice', 'login link invalid or used');
	assertJsonError((await login(A, { link: 'A'.repeat(43) })).r, 401, 'unknown link', 'login link invalid or used');
	// A link past its 24 h is refused.
	const k2 = await user(A, ['link', 'carl', '--listen', `${A.host}:${A.port}`]);
	const old = secret((k2.stdout.match(/#login=([A-Za-z0-9_-]{43})/) || [])[1], 'login link');
	assert.ok(old, `link: ${k2.stdout}`);
	const ci = embeddedConninfo(A.dataDir);
	assert.equal(await psql(ci, "SELECT count(*) FROM login_links WHERE used_at IS NULL AND expires_at BETWEEN " +
		"now() + interval '23 hours' AND now() + interval '25 hours'"), '1', 'the link is valid 24 h');
	await psql(ci, "UPDATE login_links SET expires_at = now() - interval '1 s' WHERE used_at IS NULL");
	assertJsonError((await login(A, { link: old })).r, 401, 'expired link', 'login link invalid or used');
	assert.equal((await user(A, ['link', 'nobody-here'])).code, 1, 'link of no such user');
});

// ---------------------------------------------------------------------------
// Sessions.

test('POST /api/session: cookie attributes; GET; wrong password 401; 415; 413', { timeout: scaled(60000) }, async () => {
	assert.ok(S.alice, 'needs user alice');
	const l = await loginOk(A, { name: 'alice', password: S.alice.password });
	const attrs = l.setCookie.split(';').map((s) => s.trim());
	assert.match(attrs[0], /^pf_session=[A-Za-z0-9_-]{43}$/, l.setCookie);
	const low = attrs.map((a) => a.toLowerCase());
	assert.ok(low.includes('httponly'), `HttpOnly: ${l.setCookie}`);
	assert.ok(low.includes('samesite=strict'), `SameSite=Strict: ${l.setCookie}`);
	assert.ok(low.includes('path=/'), `Path=/: ${l.setCookie}`);
	assert.ok(!low.includes('secure'), `no Secure over plain http: ${l.setCookie}`);
	assert.ok(low.includes('max-age=604800'), `Max-Age = the default --session-ttl: ${l.setCookie}`);
	const ttl = Date.parse(l.r.json.expires_at) - Date.now();
	assert.ok(Math.abs(ttl - 604800e3) < 120e3, `expires_at ${l.r.json.expires_at} about 7 days ahead`);
	// The CSRF token is HMAC-SHA256(key = the cookie secret, "propflow csrf").
	assert.equal(l.csrf, crypto.createHmac('sha256', l.secret).update('propflow csrf').digest('base64url'),
		'CSRF token as ISSUE4.md defines it');
	assert.match(l.r.headers['cache-control'] || 'no-store', /no-store|private|no-cache/);

	// A forwarded "https" from an untrusted peer changes nothing.
	const f = await loginOk(A, { name: 'alice', password: S.alice.password }, { 'X-Forwarded-Proto': 'https' });
	assert.ok(!/;\s*secure/i.test(f.setCookie), `no Secure: X-Forwarded-Proto from an untrusted peer: ${f.setCookie}`);

	const g = await req('GET', `${A.url}/api/session`, { headers: l.cookie });
	assert.equal(g.status, 200, `GET /api/session: ${g.status} ${g.text.slice(0, 200)}`);
	assert.equal(g.json.user.name, 'alice');
	assert.equal(g.json.csrf, l.csrf, 'GET /api/session gives the same CSRF token');
	assert.equal(setCookieOf(g), null, 'GET /api/session sets no new cookie');
	assertJsonError(await req('GET', `${A.url}/api/session`), 401, 'GET /api/session without a cookie');
	assertJsonError(await req('GET', `${A.url}/api/session`, { headers: { Cookie: 'pf_session=' + 'x'.repeat(43) } }),
		401, 'GET /api/session with an unknown cookie');

	// The session cookie among others, as a browser sends it.
	const many = await req('GET', `${A.url}/api/session`, { headers: { Cookie: `theme=dark; pf_session=${l.secret}; lang=en` } });
	assert.equal(many.status, 200, `pf_session among other cookies: ${many.status} ${many.text.slice(0, 200)}`);
	const long = await login(A, { name: 'alice', password: 'p'.repeat(1025) });
	assert.ok([400, 401].includes(long.r.status), `a 1025-byte password: ${long.r.status} ${long.r.text.slice(0, 200)}`);
	const w = await login(A, { name: 'alice', password: 'wrong-' + S.alice.password });
	assertJsonError(w.r, 401, 'wrong password', 'wrong name or password');
	assert.equal(w.setCookie, null);
	const n = await login(A, { name: 'no-such-user', password: 'x' });
	assertJsonError(n.r, 401, 'unknown name', 'wrong name or password');
	assert.equal(n.r.text, w.r.text, 'unknown name and wrong password answer alike');

	const body = JSON.stringify({ name: 'alice', password: S.alice.password });
	for (const ct of ['text/plain', 'application/x-www-form-urlencoded', null]) {
		const r = await req('POST', `${A.url}/api/session`, { body, headers: ct ? { 'Content-Type': ct } : {} });
		assertJsonError(r, 415, `login with Content-Type ${ct}`);
	}
	const big = JSON.stringify({ name: 'alice', password: 'p'.repeat(5000) });
	assertJsonError(await req('POST', `${A.url}/api/session`, { body: big, headers: { 'Content-Type': 'application/json' } }),
		413, 'login body over 4 KB');
	const bad = await req('POST', `${A.url}/api/session`, { body: '{"name":', headers: { 'Content-Type': 'application/json' } });
	assert.equal(bad.status, 400, `malformed JSON: ${bad.status} ${bad.text.slice(0, 200)}`);
});

test('secrets are stored hashed: session and token as SHA-256, password as scrypt', { timeout: scaled(60000) }, async () => {
	const l = await loginOk(A, { name: 'alice', password: S.alice.password });
	const ci = embeddedConninfo(A.dataDir);
	const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');
	const sessions = (await psql(ci, "SELECT encode(id_hash, 'hex') FROM sessions")).split('\n');
	assert.ok(sessions.includes(sha(l.secret)), 'sessions.id_hash = sha256(cookie secret)');
	const tokens = (await psql(ci, "SELECT encode(token_hash, 'hex') FROM api_tokens")).split('\n');
	assert.ok(tokens.includes(sha(S.alice.token)), 'api_tokens.token_hash = sha256(token)');
	const pw = await psql(ci, "SELECT pw_hash FROM users WHERE name = 'alice'");
	assert.match(pw, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, `pw_hash ${pw}`);
	const dump = await psql(ci, 'SELECT (SELECT string_agg(t::text, \' \') FROM sessions t) || ' +
		'(SELECT string_agg(t::text, \' \') FROM api_tokens t) || (SELECT string_agg(t::text, \' \') FROM users t) || ' +
		'coalesce((SELECT string_agg(t::text, \' \') FROM login_links t), \'\')');
	for (const [sec, what] of [[l.secret, 'cookie'], [S.alice.token, 'token'], [S.alice.password, 'password']])
		assert.ok(!dump.includes(sec), `the ${what} itself is not in the database`);
	const admin = await psql(ci, "SELECT coalesce(pw_hash, 'NULL') FROM users WHERE name = 'admin'");
	assert.equal(admin, 'NULL', 'the first-run administrator has no password');
});

test('DELETE /api/session: 204, cookie cleared, the session no longer works', { timeout: scaled(60000) }, async () => {
	const l = await loginOk(A, { name: 'alice', password: S.alice.password });
	assert.equal((await req('GET', `${A.url}/api/imports`, { headers: l.cookie })).status, 200);
	assertJsonError(await req('DELETE', `${A.url}/api/session`, { headers: l.cookie }), 403,
		'DELETE /api/session by cookie without X-CSRF-Token', 'missing or wrong CSRF token');
	const d = await req('DELETE', `${A.url}/api/session`, { headers: l.headers });
	assert.equal(d.status, 204, `DELETE: ${d.status} ${d.text.slice(0, 200)}`);
	const sc = setCookieOf(d);
	assert.ok(sc && /^pf_session=;/.test(sc) && /max-age=0/i.test(sc), `cookie cleared: ${sc}`);
	assert401(await req('GET', `${A.url}/api/imports`, { headers: l.cookie }), 'cookie after logout');
	assertJsonError(await req('GET', `${A.url}/api/session`, { headers: l.cookie }), 401, 'GET /api/session after logout');
});

test('expired session: 401 everywhere', { timeout: scaled(60000) }, async () => {
	const u = await makeUser(A, 'expiring');
	const l = await loginOk(A, { name: 'expiring', password: u.password });
	assert.equal((await req('GET', `${A.url}/api/imports`, { headers: l.cookie })).status, 200);
	await psql(embeddedConninfo(A.dataDir), "UPDATE sessions SET expires_at = now() - interval '1 s' " +
		"WHERE user_id = (SELECT id FROM users WHERE name = 'expiring')");
	assert401(await req('GET', `${A.url}/api/imports`, { headers: l.cookie }), 'expired session');
	assertJsonError(await req('GET', `${A.url}/api/session`, { headers: l.cookie }), 401, 'GET /api/session, expired');
	const p = await postCsv(A, tiny.buffer, 'expired.csv', l.headers);
	assert401(p, 'POST with an expired session');
	assert.equal((await req('GET', `${A.url}/api/imports`, { headers: u.headers })).status, 200, 'the token still works');
});

test('POST /api/account/password: wrong current 403, then 204 and the new password works', { timeout: scaled(60000) }, async () => {
	const u = await makeUser(A, 'pwchanger');
	const l = await loginOk(A, { name: 'pwchanger', password: u.password });
	const pw2 = secret('changed-' + crypto.randomBytes(6).toString('hex'), 'changed password');
	const post = (body, headers) => req('POST', `${A.url}/api/account/password`, {
		body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers },
	});
	assertJsonError(await post({ current: u.password, new: pw2 }, l.cookie), 403, 'password change without CSRF',
		'missing or wrong CSRF token');
	assertJsonError(await post({ current: 'nope', new: pw2 }, l.headers), 403, 'wrong current password', 'wrong password');
	const ok = await post({ current: u.password, new: pw2 }, l.headers);
	assert.equal(ok.status, 204, `password change: ${ok.status} ${ok.text.slice(0, 200)}`);
	await loginOk(A, { name: 'pwchanger', password: pw2 });
	assertJsonError((await login(A, { name: 'pwchanger', password: u.password })).r, 401, 'old password after the change');
});

// ---------------------------------------------------------------------------
// CSRF, Origin, CORS, headers.

test('CSRF: cookie-authenticated state changes need X-CSRF-Token; bearer does not', { timeout: scaled(60000) }, async () => {
	const l = await loginOk(A, { name: 'alice', password: S.alice.password });
	const wrong = { ...l.cookie, 'X-CSRF-Token': 'A'.repeat(43) };
	const other = await loginOk(A, { name: 'alice', password: S.alice.password });
	const crossed = { ...l.cookie, 'X-CSRF-Token': other.csrf };
	assert.notEqual(other.csrf, l.csrf, 'each session has its own CSRF token');

	for (const [what, h] of [['no token', l.cookie], ['wrong token', wrong], ['another session\'s token', crossed],
		['empty token', { ...l.cookie, 'X-CSRF-Token': '' }]]) {
		assertJsonError(await postCsv(A, tiny.buffer, 'csrf.csv', h), 403, `POST import, ${what}`,
			'missing or wrong CSRF token');
		assertJsonError(await tusCreateAs(A, 100, h), 403, `tus creation, ${what}`, 'missing or wrong CSRF token');
	}
	const ok = await postCsv(A, tiny.buffer, 'csrf-ok.csv', l.headers);
	assert.equal(ok.status, 202, `POST with the CSRF token: ${ok.status} ${ok.text.slice(0, 200)}`);
	const id = ok.json.id;
	await waitJobAs(A, id, l.cookie);

	const tc = await tusCreateAs(A, 1000, l.headers);
	assert.equal(tc.status, 201, `tus creation with the token: ${tc.status} ${tc.text.slice(0, 200)}`);
	const tid = tc.json.id;
	const patch = (h) => req('PATCH', `${A.url}/api/imports/${tid}`, {
		body: 'a,b\n', headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', ...h },
	});
	assertJsonError(await patch(l.cookie), 403, 'PATCH by cookie without token', 'missing or wrong CSRF token');
	assertJsonError(await patch(wrong), 403, 'PATCH by cookie with a wrong token', 'missing or wrong CSRF token');
	assertJsonError(await req('DELETE', `${A.url}/api/imports/${tid}`, { headers: { ...TUS, ...l.cookie } }), 403,
		'DELETE by cookie without token', 'missing or wrong CSRF token');
	assertJsonError(await req('POST', `${A.url}/api/imports/${id}/reprocess`, { body: '', headers: l.cookie }), 403,
		'reprocess by cookie without token', 'missing or wrong CSRF token');
	// GET and HEAD by cookie need no token.
	assert.equal((await req('GET', `${A.url}/api/imports/${id}`, { headers: l.cookie })).status, 200);
	assert.equal((await req('HEAD', `${A.url}/api/imports/${tid}`, { headers: { ...TUS, ...l.cookie } })).status, 200);
	const del = await req('DELETE', `${A.url}/api/imports/${tid}`, { headers: { ...TUS, ...l.headers } });
	assert.equal(del.status, 204, `DELETE with the token: ${del.status} ${del.text.slice(0, 200)}`);

	// Bearer: no CSRF token needed.
	const b = await postCsv(A, tiny.buffer, 'bearer.csv', { Authorization: `Bearer ${S.alice.token}` });
	assert.equal(b.status, 202, `bearer POST without CSRF: ${b.status} ${b.text.slice(0, 200)}`);
	await waitJobAs(A, b.json.id, { Authorization: `Bearer ${S.alice.token}` });
	const rb = await req('DELETE', `${A.url}/api/imports/${b.json.id}`, { headers: { Authorization: `Bearer ${S.alice.token}` } });
	assert.equal(rb.status, 204, `bearer DELETE without CSRF: ${rb.status} ${rb.text.slice(0, 200)}`);
	S.aliceJob = id;
});

test('Origin: foreign origins refused on state changes and the WebSocket upgrade', { timeout: scaled(60000) }, async () => {
	const bearer = { Authorization: `Bearer ${S.alice.token}` };
	const l = await loginOk(A, { name: 'alice', password: S.alice.password });
	for (const origin of ['http://evil.example', `http://127.0.0.1:${A.port + 1}`, `https://127.0.0.1:${A.port}`,
		'null']) {
		assertJsonError(await postCsv(A, tiny.buffer, 'origin.csv', { ...bearer, Origin: origin }), 403,
			`bearer POST with Origin ${origin}`, 'cross-origin request refused');
		assertJsonError(await postCsv(A, tiny.buffer, 'origin.csv', { ...l.headers, Origin: origin }), 403,
			`cookie POST with Origin ${origin}`, 'cross-origin request refused');
	}
	assertJsonError(await login(A, { name: 'alice', password: S.alice.password }, { Origin: 'http://evil.example' })
		.then((x) => x.r), 403, 'login with a foreign Origin', 'cross-origin request refused');
	assertJsonError(await req('DELETE', `${A.url}/api/imports/${S.aliceJob}`, { headers: { ...bearer, Origin: 'http://evil.example' } }),
		403, 'DELETE with a foreign Origin', 'cross-origin request refused');
	assert.equal((await req('GET', `${A.url}/api/imports/${S.aliceJob}`, { headers: bearer })).status, 200,
		'the job survived the refused DELETE');

	const same = await postCsv(A, tiny.buffer, 'same-origin.csv', { ...l.headers, Origin: A.url });
	assert.equal(same.status, 202, `same-origin POST: ${same.status} ${same.text.slice(0, 200)}`);
	await waitJobAs(A, same.json.id, bearer);
	const g = await req('GET', `${A.url}/api/imports`, { headers: { ...bearer, Origin: 'http://evil.example' } });
	assert.equal(g.status, 200, 'a GET with a foreign Origin is answered (CORS keeps it from the page)');

	const foreign = await wsTry(A, bearer, 'http://evil.example');
	assert.equal(foreign.open, false, 'WebSocket with a foreign Origin refused');
	assert.equal(foreign.status, 403, `WebSocket with a foreign Origin: ${JSON.stringify(foreign).slice(0, 300)}`);
	const foreignCookie = await wsTry(A, l.cookie, 'http://evil.example');
	assert.equal(foreignCookie.status, 403, `cookie WebSocket, foreign Origin: ${JSON.stringify(foreignCookie).slice(0, 300)}`);
	const anon = await wsTry(A, {});
	assert.equal(anon.status, 401, `WebSocket without credentials: ${JSON.stringify(anon).slice(0, 300)}`);
	for (const [what, h, o] of [['bearer, no Origin', bearer, undefined], ['cookie, same Origin', l.cookie, A.url]]) {
		const w = await wsTry(A, h, o);
		assert.equal(w.open, true, `WebSocket ${what}: ${JSON.stringify(w).slice(0, 300)}`);
		await waitFor(() => w.messages.find((m) => m.type === 'snapshot'), 10000, `snapshot (${what})`);
		w.ws.close();
	}
});

test('CORS closed: no Access-Control-* header, preflight included', async () => {
	const bearer = { Authorization: `Bearer ${S.alice.token}` };
	const pre = { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST',
		'Access-Control-Request-Headers': 'authorization, x-csrf-token' };
	for (const p of ['/api/imports', '/api/session', '/api/imports/1', '/api/health', '/']) {
		const r = await req('OPTIONS', `${A.url}${p}`, { headers: pre });
		assert.ok(r.status < 500, `OPTIONS ${p}: ${r.status}`);
	}
	await req('GET', `${A.url}/api/imports`, { headers: { ...bearer, Origin: 'http://evil.example' } });
	await req('GET', `${A.url}/`, { headers: { Origin: 'http://evil.example' } });
	await req('GET', `${A.url}/api/health`, { headers: { Origin: 'http://evil.example' } });
	const bad = ANSWERS.filter((a) => Object.keys(a.headers).some((k) => k.startsWith('access-control-')));
	assert.deepEqual(bad.map((a) => `${a.what}: ${JSON.stringify(a.headers)}`), [],
		'no answer carries an Access-Control-* header');
	assert.ok(ANSWERS.length > 50, `${ANSWERS.length} answers checked`);
});

test('security headers on the page and the API', async () => {
	const page = await req('GET', `${A.url}/`);
	assert.equal(page.status, 200);
	const csp = page.headers['content-security-policy'] || '';
	assert.match(csp, /frame-ancestors 'none'/, `CSP: ${csp}`);
	assert.match(csp, /default-src 'self'/, `CSP: ${csp}`);
	assert.match(csp, /object-src 'none'/, `CSP: ${csp}`);
	assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), `CSP: ${csp}`);
	assert.equal(page.headers['x-content-type-options'], 'nosniff');
	assert.equal((page.headers['x-frame-options'] || '').toUpperCase(), 'DENY');
	assert.equal(page.headers['referrer-policy'], 'no-referrer');
	const bearer = { Authorization: `Bearer ${S.alice.token}` };
	for (const [m, p, h] of [['GET', '/api/health', {}], ['GET', '/api/imports', bearer], ['GET', '/api/imports', {}],
		['GET', '/api/imports/987654321', bearer], ['GET', '/api/session', {}], ['GET', '/app.js', {}],
		['GET', '/no-such-file', {}]]) {
		const r = await req(m, `${A.url}${p}`, { headers: h });
		assert.equal(r.headers['x-content-type-options'], 'nosniff', `${m} ${p} (${r.status}): nosniff`);
		assert.equal(r.headers['referrer-policy'], 'no-referrer', `${m} ${p} (${r.status}): Referrer-Policy`);
	}
});

// ---------------------------------------------------------------------------
// The login throttle and the trusted proxy (server B).

test('login throttle per client address: 429 + Retry-After, even for the right password', { timeout: scaled(120000) }, async () => {
	S.rl = await makeUser(B, 'rl');
	const from = (ip) => ({ 'X-Forwarded-For': ip });
	for (let i = 1; i <= 3; i++) {
		const f = await login(B, { name: `ghost${i}`, password: 'x' }, from('198.51.100.7'));
		assertJsonError(f.r, 401, `failure ${i} from 198.51.100.7`, 'wrong name or password');
	}
	const t0 = Date.now();
	const blocked = await login(B, { name: 'rl', password: S.rl.password }, from('198.51.100.7'));
	assertJsonError(blocked.r, 429, 'right password after 3 failures from the address', 'too many failed logins');
	assert.ok(Date.now() - t0 < 2000, 'refused before hashing (fast)');
	const ra = Number(blocked.r.headers['retry-after']);
	assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After ${blocked.r.headers['retry-after']}`);
	assert.equal(blocked.setCookie, null);
	assertJsonError((await login(B, { name: 'ghost9', password: 'x' }, from('198.51.100.7'))).r, 429, 'still blocked');
	// Another address, same name: fine.
	await loginOk(B, { name: 'rl', password: S.rl.password }, from('198.51.100.8'));

	// A success does not reset the address's counter.
	for (const n of ['g1', 'g2']) await login(B, { name: n, password: 'x' }, from('198.51.100.30'));
	await loginOk(B, { name: 'rl', password: S.rl.password }, from('198.51.100.30'));
	assertJsonError((await login(B, { name: 'g3', password: 'x' }, from('198.51.100.30'))).r, 401, 'third failure');
	assertJsonError((await login(B, { name: 'rl', password: S.rl.password }, from('198.51.100.30'))).r, 429,
		'a success in between did not reset the address counter');
});

test('login throttle per name: failures from many addresses block the name', { timeout: scaled(120000) }, async () => {
	const rn = await makeUser(B, 'rn');
	for (let i = 1; i <= 3; i++) {
		const f = await login(B, { name: 'rn', password: `wrong${i}` }, { 'X-Forwarded-For': `203.0.113.${20 + i}` });
		assertJsonError(f.r, 401, `failure ${i} for rn`, 'wrong name or password');
	}
	const blocked = await login(B, { name: 'rn', password: rn.password }, { 'X-Forwarded-For': '203.0.113.40' });
	assertJsonError(blocked.r, 429, 'right password for a name with 3 failures', 'too many failed logins');
	const ra = Number(blocked.r.headers['retry-after']);
	assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After ${blocked.r.headers['retry-after']}`);
	// A success resets the name's counter: 2 failures, success, 2 failures, success.
	const rs = await makeUser(B, 'rs');
	let ip = 60;
	for (const round of [1, 2]) {
		for (let i = 0; i < 2; i++)
			assertJsonError((await login(B, { name: 'rs', password: 'no' }, { 'X-Forwarded-For': `203.0.113.${ip++}` })).r,
				401, `rs failure (round ${round})`);
		await loginOk(B, { name: 'rs', password: rs.password }, { 'X-Forwarded-For': `203.0.113.${ip++}` });
	}
	// Other names from that address are not blocked.
	await loginOk(B, { name: 'rl', password: S.rl.password }, { 'X-Forwarded-For': '203.0.113.40' });
	// The token of the blocked name still works: the throttle is about logins.
	assert.equal((await req('GET', `${B.url}/api/imports`, { headers: rn.headers })).status, 200);
});

// Guesses sent all at once are each counted when they arrive, not when their
// hash is done: no more than --login-max-failures (3 on B) of them get an
// answer other than 429.
test('login throttle: a burst of guesses at once gets no more than the limit hashed', { timeout: scaled(120000) }, async () => {
	const from = { 'X-Forwarded-For': '198.51.100.99' };
	const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
		login(B, { name: `burst${i}`, password: 'x' }, from)));
	const statuses = answers.map((a) => a.r.status);
	assert.equal(statuses.filter((st) => st === 401).length, 3, `3 wrong-password answers, the rest 429: ${statuses}`);
	assert.equal(statuses.filter((st) => st === 429).length, 9, `${statuses}`);
	const byName = await Promise.all(Array.from({ length: 12 }, (_, i) =>
		login(B, { name: 'burst-name', password: `x${i}` }, { 'X-Forwarded-For': `198.51.100.${100 + i}` })));
	const st2 = byName.map((a) => a.r.status);
	assert.equal(st2.filter((st) => st === 401).length, 3, `one name from 12 addresses at once: ${st2}`);
});

test('--trust-proxy: Secure cookie and X-Forwarded-For only from a trusted peer; access log', { timeout: scaled(60000) }, async () => {
	const sec = await loginOk(B, { name: 'rl', password: S.rl.password },
		{ 'X-Forwarded-For': '192.0.2.50', 'X-Forwarded-Proto': 'https' });
	assert.ok(sec.setCookie.split(';').map((s) => s.trim().toLowerCase()).includes('secure'),
		`Secure behind a trusted proxy with X-Forwarded-Proto: https: ${sec.setCookie}`);
	const plain = await loginOk(B, { name: 'rl', password: S.rl.password }, { 'X-Forwarded-For': '192.0.2.51' });
	assert.ok(!/;\s*secure/i.test(plain.setCookie), `no Secure without X-Forwarded-Proto: ${plain.setCookie}`);
	const plain2 = await loginOk(B, { name: 'rl', password: S.rl.password },
		{ 'X-Forwarded-For': '192.0.2.52', 'X-Forwarded-Proto': 'http' });
	assert.ok(!/;\s*secure/i.test(plain2.setCookie), `no Secure with X-Forwarded-Proto: http: ${plain2.setCookie}`);

	// Behind the proxy with https, the page's origin is https://HOST.
	const viaTls = { ...sec.headers, 'X-Forwarded-For': '192.0.2.50', 'X-Forwarded-Proto': 'https' };
	const okTls = await postCsv(B, tiny.buffer, 'tls-origin.csv', { ...viaTls, Origin: `https://${B.host}:${B.port}` });
	assert.equal(okTls.status, 202, `https Origin behind a TLS proxy: ${okTls.status} ${okTls.text.slice(0, 200)}`);
	assertJsonError(await postCsv(B, tiny.buffer, 'tls-origin.csv', { ...viaTls, Origin: B.url }), 403,
		'http Origin on a request that came over TLS', 'cross-origin request refused');

	// X-Forwarded-For honoured from the trusted peer (rightmost untrusted entry).
	await req('GET', `${B.url}/api/imports/777009`, { headers: { ...S.rl.headers, 'X-Forwarded-For': '203.0.113.5, 127.0.0.1' } });
	const lt = await accessLineFor(B, '/api/imports/777009', 'B');
	assert.equal(lt.match(ACCESS_RE)?.[2], '203.0.113.5', `trusted entries skipped from the right: ${lt}`);
	await req('GET', `${B.url}/api/imports/777001?x=1`, { headers: { ...S.rl.headers, 'X-Forwarded-For': '10.9.9.9, 203.0.113.77' } });
	const lb = await accessLineFor(B, '/api/imports/777001', 'B');
	const mb = lb.match(ACCESS_RE);
	assert.ok(mb, `access line: ${lb}`);
	assert.equal(mb[2], '203.0.113.77', `client address behind a trusted proxy: ${lb}`);
	assert.equal(mb[3], 'rl', lb);
	assert.equal(mb[6], '404', lb);
	// ... and ignored from anyone else (server A trusts nobody).
	await req('GET', `${A.url}/api/imports/777002?x=1`, { headers: { Authorization: `Bearer ${S.alice.token}`, 'X-Forwarded-For': '203.0.113.78' } });
	const la = await accessLineFor(A, '/api/imports/777002', 'A');
	const ma = la.match(ACCESS_RE);
	assert.ok(ma, `access line: ${la}`);
	assert.equal(ma[2], '127.0.0.1', `X-Forwarded-For ignored from an untrusted peer: ${la}`);
});

test('access log: one line per request with address, user, method, path without query, status', { timeout: scaled(60000) }, async () => {
	const bearer = { Authorization: `Bearer ${S.alice.token}` };
	const q = 'QUERYSECRET' + crypto.randomBytes(4).toString('hex');
	secret(q, 'query string');
	await req('GET', `${A.url}/api/imports/${S.aliceJob}/properties?limit=5&q=${q}`, { headers: bearer }); // (a search for the secret: the query never reaches the log)
	const l1 = await accessLineFor(A, `/api/imports/${S.aliceJob}/properties`, 'properties');
	const m1 = l1.match(ACCESS_RE);
	assert.ok(m1, `access line format: ${JSON.stringify(l1)}`);
	assert.ok(!Number.isNaN(Date.parse(m1[1])) && /Z$/.test(m1[1]), `time ${m1[1]}`);
	assert.deepEqual([m1[2], m1[3], m1[4], m1[5], m1[6]],
		['127.0.0.1', 'alice', 'GET', `/api/imports/${S.aliceJob}/properties`, '200'], l1);
	assert.ok(Number(m1[7]) > 0, `bytes ${m1[7]}`);
	const n0 = accessLines(A).length;
	const sized = await req('GET', `${A.url}/api/imports/${S.aliceJob}`, { headers: bearer });
	const ls = await waitFor(() => accessLines(A).slice(n0).find((l) => l.includes(` GET /api/imports/${S.aliceJob} `)),
		3000, 'ACCESS line of the job');
	assert.equal(Number(ls.match(ACCESS_RE)?.[7]), sized.body.length, `bytes = the body's length: ${ls}`);

	await req('GET', `${A.url}/api/imports/888003`);
	const l2 = await accessLineFor(A, '/api/imports/888003', 'anonymous');
	const m2 = l2.match(ACCESS_RE);
	assert.ok(m2, l2);
	assert.equal(m2[3], '-', `no user: ${l2}`);
	assert.equal(m2[6], '401', l2);

	// Every line of the format.
	for (const l of accessLines(A)) assert.match(l, ACCESS_RE, `access line format: ${JSON.stringify(l)}`);
});

test('access log: a WebSocket gets one line, at its close, with 101 and its lifetime', {
	timeout: scaled(30000),
}, async () => {
	const bearer = { Authorization: `Bearer ${S.alice.token}` };
	// A WebSocket is logged once, at close, with 101 and its lifetime.
	const wsLines = () => accessLines(A).filter((l) => / alice GET \/api\/events 101 /.test(l));
	const before = wsLines().length;
	const w = await wsTry(A, bearer);
	assert.equal(w.open, true);
	await waitFor(() => w.messages.length > 0, 10000, 'snapshot');
	await sleep(400);
	const whileOpen = wsLines().length;
	w.ws.close();
	await waitFor(() => wsLines().length > before, 5000, 'ACCESS line of the WebSocket');
	await sleep(300);
	assert.equal(wsLines().length, before + 1, 'one ACCESS line per WebSocket');
	const wl = wsLines().pop();
	assert.equal(whileOpen, before, `the WebSocket is logged at close, not at the upgrade: ${wl}`);
	const wm = wl.match(ACCESS_RE);
	assert.ok(wm && Number(wm[8]) >= 300, `the WebSocket's line has its lifetime (open >= 400 ms): ${wl}`);
});

// ---------------------------------------------------------------------------
// Per-user limits (server C).

test('--user-max-imports: the third concurrent upload gets 429 + Retry-After; after a DELETE one more fits', {
	timeout: scaled(60000),
}, async () => {
	const u = await makeUser(C, 'lima');
	const ids = [];
	for (let i = 0; i < 2; i++) {
		const r = await tusCreateAs(C, 1000, u.headers);
		assert.equal(r.status, 201, `creation ${i + 1}: ${r.status} ${r.text.slice(0, 200)}`);
		ids.push(r.json.id);
	}
	const third = await tusCreateAs(C, 1000, u.headers);
	assertJsonError(third, 429, 'third concurrent tus creation', 'too many imports running');
	assert.deepEqual(third.json.detail, { running: 2, max: 2 }, `detail: ${third.text}`);
	assert.equal(third.headers['retry-after'], '5', `Retry-After ${third.headers['retry-after']}`);
	const oneShot = await postCsv(C, tiny.buffer, 'third.csv', u.headers);
	assertJsonError(oneShot, 429, 'third concurrent one-shot upload', 'too many imports running');
	assert.equal(oneShot.headers['retry-after'], '5');
	// Another user is not limited by lima's uploads.
	const other = await makeUser(C, 'limother');
	const o = await tusCreateAs(C, 1000, other.headers);
	assert.equal(o.status, 201, `another user's creation: ${o.status} ${o.text.slice(0, 200)}`);
	assert.equal((await req('DELETE', `${C.url}/api/imports/${o.json.id}`, { headers: { ...TUS, ...other.headers } })).status, 204);

	const d = await req('DELETE', `${C.url}/api/imports/${ids[0]}`, { headers: { ...TUS, ...u.headers } });
	assert.equal(d.status, 204, `DELETE: ${d.status} ${d.text.slice(0, 200)}`);
	const again = await tusCreateAs(C, 1000, u.headers);
	assert.equal(again.status, 201, `creation after a DELETE: ${again.status} ${again.text.slice(0, 200)}`);
	for (const id of [ids[1], again.json.id])
		assert.equal((await req('DELETE', `${C.url}/api/imports/${id}`, { headers: { ...TUS, ...u.headers } })).status, 204);
	// Finished imports do not count.
	for (let i = 0; i < 3; i++) {
		const r = await postCsv(C, tiny.buffer, `seq${i}.csv`, u.headers);
		assert.equal(r.status, 202, `sequential upload ${i}: ${r.status} ${r.text.slice(0, 200)}`);
		await waitJobAs(C, r.json.id, u.headers);
	}
});

test('--user-max-bytes: a declared length over the quota gets 413; --max-upload still 413', { timeout: scaled(60000) }, async () => {
	const u = await makeUser(C, 'limb');
	const over = await tusCreateAs(C, 1024 * 1024 + 1, u.headers);
	assertJsonError(over, 413, 'tus creation over the bytes quota', 'storage quota exceeded');
	const ok = await tusCreateAs(C, 512 * 1024, u.headers);
	assert.equal(ok.status, 201, `creation within the quota: ${ok.status} ${ok.text.slice(0, 200)}`);
	assert.equal((await req('DELETE', `${C.url}/api/imports/${ok.json.id}`, { headers: { ...TUS, ...u.headers } })).status, 204);
	// A one-shot upload whose Content-Length is over the quota: 413 before the body.
	const head = `POST /api/imports?name=big.csv HTTP/1.1\r\nHost: ${C.host}:${C.port}\r\n` +
		`Authorization: Bearer ${u.token}\r\nContent-Type: text/csv\r\nContent-Length: ${1536 * 1024}\r\n\r\n`;
	const x = await rawExchange(C.host, C.port, head, { timeoutMs: 10000 });
	assert.equal(x.responses.length, 1, 'an answer before the body');
	assert.equal(x.responses[0].status, 413, `one-shot over the bytes quota: ${x.responses[0].status} ${x.responses[0].text}`);
	assert.equal(x.responses[0].json?.error, 'storage quota exceeded', x.responses[0].text);

	// --max-upload (2M on C, 64M on A).
	assertJsonError(await tusCreateAs(C, 3 * 1024 * 1024, u.headers), 413, 'tus creation over --max-upload');
	assertJsonError(await tusCreateAs(A, MAX_UPLOAD_A + 1, { Authorization: `Bearer ${S.alice.token}` }), 413,
		'tus creation over --max-upload on A');
	const headA = `POST /api/imports?name=huge.csv HTTP/1.1\r\nHost: ${A.host}:${A.port}\r\n` +
		`Authorization: Bearer ${S.alice.token}\r\nContent-Type: text/csv\r\nContent-Length: ${MAX_UPLOAD_A + 1}\r\n\r\n`;
	const y = await rawExchange(A.host, A.port, headA, { timeoutMs: 10000 });
	assert.equal(y.responses[0]?.status, 413, `one-shot over --max-upload: ${y.responses[0]?.text}`);
});

test('--user-max-rows: at the quota the next upload gets 413; an import crossing it fails', { timeout: scaled(120000) }, async () => {
	const u = await makeUser(C, 'limc');
	const f2000 = generate({ rows: 2000, rejected: 0, seed: 3101, blankLines: 0 });
	const r = await postCsv(C, f2000.buffer, 'rows2000.csv', u.headers);
	assert.equal(r.status, 202, `2000 rows: ${r.status} ${r.text.slice(0, 200)}`);
	const j = await waitJobAs(C, r.json.id, u.headers, ['done', 'failed']);
	assert.equal(j.state, 'done', `exactly the quota fits: ${brief(j)}`);
	assert.equal(j.rows_inserted, 2000);
	const next = await postCsv(C, tiny.buffer, 'one-more.csv', u.headers);
	assertJsonError(next, 413, 'upload at the row quota', 'row quota exceeded');
	const nextTus = await tusCreateAs(C, 1000, u.headers);
	assertJsonError(nextTus, 413, 'tus creation at the row quota', 'row quota exceeded');
	// Deleting the import gives the rows back.
	assert.equal((await req('DELETE', `${C.url}/api/imports/${j.id}`, { headers: u.headers })).status, 204);
	const after = await postCsv(C, tiny.buffer, 'after-delete.csv', u.headers);
	assert.equal(after.status, 202, `upload after deleting: ${after.status} ${after.text.slice(0, 200)}`);
	await waitJobAs(C, after.json.id, u.headers);

	const v = await makeUser(C, 'limd');
	const f2500 = generate({ rows: 2500, rejected: 0, seed: 3102, blankLines: 0 });
	const p = await postCsv(C, f2500.buffer, 'rows2500.csv', v.headers);
	if (p.status === 413) {
		assert.equal(p.json?.error, 'row quota exceeded', `413 while crossing: ${p.text}`);
	} else {
		assert.equal(p.status, 202, `2500 rows: ${p.status} ${p.text.slice(0, 200)}`);
	}
	const list = await req('GET', `${C.url}/api/imports`, { headers: v.headers });
	assert.equal(list.json.items.length, 1, `limd has one job: ${list.text.slice(0, 300)}`);
	const fj = await waitJobAs(C, list.json.items[0].id, v.headers, ['failed']);
	assert.match(fj.error || '', /row quota exceeded/, `error of the crossing import: ${brief(fj)}`);
	assert.equal(fj.rows_inserted, 2000, `every row up to the quota stored: ${brief(fj)}`);
});

// Two imports of one user at once share what is left of the quotas. Before
// schema/005_quota.sql each was given the whole remainder when admitted, and
// both could use it (here: 3000 rows stored under a quota of 2000).
test('--user-max-rows: two imports at once share what is left of the row quota', { timeout: scaled(120000) }, async () => {
	const u = await makeUser(C, 'limr2');
	const files = [0, 1].map((i) => generate({ rows: 1500, rejected: 0, seed: 3110 + i, blankLines: 0 }));
	const answers = await Promise.all(files.map((f, i) => uploadChunked(
		`${C.url}/api/imports?name=half-${i}.csv`, f.buffer, 4096, 5, { headers: u.headers })));
	for (const a of answers)
		assert.ok(a.status === 202 || (a.status === 413 && a.json?.error === 'row quota exceeded'),
			`each upload is taken or refused for the quota: ${a.status} ${a.text.slice(0, 200)}`);
	const list = await req('GET', `${C.url}/api/imports`, { headers: u.headers });
	const jobs = [];
	for (const it of list.json.items) jobs.push(await waitJobAs(C, it.id, u.headers, ['done', 'failed']));
	assert.equal(jobs.length, 2, `both uploads made a job: ${list.text.slice(0, 300)}`);
	const failed = jobs.filter((j) => j.state === 'failed');
	assert.ok(failed.length >= 1, `one import stops at the quota: ${jobs.map(brief).join(' | ')}`);
	for (const j of failed) assert.match(j.error || '', /row quota exceeded/, brief(j));
	const total = jobs.reduce((n, j) => n + j.rows_inserted, 0);
	assert.ok(total <= 2000, `stored ${total} rows under a quota of 2000: ${jobs.map(brief).join(' | ')}`);
	for (const j of jobs) assert.equal(j.rows_parsed, j.rows_inserted + j.rows_rejected, `every row accounted for: ${brief(j)}`);
});

test('--user-max-bytes: a running upload of declared length holds its bytes of the quota', { timeout: scaled(60000) }, async () => {
	const u = await makeUser(C, 'limb2');
	const first = await tusCreateAs(C, 600 * 1024, u.headers);
	assert.equal(first.status, 201, `first creation: ${first.status} ${first.text.slice(0, 200)}`);
	const second = await tusCreateAs(C, 600 * 1024, u.headers);
	assertJsonError(second, 413, 'a second 600K upload beside a running 600K one, quota 1M', 'storage quota exceeded');
	const small = await tusCreateAs(C, 400 * 1024, u.headers);
	assert.equal(small.status, 201, `what is left still fits: ${small.status} ${small.text.slice(0, 200)}`);
	for (const r of [first, small])
		assert.equal((await req('DELETE', `${C.url}/api/imports/${r.json.id}`, { headers: { ...TUS, ...u.headers } })).status, 204);
	const again = await tusCreateAs(C, 600 * 1024, u.headers);
	assert.equal(again.status, 201, `after deleting, the bytes are free: ${again.status} ${again.text.slice(0, 200)}`);
	assert.equal((await req('DELETE', `${C.url}/api/imports/${again.json.id}`, { headers: { ...TUS, ...u.headers } })).status, 204);
});

test('--access-log FILE: the lines go to the file, not to stderr', { timeout: scaled(30000) }, async () => {
	const u = await makeUser(C, 'logfile');
	await req('GET', `${C.url}/api/imports/555001?q=1`, { headers: u.headers });
	const line = await waitFor(() => {
		const t = fs.existsSync(ACCESS_FILE) ? fs.readFileSync(ACCESS_FILE, 'utf8') : '';
		return t.split('\n').find((l) => l.includes(' /api/imports/555001 '));
	}, 5000, 'the line in the access log file');
	assert.match(line, ACCESS_RE, line);
	assert.match(line, / logfile GET \/api\/imports\/555001 404 /, line);
	assert.equal(accessLines(C).length, 0, 'no ACCESS line on stderr');
	const all = fs.readFileSync(ACCESS_FILE, 'utf8');
	for (const [sec, what] of SECRETS) if (sec && sec.length >= 8 && all.includes(sec)) assert.fail(`${what} in the access log file`);
});

// ---------------------------------------------------------------------------
// Issue 10: why a 401; the password rule; what a password change ends;
// --public-url.

test('401 says what was missing or wrong, the same for an unknown and a disabled user', {
	timeout: scaled(60000),
}, async () => {
	const u = await makeUser(A, 'rita');
	const get = (headers) => req('GET', `${A.url}/api/imports`, { headers });
	const reasonOf = (r, what) => {
		assert401(r, what);
		assert.ok(r.json.detail && typeof r.json.detail.reason === 'string', `${what}: detail.reason ${r.text}`);
		return r.json.detail.reason;
	};
	assert.match(reasonOf(await get({}), 'nothing'), /no credentials/);
	assert.match(reasonOf(await get({ Authorization: 'Basic cml0YTpwdw==' }), 'Basic'), /malformed Authorization/);
	assert.match(reasonOf(await get({ Authorization: 'Bearer nonsense' }), 'Bearer nonsense'), /malformed Authorization/);
	assert.match(reasonOf(await get({ Authorization: 'Bearer' }), 'Bearer without a token'), /malformed Authorization/);
	const fakeToken = `pft_${crypto.randomBytes(32).toString('base64url')}`;
	const unknownTok = reasonOf(await get({ Authorization: `Bearer ${fakeToken}` }), 'unknown token');
	assert.match(unknownTok, /unknown or revoked/);
	const fakeSession = crypto.randomBytes(32).toString('base64url');
	assert.match(reasonOf(await get({ Cookie: `pf_session=${fakeSession}` }), 'unknown session'), /unknown or expired session/);
	assert.match(reasonOf(await get({ Cookie: 'pf_session=short' }), 'malformed cookie'), /unknown or expired session/);
	assert.match(reasonOf(await req('GET', `${A.url}/api/session`, { headers: {} }), 'GET /api/session'), /no credentials/);
	// a disabled user's token reads exactly like one that never existed
	assert.equal((await user(A, ['disable', 'rita'])).code, 0);
	const r = await get(u.headers);
	assert.equal(reasonOf(r, 'disabled user\'s token'), unknownTok, 'no hint that the user exists');
	const x = await get({ Authorization: `Bearer ${fakeToken}` });
	assert.equal(r.text, x.text, 'the same body for a disabled user\'s token and an unknown one');
	assert.equal((await user(A, ['enable', 'rita'])).code, 0);
});

test('password rule: at least 8 characters, not a common password (API and CLI)', {
	timeout: scaled(120000),
}, async () => {
	const u = await makeUser(A, 'polly');
	const l = await loginOk(A, { name: 'polly', password: u.password });
	const post = (body, headers = l.headers) => req('POST', `${A.url}/api/account/password`, {
		body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers },
	});
	for (const [pw, re] of [['short', /at least 8/], ['seven77', /at least 8/], ['ünïcödé', /at least 8/],
		['password123', /common/], ['Password123', /common/], ['QWERTYUIOP', /common/],
		['iloveyou', /common/], ['', /at least 8|missing/]]) {
		const r = await post({ current: u.password, new: pw });
		assertJsonError(r, 400, `new password ${JSON.stringify(pw)}`);
		assert.match(r.json.error, re, `new password ${JSON.stringify(pw)}: ${r.json.error}`);
	}
	// 8 characters that are not ASCII are 8 characters
	const eight = 'éàüöçñßø';
	assert.equal((await post({ current: u.password, new: eight })).status, 204, 'eight non-ASCII characters');
	await loginOk(A, { name: 'polly', password: eight });

	for (const [pw, re] of [['short', /at least 8/], ['Password1', /common/], ['football', /common/]]) {
		const a = await user(A, ['add', 'pollyx'], { input: `${pw}\n` });
		assert.equal(a.code, 1, `user add with ${pw}: ${cliMsg(a)}`);
		assert.match(a.stderr, re, cliMsg(a));
		const p = await user(A, ['password', 'polly'], { input: `${pw}\n` });
		assert.equal(p.code, 1, `user password with ${pw}: ${cliMsg(p)}`);
		assert.match(p.stderr, re, cliMsg(p));
	}
	const listed = JSON.parse((await user(A, ['list', '--json'])).stdout);
	assert.ok(!listed.some((x) => x.name === 'pollyx'), 'no user made with a refused password');
	await loginOk(A, { name: 'polly', password: eight });
});

test('a password change revokes the API tokens and ends the other sessions, keeping the current one', {
	timeout: scaled(120000),
}, async () => {
	const u = await makeUser(A, 'tess');
	const t2 = secret((await user(A, ['token', 'tess'])).stdout.trim(), 'second token of tess');
	const l1 = await loginOk(A, { name: 'tess', password: u.password });
	const l2 = await loginOk(A, { name: 'tess', password: u.password });
	const ok = (headers) => req('GET', `${A.url}/api/imports`, { headers });
	const pw2 = secret('tess-two-' + crypto.randomBytes(6).toString('hex'), 'password of tess');
	const c = await req('POST', `${A.url}/api/account/password`, {
		body: JSON.stringify({ current: u.password, new: pw2 }),
		headers: { 'Content-Type': 'application/json', ...l1.headers },
	});
	assert.equal(c.status, 204, `change: ${c.status} ${c.text.slice(0, 200)}`);
	assert.equal((await ok(l1.cookie)).status, 200, 'the session that changed it goes on');
	const s2 = await ok(l2.cookie);
	assert401(s2, 'the other session');
	assert.match(s2.json.detail.reason, /session/);
	for (const [tok, what] of [[u.token, 'first token'], [t2, 'second token']]) {
		const r = await ok({ Authorization: `Bearer ${tok}` });
		assert401(r, `${what} after the password change`);
		assert.match(r.json.detail.reason, /unknown or revoked/);
	}
	// changed with a token: that token goes on, the user's others end
	const t3 = secret((await user(A, ['token', 'tess'])).stdout.trim(), 'third token of tess');
	const t4 = secret((await user(A, ['token', 'tess'])).stdout.trim(), 'fourth token of tess');
	const pw3 = secret('tess-three-' + crypto.randomBytes(6).toString('hex'), 'password of tess');
	const c3 = await req('POST', `${A.url}/api/account/password`, {
		body: JSON.stringify({ current: pw2, new: pw3 }),
		headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${t3}` },
	});
	assert.equal(c3.status, 204, `change by token: ${c3.status} ${c3.text.slice(0, 200)}`);
	assert.equal((await ok({ Authorization: `Bearer ${t3}` })).status, 200, 'the token that changed it goes on');
	assert401(await ok({ Authorization: `Bearer ${t4}` }), 'another token after a change by token');
	assert401(await ok(l1.cookie), 'the session after a change by token');
	// the CLI: sessions and tokens all end
	const l5 = await loginOk(A, { name: 'tess', password: pw3 });
	const pw4 = secret('tess-four-' + crypto.randomBytes(6).toString('hex'), 'password of tess');
	const p = await user(A, ['password', 'tess'], { input: `${pw4}\n` });
	assert.equal(p.code, 0, cliMsg(p));
	assert.match(p.stdout, /1 API token revoked/, p.stdout);
	assert401(await ok({ Authorization: `Bearer ${t3}` }), 'token after `user password`');
	assert401(await ok(l5.cookie), 'session after `user password`');
	await loginOk(A, { name: 'tess', password: pw4 });
});

test('--public-url: Origin is checked against the configured origins, not the Host header', {
	timeout: scaled(60000),
}, async () => {
	const d = await makeUser(D, 'dora');
	const post = (origin, host) => postCsv(D, tiny.buffer, 'o.csv',
		{ ...d.headers, Origin: origin, ...(host ? { Host: host } : {}) });
	for (const [origin, host] of [['https://props.example.com', 'evil.example'],
		['https://PROPS.example.com:443', null], ['https://props.example.com/', null],
		['http://alt.example:8080', 'alt.example:8080'], ['https://third.example:8443', null]]) {
		const r = await post(origin, host);
		assert.equal(r.status, 202, `Origin ${origin} (Host ${host}): ${r.status} ${r.text.slice(0, 200)}`);
		await waitJobAs(D, r.json.id, d.headers);
	}
	for (const [origin, host] of [['http://evil.example', 'evil.example'], ['http://props.example.com', null],
		['https://props.example.com:8443', null], ['http://alt.example', null], [D.url, null],
		['https://evil.example', 'props.example.com'], ['null', null]]) {
		assertJsonError(await post(origin, host), 403, `Origin ${origin} (Host ${host || 'the server'})`,
			'cross-origin request refused');
	}
	const bad = await wsTry(D, d.headers, 'http://evil.example');
	assert.equal(bad.status, 403, `WebSocket, foreign Origin: ${JSON.stringify(bad).slice(0, 200)}`);
	const good = await wsTry(D, d.headers, 'https://props.example.com');
	assert.equal(good.open, true, `WebSocket, public Origin: ${JSON.stringify(good).slice(0, 200)}`);
	good.ws.close();
	// the first run's link and `user link` name the first public URL
	assert.match(D.stdout(), /log in as admin at https:\/\/props\.example\.com\/app\/#login=/, D.stdout());
	const k = await user(D, ['link', 'dora']);
	assert.equal(k.code, 0, cliMsg(k));
	assert.match(k.stdout.trim(), /^https:\/\/props\.example\.com\/app\/#login=[A-Za-z0-9_-]{43}$/, k.stdout);
	secret(k.stdout.trim().split('#login=')[1], 'login link');
	// a --public-url that is not an http(s) URL with a host stops the start
	for (const v of ['ftp://x.example', 'props.example.com', 'https://', 'https://a@b.example']) {
		const x = await runCli(['serve', '--public-url', v, '--listen', '127.0.0.1:0', '--data-dir', D.dataDir],
			{ timeoutMs: 30000 });
		assert.equal(x.code, 2, `--public-url ${v}: exit ${x.code} ${x.stderr.slice(0, 300)}`);
		assert.match(x.stderr, /--public-url/, x.stderr);
	}
});

// ---------------------------------------------------------------------------
// Last: nothing secret reached A's log.

test('no password, token, cookie, CSRF token or link secret in the server log', async () => {
	const log = A.stderr();
	assert.ok(log.length > 0);
	// lib.mjs's own login of the administrator (when it did one).
	for (const srv of [A, B, C]) {
		if (srv.firstRunLink) secret(srv.firstRunLink.split('#login=')[1], 'first-run link (lib login)');
		if (srv.auth && srv.auth.cookie) secret(srv.auth.cookie.replace(/^pf_session=/, ''), 'admin cookie (lib login)');
		if (srv.auth && srv.auth.csrf) secret(srv.auth.csrf, 'admin csrf (lib login)');
	}
	const leaked = [];
	for (const [s, what] of SECRETS) if (s && s.length >= 8 && log.includes(s)) leaked.push(what);
	assert.deepEqual(leaked, [], `secrets found in A's stderr (${SECRETS.size} checked)`);
	for (const [s, what] of SECRETS) if (s && s.length >= 8 && B.stderr().includes(s)) leaked.push(`B: ${what}`);
	for (const [s, what] of SECRETS) if (s && s.length >= 8 && C.stderr().includes(s)) leaked.push(`C: ${what}`);
	assert.deepEqual(leaked, [], 'secrets found in B\'s or C\'s stderr');
	assert.ok(SECRETS.size >= 10, `${SECRETS.size} secrets checked`);
});
