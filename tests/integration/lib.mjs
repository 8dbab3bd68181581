// lib.mjs - helpers for propflow's integration tests: start the real server
// (embedded PostgreSQL in a fresh data directory), plain HTTP requests on
// node's `http` module, chunked uploads in small pieces, a WebSocket client
// that keeps every message, and polling/paging helpers. Every request is
// authenticated by default as the server's administrator (see "Accounts"
// below and tests/README.md).
//
// Environment (set by tests/meson.build): PROPFLOW_BIN (the server binary),
// PROPFLOW_SRC (the source tree, for static/), PROPFLOW_BUILD. Optional:
// PROPFLOW_TEST_TMP (where data directories go, default the OS temp dir; it
// must be reachable by the `postgres` user when run as root),
// PROPFLOW_KEEP_TMP=1 (keep data directories), PROPFLOW_TEST_VERBOSE=1
// (copy the server's stderr to ours as it comes).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test as nodeTest } from 'node:test';
import { describe as describeFactor, scaled, timeFactor } from '../timefactor.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export const BIN = process.env.PROPFLOW_BIN ||
	path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/propflow');
export const SRC = process.env.PROPFLOW_SRC ||
	path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

// Every wait and timeout is stretched by the time factor measured for this
// run: the build kind (PROPFLOW_TIME_FACTOR: 3 under ASan/UBSan, 10 under
// valgrind) times how busy the machine is now (tests/timefactor.mjs).
export { scaled, timeFactor } from '../timefactor.mjs';
export const TIME_FACTOR = timeFactor();
process.stderr.write(`# ${describeFactor()}\n`);
// PROPFLOW_WRAP: a command line the server runs under (tests/run's valgrind run).
export const WRAP = (process.env.PROPFLOW_WRAP || '').split(/\s+/).filter(Boolean);
/**
 * test(name, [options], fn): node:test's test, with options.timeout stretched
 * by the time factor at the moment the test starts (files import `test` from
 * here, so no test's time limit is a constant tuned on a quiet machine).
 */
export function test(name, options, fn) {
	if (typeof options === 'function') return nodeTest(name, options);
	if (options && typeof options.timeout === 'number') {
		options = { ...options, timeout: scaled(options.timeout) };
	}
	return nodeTest(name, options, fn);
}

const READY_TIMEOUT_MS = scaled(90000);
const STOP_TIMEOUT_MS = scaled(15000);
const STDERR_KEEP = 256 * 1024; // bytes of server stderr kept for diagnostics

// A fresh directory, mode 0755 so that the `postgres` user can reach what
// the server creates in it when the tests run as root.
export function tempDir(prefix = 'propflow-it-') {
	const base = process.env.PROPFLOW_TEST_TMP || os.tmpdir();
	const dir = fs.mkdtempSync(path.join(base, prefix));
	fs.chmodSync(dir, 0o755);
	return dir;
}

export function removeDir(dir) {
	if (!dir || process.env.PROPFLOW_KEEP_TMP === '1') return;
	try {
		fs.rmSync(dir, { recursive: true, force: true });
	} catch (e) {
		process.stderr.write(`# could not remove ${dir}: ${e.message}\n`);
	}
}

// Environment for the server: ours without DATABASE_URL, so that it runs
// the embedded PostgreSQL unless a test asks otherwise.
export function serverEnv(extra = {}) {
	const env = { ...process.env, ...extra };
	if (!('DATABASE_URL' in extra)) delete env.DATABASE_URL;
	return env;
}

// PIDs of live processes whose command line mentions text (e.g. a data dir).
export function processesMentioning(text) {
	const out = [];
	for (const p of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
		let cmd;
		try {
			cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
		} catch {
			continue;
		}
		if (cmd.includes(text)) out.push({ pid: Number(p), cmd: cmd.trim() });
	}
	return out;
}

// Last resort after a SIGKILL: stop the embedded PostgreSQL the server left.
function stopLeftoverPostgres(dataDir) {
	for (const pidFile of [path.join(dataDir, 'pg', 'postmaster.pid')]) {
		try {
			const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
			if (pid > 0) process.kill(pid, 'SIGQUIT');
		} catch {
			// not running, or no such file
		}
	}
}

/**
 * startServer({args, env, dataDir, keepDir, login}) -> {url, host, port, proc,
 *   dataDir, dbKey, auth, firstRunLink, stderr(), exited, stop()}
 * Spawns `$PROPFLOW_BIN serve --listen 127.0.0.1:0 --data-dir DIR --static-dir
 * $PROPFLOW_SRC/static ...args` and waits for its "listening" line. Then it
 * logs in as the administrator (unless login: false): with the first run's
 * one-time link when the server printed one, else with the session kept
 * for the same database by an earlier start, else with a fresh link from
 * `propflow user link admin`. srv.auth = {cookie, csrf, user} is then the
 * default credential of every request to srv.url (see request()).
 */
// Servers started by startServer and not exited yet.
const LIVE = new Set();

