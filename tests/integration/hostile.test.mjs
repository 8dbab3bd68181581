// hostile.test.mjs - hostile input (issue 3): garbage files, absurd fields and
// headers, broken HTTP framing, slow and idle clients, bad WebSocket frames
// and compressed uploads. For every case, in the same test, another client
// runs a correct import at the same time ("the bystander"); it must finish
// `done` with exact accounting, the hostile request must get a clear JSON
// error (or a job whose bad rows are rejected with a line and a reason),
// and the server must still answer /api/health.
//
// The server runs with a short header timeout (2 s) and idle timeout (5 s)
// so that slowloris and stalled bodies are quick to show. Requests written
// by hand carry the administrator's session (authLines) when they are meant
// to reach an authenticated route (uploads, the WebSocket); those on
// /api/health and plain garbage carry none.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { generate } from './gen.mjs';
import {
	authLines, brief, parseResponse, rawExchange, request, sleep, uploadChunked, useServer, waitJob,
	walkErrors, walkProperties, withAuth,
	scaled, test, waitFor,
} from './lib.mjs';

// The server's timeouts stretch with the time factor: a busy machine must not
// make a slow test client look idle.
const HEADER_TIMEOUT_MS = scaled(2000);
const IDLE_TIMEOUT_MS = scaled(5000);
// Memory is judged on the plain build: ASan's quarantine and shadow memory,
// and valgrind, inflate the resident size whatever the program does.
const INSTRUMENTED = process.env.PROPFLOW_SANITIZED === '1' || process.env.PROPFLOW_VALGRIND === '1';
const RSS_MAX_MB = INSTRUMENTED ? Infinity : 150;
// Hostile clients and the bystander are all the administrator here: lift
// the per-user limit of concurrent imports (default 3; accounts.test.mjs).
const srv = useServer({
	args: ['--header-timeout-ms', String(HEADER_TIMEOUT_MS),
		'--idle-timeout-ms', String(IDLE_TIMEOUT_MS), '--user-max-imports', '100'],
});

// The bystander's file: valid, messy, with a few rejected records.
const BYSTANDER = generate({ rows: 6000, rejected: 4, seed: 4242 });

// ------------------------------------------------------------------ helpers

function rssMb() {
	const s = fs.readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8');
	const m = s.match(/^VmRSS:\s+(\d+)\s+kB/m);
	return m ? Number(m[1]) / 1024 : 0;
}

async function assertAlive(what) {
	assert.ok(srv.isRunning(), `server process still running after ${what}`);
	const r = await request('GET', `${srv.url}/api/health`, { timeout: 10000 });
	assert.equal(r.status, 200, `health after ${what}: ${r.status} ${r.text.slice(0, 200)}`);
}

function assertJsonError(r, status, what) {
	assert.ok(r, `${what}: no response`);
	const want = Array.isArray(status) ? status : [status];
	assert.ok(want.includes(r.status), `${what}: status ${r.status} (want ${want.join('|')}) ` +
		`${(r.text || '').slice(0, 300)}`);
	assert.match(r.headers['content-type'] || '', /application\/json/, `${what}: JSON content type`);
	assert.ok(r.json && typeof r.json.error === 'string' && r.json.error.length > 0,
		`${what}: {"error": ...} body, got ${(r.text || '').slice(0, 300)}`);
}

// Start the bystander's import (chunked, paced so that it overlaps the
// hostile request) and return a promise of its checked, finished job.
function bystander(label, { pieceSize = 32768, delayMs = 4 } = {}) {
	const t = BYSTANDER.truth;
	const name = `bystander-${label}.csv`;
	return (async () => {
		const res = await uploadChunked(`${srv.url}/api/imports?name=${encodeURIComponent(name)}`,
			BYSTANDER.buffer, pieceSize, delayMs);
		assert.equal(res.status, 202, `bystander (${label}) upload: ${res.status} ${res.text.slice(0, 300)}`);
		const job = await waitJob(srv.url, res.json.id, 'done', 90000);
		assert.equal(job.rows_parsed, t.rows, `bystander (${label}) rows_parsed: ${brief(job)}`);
		assert.equal(job.rows_inserted, t.inserted, `bystander (${label}) rows_inserted: ${brief(job)}`);
		assert.equal(job.rows_rejected, t.rejected.length, `bystander (${label}) rows_rejected: ${brief(job)}`);
		assert.equal(job.rows_parsed, job.rows_inserted + job.rows_rejected);
		assert.equal(job.bytes_received, BYSTANDER.buffer.length, `bystander (${label}) bytes`);
		const items = await walkProperties(srv.url, job.id);
		assert.equal(items.length, t.inserted, `bystander (${label}) stored rows`);
		const rows = items.map((i) => i.row).sort((a, b) => a - b);
		assert.deepEqual(rows, t.records.map((r) => r.row), `bystander (${label}): every row once`);
		return job;
	})();
}

