// lib.mjs - helpers for propflow's integration tests: start the real server
// (embedded PostgreSQL in a fresh data directory), plain HTTP requests on
// node's `http` module, chunked uploads in small pieces, a WebSocket client
// that keeps every message, and polling/paging helpers.
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
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export const BIN = process.env.PROPFLOW_BIN ||
	path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/propflow');
export const SRC = process.env.PROPFLOW_SRC ||
	path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const READY_TIMEOUT_MS = 90000;
const STOP_TIMEOUT_MS = 15000;
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
 * startServer({args, env, dataDir, keepDir}) -> {url, host, port, proc, dataDir,
 *   stderr(), exited, stop()}
 * Spawns `$PROPFLOW_BIN serve --listen 127.0.0.1:0 --data-dir DIR --static-dir
 * $PROPFLOW_SRC/static ...args` and waits for its "listening" line.
 */
export async function startServer({ args = [], env = {}, dataDir = null, keepDir = false } = {}) {
	const dir = dataDir || tempDir();
	const argv = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dir,
		'--static-dir', path.join(SRC, 'static'), ...args];
	const proc = spawn(BIN, argv, { env: serverEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
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

	let where;
	try {
		where = await ready;
	} catch (e) {
		if (!exitInfo) proc.kill('SIGKILL');
		await exited;
		stopLeftoverPostgres(dir);
		if (!dataDir && !keepDir) removeDir(dir);
		e.message += `\ncommand: ${BIN} ${argv.join(' ')}\nstdout: ${outBuf}\n` +
			`--- server stderr (tail) ---\n${stderrTail(60)}`;
		throw e;
	}

	let stopped = null;
	const srv = {
		...where, proc, dataDir: dir, exited,
		stderr: () => errBuf,
		stderrTail,
		isRunning: () => exitInfo === null,
		request: (method, p, opts) => request(method, where.url + p, opts),
		get: (p, opts) => request('GET', where.url + p, opts),
		getJson: (p) => getJson(where.url + p),
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
	return srv;
}

// Throws when a server's exit after SIGTERM was not clean, or when its
// stderr holds a sanitizer report (the ASan/UBSan run of tests/run).
export function checkExit(x, stderr, what) {
	const m = stderr.match(/(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: \w+Sanitizer)[^\n]*/);
	if (m) {
		const at = stderr.indexOf(m[0]);
		throw new Error(`${what}: sanitizer report: ${m[0]}\n${stderr.slice(Math.max(0, at - 200), at + 4000)}`);
	}
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
		checkExit(x, holder.stderr(), 'server');
	}, { timeout: STOP_TIMEOUT_MS + 15000 });
	return holder;
}

/**
 * request(method, url, {body, headers, timeout}) -> {status, headers, body
 * (Buffer), text, json (parsed, or undefined)}. One connection per request.
 */
export function request(method, url, { body = null, headers = {}, timeout = 30000 } = {}) {
	const h = { ...headers };
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
export async function getJson(url) {
	const r = await request('GET', url);
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
 * early (e.g. 413), sending stops and that answer is returned.
 */
export function uploadChunked(url, buffer, pieceSize = 8192, delayMs = 1, opts = {}) {
	const t0 = Date.now();
	return new Promise((resolve, reject) => {
		let answered = null;
		let sent = 0;
		const req = http.request(url, {
			method: 'POST',
			agent: false,
			headers: { 'Content-Type': 'text/csv', ...(opts.headers || {}) },
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
		req.setTimeout(opts.timeout ?? 300000, () => req.destroy(new Error('upload timed out')));
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
 * wsConnect(url) -> {ws, messages, next(pred, timeoutMs), closed, close()}
 * url may be the server's http URL: /api/events is appended. Every text
 * message is parsed as JSON and kept in order in messages.
 */
export function wsConnect(url) {
	const wsUrl = url.replace(/^http/, 'ws') + (url.includes('/api/') ? '' : '/api/events');
	const ws = new WebSocket(wsUrl);
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
				}, timeoutMs);
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
export async function waitJob(url, id, states = ['done'], timeoutMs = 120000) {
	const want = Array.isArray(states) ? states : [states];
	const end = Date.now() + timeoutMs;
	let last = null;
	for (;;) {
		const r = await request('GET', `${url}/api/imports/${id}`);
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
export async function walk(url, p, maxPages = 100000) {
	const items = [];
	let after = null;
	for (let i = 0; i < maxPages; i++) {
		const sep = p.includes('?') ? '&' : '?';
		const u = `${url}${p}${after === null ? '' : `${sep}after=${encodeURIComponent(after)}`}`;
		const page = await getJson(u);
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

export function walkProperties(url, id, limit = 1000) {
	return walk(url, `/api/imports/${id}/properties?limit=${limit}`);
}

export function walkErrors(url, id, limit = 1000) {
	return walk(url, `/api/imports/${id}/errors?limit=${limit}`);
}

// POST a whole file with Content-Length and wait for its job to end in
// states; returns {res, job}.
export async function importFile(url, buffer, name, states = 'done', timeoutMs = 120000) {
	const res = await request('POST', `${url}/api/imports?name=${encodeURIComponent(name)}`, {
		body: buffer, headers: { 'Content-Type': 'text/csv' }, timeout: timeoutMs,
	});
	if (res.status !== 202 || !res.json)
		throw new Error(`POST ${name}: ${res.status} ${res.text.slice(0, 300)}`);
	const job = await waitJob(url, res.json.id, states, timeoutMs);
	return { res, job };
}

/**
 * rawExchange(host, port, bytes, {count, timeoutMs, end}) -> {responses,
 * closed, rest}: writes bytes on one socket and reads up to count HTTP/1.1
 * responses in order (Content-Length or chunked bodies). closed tells
 * whether the server closed the connection (waitClose: wait up to 3 s for
 * that after the last response).
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
		const timer = setTimeout(finish, timeoutMs);
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
				if (waitClose) setTimeout(finish, 3000);
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
		const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
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