export async function startServer({ args = [], env = {}, dataDir = null, keepDir = false,
	login = true } = {}) {
	const dir = dataDir || tempDir();
	const argv = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dir,
		'--static-dir', path.join(SRC, 'static'), ...args];
	const proc = WRAP.length ?
		spawn(WRAP[0], [...WRAP.slice(1), BIN, ...argv], { env: serverEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }) :
		spawn(BIN, argv, { env: serverEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
	let errBuf = '';
	proc.stderr.setEncoding('utf8');
	proc.stderr.on('data', (s) => {
		errBuf += s;
		if (errBuf.length > STDERR_KEEP) errBuf = errBuf.slice(errBuf.length - STDERR_KEEP);
		if (process.env.PROPFLOW_TEST_VERBOSE === '1') process.stderr.write(s);
	});
	let exitInfo = null;
	const exited = new Promise((resolve) => {
		proc.on('exit', (code, signal) => {
			exitInfo = { code, signal };
			resolve(exitInfo);
		});
	});
	const stderrTail = (lines = 40) => errBuf.split('\n').slice(-lines).join('\n');

	let outBuf = '';
	proc.stdout.setEncoding('utf8');
	const ready = new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(
			`server did not print its listening line within ${READY_TIMEOUT_MS / 1000} s`)),
			READY_TIMEOUT_MS);
		proc.stdout.on('data', (s) => {
			outBuf += s;
			const m = outBuf.match(/^propflow listening on (http:\/\/([^\s:/]+):(\d+))\s*$/m);
			if (m) {
				clearTimeout(timer);
				resolve({ url: m[1], host: m[2], port: Number(m[3]) });
			}
		});
		proc.on('error', (e) => { clearTimeout(timer); reject(e); });
		exited.then((x) => {
			clearTimeout(timer);
			reject(new Error(`server exited before listening (code ${x.code}, signal ${x.signal})`));
		});
	});

	const fail = async (e) => {
		if (!exitInfo) proc.kill('SIGKILL');
		await exited;
		stopLeftoverPostgres(dir);
		if (!dataDir && !keepDir) removeDir(dir);
		e.message += `\ncommand: ${BIN} ${argv.join(' ')}\nstdout: ${outBuf}\n` +
			`--- server stderr (tail) ---\n${stderrTail(60)}`;
		return e;
	};
	let where;
	try {
		where = await ready;
	} catch (e) {
		throw await fail(e);
	}
	const first = outBuf.match(FIRST_RUN_RE);

	let stopped = null;
	const db = dbOf(args, env, dir);
	const srv = {
		...where, proc, dataDir: dir, exited,
		dbKey: db.key,
		dbArgs: db.args,
		cliEnv: db.env,
		// The first run's one-time login URL (null when users existed);
		// already used up by the login below unless login: false.
		firstRunLink: first ? first[1] : null,
		auth: null,
		stderr: () => errBuf,
		stdout: () => outBuf,
		stderrTail,
		isRunning: () => exitInfo === null,
		request: (method, p, opts) => request(method, where.url + p, opts),
		get: (p, opts) => request('GET', where.url + p, opts),
		getJson: (p, opts) => getJson(where.url + p, opts),
		// SIGTERM, wait (SIGKILL after 15 s), then remove the data dir
		// (unless it was given or keepDir). Resolves with the exit info.
		stop: (opts = {}) => {
			stopped ??= (async () => {
				if (!exitInfo) proc.kill('SIGTERM');
				const t = setTimeout(() => {
					if (!exitInfo) {
						process.stderr.write('# server ignored SIGTERM for 15 s: SIGKILL\n');
						proc.kill('SIGKILL');
					}
				}, STOP_TIMEOUT_MS);
				const x = await exited;
				clearTimeout(t);
				if (defaultAuth(where.url) === srv.auth) setAuth(where.url, null);
				if (x.signal === 'SIGKILL') stopLeftoverPostgres(dir);
				// Diagnostics: shown by meson only when the test failed.
				process.stderr.write(`# server exit: code ${x.code} signal ${x.signal}\n` +
					`# --- server stderr (tail) ---\n${stderrTail(40).replace(/^/gm, '# ')}\n`);
				if (!dataDir && !keepDir && !opts.keepDir) removeDir(dir);
				return x;
			})();
			return stopped;
		},
	};
	if (login) {
		try {
			srv.auth = await adminLogin(srv, first ? first[2] : null);
		} catch (e) {
			throw await fail(e);
		}
		if (srv.auth) setAuth(srv.url, srv.auth);
	}
	LIVE.add(srv);
	exited.then(() => LIVE.delete(srv));
	return srv;
}

// Throws when a server's exit after SIGTERM was not clean, or when its
// stderr holds a sanitizer report (the ASan/UBSan run of tests/run).
export function checkExit(x, stderr, what) {
	const m = stderr.match(/(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: \w+Sanitizer|definitely lost: [1-9][\d,]* bytes|ERROR SUMMARY: [1-9])[^\n]*/);
	if (m) {
		const at = stderr.indexOf(m[0]);
		throw new Error(`${what}: sanitizer/valgrind report: ${m[0]}\n${stderr.slice(Math.max(0, at - 4000), at + 4000)}`);
	}
	if (x.code === 99 && WRAP.length)
		throw new Error(`${what}: valgrind found errors or a definite leak (exit 99)`);
	if (x.code !== 0)
		throw new Error(`${what} did not exit cleanly on SIGTERM: code ${x.code}, signal ${x.signal}`);
}

/**
 * useServer(opts): one server shared by every test of a file. Starts it in
 * before(), stops it in after(); returns an object that holds the server's
 * fields once started (srv.url, srv.request(...), ...).
 */
export function useServer(opts = {}) {
	const holder = {};
	before(async () => {
		Object.assign(holder, await startServer(opts));
	}, { timeout: READY_TIMEOUT_MS + 30000 });
	after(async () => {
		if (!holder.stop) return;
		const x = await holder.stop();
		try {
			checkExit(x, holder.stderr(), 'server');
		} catch (e) {
			// node:test runs no further after() hook once one throws: stop
			// the other servers of the file here, or they keep it alive
			await Promise.all([...LIVE].map((srv) => srv.stop()));
			throw e;
		}
	}, { timeout: STOP_TIMEOUT_MS + 15000 });
	return holder;
}

// ---------------------------------------------------------------------------
// Accounts (ISSUE4.md). Every /api route but GET /api/health, OPTIONS and
// /api/session wants a session cookie (plus X-CSRF-Token on state-changing
// methods) or a bearer token, the WebSocket too. startServer logs in as the
// administrator and registers that session as the default credential of
// the server's origin: request(), uploadChunked(), sendSlowly(), the tus
// helpers and wsConnect() send it unless told otherwise (auth: null for
// none, or other credentials); raw sockets add authLines(url, method).
// Sessions live in the database, so they are kept per database: a server
// restarted on the same data dir (or --db) reuses its session.