// Run hostile() while a bystander imports; both must succeed; then health.
async function underLoad(label, hostile, opts = {}) {
	const by = bystander(label, opts);
	by.catch(() => {}); // awaited below; do not let it be "unhandled" meanwhile
	let out;
	try {
		out = await hostile();
	} finally {
		await by;
	}
	await assertAlive(label);
	return out;
}

// POST a body (Buffer) as one request with Content-Length.
function post(name, body, headers = {}) {
	return request('POST', `${srv.url}/api/imports?name=${encodeURIComponent(name)}`, {
		body, headers: { 'Content-Type': 'text/csv', ...headers }, timeout: 60000,
	});
}

// The job of an accepted upload: 202 + Location, then a terminal state.
async function acceptedJob(res, what, states = ['done']) {
	assert.equal(res.status, 202, `${what}: ${res.status} ${res.text.slice(0, 300)}`);
	assert.equal(res.headers.location, `/api/imports/${res.json.id}`, `${what}: Location`);
	const job = await waitJob(srv.url, res.json.id, states, 60000);
	assert.equal(job.rows_parsed, job.rows_inserted + job.rows_rejected, `${what}: accounting ${brief(job)}`);
	return job;
}

// Every rejected error row has a line number and a reason.
async function checkRejections(job, what) {
	const errs = (await walkErrors(srv.url, job.id)).filter((e) => e.kind === 'rejected');
	assert.equal(errs.length, job.rows_rejected, `${what}: one rejected error per rejected row`);
	for (const e of errs) {
		assert.ok(Number.isInteger(e.line) && e.line >= 2, `${what}: line of ${JSON.stringify(e)}`);
		assert.ok(Number.isInteger(e.row) && e.row >= 1, `${what}: row of ${JSON.stringify(e)}`);
		assert.ok(typeof e.reason === 'string' && e.reason.length > 0, `${what}: reason of ${JSON.stringify(e)}`);
	}
	return errs;
}

// A job looked up by its (unique) name, or undefined.
async function jobNamed(name) {
	const r = await request('GET', `${srv.url}/api/imports`);
	return r.json.items.find((j) => j.name === name);
}

// Wait until a job named name is in one of states (it may not exist yet).
async function waitJobNamed(name, states, timeoutMs = 30000) {
	const end = Date.now() + timeoutMs;
	let j;
	while (Date.now() < end) {
		j = await jobNamed(name);
		if (j && states.includes(j.state)) return j;
		await sleep(100);
	}
	throw new Error(`job ${name} not ${states.join('|')} in ${timeoutMs} ms: ${brief(j)}`);
}

// A small valid CSV (text) with the bystander's header.
function smallCsv(rows = 20, seed = 7) {
	return generate({ rows, rejected: 0, seed, blankLines: 0 });
}

// Stream an upload from an async iterable of Buffers (chunked encoding).
function uploadStream(name, pieces, headers = {}) {
	return new Promise((resolve, reject) => {
		let answered = false;
		const url = `${srv.url}/api/imports?name=${encodeURIComponent(name)}`;
		const req = http.request(url, {
			method: 'POST', agent: false, headers: withAuth(url, 'POST', { 'Content-Type': 'text/csv', ...headers }),
		}, (res) => {
			answered = true;
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const body = Buffer.concat(chunks);
				let json;
				try { json = JSON.parse(body.toString('utf8')); } catch { json = undefined; }
				resolve({ status: res.statusCode, headers: res.headers, text: body.toString('utf8'), json });
			});
		});
		req.on('error', (e) => { if (!answered) reject(e); });
		(async () => {
			for await (const p of pieces) {
				if (answered) break;
				if (!req.write(p)) await new Promise((r) => req.once('drain', r));
			}
			if (!answered) req.end();
		})().catch((e) => req.destroy(e));
	});
}

// ------------------------------------------------------------ raw WebSocket

const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function wsFrame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, len = null } = {}) {
	const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
	const n = len ?? p.length;
	let head;
	if (n < 126) {
		head = Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode, (mask ? 0x80 : 0) | n]);
	} else if (n < 65536) {
		head = Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode, (mask ? 0x80 : 0) | 126, n >> 8, n & 255]);
	} else {
		head = Buffer.alloc(10);
		head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
		head[1] = (mask ? 0x80 : 0) | 127;
		head.writeBigUInt64BE(BigInt(n), 2);
	}
	if (!mask) return Buffer.concat([head, p]);
	const key = crypto.randomBytes(4);
	const body = Buffer.from(p);
	for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
	return Buffer.concat([head, key, body]);
}

