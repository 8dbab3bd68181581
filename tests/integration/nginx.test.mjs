// nginx.test.mjs - propflow behind a real nginx running the repository's own configuration
// (deploy/nginx.conf + deploy/propflow.conf, rewritten only for a temp dir and free ports):
// a password login and a bearer token through nginx, the WebSocket through nginx (cookie and
// Origin, as the page does), and a slow chunked upload whose progress frames arrive while the
// body is still being sent (nginx does not buffer the body), ending done with the right row
// count; propflow (--trust-proxy 127.0.0.1) logs the client address nginx appended to
// X-Forwarded-For and ignores a client's own X-Forwarded-Proto. Skipped when nginx is missing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';
import WebSocket from 'ws';
import { generate } from './gen.mjs';
import {
	SRC, checkExit, removeDir, request, runCli, scaled, sleep, startServer, tempDir,
	uploadChunked,
	test,
} from './lib.mjs';

function findNginx() {
	const dirs = [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
	for (const d of dirs) {
		if (!d) continue;
		const p = path.join(d, 'nginx');
		try {
			fs.accessSync(p, fs.constants.X_OK);
			return p;
		} catch {
			// not here
		}
	}
	return null;
}

const NGINX = findNginx();
const skip = NGINX ? false : 'nginx not installed (CI installs it: .ci/deps)';

// A port nobody listens on right now.
function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.once('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

// Replace the one match of re in text (the deploy files changing shape must fail the test, not
// quietly test something else).
function replaceOnce(text, re, to, file) {
	const n = (text.match(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g')) || [])
		.length;
	if (n !== 1) throw new Error(`${file}: expected one match of ${re}, found ${n}`);
	return text.replace(re, to);
}

// The deploy configuration moved into dir: nginx on 127.0.0.1:listenPort, upstream = propflow.
function writeConfig(dir, listenPort, upstreamPort) {
	const main = path.join(SRC, 'deploy', 'nginx.conf');
	const site = path.join(SRC, 'deploy', 'propflow.conf');
	let m = fs.readFileSync(main, 'utf8');
	let workerUser = '';
	if (process.getuid && process.getuid() === 0) {
		const groups = fs.readFileSync('/etc/group', 'utf8');
		workerUser = `user nobody ${/^nogroup:/m.test(groups) ? 'nogroup' : 'nobody'};`;
	}
	m = replaceOnce(m, /^user [^;]*;/m, workerUser, main);
	m = replaceOnce(m, /^pid [^;]*;/m, `pid ${dir}/nginx.pid;`, main);
	m = replaceOnce(m, /^error_log [^;]*;/m, `error_log ${dir}/error.log info;`, main);
	m = replaceOnce(m, /access_log \/var\/log\/nginx\/access\.log/, `access_log ${dir}/access.log`, main);
	m = replaceOnce(m, /client_body_temp_path [^;]*;/, `client_body_temp_path ${dir}/body;`, main);
	// the other temp paths default to /var/lib/nginx (not writable unless root): here too
	m = replaceOnce(m, /proxy_temp_path [^;]*;/, `proxy_temp_path ${dir}/proxy;\n` +
		`\tfastcgi_temp_path ${dir}/fastcgi;\n\tuwsgi_temp_path ${dir}/uwsgi;\n` +
		`\tscgi_temp_path ${dir}/scgi;`, main);
	m = replaceOnce(m, /include \/etc\/nginx\/propflow\.conf;/, `include ${dir}/propflow.conf;`, main);
	let s = fs.readFileSync(site, 'utf8');
	s = replaceOnce(s, /^\tserver 127\.0\.0\.1:8080;/m, `\tserver 127.0.0.1:${upstreamPort};`, site);
	s = replaceOnce(s, /^\tlisten 80;/m, `\tlisten 127.0.0.1:${listenPort};`, site);
	s = replaceOnce(s, /^\tlisten \[::\]:80;\n/m, '', site);
	fs.writeFileSync(path.join(dir, 'nginx.conf'), m);
	fs.writeFileSync(path.join(dir, 'propflow.conf'), s);
}

// nginx in the foreground on the rewritten configuration; resolves once a request through it
// reaches propflow.
async function startNginx(dir, upstreamPort) {
	const port = await freePort();
	writeConfig(dir, port, upstreamPort);
	const conf = path.join(dir, 'nginx.conf');
	const args = ['-e', 'stderr', '-p', dir, '-c', conf];
	const t = spawn(NGINX, [...args, '-t'], { stdio: ['ignore', 'pipe', 'pipe'] });
	let terr = '';
	t.stderr.on('data', (d) => { terr += d; });
	const tcode = await new Promise((r) => t.on('close', r));
	if (tcode !== 0) throw new Error(`nginx -t failed:\n${terr}`);

	const proc = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
	let err = '';
	proc.stderr.setEncoding('utf8');
	proc.stderr.on('data', (d) => { err += d; });
	let exitInfo = null;
	const exited = new Promise((r) => proc.on('exit', (code, signal) => {
		exitInfo = { code, signal };
		r(exitInfo);
	}));
	const url = `http://127.0.0.1:${port}`;
	const end = Date.now() + scaled(15000);
	for (;;) {
		if (exitInfo) throw new Error(`nginx exited (${JSON.stringify(exitInfo)}):\n${err}`);
		try {
			const r = await request('GET', `${url}/api/health`, { timeout: 2000 });
			if (r.status === 200) break;
		} catch {
			// not listening yet
		}
		if (Date.now() > end) throw new Error(`nginx did not answer within 15 s:\n${err}`);
		await sleep(50);
	}
	return {
		url, port, proc, stderr: () => err,
		log: (name) => {
			try { return fs.readFileSync(path.join(dir, name), 'utf8'); } catch { return ''; }
		},
		async stop() {
			if (!exitInfo) proc.kill('SIGTERM');
			return exited;
		},
	};
}

// A WebSocket with headers of our choosing (cookie, Origin); keeps every JSON message with the
// time it came.
function openWs(url, headers) {
	const ws = new WebSocket(url.replace(/^http/, 'ws') + '/api/events', { headers });
	const messages = [];
	ws.on('message', (data) => {
		try {
			messages.push(JSON.parse(data.toString('utf8')));
		} catch {
			messages.push({ type: 'unparsable', text: data.toString('utf8').slice(0, 200) });
		}
	});
	const opened = new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
		ws.once('error', reject);
	});
	const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
	return { ws, messages, opened, closed };
}

// GET the job until it ends; throws unless it ends done.
async function pollJob(url, headers, timeoutMs = 120000) {
	const end = Date.now() + scaled(timeoutMs);
	let last = null;
	for (;;) {
		const r = await request('GET', url, { headers });
		assert.equal(r.status, 200, `GET ${url}: ${r.text}`);
		last = r.json;
		if (last.state === 'done') return last;
		assert.ok(!['failed', 'interrupted', 'cancelled'].includes(last.state),
			`job ended ${last.state}: ${last.error}`);
		assert.ok(Date.now() < end, `job not done in time: ${JSON.stringify({ ...last, columns: 0 })}`);
		await sleep(100);
	}
}

let srv = null;
let ngx = null;
let dir = null;
const PASSWORD = 'correct horse battery staple';
let token = null;

before(async () => {
	if (skip) return;
	srv = await startServer({ args: ['--trust-proxy', '127.0.0.1'] });
	const add = await runCli(['user', 'add', 'alice', '--data-dir', srv.dataDir],
		{ input: `${PASSWORD}\n` });
	assert.equal(add.code, 0, `user add: ${add.stdout}${add.stderr}`);
	const tok = await runCli(['user', 'token', 'alice', '--data-dir', srv.dataDir]);
	assert.equal(tok.code, 0, `user token: ${tok.stderr}`);
	token = tok.stdout.trim();
	assert.match(token, /^pft_[A-Za-z0-9_-]{43}$/);
	dir = tempDir('propflow-nginx-');
	ngx = await startNginx(dir, srv.port);
}, { timeout: scaled(180000) });

after(async () => {
	if (ngx) {
		const x = await ngx.stop();
		process.stderr.write(`# nginx exit ${JSON.stringify(x)}\n# --- nginx stderr ---\n` +
			`${ngx.stderr().replace(/^/gm, '# ')}\n# --- nginx error.log (tail) ---\n` +
			`${ngx.log('error.log').split('\n').slice(-30).join('\n').replace(/^/gm, '# ')}\n`);
	}
	if (srv) {
		const x = await srv.stop();
		checkExit(x, srv.stderr(), 'server');
	}
	removeDir(dir);
}, { timeout: scaled(60000) });

const bearer = () => ({ Authorization: `Bearer ${token}` });

test('requests pass through nginx with their credentials', { skip }, async () => {
	const anon = await request('GET', `${ngx.url}/api/imports`);
	assert.equal(anon.status, 401, anon.text);
	const r = await request('GET', `${ngx.url}/api/imports`, { headers: bearer() });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.json.items, []);
	// propflow's headers come through
	assert.equal(r.headers['x-content-type-options'], 'nosniff');
	assert.equal(r.headers.server, 'nginx', 'server_tokens off: no version');
});

test('password login through nginx: Origin accepted, a client X-Forwarded-Proto ignored', { skip }, async () => {
	const r = await request('POST', `${ngx.url}/api/session`, {
		body: JSON.stringify({ name: 'alice', password: PASSWORD }),
		headers: {
			'Content-Type': 'application/json',
			// as a browser on the nginx address sends it: matches the Host nginx passes on
			Origin: ngx.url,
			// nginx overwrites it with $scheme (http): the cookie must not be Secure
			'X-Forwarded-Proto': 'https',
		},
	});
	assert.equal(r.status, 200, r.text);
	const cookie = [].concat(r.headers['set-cookie'] || []).find((c) => c.startsWith('pf_session='));
	assert.ok(cookie, `no session cookie: ${JSON.stringify(r.headers)}`);
	assert.doesNotMatch(cookie, /;\s*Secure/i);
	assert.match(cookie, /HttpOnly/);
	const session = cookie.split(';')[0];
	const me = await request('GET', `${ngx.url}/api/session`, { headers: { Cookie: session } });
	assert.equal(me.status, 200, me.text);
	assert.equal(me.json.user.name, 'alice');
});

test('slow chunked upload through nginx: progress on the WebSocket while the body is still coming', { skip }, async () => {
	// the page's way in: log in, then the WebSocket with the cookie and the page's Origin
	const login = await request('POST', `${ngx.url}/api/session`, {
		body: JSON.stringify({ name: 'alice', password: PASSWORD }),
		headers: { 'Content-Type': 'application/json' },
	});
	assert.equal(login.status, 200, login.text);
	const session = [].concat(login.headers['set-cookie']).find((c) => c.startsWith('pf_session='))
		.split(';')[0];
	const sock = openWs(ngx.url, { Cookie: session, Origin: ngx.url });
	await sock.opened;
	const deadline = Date.now() + scaled(10000);
	while (!sock.messages.some((m) => m.type === 'snapshot')) {
		assert.ok(Date.now() < deadline, 'no snapshot through nginx');
		await sleep(20);
	}

	const { buffer, truth } = generate({ rows: 12000, seed: 4242 });
	assert.ok(buffer.length > 3e6, `file of ${buffer.length} bytes`);
	// for every import frame: how many bytes the client had written when it came
	const seen = [];
	let sent = 0;
	sock.ws.on('message', (data) => {
		let m;
		try { m = JSON.parse(data.toString('utf8')); } catch { return; }
		if (m.type === 'import') seen.push({ sentAtArrival: sent, frame: m });
	});
	const res = await uploadChunked(`${ngx.url}/api/imports?name=nginx.csv`, buffer, 16384, 10, {
		headers: { ...bearer(), 'X-Forwarded-For': '203.0.113.9' },
		onPiece: (n) => { sent = n; },
	});
	assert.equal(res.status, 202, res.text);
	assert.equal(res.sentBytes, buffer.length);
	assert.ok(res.elapsedMs > 1000, `upload took ${res.elapsedMs} ms; it must be slow (> 1 s)`);
	const id = res.json.id;

	const job = await pollJob(`${ngx.url}/api/imports/${id}`, bearer());
	assert.equal(job.rows_inserted, truth.inserted);

	// the final frame, through nginx: done, with every row
	const end = Date.now() + scaled(15000);
	while (!seen.some((s) => s.frame.id === id && s.frame.state === 'done')) {
		assert.ok(Date.now() < end, `no done frame; last: ${JSON.stringify(seen.at(-1)?.frame)}`);
		await sleep(20);
	}
	const mine = seen.filter((s) => s.frame.id === id);
	const last = mine.at(-1).frame;
	assert.equal(last.state, 'done');
	assert.equal(last.rows_inserted, truth.inserted);
	assert.equal(last.rows_rejected, truth.rejected.length);
	for (let i = 1; i < mine.length; i++)
		assert.ok(mine[i].frame.seq > mine[i - 1].frame.seq, 'seq strictly increasing');
	// streaming: rows were stored (and reported through nginx) before the client had sent it all
	const early = mine.filter((s) => s.sentAtArrival < buffer.length && s.frame.rows_parsed > 0);
	assert.ok(early.length > 0, 'no progress frame with rows arrived while the body was being sent: ' +
		`nginx buffered the upload? frames: ${mine.map((s) => `${s.sentAtArrival}:${s.frame.rows_parsed}`).join(' ')}`);
	assert.ok(early.some((s) => s.sentAtArrival < buffer.length * 0.8),
		`first rows reported only at ${early[0].sentAtArrival} of ${buffer.length} bytes sent`);

	sock.ws.close(1000);
	await sock.closed;

	// propflow's access log: the address nginx appended after the client's own claim is the
	// client (127.0.0.1 here, trusted), so the rightmost untrusted entry is the claimed one
	await sleep(200);
	const access = srv.stderr().split('\n').filter((l) => l.startsWith('ACCESS '));
	const upload = access.find((l) => / POST \/api\/imports 202 /.test(l));
	assert.ok(upload, `no access line for the upload:\n${access.join('\n')}`);
	assert.match(upload, /^ACCESS \S+ 203\.0\.113\.9 alice POST \/api\/imports 202 \d+ [\d.]+ms$/);
	const ws = access.find((l) => / GET \/api\/events 101 /.test(l));
	assert.ok(ws, `no access line for the WebSocket:\n${access.join('\n')}`);
	assert.match(ws, /^ACCESS \S+ 127\.0\.0\.1 alice GET \/api\/events 101 /);
	for (const l of access) {
		assert.ok(!l.includes(token) && !l.includes(session.split('=')[1]) && !l.includes(PASSWORD),
			`a secret in the access log: ${l}`);
	}
	// nginx's own log saw the same requests (nothing was answered by nginx itself)
	assert.match(ngx.log('access.log'), /"POST \/api\/imports" 202 /);
});