// `propflow first run: log in as admin at http://H:P/#login=SECRET (...)`
const FIRST_RUN_RE = /^propflow first run: log in as admin at (\S+#login=([A-Za-z0-9_-]+))/m;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const authByDb = new Map(); // database identity -> {cookie, csrf, user, expires_at}
const authByOrigin = new Map(); // server origin (srv.url) -> default credential

// The database a server runs on: key (its identity), the options that
// point `propflow user` at it, and the environment for the CLI.
function dbOf(args, env, dir) {
	for (let i = 0; i < args.length; i++) {
		if (args[i] === '--db' && i + 1 < args.length)
			return { key: `db:${args[i + 1]}`, args: ['--db', args[i + 1]], env: {} };
		if (String(args[i]).startsWith('--db='))
			return { key: `db:${args[i].slice(5)}`, args: [args[i]], env: {} };
	}
	if (env.DATABASE_URL)
		return { key: `db:${env.DATABASE_URL}`, args: [], env: { DATABASE_URL: env.DATABASE_URL } };
	return { key: `dir:${path.resolve(dir)}`, args: ['--data-dir', dir], env: {} };
}

function originOf(url) {
	try {
		return new URL(url).origin;
	} catch {
		return null;
	}
}

// Make auth the default credential of requests to url's origin (null: none).
export function setAuth(url, auth) {
	const o = originOf(url);
	if (auth) authByOrigin.set(o, auth);
	else authByOrigin.delete(o);
}

// The default credential of url's origin, or null.
export function defaultAuth(url) {
	return authByOrigin.get(originOf(url)) || null;
}

/**
 * authHeaders(url, method, auth) -> the headers that carry a credential.
 * auth: undefined = the default of url's origin; null/false = none; a
 * session {cookie, csrf} = Cookie (+ X-CSRF-Token unless GET/HEAD/OPTIONS);
 * a user from makeUser() = its headers; any other object = those headers.
 */
export function authHeaders(url, method = 'GET', auth = undefined) {
	if (auth === undefined) auth = defaultAuth(url);
	if (!auth) return {};
	if (typeof auth !== 'object') throw new Error(`auth must be an object, null or false: ${auth}`);
	if ('cookie' in auth && 'csrf' in auth) {
		const h = { Cookie: auth.cookie };
		if (!SAFE_METHODS.has(String(method).toUpperCase()) && auth.csrf) h['X-CSRF-Token'] = auth.csrf;
		return h;
	}
	if (auth.headers && typeof auth.headers === 'object') return { ...auth.headers };
	return { ...auth };
}

// headers plus the credential (as authHeaders). With auth undefined, a
// Cookie or Authorization header the caller set wins: nothing is added.
// Never replaces a header the caller set.
export function withAuth(url, method, headers = {}, auth = undefined) {
	const h = { ...headers };
	const has = (n) => Object.keys(h).some((k) => k.toLowerCase() === n);
	if (auth === undefined && (has('cookie') || has('authorization'))) return h;
	for (const [k, v] of Object.entries(authHeaders(url, method, auth)))
		if (!has(k.toLowerCase())) h[k] = v;
	return h;
}

// The credential as raw request-head lines ("Name: value\r\n" each), for
// requests written on a socket by hand.
export function authLines(url, method = 'GET', auth = undefined) {
	return Object.entries(authHeaders(url, method, auth)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
}

/**
 * login(url, body) -> {cookie, csrf, user, expires_at}: POST /api/session
 * with body ({link} or {name, password}); throws unless 200 with a
 * pf_session cookie.
 */
export async function login(url, body) {
	const r = await request('POST', `${url}/api/session`, {
		body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, auth: null,
	});
	const cookies = [].concat(r.headers['set-cookie'] || []);
	const cookie = cookies.map((c) => c.split(';')[0].trim()).find((c) => c.startsWith('pf_session='));
	if (r.status !== 200 || !r.json || typeof r.json.csrf !== 'string' || !cookie)
		throw new Error(`POST /api/session ${JSON.stringify(Object.keys(body))}: ${r.status} ` +
			`set-cookie ${JSON.stringify(cookies)} ${r.text.slice(0, 300)}`);
	return { cookie, csrf: r.json.csrf, user: r.json.user, expires_at: r.json.expires_at };
}

// The administrator's session for srv (see startServer), or null for a
// server without accounts (GET /api/session is 404 there).
async function adminLogin(srv, secret) {
	if (secret) {
		const a = await login(srv.url, { link: secret });
		authByDb.set(srv.dbKey, a);
		return a;
	}
	const known = authByDb.get(srv.dbKey);
	const r = await request('GET', `${srv.url}/api/session`, { auth: known || null });
	if (r.status === 404) return null;
	if (known && r.status === 200) return known;
	// Users exist but we hold no live session for this database (e.g. the
	// CLI made it): a one-time link from `propflow user link admin`.
	const c = await userCli(srv, ['link', 'admin']);
	const m = c.stdout.match(/#login=([A-Za-z0-9_-]+)/);
	if (c.code !== 0 || !m)
		throw new Error(`no first-run link, no session kept for ${srv.dbKey}, and ` +
			`\`propflow user link admin\` gave: exit ${c.code}\n${c.stdout}\n${c.stderr.slice(-2000)}`);
	const a = await login(srv.url, { link: m[1] });
	authByDb.set(srv.dbKey, a);
	return a;
}

/**
 * userCli(srv, args, {input, env, timeoutMs}) -> {code, signal, stdout,
 * stderr} of `propflow user ...args` on srv's database (its --data-dir, or
 * its --db / DATABASE_URL). It may run while srv does.
 */
export function userCli(srv, args, { input = null, env = {}, timeoutMs = 60000 } = {}) {
	return runCli(['user', ...args, ...srv.dbArgs], { env: { ...srv.cliEnv, ...env }, input, timeoutMs });
}

/**
 * makeUser(srv, name, {admin, password}) -> {name, password, token, headers}:
 * `propflow user add NAME [--admin]` (password from stdin when given, else
 * the generated one printed), then `propflow user token NAME`. headers =
 * {Authorization: 'Bearer TOKEN'}; the result can be passed as auth.
 */
export async function makeUser(srv, name, { admin = false, password = null } = {}) {
	const a = await userCli(srv, ['add', name, ...(admin ? ['--admin'] : [])],
		{ input: password === null ? '' : `${password}\n` });
	if (a.code !== 0) throw new Error(`propflow user add ${name}: exit ${a.code}\n${a.stdout}\n${a.stderr}`);
	const pw = password ?? (a.stdout.match(/^password: (\S+)/m) || [])[1] ?? null;
	const t = await userCli(srv, ['token', name]);
	const token = t.stdout.trim().split('\n').pop()?.trim() || '';
	if (t.code !== 0 || !/^pft_[A-Za-z0-9_-]+$/.test(token))
		throw new Error(`propflow user token ${name}: exit ${t.code}\n${t.stdout}\n${t.stderr}`);
	return { name, password: pw, token, headers: { Authorization: `Bearer ${token}` } };
}

/**
 * request(method, url, {body, headers, timeout, auth}) -> {status, headers,
 * body (Buffer), text, json (parsed, or undefined)}. One connection per
 * request. auth: undefined = the default credential of url's origin (see
 * authHeaders); null/false = none; an object = those credentials.
 */
export function request(method, url, { body = null, headers = {}, timeout = 30000, auth } = {}) {
	timeout = scaled(timeout);
	const h = withAuth(url, method, headers, auth);
	const has = (n) => Object.keys(h).some((k) => k.toLowerCase() === n);
	if (body !== null && !has('content-length') && !has('transfer-encoding'))
		h['Content-Length'] = Buffer.byteLength(body);
	return new Promise((resolve, reject) => {
		const req = http.request(url, { method, headers: h, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve(finishResponse(res, chunks)));
			res.on('error', reject);
		});
		req.setTimeout(timeout, () => req.destroy(new Error(`${method} ${url}: no answer in ${timeout} ms`)));
		req.on('error', reject);
		if (body !== null) req.end(body);
		else req.end();
	});
}

function finishResponse(res, chunks) {
	const body = Buffer.concat(chunks);
	const text = body.toString('utf8');
	let json;
	if (/json/.test(res.headers['content-type'] || '')) {
		try {
			json = JSON.parse(text);
		} catch {
			json = undefined;
		}
	}
	return { status: res.statusCode, headers: res.headers, body, text, json };
}

// GET a JSON document; throws with the answer when it is not 200 JSON.
export async function getJson(url, opts = {}) {
	const r = await request('GET', url, opts);
	if (r.status !== 200 || r.json === undefined)
		throw new Error(`GET ${url}: ${r.status} ${r.headers['content-type']} ${r.text.slice(0, 300)}`);
	return r.json;
}

/**
 * uploadChunked(url, buffer, pieceSize, delayMs, {headers, onPiece}) ->
 * (pieceSize: bytes, or a function of the piece index giving them)
 * response (as request()), plus .sentBytes and .elapsedMs. The body goes
 * with Transfer-Encoding: chunked, one chunk per piece, with delayMs between
 * pieces and respecting the socket's backpressure. If the server answers
 * early (e.g. 413), sending stops and that answer is returned. opts.auth as
 * for request().
 */
export function uploadChunked(url, buffer, pieceSize = 8192, delayMs = 1, opts = {}) {
	const t0 = Date.now();
	return new Promise((resolve, reject) => {
		let answered = null;
		let sent = 0;
		const req = http.request(url, {
			method: 'POST',
			agent: false,
			headers: withAuth(url, 'POST', { 'Content-Type': 'text/csv', ...(opts.headers || {}) }, opts.auth),
		}, (res) => {
			answered = res;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const r = finishResponse(res, chunks);
				r.sentBytes = sent;
				r.elapsedMs = Date.now() - t0;
				resolve(r);
			});
			res.on('error', reject);
		});
		req.on('error', (e) => {
			if (!answered) reject(new Error(`upload to ${url} failed after ${sent} bytes: ${e.message}`));
		});
		req.setTimeout(scaled(opts.timeout ?? 300000), () => req.destroy(new Error('upload timed out')));
		(async () => {
			let i = 0;
			for (let off = 0; off < buffer.length && !answered;) {
				const size = typeof pieceSize === 'function' ? pieceSize(i++) : pieceSize;
				const piece = buffer.subarray(off, Math.min(buffer.length, off + size));
				off += piece.length;
				const ok = req.write(piece);
				sent += piece.length;
				if (opts.onPiece) opts.onPiece(sent);
				if (!ok) await new Promise((r) => req.once('drain', r));
				if (delayMs > 0) await sleep(delayMs);
			}
			if (!answered) req.end();
		})().catch((e) => req.destroy(e));
	});
}