// Parse the server's (unmasked) frames from buf; returns {frames, rest}.
function wsParse(buf) {
	const frames = [];
	for (;;) {
		if (buf.length < 2) break;
		let n = buf[1] & 0x7f;
		let off = 2;
		if (n === 126) { if (buf.length < 4) break; n = buf.readUInt16BE(2); off = 4; }
		else if (n === 127) { if (buf.length < 10) break; n = Number(buf.readBigUInt64BE(2)); off = 10; }
		if (buf.length < off + n) break;
		frames.push({ fin: !!(buf[0] & 0x80), opcode: buf[0] & 0x0f, payload: buf.subarray(off, off + n) });
		buf = buf.subarray(off + n);
	}
	return { frames, rest: buf };
}

// A raw WebSocket client on /api/events: handshake, then frames by hand.
async function wsRaw() {
	const sock = net.connect(srv.port, srv.host);
	await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
	const st = { sock, frames: [], closed: false, buf: Buffer.alloc(0), upgraded: false, status: 0 };
	let wake = null;
	const poke = () => { if (wake) { const w = wake; wake = null; w(); } };
	sock.on('data', (d) => {
		st.buf = Buffer.concat([st.buf, d]);
		if (!st.upgraded) {
			const e = st.buf.indexOf('\r\n\r\n');
			if (e < 0) return;
			st.status = Number(st.buf.subarray(0, e).toString('latin1').split(' ')[1]);
			st.upgraded = true;
			st.buf = st.buf.subarray(e + 4);
		}
		const { frames, rest } = wsParse(st.buf);
		st.frames.push(...frames);
		st.buf = rest;
		poke();
	});
	sock.on('error', () => { st.closed = true; poke(); });
	sock.on('close', () => { st.closed = true; poke(); });
	st.until = async (pred, ms = 10000) => {
		const end = Date.now() + ms;
		while (!pred(st)) {
			if (Date.now() > end) return false;
			await Promise.race([new Promise((r) => { wake = r; }), sleep(50)]);
		}
		return true;
	};
	st.closeCode = () => {
		const f = st.frames.find((x) => x.opcode === 8);
		return f ? (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005) : null;
	};
	sock.write(`GET /api/events HTTP/1.1\r\nHost: t\r\n${authLines(srv.url)}` +
		'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
		`Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
	assert.ok(await st.until((s) => s.frames.length > 0), 'WebSocket: snapshot frame');
	assert.equal(st.status, 101, 'WebSocket: 101');
	const snap = JSON.parse(st.frames[0].payload.toString('utf8'));
	assert.equal(snap.type, 'snapshot');
	return st;
}

// The server closes with one of codes, then the TCP connection closes.
async function expectWsClose(st, codes, what) {
	assert.ok(await st.until((s) => s.closeCode() !== null || s.closed, 10000), `${what}: close frame`);
	const code = st.closeCode();
	assert.ok(codes.includes(code), `${what}: close code ${code}, want ${codes.join('|')}`);
	// answer the close as a client should; the server then drops the socket
	if (!st.closed) st.sock.write(wsFrame(8, Buffer.from([code >> 8, code & 255])));
	assert.ok(await st.until((s) => s.closed, 10000), `${what}: TCP connection closed`);
}

// ------------------------------------------------------------------- cases

test('binary garbage: as a file -> rejected rows with reasons or a failed job; as HTTP -> 400',
	{ timeout: 60000 }, async () => {
		await underLoad('garbage', async () => {
			const rnd = crypto.randomBytes(256 * 1024);
			const res = await post('garbage.bin', rnd);
			if (res.status === 202) {
				const job = await acceptedJob(res, 'garbage file', ['done', 'failed']);
				if (job.state === 'failed') assert.ok(job.error, `failed job says why: ${brief(job)}`);
				else await checkRejections(job, 'garbage file');
			} else {
				assertJsonError(res, [400, 415, 422], 'garbage file');
			}
			const { responses, closed } = await rawExchange(srv.host, srv.port,
				Buffer.concat([crypto.randomBytes(4096), Buffer.from('\r\n\r\n')]), { waitClose: true });
			assertJsonError(responses[0], 400, 'garbage as HTTP');
			assert.ok(closed, 'garbage as HTTP: connection closed');
		});
	});

test('NUL bytes inside fields: the rows are stored or rejected with a reason', { timeout: 60000 }, async () => {
	await underLoad('nul', async () => {
		const body = Buffer.from('MLS #,Address,City\nA1,1 Main\0 St,Austin\nA2,2 Oak St,Dal\0las\n\0\0\0,3 Elm,Waco\nA4,4 Pine,Tyler\n');
		const job = await acceptedJob(await post('nul.csv', body), 'NUL bytes', ['done']);
		assert.equal(job.rows_parsed, 4, brief(job));
		await checkRejections(job, 'NUL');
		const items = await walkProperties(srv.url, job.id);
		for (const it of items) {
			for (const v of Object.values(it))
				if (typeof v === 'string') assert.ok(!v.includes('\0'), `no NUL stored: ${JSON.stringify(it)}`);
		}
		assert.ok(items.some((i) => i.source_id === 'A4' && i.city === 'Tyler'), 'clean row stored');
	});
});

test('invalid UTF-8: the file is read (as windows-1252 or with replacements), no row lost', { timeout: 60000 }, async () => {
	await underLoad('utf8', async () => {
		const body = Buffer.concat([
			Buffer.from('MLS #,Address,City\nB1,1 Main St,'), Buffer.from([0xc3, 0x28]),
			Buffer.from('\nB2,'), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]), Buffer.from(',Austin\n'),
			Buffer.from('B3,3 Elm,'), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from('\n'),
		]);
		const job = await acceptedJob(await post('bad-utf8.csv', body), 'invalid UTF-8', ['done']);
		assert.equal(job.rows_parsed, 3, brief(job));
		await checkRejections(job, 'invalid UTF-8');
		const items = await walkProperties(srv.url, job.id);
		for (const it of items) {
			const back = JSON.stringify(it);
			assert.ok(Buffer.from(back, 'utf8').toString('utf8') === back && !back.includes('\\u0000'),
				'stored text is valid UTF-8');
		}
		assert.equal(items.length + job.rows_rejected, 3);
	});
});

test('a 100 MB single field: the row is rejected with a reason, memory stays bounded', { timeout: 120000 }, async () => {
	await underLoad('bigfield', async () => {
		const MB = 1024 * 1024;
		const block = Buffer.alloc(MB, 'x');
		let maxRss = rssMb();
		const sampler = setInterval(() => { maxRss = Math.max(maxRss, rssMb()); }, 50);
		async function* pieces() {
			yield Buffer.from('MLS #,Remarks,City\nC1,"');
			for (let i = 0; i < 100; i++) yield block;
			yield Buffer.from('",Austin\nC2,short,Dallas\n');
		}
		let res;
		try {
			res = await uploadStream('bigfield.csv', pieces());
		} finally {
			clearInterval(sampler);
		}
		const job = await acceptedJob(res, '100 MB field', ['done']);
		maxRss = Math.max(maxRss, rssMb());
		assert.ok(maxRss < RSS_MAX_MB, `server VmRSS peaked at ${maxRss.toFixed(1)} MB (cap ${RSS_MAX_MB})`);
		assert.equal(job.rows_parsed, 2, brief(job));
		assert.equal(job.rows_rejected, 1, brief(job));
		assert.equal(job.rows_inserted, 1, brief(job));
		assert.ok(job.bytes_received > 100 * MB, brief(job));
		const errs = await checkRejections(job, '100 MB field');
		assert.equal(errs[0].row, 1);
		assert.equal(errs[0].line, 2);
		assert.match(errs[0].reason, /too long|too large|field/i, `reason: ${errs[0].reason}`);
		assert.ok(!errs[0].raw || errs[0].raw.length < 64 * 1024, 'raw text of the rejected row is capped');
		const items = await walkProperties(srv.url, job.id);
		assert.deepEqual(items.map((i) => [i.row, i.line, i.source_id, i.city]), [[2, 3, 'C2', 'Dallas']]);
	});
});

test('50,000 columns: wider than --fields-max -> a failed job or a 4xx, with a clear error', { timeout: 60000 }, async () => {
	await underLoad('wide', async () => {
		const cols = Array.from({ length: 50000 }, (_, i) => `c${i}`);
		const body = Buffer.from(`${cols.join(',')}\n${cols.map((_, i) => i).join(',')}\n`);
		const res = await post('wide.csv', body);
		if (res.status === 202) {
			const job = await waitJob(srv.url, res.json.id, ['failed'], 60000);
			assert.match(job.error || '', /field|column/i, `failed job says why: ${brief(job)}`);
		} else {
			assertJsonError(res, [400, 413, 422], '50,000 columns');
			assert.match(res.json.error, /field|column/i, `the error names the limit: ${res.json.error}`);
			// a job made for it must not stay running
			if (res.json.detail && Number.isInteger(res.json.detail.id)) {
				const job = await waitJob(srv.url, res.json.detail.id, ['failed'], 30000);
				assert.equal(job.rows_inserted, 0, brief(job));
			}
		}
	});
});

test('unterminated quote at end of file: that record is rejected with its line', { timeout: 60000 }, async () => {
	await underLoad('unterminated', async () => {
		const body = Buffer.from('MLS #,Address,City\nD1,1 Main,Austin\nD2,"2 Oak, unterminated,Dallas\nD3,3 Elm,Waco\n');
		const job = await acceptedJob(await post('unterminated.csv', body), 'unterminated quote');
		assert.equal(job.rows_parsed, 2, brief(job));
		assert.equal(job.rows_inserted, 1, brief(job));
		assert.equal(job.rows_rejected, 1, brief(job));
		const errs = await checkRejections(job, 'unterminated quote');
		assert.equal(errs[0].line, 3);
		assert.match(errs[0].reason, /quote|unterminated/i, errs[0].reason);
	});
});

test('no final newline: the last record is kept', { timeout: 60000 }, async () => {
	await underLoad('nofinal', async () => {
		const body = Buffer.from('MLS #,Address,City\nE1,1 Main,Austin\nE2,2 Oak,Dallas');
		const job = await acceptedJob(await post('nofinal.csv', body), 'no final newline');
		assert.equal(job.rows_parsed, 2, brief(job));
		assert.equal(job.rows_inserted, 2, brief(job));
		const items = await walkProperties(srv.url, job.id);
		assert.deepEqual(items.map((i) => [i.row, i.line, i.source_id, i.city]),
			[[1, 2, 'E1', 'Austin'], [2, 3, 'E2', 'Dallas']]);
	});
});

test('CR-only line ends: records and lines are counted as for LF', { timeout: 60000 }, async () => {
	await underLoad('cr', async () => {
		const body = Buffer.from('MLS #,Address,City\rF1,1 Main,Austin\rF2,"2 Oak\rSuite 5",Dallas\rF3,3 Elm,Waco\r');
		const job = await acceptedJob(await post('cr-only.csv', body), 'CR-only lines');
		assert.equal(job.rows_parsed, 3, brief(job));
		assert.equal(job.rows_inserted, 3, brief(job));
		const items = await walkProperties(srv.url, job.id);
		assert.deepEqual(items.map((i) => [i.row, i.line, i.source_id, i.city]),
			[[1, 2, 'F1', 'Austin'], [2, 3, 'F2', 'Dallas'], [3, 5, 'F3', 'Waco']]);
	});
});

test('empty file: 400 JSON (one-shot and chunked)', { timeout: 60000 }, async () => {
	await underLoad('empty', async () => {
		assertJsonError(await post('empty.csv', Buffer.alloc(0)), 400, 'empty (Content-Length: 0)');
		const chunked = await uploadChunked(`${srv.url}/api/imports?name=empty-chunked.csv`, Buffer.alloc(0), 1024, 0);
		assertJsonError(chunked, 400, 'empty (chunked)');
	});
});

test('header only: done with 0 rows and the columns mapped', { timeout: 60000 }, async () => {
	await underLoad('headeronly', async () => {
		const job = await acceptedJob(await post('header-only.csv', Buffer.from('MLS #,Address,City,Zip Code\n')), 'header only');
		assert.equal(job.rows_parsed, 0, brief(job));
		assert.equal(job.rows_inserted, 0);
		assert.equal(job.rows_rejected, 0);
		assert.equal(job.columns.length, 4, 'columns read from the header');
		assert.deepEqual(job.columns.map((c) => c.field), ['source_id', 'address', 'city', 'zip']);
	});
});

test('duplicate and empty header names: raw keys get " (2)" and "column_N"', { timeout: 60000 }, async () => {
	await underLoad('dupheader', async () => {
		const body = Buffer.from('City,City,,Address,\nAustin,Dallas,x,1 Main,y\n');
		const job = await acceptedJob(await post('dup-header.csv', body), 'duplicate/empty headers');
		assert.equal(job.rows_inserted, 1, brief(job));
		const items = await walkProperties(srv.url, job.id);
		const one = await request('GET', `${srv.url}/api/properties/${items[0].id}`);
		assert.equal(one.status, 200);
		assert.deepEqual(one.json.raw, { City: 'Austin', 'City (2)': 'Dallas', column_3: 'x', Address: '1 Main', column_5: 'y' });
		assert.equal(one.json.city, 'Austin', 'the first of two same-named columns is mapped');
	});
});

test('malformed chunked encoding: 400 JSON, connection closed, the job does not stay receiving', { timeout: 60000 }, async () => {
	await underLoad('badchunk', async () => {
		const name = 'bad-chunked.csv';
		const bytes = `POST /api/imports?name=${name} HTTP/1.1\r\nHost: t\r\n${authLines(srv.url, 'POST')}` +
			'Content-Type: text/csv\r\n' +
			'Transfer-Encoding: chunked\r\n\r\n13\r\nMLS #,Address,City\n\r\nZZ-not-hex\r\nG1,1 Main,Austin\n\r\n0\r\n\r\n';
		const { responses, closed } = await rawExchange(srv.host, srv.port, bytes, { waitClose: true });
		assertJsonError(responses[0], 400, 'malformed chunked');
		assert.ok(closed, 'connection closed after a malformed body');
		const j = await jobNamed(name);
		if (j) {
			const fin = await waitJobNamed(name, ['interrupted', 'failed']);
			assert.equal(fin.rows_parsed, fin.rows_inserted + fin.rows_rejected, brief(fin));
		}
	});
});

test('body longer than Content-Length: the extra bytes are the next request -> 400', { timeout: 60000 }, async () => {
	await underLoad('longer', async () => {
		const { buffer, truth } = smallCsv(30, 11);
		const bytes = Buffer.concat([
			Buffer.from(`POST /api/imports?name=longer.csv HTTP/1.1\r\nHost: t\r\n${authLines(srv.url, 'POST')}` +
				'Content-Type: text/csv\r\n' +
				`Content-Length: ${buffer.length}\r\n\r\n`),
			buffer, Buffer.from('THIS IS NOT A REQUEST\x00\xff\r\n\r\n'),
		]);
		const { responses, closed } = await rawExchange(srv.host, srv.port, bytes, { count: 2, waitClose: true });
		assert.equal(responses[0]?.status, 202, `first answer ${responses[0]?.status} ${responses[0]?.text}`);
		assertJsonError(responses[1], 400, 'extra bytes');
		assert.ok(closed, 'connection closed after the garbage');
		const job = await waitJob(srv.url, responses[0].json.id, 'done');
		assert.equal(job.rows_parsed, truth.rows, brief(job));
		assert.equal(job.bytes_received, buffer.length);
	});
});

test('body shorter than Content-Length: a stalled client gets 408, a vanished one an interrupted job',
	{ timeout: 60000 }, async () => {
		await underLoad('shorter', async () => {
			const { buffer } = smallCsv(400, 12);
			const half = buffer.subarray(0, buffer.length >> 1);
			const head = (name) => Buffer.from(`POST /api/imports?name=${name} HTTP/1.1\r\nHost: t\r\n` +
				authLines(srv.url, 'POST') +
				`Content-Type: text/csv\r\nContent-Length: ${buffer.length}\r\n\r\n`);
			// closes after half: interrupted
			const gone = net.connect(srv.port, srv.host);
			await new Promise((r) => gone.once('connect', r));
			gone.write(Buffer.concat([head('shorter-gone.csv'), half]));
			await sleep(300);
			gone.destroy();
			// stalls after half: 408 after the idle timeout
			const t0 = Date.now();
			const stalled = await rawExchange(srv.host, srv.port, Buffer.concat([head('shorter-stall.csv'), half]),
				{ timeoutMs: IDLE_TIMEOUT_MS + scaled(10000), waitClose: true });
			const ms = Date.now() - t0;
			assertJsonError(stalled.responses[0], 408, 'stalled body');
			assert.ok(ms >= IDLE_TIMEOUT_MS - 200, `408 came after the idle timeout (${ms} ms)`);
			assert.ok(stalled.closed, 'stalled connection closed');
			for (const name of ['shorter-gone.csv', 'shorter-stall.csv']) {
				const j = await waitJobNamed(name, ['interrupted']);
				assert.ok(j.bytes_received <= half.length, `${name}: ${brief(j)}`);
				assert.equal(j.rows_parsed, j.rows_inserted + j.rows_rejected, `${name}: ${brief(j)}`);
				assert.match(j.error || '', /interrupt|closed|timeout/i, `${name}: ${brief(j)}`);
			}
		}, { delayMs: 20 });
	});

test('oversized headers: 431 JSON', { timeout: 60000 }, async () => {
	await underLoad('bigheaders', async () => {
		const big = `GET /api/health HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
		const one = await rawExchange(srv.host, srv.port, big, { waitClose: true });
		assertJsonError(one.responses[0], 431, '64 KB header');
		let many = 'GET /api/health HTTP/1.1\r\nHost: t\r\n';
		for (let i = 0; i < 5000; i++) many += `X-H${i}: v\r\n`;
		const two = await rawExchange(srv.host, srv.port, `${many}\r\n`, { waitClose: true });
		assertJsonError(two.responses[0], 431, '5,000 header lines');
	});
});

