// http_protocol.test.mjs - HTTP/1.1 behaviour over raw sockets: keep-alive and
// pipelining, caps on URL and headers, the upload size cap, malformed chunked
// bodies, and clients that vanish mid-upload. The server runs with a small
// --max-upload (1 MB) so the cap can be crossed cheaply; after every abuse it
// must still answer. Requests written by hand carry the administrator's
// session (authLines) where they are meant to reach an authenticated route.

import assert from 'node:assert/strict';
import net from 'node:net';
import { generate } from './gen.mjs';
import {
	authLines, brief, parseResponse, rawExchange, request, sleep, uploadChunked, useServer, waitJob,
	scaled, test,
} from './lib.mjs';

const MAX_UPLOAD = 1000000;
const URL_MAX = 4096;
const HEADER_COUNT_MAX = 50;
// The server's timeouts stretch with the time factor: a busy machine must not
// make a slow test client look idle.
const HEADER_TIMEOUT_MS = scaled(1000);
const IDLE_TIMEOUT_MS = scaled(3000);
const srv = useServer({
	args: ['--max-upload', String(MAX_UPLOAD), '--url-max', String(URL_MAX),
		'--header-count-max', String(HEADER_COUNT_MAX), '--header-timeout-ms', String(HEADER_TIMEOUT_MS),
		'--idle-timeout-ms', String(IDLE_TIMEOUT_MS)],
});
const csv = generate({ rows: 1500, rejected: 2, seed: 99 }); // about 400 KB: under the cap

async function assertAlive(what) {
	const r = await request('GET', `${srv.url}/api/health`);
	assert.equal(r.status, 200, `server still answers after ${what}`);
	assert.ok(srv.isRunning(), `server process still running after ${what}`);
}