/**
 * waitFor(pred, ms, what, everyMs) -> pred's first truthy value, polling
 * every everyMs; throws "WHAT: not within MS ms" after ms (scaled by
 * PROPFLOW_TIME_FACTOR).
 */
export async function waitFor(pred, ms, what, everyMs = 50) {
	const end = Date.now() + scaled(ms);
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
		await sleep(everyMs);
	}
}

/**
 * wsTry(url, headers, origin) -> {open: true, ws, messages} or
 * {open: false, status, body, headers} (or {open: false, error}): a
 * WebSocket to url's /api/events with exactly these headers (no default
 * credential) and an optional Origin, for tests of who may open one.
 * messages collects every message, parsed as JSON where it can be.
 */
export function wsTry(url, headers = {}, origin = undefined) {
	const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/events`, { headers, ...(origin ? { origin } : {}) });
	const messages = [];
	ws.on('message', (d) => {
		try {
			messages.push(JSON.parse(d.toString('utf8')));
		} catch {
			messages.push({ unparsed: d.toString('utf8').slice(0, 200) });
		}
	});
	return new Promise((resolve) => {
		const t = setTimeout(() => resolve({ open: false, error: 'no answer in 10 s' }), scaled(10000));
		ws.once('open', () => { clearTimeout(t); resolve({ open: true, ws, messages }); });
		ws.once('unexpected-response', (_rq, res) => {
			let b = '';
			res.on('data', (c) => { b += c; });
			res.on('end', () => {
				clearTimeout(t);
				resolve({ open: false, status: res.statusCode, body: b, headers: res.headers });
				ws.terminate();
			});
		});
		ws.on('error', (e) => { clearTimeout(t); resolve({ open: false, error: e.message }); });
	});
}

/**
 * wsConnect(url, {auth, headers}) -> {ws, messages, next(pred, timeoutMs),
 * closed, close()}
 * url may be the server's http URL: /api/events is appended. Every text
 * message is parsed as JSON and kept in order in messages. The handshake
 * carries the default credential of url's origin (opts.auth as for
 * request()); a refused handshake (401/403) rejects opened with an error
 * whose statusCode is set.
 */
export function wsConnect(url, opts = {}) {
	const wsUrl = url.replace(/^http/, 'ws') + (url.includes('/api/') ? '' : '/api/events');
	const httpUrl = wsUrl.replace(/^ws/, 'http');
	const ws = new WebSocket(wsUrl, { headers: withAuth(httpUrl, 'GET', opts.headers || {}, opts.auth) });
	const messages = [];
	const waiters = [];
	const bad = [];
	ws.on('message', (data, isBinary) => {
		let m;
		try {
			m = JSON.parse(data.toString('utf8'));
		} catch {
			bad.push({ data: data.toString('utf8').slice(0, 200), isBinary });
			return;
		}
		messages.push(m);
		for (const w of [...waiters]) {
			if (w.pred(m)) {
				waiters.splice(waiters.indexOf(w), 1);
				clearTimeout(w.timer);
				w.resolve(m);
			}
		}
	});
	const closed = new Promise((resolve) => ws.on('close', (code, reason) =>
		resolve({ code, reason: reason.toString() })));
	const opened = new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('error', reject);
		ws.once('unexpected-response', (req, res) => {
			const e = new Error(`WebSocket handshake refused: ${res.statusCode}`);
			e.statusCode = res.statusCode;
			res.resume();
			req.destroy();
			reject(e);
		});
	});
	ws.on('error', () => {}); // reported through opened/closed
	return {
		ws, messages, bad, opened, closed,
		// The first message (already received or to come) matching pred.
		next(pred = () => true, timeoutMs = 30000) {
			const have = messages.find(pred);
			if (have) return Promise.resolve(have);
			return new Promise((resolve, reject) => {
				const w = { pred, resolve };
				w.timer = setTimeout(() => {
					waiters.splice(waiters.indexOf(w), 1);
					reject(new Error(`no matching WebSocket message in ${timeoutMs} ms ` +
						`(${messages.length} received)`));
				}, scaled(timeoutMs));
				w.timer.unref();
				waiters.push(w);
			});
		},
		close() {
			ws.close(1000);
			return closed;
		},
	};
}

/**
 * waitJob(url, id, states, timeoutMs) -> the job once its state is one of
 * states (string or array); throws with the last seen job on timeout.
 */
// The import's final market analysis is written (just after it ends done):
// from then on its records' outlier flags are settled.
export async function waitAnalysis(url, id, ms = 60000, auth = undefined) {
	return waitFor(async () => {
		const r = await request('GET', `${url}/api/imports/${id}/analysis`, { auth });
		return r.status === 200 && r.json.final === true ? r.json : null;
	}, ms, `import ${id}: the final analysis`);
}

export async function waitJob(url, id, states = ['done'], timeoutMs = 120000, opts = {}) {
	timeoutMs = scaled(timeoutMs);
	const want = Array.isArray(states) ? states : [states];
	const end = Date.now() + timeoutMs;
	let last = null;
	for (;;) {
		const r = await request('GET', `${url}/api/imports/${id}`, opts);
		if (r.status === 200 && r.json) {
			last = r.json;
			if (want.includes(last.state)) return last;
			if (['done', 'failed', 'interrupted', 'cancelled'].includes(last.state) &&
			    !want.includes(last.state))
				throw new Error(`job ${id} ended ${last.state}, wanted ${want.join('|')}: ` +
					JSON.stringify({ ...last, columns: undefined }));
		}
		if (Date.now() > end)
			throw new Error(`job ${id} not ${want.join('|')} after ${timeoutMs} ms; last: ` +
				JSON.stringify(last ? { ...last, columns: undefined } : r.text));
		await sleep(100);
	}
}

/**
 * walk(url, pathWithQuery) -> every item, following `next` cursors. Checks
 * the page shape as it goes (items array, next string or null).
 */
export async function walk(url, p, maxPages = 100000, opts = {}) {
	const items = [];
	let after = null;
	for (let i = 0; i < maxPages; i++) {
		const sep = p.includes('?') ? '&' : '?';
		const u = `${url}${p}${after === null ? '' : `${sep}after=${encodeURIComponent(after)}`}`;
		const page = await getJson(u, opts);
		if (!Array.isArray(page.items)) throw new Error(`GET ${u}: no items array`);
		if (!(page.next === null || typeof page.next === 'string'))
			throw new Error(`GET ${u}: next is ${JSON.stringify(page.next)}`);
		items.push(...page.items);
		if (page.next === null) return items;
		if (page.next === after) throw new Error(`GET ${u}: next cursor did not move`);
		after = page.next;
	}
	throw new Error(`${p}: more than ${maxPages} pages`);
}

export function walkProperties(url, id, limit = 1000, opts = {}) {
	return walk(url, `/api/imports/${id}/properties?limit=${limit}`, 100000, opts);
}

export function walkErrors(url, id, limit = 1000, opts = {}) {
	return walk(url, `/api/imports/${id}/errors?limit=${limit}`, 100000, opts);
}

// POST a whole file with Content-Length and wait for its job to end in
// states; returns {res, job}.
export async function importFile(url, buffer, name, states = 'done', timeoutMs = 120000, opts = {}) {
	const res = await request('POST', `${url}/api/imports?name=${encodeURIComponent(name)}`, {
		body: buffer, headers: { 'Content-Type': 'text/csv' }, timeout: timeoutMs, auth: opts.auth,
	});
	if (res.status !== 202 || !res.json)
		throw new Error(`POST ${name}: ${res.status} ${res.text.slice(0, 300)}`);
	const job = await waitJob(url, res.json.id, states, timeoutMs, opts);
	return { res, job };
}

/**
 * rawExchange(host, port, bytes, {count, timeoutMs, end}) -> {responses,
 * closed, rest}: writes bytes on one socket and reads up to count HTTP/1.1
 * responses in order (Content-Length or chunked bodies). closed tells
 * whether the server closed the connection (waitClose: wait up to 3 s for
 * that after the last response). bytes are sent as given: a request meant
 * to reach an authenticated route needs authLines(url, method) in its head.
 */
export function rawExchange(host, port, bytes,
	{ count = 1, timeoutMs = 15000, end = false, waitClose = false } = {}) {
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, host);
		let buf = Buffer.alloc(0);
		const responses = [];
		let closed = false;
		let done = false;
		const finish = () => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			sock.destroy();
			resolve({ responses, closed, rest: buf });
		};
		const timer = setTimeout(finish, scaled(timeoutMs));
		sock.on('error', (e) => {
			if (e.code === 'ECONNRESET' || e.code === 'EPIPE') { closed = true; finish(); }
			else if (!done) { done = true; clearTimeout(timer); reject(e); }
		});
		sock.on('end', () => { closed = true; parse(); finish(); });
		sock.on('close', () => { closed = true; finish(); });
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			parse();
			if (responses.length >= count) {
				// waitClose: give the server 3 s to close the connection.
				if (waitClose) setTimeout(finish, scaled(3000));
				else finish();
			}
		});
		function parse() {
			for (;;) {
				const r = parseResponse(buf);
				if (!r) return;
				// 1xx answers are not the final response
				if (r.status >= 200) responses.push(r);
				else if (!responses.interim) responses.interim = [r];
				else responses.interim.push(r);
				buf = buf.subarray(r.consumed);
			}
		}
		sock.on('connect', () => {
			if (Array.isArray(bytes)) {
				for (const b of bytes) sock.write(b);
			} else {
				sock.write(bytes);
			}
			if (end) sock.end();
		});
	});
}

// Parse one HTTP/1.1 response at the start of buf, or null if incomplete.
export function parseResponse(buf) {
	const headEnd = buf.indexOf('\r\n\r\n');
	if (headEnd < 0) return null;
	const head = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
	const m = head[0].match(/^HTTP\/1\.[01] (\d{3})/);
	if (!m) throw new Error(`bad status line ${JSON.stringify(head[0])}`);
	const status = Number(m[1]);
	const headers = {};
	for (const h of head.slice(1)) {
		const i = h.indexOf(':');
		headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
	}
	let off = headEnd + 4;
	let body;
	if (status < 200 || status === 204 || status === 304) {
		body = Buffer.alloc(0);
	} else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
		const parts = [];
		for (;;) {
			const e = buf.indexOf('\r\n', off);
			if (e < 0) return null;
			const n = parseInt(buf.subarray(off, e).toString('latin1'), 16);
			if (buf.length < e + 2 + n + 2) return null;
			parts.push(buf.subarray(e + 2, e + 2 + n));
			off = e + 2 + n + 2;
			if (n === 0) break;
		}
		body = Buffer.concat(parts);
	} else {
		const n = Number(headers['content-length'] || 0);
		if (buf.length < off + n) return null;
		body = buf.subarray(off, off + n);
		off += n;
	}
	const text = body.toString('utf8');
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status, headers, body, text, json, consumed: off };
}

// Run the CLI: resolves {code, signal, stdout, stderr}.
export function runCli(args, { env = {}, timeoutMs = 180000, input = null } = {}) {
	return new Promise((resolve, reject) => {
		const p = spawn(BIN, args, { env: serverEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
		let out = '';
		let err = '';
		p.stdout.setEncoding('utf8');
		p.stderr.setEncoding('utf8');
		p.stdout.on('data', (s) => { out += s; });
		p.stderr.on('data', (s) => { err += s; });
		const t = setTimeout(() => p.kill('SIGKILL'), scaled(timeoutMs));
		p.on('error', reject);
		p.on('close', (code, signal) => {
			clearTimeout(t);
			resolve({ code, signal, stdout: out, stderr: err });
		});
		if (input !== null) p.stdin.end(input);
		else p.stdin.end();
	});
}

// Every field a job object has (API.md).
export const JOB_FIELDS = ['id', 'name', 'state', 'bytes_received', 'bytes_total', 'rows_parsed',
	'rows_inserted', 'rows_rejected', 'rows_warned', 'columns', 'encoding', 'delimiter',
	'raw_bytes', 'raw_stored_bytes', 'raw_ratio', 'created_at', 'finished_at', 'error'];

// The counters that must never go backwards.
export const COUNTERS = ['bytes_received', 'rows_parsed', 'rows_inserted', 'rows_rejected',
	'rows_warned'];

// A short description of a job for assertion messages.
export function brief(job) {
	if (!job || typeof job !== 'object') return JSON.stringify(job);
	const { columns, ...rest } = job;
	return JSON.stringify(rest);
}

export { sleep };

// ---------------------------------------------------------------------------
// Durable jobs, tus and job control (tests/integration/durable, tus and
// jobs_control): a PostgreSQL of the test's own, process statistics, slow
// bodies that can be cut off, tus requests, and run-to-run row comparison.

import { spawn as spawnChild } from 'node:child_process';
import util from 'node:util';

// The embedded PostgreSQL a SIGKILLed server left behind (SIGQUIT: it stops
// at once). The next server on the same data dir would adopt it instead.
export function killLeftoverPostgres(dataDir) {
	stopLeftoverPostgres(dataDir);
}

// conninfo of the embedded PostgreSQL of a server's data dir (socket in
// DIR/run; see src/pgserver.c for the fallback used for long paths).
export function embeddedConninfo(dataDir) {
	return `host=${path.join(dataDir, 'run')} user=postgres dbname=postgres`;
}

// Run a program: resolves {code, signal, stdout, stderr}; never rejects on a
// non-zero exit.
export function runProgram(cmd, args, { timeoutMs = 60000, env = process.env } = {}) {
	return new Promise((resolve, reject) => {
		const p = spawnChild(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		let err = '';
		p.stdout.setEncoding('utf8');
		p.stderr.setEncoding('utf8');
		p.stdout.on('data', (s) => { out += s; });
		p.stderr.on('data', (s) => { err += s; });
		const t = setTimeout(() => p.kill('SIGKILL'), scaled(timeoutMs));
		p.on('error', (e) => { clearTimeout(t); reject(e); });
		p.on('close', (code, signal) => {
			clearTimeout(t);
			resolve({ code, signal, stdout: out, stderr: err });
		});
	});
}

// The newest PostgreSQL server binaries (Debian layout).
export function pgBinDir() {
	const base = '/usr/lib/postgresql';
	const vers = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)) : [];
	vers.sort((a, b) => Number(b) - Number(a));
	for (const v of vers) {
		const d = path.join(base, v, 'bin');
		if (fs.existsSync(path.join(d, 'pg_ctl'))) return d;
	}
	throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
}

// As root, PostgreSQL programs run as the `postgres` user.
function asPostgres(cmd, args) {
	if (process.getuid && process.getuid() === 0)
		return ['runuser', ['-u', 'postgres', '--', cmd, ...args]];
	return [cmd, args];
}

/**
 * psql(conninfo, sql) -> stdout trimmed (unaligned, tuples only); throws on
 * an error. Runs as the postgres user when root.
 */
export async function psql(conninfo, sql) {
	const bin = path.join(pgBinDir(), 'psql');
	const psqlBin = fs.existsSync(bin) ? bin : 'psql';
	const [c, a] = asPostgres(psqlBin, ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', conninfo, '-c', sql]);
	const r = await runProgram(c, a, { timeoutMs: 30000 });
	if (r.code !== 0) throw new Error(`psql ${JSON.stringify(sql)}: code ${r.code}: ${r.stderr.trim()}`);
	return r.stdout.trim();
}

/**
 * startPostgres() -> {dir, conninfo, sockDir, start(), stop(), restart(),
 * isUp(), destroy()}: a PostgreSQL cluster of the test's own (initdb into a
 * fresh temp dir, Unix socket only), started. stop() is a fast shutdown
 * (pg_ctl -m fast); destroy() stops it and removes the directory.
 */
export async function startPostgres() {
	const bin = pgBinDir();
	const dir = tempDir('propflow-pg-');
	const data = path.join(dir, 'data');
	const sockDir = path.join(dir, 'sock');
	const logFile = path.join(dir, 'postgresql.log');
	fs.mkdirSync(data, { mode: 0o700 });
	fs.mkdirSync(sockDir, { mode: 0o755 });
	fs.writeFileSync(logFile, '');
	if (process.getuid && process.getuid() === 0) {
		const pw = fs.readFileSync('/etc/passwd', 'utf8').split('\n')
			.map((l) => l.split(':')).find((f) => f[0] === 'postgres');
		if (!pw) throw new Error('running as root needs a postgres user');
		for (const p of [dir, data, sockDir, logFile]) fs.chownSync(p, Number(pw[2]), Number(pw[3]));
	}
	const pgRun = async (prog, args, what) => {
		const [c, a] = asPostgres(path.join(bin, prog), args);
		const r = await runProgram(c, a, { timeoutMs: 90000 });
		if (r.code !== 0) {
			let log = '';
			try { log = fs.readFileSync(logFile, 'utf8').slice(-3000); } catch { /* none */ }
			throw new Error(`${what}: ${prog} code ${r.code}\n${r.stdout}\n${r.stderr}\n--- log ---\n${log}`);
		}
		return r;
	};
	await pgRun('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C'],
		'initdb');
	const opts = `-k ${sockDir} -c listen_addresses='' -c max_connections=50`;
	const pg = {
		dir, sockDir, logFile,
		conninfo: `host=${sockDir} user=postgres dbname=postgres`,
		up: false,
		async start() {
			await pgRun('pg_ctl', ['-D', data, '-l', logFile, '-o', opts, '-w', '-t', '60', 'start'],
				'start PostgreSQL');
			pg.up = true;
		},
		async stop(mode = 'fast') {
			await pgRun('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'], 'stop PostgreSQL');
			pg.up = false;
		},
		async restart() {
			await pg.stop();
			await pg.start();
		},
		log: () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } },
		async destroy() {
			if (fs.existsSync(path.join(data, 'postmaster.pid'))) {
				try { await pg.stop('immediate'); } catch { /* already down */ }
			}
			removeDir(dir);
		},
	};
	await pg.start();
	return pg;
}

// Open file descriptors and resident memory (kB) of a process.
export function procStats(pid) {
	const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
	const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
	const rssKb = Number((status.match(/^VmRSS:\s+(\d+)/m) || [])[1] || 0);
	return { fds, rssKb };
}

// SIGKILL a server started by startServer and wait for it to be gone (its
// embedded PostgreSQL keeps running, to be adopted by the next start).
export async function killServer(srv) {
	if (srv.isRunning()) srv.proc.kill('SIGKILL');
	return srv.exited;
}

/**
 * sendSlowly(method, url, buffer, opts) -> {done, abort(), sent()}
 * Sends buffer as a request body in pieces (opts.pieceSize: bytes or a
 * function of the piece index; opts.delayMs between pieces), with
 * Content-Length (default) or chunked (opts.chunked). opts.abortAt: destroy
 * the socket once that many bytes were written. done resolves with the
 * response (as request(), plus sentBytes, elapsedMs) or, when the exchange
 * broke or was aborted, with {status: null, error, aborted, sentBytes}.
 * opts.auth as for request().
 */
export function sendSlowly(method, url, buffer, opts = {}) {
	const t0 = Date.now();
	let sent = 0;
	let aborted = false;
	let req;
	const headers = withAuth(url, method, opts.headers || {}, opts.auth);
	if (!opts.chunked) headers['Content-Length'] = String(buffer.length);
	const done = new Promise((resolve) => {
		let settled = false;
		const settle = (r) => {
			if (settled) return;
			settled = true;
			r.sentBytes = sent;
			r.elapsedMs = Date.now() - t0;
			resolve(r);
		};
		let answered = false;
		req = http.request(url, { method, agent: false, headers }, (res) => {
			answered = true;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => settle(finishResponse(res, chunks)));
			res.on('error', (e) => settle({ status: res.statusCode, error: e.message, aborted,
				headers: res.headers }));
		});
		req.on('error', (e) => {
			if (!answered) settle({ status: null, error: e.message, aborted });
		});
		req.on('close', () => {
			if (!answered) settle({ status: null, error: 'closed', aborted });
		});
		req.setTimeout(opts.timeout ?? 300000, () => req.destroy(new Error('timed out')));
		(async () => {
			let i = 0;
			for (let off = 0; off < buffer.length && !answered && !aborted && !req.destroyed;) {
				const size = typeof opts.pieceSize === 'function' ? opts.pieceSize(i++)
					: (opts.pieceSize ?? 8192);
				let end = Math.min(buffer.length, off + size);
				if (opts.abortAt !== undefined && end > opts.abortAt && off < opts.abortAt)
					end = opts.abortAt;
				const piece = buffer.subarray(off, end);
				off = end;
				const ok = req.write(piece);
				sent += piece.length;
				if (opts.onPiece) opts.onPiece(sent);
				if (opts.abortAt !== undefined && sent >= opts.abortAt) {
					// let the bytes leave before cutting the connection
					await sleep(opts.abortDelayMs ?? 50);
					aborted = true;
					req.destroy();
					return;
				}
				if (!ok) {
					await new Promise((r) => {
						const t = setInterval(() => { if (req.destroyed || answered) { clearInterval(t); r(); } }, 100);
						req.once('drain', () => { clearInterval(t); r(); });
					});
				}
				if ((opts.delayMs ?? 0) > 0) await sleep(opts.delayMs);
			}
			if (!answered && !aborted && !req.destroyed) req.end();
		})().catch((e) => req.destroy(e));
	});
	return {
		done,
		sent: () => sent,
		abort() {
			aborted = true;
			req.destroy();
		},
	};
}

export const TUS = { 'Tus-Resumable': '1.0.0' };

// tus creation: POST /api/imports with Upload-Length (and a filename).
export function tusCreate(url, length, filename = null, headers = {}, opts = {}) {
	const h = { ...TUS, 'Upload-Length': String(length), ...headers };
	if (filename !== null) h['Upload-Metadata'] = `filename ${Buffer.from(filename).toString('base64')}`;
	return request('POST', `${url}/api/imports`, { body: '', headers: h, auth: opts.auth });
}

export function tusHead(url, id, headers = TUS, opts = {}) {
	return request('HEAD', `${url}/api/imports/${id}`, { headers, auth: opts.auth });
}

/**
 * tusPatch(url, id, offset, bytes, opts) -> sendSlowly(...) of a PATCH with
 * the tus headers (opts as sendSlowly; opts.contentType overrides).
 */
export function tusPatch(url, id, offset, bytes, opts = {}) {
	return sendSlowly('PATCH', `${url}/api/imports/${id}`, bytes, {
		...opts,
		headers: {
			...TUS, 'Upload-Offset': String(offset),
			'Content-Type': opts.contentType ?? 'application/offset+octet-stream',
			...(opts.headers || {}),
		},
	});
}

/**
 * diffRuns(base, got) -> list of differences between two walks of
 * /api/imports/ID/properties of the same file: matched by `row`, every
 * field except `id` (and `job_id`) equal, no gap, no duplicate. The
 * flags are left out: the market analysis derives the outlier flags from the
 * whole import and settles them after it ends, and `warned` follows the
 * row's warnings, which a mapping override changes (analysis.test.mjs
 * checks both against the stored rows and import_errors).
 */
const DERIVED = new Set(['id', 'job_id', 'outlier', 'outlier_reason', 'warned']);
export function diffRuns(base, got) {
	const bad = [];
	const seen = new Map();
	for (const it of got) {
		if (seen.has(it.row)) bad.push(`row ${it.row}: stored twice (ids ${seen.get(it.row).id}, ${it.id})`);
		else seen.set(it.row, it);
	}
	const baseRows = new Set();
	for (const b of base) {
		baseRows.add(b.row);
		const it = seen.get(b.row);
		if (!it) { bad.push(`row ${b.row} (line ${b.line}): missing`); continue; }
		for (const k of Object.keys(b)) {
			if (DERIVED.has(k)) continue;
			if (!util.isDeepStrictEqual(b[k], it[k]))
				bad.push(`row ${b.row}: ${k} ${JSON.stringify(it[k])}, want ${JSON.stringify(b[k])}`);
		}
		for (const k of Object.keys(it))
			if (!(k in b) && !DERIVED.has(k)) bad.push(`row ${b.row}: extra field ${k}`);
	}
	for (const it of got) if (!baseRows.has(it.row)) bad.push(`row ${it.row}: not in the uninterrupted run`);
	return bad;
}

/**
 * diffRaw(url, base, got, n) -> differences of GET /api/properties/ID
 * (every field but id/job_id, and raw) for n rows sampled over the file.
 */
export async function diffRaw(url, base, got, n = 60) {
	const bad = [];
	const byRow = new Map(got.map((it) => [it.row, it]));
	const pick = new Set();
	for (let i = 0; i < n && base.length; i++) pick.add(base[Math.floor((i * base.length) / n)].row);
	pick.add(base[base.length - 1]?.row);
	for (const row of pick) {
		const b = base.find((x) => x.row === row);
		const g = byRow.get(row);
		if (!b || !g) { bad.push(`row ${row}: missing`); continue; }
		const [rb, rg] = await Promise.all([getJson(`${url}/api/properties/${b.id}`),
			getJson(`${url}/api/properties/${g.id}`)]);
		for (const k of Object.keys(rb)) {
			if (DERIVED.has(k)) continue;
			if (!util.isDeepStrictEqual(rb[k], rg[k]))
				bad.push(`row ${row}: ${k} ${JSON.stringify(rg[k]).slice(0, 200)}, want ${JSON.stringify(rb[k]).slice(0, 200)}`);
		}
		if (rb.raw === undefined || rb.raw === null) bad.push(`row ${row}: no raw in the uninterrupted run`);
	}
	return bad;
}

// The counters two runs of the same file must agree on.
export function sameCounts(a, b) {
	const out = {};
	for (const k of ['rows_parsed', 'rows_inserted', 'rows_rejected', 'rows_warned'])
		if (a[k] !== b[k]) out[k] = { got: b[k], want: a[k] };
	return out;
}