test('slowloris: heads sent one byte per second get 408 after --header-timeout-ms and are closed',
	{ timeout: 60000 }, async () => {
		await underLoad('slowloris', async () => {
			const head = 'GET /api/health HTTP/1.1\r\nHost: slow\r\nX-Pad: aaaaaaaaaaaaaaaaaaaa\r\n\r\n';
			const one = () => new Promise((resolve) => {
				const sock = net.connect(srv.port, srv.host);
				const t0 = Date.now();
				let buf = Buffer.alloc(0);
				let i = 0;
				let timer = null;
				const done = (why) => {
					clearInterval(timer);
					sock.destroy();
					resolve({ ms: Date.now() - t0, sent: i, res: parseResponse(buf), why });
				};
				sock.on('connect', () => {
					sock.write(head[i++]);
					timer = setInterval(() => {
						if (i < head.length && !sock.destroyed) sock.write(head[i++]);
					}, 1000);
				});
				sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
				sock.on('close', () => done('closed'));
				sock.on('error', () => done('error'));
				setTimeout(() => done('timeout'), HEADER_TIMEOUT_MS + scaled(8000));
			});
			const all = await Promise.all(Array.from({ length: 20 }, one));
			for (const r of all) {
				assert.notEqual(r.why, 'timeout', `slow client was not closed: ${JSON.stringify({ ...r, res: undefined })}`);
				assert.ok(r.ms >= HEADER_TIMEOUT_MS - 200 && r.ms < HEADER_TIMEOUT_MS + scaled(4000), `closed after ${r.ms} ms`);
				assert.ok(r.sent < head.length, 'closed before the head was complete');
				assertJsonError(r.res, 408, 'slowloris');
			}
		}, { delayMs: 25 });
	});