function assertJsonError(r, status, what) {
	assert.ok(r, `${what}: no response`);
	assert.equal(r.status, status, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
	assert.match(r.headers['content-type'] || '', /application\/json/, `${what}: JSON`);
	assert.ok(r.json && typeof r.json.error === 'string', `${what}: body ${r.text.slice(0, 200)}`);
}

// A GET head, with the session's Cookie line unless auth is false.
const get = (p, extra = '', auth = true) =>
	`GET ${p} HTTP/1.1\r\nHost: test\r\n${auth ? authLines(srv.url) : ''}${extra}\r\n`;
// The credential lines of a POST (Cookie and X-CSRF-Token).
const postAuth = () => authLines(srv.url, 'POST');

test('keep-alive: several requests one after another on one connection', async () => {
	const sock = net.connect(srv.port, srv.host);
	await new Promise((r) => sock.once('connect', r));
	let buf = Buffer.alloc(0);
	sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
	for (let i = 0; i < 5; i++) {
		sock.write(get('/api/health'));
		const t0 = Date.now();
		let r = null;
		while (!(r = parseResponse(buf)) && Date.now() - t0 < 5000) await sleep(5);
		assert.ok(r, `answer ${i} on the kept-alive connection`);
		assert.equal(r.status, 200);
		buf = buf.subarray(r.consumed);
	}
	assert.ok(!sock.destroyed, 'connection still open');
	sock.destroy();
});

test('pipelining: requests sent at once are answered in order', async () => {
	const post = Buffer.concat([
		Buffer.from(`POST /api/imports?name=pipelined.csv HTTP/1.1\r\nHost: test\r\n${postAuth()}` +
			`Content-Type: text/csv\r\nContent-Length: ${csv.buffer.length}\r\n\r\n`),
		csv.buffer,
	]);
	const reqs = Buffer.concat([
		Buffer.from(get('/api/health')),
		Buffer.from(get('/api/imports/987654321')),
		post,
		Buffer.from(get('/api/imports')),
		Buffer.from(get('/no-such-file.txt')),
		Buffer.from(get('/api/health', 'Connection: close\r\n')),
	]);
	const { responses, closed } = await rawExchange(srv.host, srv.port, reqs, { count: 6, timeoutMs: 60000, waitClose: true });
	assert.deepEqual(responses.map((r) => r.status), [200, 404, 202, 200, 404, 200],
		'statuses in request order');
	assert.equal(responses[0].json.ok, true);
	assert.ok(responses[1].json.error);
	assert.equal(responses[2].headers.location, `/api/imports/${responses[2].json.id}`);
	assert.ok(responses[3].json.items.some((j) => j.id === responses[2].json.id),
		'the list after the POST has the new job');
	assert.ok(closed, 'Connection: close honoured');
	const job = await waitJob(srv.url, responses[2].json.id, 'done');
	assert.equal(job.rows_parsed, 1500, brief(job));
	assert.equal(job.rows_rejected, 2, brief(job));
});

test('an oversized URL gets 414', async () => {
	const { responses } = await rawExchange(srv.host, srv.port,
			get(`/api/imports?name=${'x'.repeat(32 * 1024)}`));
	assertJsonError(responses[0], 414, '32 KB URL');
	await assertAlive('414');
});

test('--url-max: a request target of exactly the cap is served, one byte more gets 414', async () => {
	const base = '/api/health?pad=';
	const at = base + 'p'.repeat(URL_MAX - base.length);
	assert.equal(at.length, URL_MAX);
	const ok = await rawExchange(srv.host, srv.port, get(at));
	assert.equal(ok.responses[0]?.status, 200, `target of ${URL_MAX} bytes`);
	const over = await rawExchange(srv.host, srv.port, get(`${at}p`));
	assertJsonError(over.responses[0], 414, `target of ${URL_MAX + 1} bytes`);
});

test('--header-count-max: exactly the cap is served, one more header line gets 431', async () => {
	let h = '';
	for (let i = 1; i < HEADER_COUNT_MAX; i++) h += `X-H${i}: v\r\n`; // + Host = the cap
	// (no Cookie line: /api/health needs none, and it would count)
	const ok = await rawExchange(srv.host, srv.port, get('/api/health', h, false));
	assert.equal(ok.responses[0]?.status, 200, `${HEADER_COUNT_MAX} header lines`);
	const over = await rawExchange(srv.host, srv.port, get('/api/health', `${h}X-One-More: v\r\n`, false));
	assertJsonError(over.responses[0], 431, `${HEADER_COUNT_MAX + 1} header lines`);
});

test('a request head sent too slowly gets 408 and the connection closes', { timeout: 30000 }, async () => {
	const t0 = Date.now();
	const { responses, closed } = await rawExchange(srv.host, srv.port, 'GET /api/health HTTP/1.1\r\nHost: t\r\n',
		{ timeoutMs: HEADER_TIMEOUT_MS + scaled(8000), waitClose: true });
	const ms = Date.now() - t0;
	assert.ok(closed, `connection closed (${ms} ms)`);
	if (responses[0]) assertJsonError(responses[0], 408, 'slow head');
	assert.ok(responses[0], 'a 408 answer before the close');
	assert.ok(ms >= HEADER_TIMEOUT_MS - 100 && ms < HEADER_TIMEOUT_MS + scaled(6000), `closed after ${ms} ms`);
	await assertAlive('408');
});

test('an upload that pauses longer than --idle-timeout-ms is interrupted', { timeout: 60000 }, async () => {
	const name = `paused-${process.pid}.csv`;
	const sock = net.connect(srv.port, srv.host);
	await new Promise((r) => sock.once('connect', r));
	sock.on('error', () => {});
	let closed = false;
	let answer = Buffer.alloc(0);
	sock.on('data', (d) => { answer = Buffer.concat([answer, d]); }); // flowing, so 'close' comes
	sock.on('close', () => { closed = true; });
	const part = csv.buffer.subarray(0, 50000);
	sock.write(`POST /api/imports?name=${name} HTTP/1.1\r\nHost: t\r\n${postAuth()}` +
		`Content-Length: ${csv.buffer.length}\r\n\r\n`);
	sock.write(part);
	const t0 = Date.now();
	while (!closed && Date.now() - t0 < IDLE_TIMEOUT_MS + scaled(10000)) await sleep(50);
	assert.ok(closed, 'the server closed the stalled upload');
	const ms = Date.now() - t0;
	assert.ok(ms >= IDLE_TIMEOUT_MS - 200, `not before the idle timeout (${ms} ms)`);
	assertJsonError(parseResponse(answer), 408, 'a body stalled past --idle-timeout-ms');
	const l = await request('GET', `${srv.url}/api/imports`);
	const job = l.json.items.find((j) => j.name === name);
	assert.ok(job, 'the job is listed');
	const end = await waitJob(srv.url, job.id, 'interrupted', 20000);
	assert.equal(end.rows_parsed, end.rows_inserted + end.rows_rejected, brief(end));
	// the complete records of the 50,000 bytes received are kept, the cut one is not
	const complete = part.toString('latin1').split('\n').length - 2;
	assert.ok(end.rows_inserted > 0 && end.rows_parsed <= complete, `kept rows: ${brief(end)}`);
	await assertAlive('an idle upload');
});

test('oversized headers get 431 (one huge header; too many headers)', async () => {
	const one = await rawExchange(srv.host, srv.port, get('/api/health', `X-Big: ${'y'.repeat(64 * 1024)}\r\n`));
	assertJsonError(one.responses[0], 431, '64 KB header');
	let many = '';
	for (let i = 0; i < 500; i++) many += `X-H${i}: v\r\n`;
	const two = await rawExchange(srv.host, srv.port, get('/api/health', many));
	assertJsonError(two.responses[0], 431, '500 headers');
	await assertAlive('431');
});

test('a body over --max-upload gets 413 (Content-Length, Expect, chunked) and the server stays up', {
	timeout: 60000,
}, async () => {
	// Announced too big: refused before the body.
	const big = MAX_UPLOAD + 1;
	const a = await rawExchange(srv.host, srv.port,
		`POST /api/imports?name=big.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}Content-Length: ${big}\r\n` +
		`Expect: 100-continue\r\n\r\n`, { timeoutMs: 10000 });
	assertJsonError(a.responses[0], 413, 'Content-Length over the cap with Expect');
	assert.ok(!a.responses.interim, 'no 100 Continue for a body that will be refused');

	// Chunked: refused once the cap is crossed.
	const body = Buffer.alloc(MAX_UPLOAD + 200000, 'a,b,c\n1,2,3\n');
	const r = await uploadChunked(`${srv.url}/api/imports?name=big-chunked.csv`, body, 16384, 0);
	assertJsonError(r, 413, 'chunked body over the cap');
	await assertAlive('413');

	// At the cap exactly: accepted.
	const header = Buffer.from('MLS #,Address,Price\n');
	const line = Buffer.from('1,2 Main St,100\n');
	const n = Math.floor((MAX_UPLOAD - header.length) / line.length);
	const fill = MAX_UPLOAD - header.length - n * line.length;
	const exact = Buffer.concat([header, Buffer.alloc(n * line.length, line),
		Buffer.alloc(fill, '\n')]);
	assert.equal(exact.length, MAX_UPLOAD);
	const ok = await request('POST', `${srv.url}/api/imports?name=exact-cap.csv`, { body: exact });
	assert.equal(ok.status, 202, `a body of exactly --max-upload bytes is accepted: ${ok.text.slice(0, 200)}`);
	const job = await waitJob(srv.url, ok.json.id, 'done', 60000);
	assert.equal(job.rows_parsed, n, brief(job));
});

test('malformed chunked encoding gets 400 and the server stays up', async () => {
	const bad = [
		'ZZZ\r\nabc\r\n0\r\n\r\n',                // not a hex size
		'5\r\nMLS #,Addr\r\n0\r\n\r\n',            // chunk longer than announced
		'fffffffffffffffffff\r\nx\r\n',             // size overflow
	];
	for (const b of bad) {
		const { responses, closed } = await rawExchange(srv.host, srv.port,
			`POST /api/imports?name=bad-chunked.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}` +
			`Transfer-Encoding: chunked\r\n\r\n${b}`,
			{ timeoutMs: 10000 });
		assert.ok(responses[0], `an answer for ${JSON.stringify(b)} (closed: ${closed})`);
		assertJsonError(responses[0], 400, `malformed chunked ${JSON.stringify(b)}`);
	}
	// Garbage instead of a request line.
	const g = await rawExchange(srv.host, srv.port, 'HELLO THERE\r\n\r\n', { timeoutMs: 10000 });
	assert.ok(g.responses[0] ? g.responses[0].status === 400 : g.closed, 'garbage: 400 or closed');
	// Both Content-Length and Transfer-Encoding (request smuggling shape).
	const s = await rawExchange(srv.host, srv.port,
		`POST /api/imports?name=smuggle.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}Content-Length: 4\r\n` +
		'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', { timeoutMs: 10000 });
	assert.ok(s.responses[0] ? s.responses[0].status === 400 : s.closed, 'CL + TE: 400 or closed');
	await assertAlive('malformed requests');
});

test('a client that drops mid-upload leaves the job interrupted; the server still serves', {
	timeout: 120000,
}, async () => {
	const name = `dropped-${process.pid}.csv`;
	const sock = net.connect(srv.port, srv.host);
	await new Promise((r) => sock.once('connect', r));
	sock.on('error', () => {});
	sock.write(`POST /api/imports?name=${name} HTTP/1.1\r\nHost: t\r\n${postAuth()}` +
		'Transfer-Encoding: chunked\r\n\r\n');
	const half = csv.buffer.subarray(0, Math.floor(csv.buffer.length / 2));
	for (let off = 0; off < half.length; off += 4096) {
		const piece = half.subarray(off, off + 4096);
		sock.write(`${piece.length.toString(16)}\r\n`);
		sock.write(piece);
		sock.write('\r\n');
		await sleep(1);
	}
	// Wait until the job exists and has stored rows, then vanish.
	let job = null;
	const t0 = Date.now();
	while (Date.now() - t0 < 30000) {
		const l = await request('GET', `${srv.url}/api/imports`);
		job = l.json.items.find((j) => j.name === name);
		if (job && job.rows_inserted > 0) break;
		await sleep(50);
	}
	assert.ok(job, 'the job exists while its body arrives');
	sock.destroy();
	const end = await waitJob(srv.url, job.id, 'interrupted', 60000);
	assert.ok(end.finished_at, brief(end));
	assert.equal(end.rows_parsed, end.rows_inserted + end.rows_rejected, `accounting holds: ${brief(end)}`);
	assert.ok(end.rows_parsed > 0 && end.rows_parsed < 1500, brief(end));
	const page = await request('GET', `${srv.url}/api/imports/${job.id}/properties?limit=1000`);
	assert.equal(page.status, 200);
	assert.equal(page.json.items.length, end.rows_inserted, 'what was stored stays readable');
	await assertAlive('a dropped upload');
});

test('a request without Host on HTTP/1.0 is answered and the connection closed', async () => {
	const { responses, closed } = await rawExchange(srv.host, srv.port, 'GET /api/health HTTP/1.0\r\n\r\n',
		{ timeoutMs: 5000, waitClose: true });
	assert.ok(responses[0], 'answered');
	assert.equal(responses[0].status, 200);
	assert.ok(closed, 'HTTP/1.0 without keep-alive closes');
});

// ------------------------------------------------- strictness, as nginx has it
// Each shape below is one that http-parser (built lax) lets through and that a
// proxy in front of us might read differently: refused before any route sees
// the request, with a JSON error, and the connection closed.

// One raw exchange; the answer must be status with a JSON error, and closed.
async function refused(bytes, status, what) {
	const { responses, closed } = await rawExchange(srv.host, srv.port, bytes, { timeoutMs: 10000, waitClose: true });
	assertJsonError(responses[0], status, what);
	assert.ok(closed, `${what}: connection closed after the refusal`);
	return responses[0];
}

test('obs-fold (a header line starting with a space or tab) gets 400', async () => {
	for (const fold of [' folded', '\tfolded', '  two spaces']) {
		const r = await refused(`GET /api/health HTTP/1.1\r\nHost: t\r\nX-A: a\r\n${fold}\r\n\r\n`, 400,
			`fold ${JSON.stringify(fold)}`);
		assert.match(r.json.detail, /fold/, 'the detail names the fold');
	}
	// folded into Host itself, right after the request line's first header
	await refused('GET /api/health HTTP/1.1\r\nHost: t\r\n x\r\n\r\n', 400, 'fold after Host');
	// split between two writes right before the fold: still refused
	const { responses } = await rawExchange(srv.host, srv.port,
		['GET /api/health HTTP/1.1\r\nHost: t\r\nX-A: a\r\n', ' b\r\n\r\n'], { timeoutMs: 10000 });
	assertJsonError(responses[0], 400, 'fold in a second write');
	await assertAlive('obs-fold');
});

test('a space or another non-token character in a header name gets 400', async () => {
	for (const line of ['Bad Name: x', 'X-A : x', 'X(A): x', 'X"A": x', 'X/A: x']) {
		const r = await refused(`GET /api/health HTTP/1.1\r\nHost: t\r\n${line}\r\n\r\n`, 400,
			`header line ${JSON.stringify(line)}`);
		assert.match(r.json.detail, /header/, `${line}: detail`);
	}
	// every token character is fine
	const ok = await rawExchange(srv.host, srv.port,
		"GET /api/health HTTP/1.1\r\nHost: t\r\nX-!#$%&'*+.^_`|~09azAZ: v\r\n\r\n");
	assert.equal(ok.responses[0]?.status, 200, 'token characters accepted');
});

test('HTTP/1.1 without Host, or with two, gets 400; HTTP/1.0 needs none', async () => {
	const r = await refused('GET /api/health HTTP/1.1\r\n\r\n', 400, 'HTTP/1.1 without Host');
	assert.match(r.json.detail, /Host/);
	await refused('GET /api/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'two Host headers');
	const ok = await rawExchange(srv.host, srv.port, 'GET /api/health HTTP/1.0\r\n\r\n');
	assert.equal(ok.responses[0]?.status, 200, 'HTTP/1.0 without Host');
});

test('HTTP versions other than 1.0 and 1.1 get 505', async () => {
	for (const v of ['HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/3.1', 'HTTP/1.9']) {
		const r = await refused(`GET /api/health ${v}\r\nHost: t\r\n\r\n`, 505, v);
		assert.match(r.json.error, /HTTP version/);
	}
	await assertAlive('505');
});

test('Transfer-Encoding other than exactly chunked gets 501; two of them 400', async () => {
	const post = (te) => `POST /api/imports?name=te.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}${te}\r\n\r\n` +
		'4\r\na,b\n\r\n0\r\n\r\n';
	for (const te of ['gzip, chunked', 'identity', 'chunked, chunked', 'deflate', 'x-custom']) {
		const r = await refused(post(`Transfer-Encoding: ${te}`), 501, `Transfer-Encoding: ${te}`);
		assert.match(r.json.error, /transfer-encoding/);
	}
	await refused(post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked'), 400, 'two Transfer-Encoding headers');
	const l = await request('GET', `${srv.url}/api/imports`);
	assert.ok(!l.json.items.some((j) => j.name === 'te.csv'), 'no job was created for a refused coding');
	// CHUNKED in any case is chunked
	const ok = await rawExchange(srv.host, srv.port,
		`POST /api/imports?name=te-ok.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}Transfer-Encoding: CHUNKED\r\n\r\n` +
		`${csv.buffer.length.toString(16)}\r\n`, { timeoutMs: 100 }).catch(() => null);
	assert.ok(ok === null || !ok.responses[0] || ok.responses[0].status !== 501, 'CHUNKED accepted');
});

test('a second Content-Encoding header gets 400 (even two identity ones)', async () => {
	const r = await refused(`POST /api/imports?name=ce.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}` +
		'Content-Encoding: identity\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\na,b\n', 400, 'identity then gzip');
	assert.match(r.json.detail, /Content-Encoding/);
	await refused(`POST /api/imports?name=ce.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}` +
		'Content-Encoding: identity\r\nContent-Encoding: identity\r\nContent-Length: 4\r\n\r\na,b\n', 400, 'identity twice');
});

test('chunk data not followed by CRLF gets 400 (in one write or split)', async () => {
	const head = (n) => `POST /api/imports?name=crlf-${n}.csv HTTP/1.1\r\nHost: t\r\n${postAuth()}` +
		'Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n';
	const data = 'a,b\n1,2\n';
	const size = data.length.toString(16);
	const shapes = [
		[`${size}\r\n${data}XY0\r\n\r\n`],                  // two stray bytes instead of CRLF
		[`${size}\r\n${data}\n0\r\n\r\n`],                  // LF alone
		[`${size}\r\n${data}`, 'XY0\r\n\r\n'],             // the bad bytes in the next write
		[`${size}\r\n${data}\r`, 'X0\r\n\r\n'],            // CR, then not LF, across writes
	];
	for (const [i, parts] of shapes.entries()) {
		const { responses } = await rawExchange(srv.host, srv.port, [head(i), ...parts], { timeoutMs: 10000 });
		assertJsonError(responses[0], 400, `chunk without CRLF, shape ${i}`);
	}
	// the correct shape is an import
	const { responses } = await rawExchange(srv.host, srv.port,
		[head('ok'), `${size}\r\n${data}\r\n0\r\n\r\n`], { timeoutMs: 10000 });
	assert.equal(responses[0]?.status, 202, `well-formed chunks: ${responses[0]?.text}`);
	await assertAlive('chunk CRLF');
});

test('application/json is matched exactly: parameters allowed, a longer type is 415', async () => {
	const body = JSON.stringify({ name: 'nobody-here', password: 'not-the-password' });
	const send = (ct) => request('POST', `${srv.url}/api/session`, { body, headers: { 'Content-Type': ct }, auth: null });
	for (const ct of ['application/jsonx', 'application/json-seq', 'application/json+x', 'text/plain',
		'application/jso']) {
		const r = await send(ct);
		assertJsonError(r, 415, `Content-Type ${ct}`);
	}
	for (const ct of ['application/json', 'APPLICATION/JSON', 'application/json; charset=utf-8',
		'application/json;charset=UTF-8', 'application/json ; x=y']) {
		const r = await send(ct);
		assertJsonError(r, 401, `Content-Type ${ct} is JSON (a wrong login then)`);
	}
});