test('1,000 idle connections: the import still connects and finishes; at the cap the longest-idle ones are closed',
	{ timeout: 90000 }, async () => {
		const N = 1000;
		const socks = [];
		const opened = [];
		// each idle socket made one keep-alive request, then does nothing;
		// from 20 addresses of 127/8 (50 each: under the per-address cap)
		for (let i = 0; i < N; i++) {
			opened.push(new Promise((resolve, reject) => {
				const s = net.connect({ port: srv.port, host: srv.host, localAddress: `127.0.0.${10 + (i % 20)}` });
				s.state = { closed: false, answered: false, buf: Buffer.alloc(0) };
				s.on('connect', () => s.write('GET /api/health HTTP/1.1\r\nHost: idle\r\n\r\n'));
				s.on('data', (d) => {
					s.state.buf = Buffer.concat([s.state.buf, d]);
					if (!s.state.answered && parseResponse(s.state.buf)) { s.state.answered = true; resolve(); }
				});
				s.on('close', () => { s.state.closed = true; resolve(); });
				s.on('error', (e) => { s.state.closed = true; if (!s.state.answered) reject(e); });
				socks.push(s);
			}));
			if (i % 100 === 99) await sleep(10);
		}
		try {
			await Promise.all(opened);
			assert.equal(socks.filter((s) => s.state.answered).length, N, 'every idle socket was served once');
			await underLoad('idle', async () => {
				await sleep(200);
			}, { delayMs: 1 });
			assert.equal(socks.filter((s) => s.state.closed).length, 0,
				'under the cap (1024) no idle connection was closed');
			// 100 more (the default cap is 1024): the oldest idle ones make room
			const more = await Promise.all(Array.from({ length: 100 }, () =>
				rawExchange(srv.host, srv.port, 'GET /api/health HTTP/1.1\r\nHost: more\r\nConnection: close\r\n\r\n')));
			for (const m of more) assert.equal(m.responses[0]?.status, 200, 'a new connection at the cap is served');
			// room was made before each new one was served; the closes reach us soon after
			const closed = await waitFor(() => socks.filter((s) => s.state.closed).length, 10000,
				'idle connections closed to make room');
			// sockets were opened (and went idle) in order, 100 at a time
			const last = socks.reduce((m, s, i) => (s.state.closed ? i : m), -1);
			assert.ok(last < closed + 200, `the longest-idle ones went first (${closed} closed, last #${last})`);
		} finally {
			for (const s of socks) s.destroy();
		}
		await assertAlive('1,000 idle connections');
	});

test('WebSocket: oversized, unmasked, reserved-opcode and RSV frames are closed 1009/1002; fragments are reassembled',
	{ timeout: 60000 }, async () => {
		await underLoad('websocket', async () => {
			// oversized: a 1 MB text frame (cap 64 KB) -> 1009
			let st = await wsRaw();
			st.sock.write(wsFrame(1, Buffer.alloc(1024 * 1024, 'a')));
			await expectWsClose(st, [1009], 'oversized frame');
			// oversized by fragments: 2 x 40 KB continuation -> 1009
			st = await wsRaw();
			st.sock.write(wsFrame(1, Buffer.alloc(40 * 1024, 'a'), { fin: false }));
			st.sock.write(wsFrame(0, Buffer.alloc(40 * 1024, 'a'), { fin: true }));
			await expectWsClose(st, [1009], 'oversized fragmented message');
			// a 64-bit length announcing 1 TB, then its first bytes -> closed, nothing allocated
			st = await wsRaw();
			st.sock.write(wsFrame(1, Buffer.alloc(16, 'a'), { len: 2 ** 40 }));
			await expectWsClose(st, [1009, 1002], '1 TB length');
			// unmasked client frame -> 1002
			st = await wsRaw();
			st.sock.write(wsFrame(1, '{"hello":1}', { mask: false }));
			await expectWsClose(st, [1002], 'unmasked frame');
			// reserved opcodes, data (0x3) and control (0xB) -> 1002
			for (const op of [0x3, 0x7, 0xb, 0xf]) {
				st = await wsRaw();
				st.sock.write(wsFrame(op, 'x'));
				await expectWsClose(st, [1002], `reserved opcode 0x${op.toString(16)}`);
			}
			// RSV bits without an extension -> 1002
			st = await wsRaw();
			st.sock.write(wsFrame(1, 'x', { rsv: 4 }));
			await expectWsClose(st, [1002], 'RSV1 set');
			// a fragmented control frame -> 1002
			st = await wsRaw();
			st.sock.write(wsFrame(9, 'p', { fin: false }));
			await expectWsClose(st, [1002], 'fragmented ping');
			// continuation without a start -> 1002
			st = await wsRaw();
			st.sock.write(wsFrame(0, 'x'));
			await expectWsClose(st, [1002], 'orphan continuation');
			// invalid UTF-8 in a text message -> 1007
			st = await wsRaw();
			st.sock.write(wsFrame(1, Buffer.from([0xc3, 0x28])));
			await expectWsClose(st, [1007], 'invalid UTF-8 text');
			// a fragmented text message with a ping between the fragments:
			// the ping is answered, the message taken, the connection stays open
			st = await wsRaw();
			st.sock.write(wsFrame(1, '{"type":', { fin: false }));
			st.sock.write(wsFrame(9, 'mid'));
			st.sock.write(wsFrame(0, '"hel', { fin: false }));
			st.sock.write(wsFrame(0, 'lo"}', { fin: true }));
			st.sock.write(wsFrame(9, 'after'));
			assert.ok(await st.until((s) => s.frames.filter((f) => f.opcode === 10).length >= 2),
				'pongs for the ping inside the fragments and after them');
			const pongs = st.frames.filter((f) => f.opcode === 10).map((f) => f.payload.toString());
			assert.deepEqual(pongs.slice(0, 2), ['mid', 'after']);
			assert.equal(st.closeCode(), null, 'a well-formed fragmented message does not close the socket');
			// a clean close from the client is answered with the same code
			st.sock.write(wsFrame(8, Buffer.from([0x03, 0xe8])));
			await expectWsClose(st, [1000], 'client close');
		});
	});

test('Content-Encoding: gzip upload -> 415 JSON (gzip is not accepted, so no bomb)', { timeout: 60000 }, async () => {
	await underLoad('gzip', async () => {
		const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MB of zeros in ~64 KB
		const before = rssMb();
		for (const enc of ['gzip', 'deflate', 'br']) {
			const res = await post(`bomb-${enc}.csv`, bomb, { 'Content-Encoding': enc });
			assertJsonError(res, 415, `Content-Encoding: ${enc}`);
			assert.equal(await jobNamed(`bomb-${enc}.csv`), undefined, `${enc}: no job created`);
		}
		const chunked = await uploadChunked(`${srv.url}/api/imports?name=bomb-chunked.csv`, bomb, 8192, 0,
			{ headers: { 'Content-Encoding': 'gzip' } });
		assertJsonError(chunked, 415, 'chunked gzip');
		assert.ok(rssMb() < before + 32, 'nothing was inflated');
		const plain = await post('identity.csv', smallCsv(10, 13).buffer, { 'Content-Encoding': 'identity' });
		await acceptedJob(plain, 'Content-Encoding: identity');
	});
});
