// page.test.mjs - the page in headless Chromium against the real server:
// - a fresh page shows only the login form (no WebSocket, no data); the one-time link the
//   server's first run prints logs in as admin, leaves the address bar, and the page offers to
//   set a password (set here);
// - upload a generated messy export through the file input (tus: POST creation, then PATCH
//   pieces), watch the job finish in the list, check virtual scrolling (few rows in the DOM, the
//   last row reachable by scrolling), open a record and find its original text;
// - a PATCH dropped by the network (playwright route.abort) is retried by the page by itself
//   (HEAD, then PATCH from Upload-Offset): the job ends done with exactly the rows of the file;
// - a reload mid-upload: the page offers to resume, the same file picked again continues from
//   the server's offset;
// - the server SIGKILLed mid-upload and started again on the same data dir and port: the page
//   resumes by itself, exact rows;
// - reprocess with a mapping override edited in the mapping tab; delete a finished job and
//   cancel a running upload from the page;
// - log out: the login form, the WebSocket closed, the old cookie answers 401; a used link and a
//   wrong password show an error; the right password (user made with `propflow user add`) logs
//   in as that user, who sees none of admin's imports; that user's session ending mid-upload
//   (`propflow user disable`) brings the form back, and after `enable` and a login the same
//   upload continues to exact rows; repeated failures show the 429 wait;
// - nothing logged an error or broke the CSP during the whole run (network errors are allowed
//   only while a fault is injected on purpose, 401/429 only where the test expects them).
//
// Env: PROPFLOW_BIN (server binary), PROPFLOW_SRC (repo root), PROPFLOW_BUILD (screenshot dir),
// CHROMIUM_PATH (default /usr/bin/chromium), PROPFLOW_TIME_FACTOR (the build kind's part of the time factor).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe as describeFactor, scaled } from '../timefactor.mjs';

const BIN = process.env.PROPFLOW_BIN;
const SRC = process.env.PROPFLOW_SRC || path.resolve(import.meta.dirname, '..', '..');
const SHOT_DIR = process.env.PROPFLOW_BUILD || os.tmpdir();
// Waits stretch with the time factor measured for this run (build kind x how
// busy the machine is now: tests/timefactor.mjs).
const T = scaled;
process.stderr.write(`# ${describeFactor()}\n`);
const LISTEN_TIMEOUT_MS = T(60000);
const ROWS = 5000; // valid data rows; one malformed row follows them
const BIG_ROWS = 20000; // the file for the reload and restart cases
const PIECE = 64 * 1024; // tus piece size the fault tests ask the page for (localStorage)
const HEADERS = ['MLS #', 'Street Address', 'City', 'State', 'Zip Code', 'List Price', 'Beds',
	'Baths', 'Sq Ft', 'Year Built', 'Property Type', 'Status', 'List Date'];
const CITIES = [['Austin', 'TX'], ['Hoboken', 'NJ'], ['Portland', 'OR'], ['Boston', 'MA'],
	['Denver', 'CO']];
const TYPES = ['Single Family', 'Condo', 'Townhouse', 'Multi-Family'];
const STATUSES = ['Active', 'Pending', 'Sold', 'Contingent'];
const BAD_BEDS_EVERY = 1000; // these rows carry "three" beds: kept, with a warning

let server = null;
let serverExit = null;
let serverLog = '';
let dataDir = null;
let browser = null;
let page = null;
let baseUrl = null;
const consoleErrors = [];
let csv = null;
let expected = null; // row number -> original List Price text
let bigCsv = null;
let bigFile = null; // bigCsv on disk: a real file keeps its lastModified across picks
let faultWindow = false; // network errors are expected (a fault is being injected)
let authWindow = false; // 401/429 answers are expected (logged out, wrong password, ...)
const toleratedErrors = [];
const cspViolations = []; // every securitypolicyviolation of every document the page loaded
const sockets = []; // every WebSocket the page opened (playwright WebSocket objects)
const stateChanges = []; // every state-changing API request of the page: {what, csrf}
const jobIds = {}; // file name -> import id
let firstLink = null; // the one-time login URL the server's first run printed
const tokens = {}; // user name -> API token (node's requests)
const ADMIN_PW = 'admin pass phrase ' + process.pid;
const ALICE_PW = 'correct horse ' + process.pid;

function q(s) {
	return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// A messy MLS-style export: money with $ and thousands separators, quoted fields with commas,
// zips with leading zeros, month-first dates, CRLF line ends, and one row with a field missing.
function makeCsv(rows = ROWS) {
	const prices = new Map();
	const lines = [HEADERS.map(q).join(',')];
	for (let i = 1; i <= rows; i++) {
		const [city, st] = CITIES[i % CITIES.length];
		const price = '$' + (150000 + i * 1037).toLocaleString('en-US');
		prices.set(i, price);
		const addr = i % 7 === 0 ? `${i} Harbor View Dr, Unit ${i % 40 + 1}` : `${i} Main St`;
		const zip = String((i * 37) % 100000).padStart(5, '0');
		const month = (i % 12) + 1;
		const day = (i % 28) + 1;
		lines.push([
			`MLS${String(i).padStart(7, '0')}`, addr, city, st, zip, price,
			i % BAD_BEDS_EVERY === 0 ? 'three' : String(1 + (i % 5)),
			String(1 + (i % 4) * 0.5), (900 + (i % 3000)).toLocaleString('en-US'),
			String(1950 + (i % 70)), TYPES[i % TYPES.length], STATUSES[i % STATUSES.length],
			`${month}/${day}/20${String(10 + (i % 14)).padStart(2, '0')}`,
		].map(q).join(','));
	}
	lines.push('MLS9999999,1 Short Row Ln,Austin,TX'); // too few fields: rejected
	return { text: lines.join('\r\n') + '\r\n', prices };
}

// Start the server; with port, on that port and the existing data dir (a restart).
function startServer(port = 0) {
	if (!dataDir) {
		dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'propflow-page-'));
		fs.chmodSync(dataDir, 0o755); // the embedded PostgreSQL may run as another user
	}
	const args = ['serve', '--listen', '127.0.0.1:' + port, '--data-dir', dataDir,
		'--static-dir', path.join(SRC, 'static')];
	// PROPFLOW_WRAP: a command the server runs under (valgrind in CI).
	const wrap = (process.env.PROPFLOW_WRAP || '').split(/\s+/).filter(Boolean);
	const env = { ...process.env };
	delete env.DATABASE_URL;
	server = wrap.length ? spawn(wrap[0], [...wrap.slice(1), BIN, ...args],
		{ stdio: ['ignore', 'pipe', 'pipe'], env }) : spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
	serverExit = new Promise((resolve) => server.once('exit', (code, sig) => resolve({ code, sig })));
	server.stderr.setEncoding('utf8');
	server.stderr.on('data', (d) => {
		serverLog = (serverLog + d).slice(-65536);
	});
	return new Promise((resolve, reject) => {
		let out = '';
		const timer = setTimeout(() => reject(new Error('server did not listen within ' +
			LISTEN_TIMEOUT_MS / 1000 + ' s; stderr:\n' + serverLog)), LISTEN_TIMEOUT_MS);
		server.stdout.setEncoding('utf8');
		server.stdout.on('data', (d) => {
			out += d;
			// Printed before the listening line, on the very first start only.
			const link = /^propflow first run: log in as admin at (http:\/\/\S+#login=[A-Za-z0-9_-]+) \(one-time link/m
				.exec(out);
			if (link) firstLink = link[1];
			const m = /propflow listening on (http:\/\/[^\s]+)/.exec(out);
			if (m) {
				clearTimeout(timer);
				resolve(m[1].replace(/\/$/, ''));
			}
		});
		serverExit.then(({ code, sig }) => {
			clearTimeout(timer);
			reject(new Error(`server exited early (code ${code}, signal ${sig}); stderr:\n${serverLog}`));
		});
	});
}

// SIGTERM (SIGKILL after 15 s); resolves with the exit {code, sig}.
async function stopServer() {
	if (!server) return null;
	let x = null;
	if (server.exitCode === null && server.signalCode === null) {
		server.kill('SIGTERM');
		const t = new Promise((r) => setTimeout(() => r('timeout'), T(15000)));
		if ((await Promise.race([serverExit, t])) === 'timeout') {
			server.kill('SIGKILL');
			await serverExit;
			stopLeftoverPostgres();
		}
	}
	x = await serverExit;
	server = null;
	return x;
}

// After a SIGKILL of the server: its embedded PostgreSQL keeps running (the next server adopts
// it); at the very end it must not outlive the test.
function stopLeftoverPostgres() {
	try {
		const pid = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')
			.split('\n')[0]);
		if (pid > 0) process.kill(pid, 'SIGQUIT');
	} catch {
		// not running
	}
}

// Run the CLI on the test's data dir (beside the running server): {code, stdout, stderr}.
function runCli(args, input = null) {
	return new Promise((resolve, reject) => {
		const env = { ...process.env };
		delete env.DATABASE_URL;
		const p = spawn(BIN, [...args, '--data-dir', dataDir], { env, stdio: ['pipe', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		p.stdout.setEncoding('utf8');
		p.stderr.setEncoding('utf8');
		p.stdout.on('data', (s) => { stdout += s; });
		p.stderr.on('data', (s) => { stderr += s; });
		const t = setTimeout(() => p.kill('SIGKILL'), T(60000));
		p.on('error', reject);
		p.on('close', (code) => {
			clearTimeout(t);
			resolve({ code, stdout, stderr });
		});
		p.stdin.end(input ?? '');
	});
}

async function cli(args, input = null) {
	const r = await runCli(args, input);
	assert.equal(r.code, 0, `propflow ${args.join(' ')}: code ${r.code}\n${r.stdout}\n${r.stderr}`);
	return r.stdout;
}

// An API token for user (node's requests see what that user sees).
async function tokenFor(user) {
	if (!tokens[user]) {
		const out = (await cli(['user', 'token', user, '--label', 'page test'])).trim();
		assert.match(out, /^pft_[A-Za-z0-9_-]{43}$/, 'propflow user token prints the token');
		tokens[user] = out;
	}
	return tokens[user];
}

// ---- HTTP helpers (node's fetch against the server, with user's token) ----

async function apiJson(p, user = 'admin') {
	const r = await fetch(baseUrl + p, { headers: { Accept: 'application/json',
		Authorization: 'Bearer ' + await tokenFor(user) } });
	const text = await r.text();
	assert.equal(r.status, 200, `GET ${p} as ${user}: ${r.status} ${text.slice(0, 300)}`);
	return JSON.parse(text);
}

async function apiStatus(p, method = 'GET', user = 'admin') {
	const r = await fetch(baseUrl + p, { method,
		headers: { Authorization: 'Bearer ' + await tokenFor(user) } });
	await r.arrayBuffer();
	return r.status;
}

// Status of a request made with a session cookie (and nothing else).
async function cookieStatus(p, cookie, method = 'GET') {
	const r = await fetch(baseUrl + p, { method, headers: { Cookie: 'pf_session=' + cookie } });
	await r.arrayBuffer();
	return r.status;
}

async function allProperties(id, user = 'admin') {
	const items = [];
	let after = null;
	for (;;) {
		const page = await apiJson(`/api/imports/${id}/properties?limit=1000` +
			(after === null ? '' : '&after=' + encodeURIComponent(after)), user);
		items.push(...page.items);
		if (page.next === null) return items;
		after = page.next;
	}
}

async function waitJobState(id, states, ms, user = 'admin') {
	const end = Date.now() + ms;
	let j = null;
	for (;;) {
		j = await apiJson('/api/imports/' + id, user);
		if (states.includes(j.state)) return j;
		if (Date.now() > end) {
			throw new Error(`job ${id} not ${states.join('|')} after ${ms} ms: ` +
				JSON.stringify({ ...j, columns: undefined }));
		}
		await new Promise((r) => setTimeout(r, 100));
	}
}

// The job ended with exactly the file's rows: accounting, and every record 1..rows once with
// its own values (source id, price, line).
async function assertExactJob(id, rows, bytes, user = 'admin') {
	const j = await apiJson('/api/imports/' + id, user);
	const brief = JSON.stringify({ ...j, columns: undefined });
	assert.equal(j.state, 'done', brief);
	assert.equal(j.rows_parsed, rows + 1, brief);
	assert.equal(j.rows_inserted, rows, brief);
	assert.equal(j.rows_rejected, 1, brief);
	assert.equal(j.rows_warned, Math.floor(rows / BAD_BEDS_EVERY), brief);
	assert.equal(j.bytes_received, bytes, brief);
	assert.equal(j.bytes_total, bytes, brief);
	const items = await allProperties(id, user);
	assert.equal(items.length, rows, 'records stored');
	const seen = new Set();
	for (const it of items) {
		assert.ok(it.row >= 1 && it.row <= rows, `row ${it.row} in range`);
		assert.ok(!seen.has(it.row), `row ${it.row} stored twice`);
		seen.add(it.row);
		assert.equal(it.source_id, `MLS${String(it.row).padStart(7, '0')}`, `row ${it.row} source_id`);
		assert.equal(it.price, 150000 + it.row * 1037, `row ${it.row} price`);
		assert.equal(it.line, it.row + 1, `row ${it.row} line`);
	}
	return j;
}

// Record every state the upload box goes through (window.__uploadStates).
async function watchUploadStates() {
	await page.evaluate(() => {
		const box = document.querySelector('[data-testid="upload-progress"]');
		window.__uploadStates = [box.dataset.state];
		if (window.__uploadObserver) window.__uploadObserver.disconnect();
		window.__uploadObserver = new MutationObserver(() => {
			const s = box.dataset.state;
			if (window.__uploadStates[window.__uploadStates.length - 1] !== s) window.__uploadStates.push(s);
		});
		window.__uploadObserver.observe(box, { attributes: true, attributeFilter: ['data-state'] });
	});
}

const uploadStates = () => page.evaluate(() => window.__uploadStates);
const jobItem = (name) => page.locator('[data-testid="job-item"]', { hasText: name });
const countOf = async (id) => Number((await page.locator(`[data-testid="${id}"]`).innerText())
	.replace(/[^\d]/g, ''));
const setPiece = (n) => page.evaluate((v) => {
	if (v) localStorage.setItem('propflow.chunkBytes', String(v));
	else localStorage.removeItem('propflow.chunkBytes');
}, n);

// The id of the import the upload box shows (set once the tus creation answered).
async function uploadJobId() {
	const box = page.locator('[data-testid="upload-progress"][data-job-id]');
	await box.waitFor({ state: 'attached', timeout: T(30000) });
	return Number(await box.getAttribute('data-job-id'));
}

// The job's item in the list shows done; on a timeout, say what the page and the API had.
async function itemDone(id, ms, user = 'admin') {
	const item = page.locator(`[data-testid="job-item"][data-job-id="${id}"]`);
	try {
		await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: ms });
	} catch (e) {
		const shown = await item.getAttribute('data-state', { timeout: 1000 }).catch(() => 'absent');
		const sub = await item.innerText({ timeout: 1000 }).catch(() => '');
		const api = await apiJson('/api/imports/' + id, user).catch((x) => x.message);
		throw new Error(`job ${id} not done in the list after ${ms} ms: the item shows ` +
			`${shown} (${sub.replace(/\s+/g, ' ')}); the API: ` +
			JSON.stringify({ ...api, columns: undefined }) + '\n' + e.message);
	}
}

// Log in through the form; waits until the request has been answered.
async function submitLogin(name, password) {
	await page.locator('[data-testid="login-name"]').fill(name);
	await page.locator('[data-testid="login-password"]').fill(password);
	await page.locator('[data-testid="login-submit"]').click();
	await page.waitForFunction(() => document.querySelector('[data-testid="login-submit"]').textContent
		.trim() === 'Log in', null, { timeout: T(30000) });
}

async function loggedInAs(name) {
	await page.locator('#app').waitFor({ state: 'visible', timeout: T(30000) });
	await page.locator('[data-testid="ws-status"][data-state="open"]').waitFor({ timeout: T(15000) });
	assert.equal((await page.locator('[data-testid="user-name"]').innerText()).trim(), name);
	assert.equal(await page.locator('#login-view').isVisible(), false);
}

async function logout() {
	await page.locator('[data-testid="logout"]').click();
	await page.locator('[data-testid="login-form"]').waitFor({ timeout: T(15000) });
	assert.equal(await page.locator('#app').isVisible(), false);
}

const sessionCookie = async () => (await page.context().cookies(baseUrl))
	.find((c) => c.name === 'pf_session') ?? null;
// The page's current WebSocket (sockets of documents left by a reload never report a close).
const lastSocket = () => sockets[sockets.length - 1] ?? null;

before(async () => {
	assert.ok(BIN, 'PROPFLOW_BIN must name the server binary');
	({ text: csv, prices: expected } = makeCsv());
	({ text: bigCsv } = makeCsv(BIG_ROWS));
	baseUrl = await startServer();
	bigFile = path.join(dataDir, 'listings-big.csv');
	fs.writeFileSync(bigFile, bigCsv);
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
		args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
	page = await ctx.newPage();
	// CSP violations are reported by each document the page loads to node (init scripts are
	// exempt from the CSP; an exposed function outlives reloads, window.__csp would not).
	await page.exposeFunction('__pfCspViolation', (v) => cspViolations.push(v));
	await page.addInitScript(() => {
		document.addEventListener('securitypolicyviolation', (e) => {
			window.__pfCspViolation(`${location.href}: ${e.violatedDirective} ${e.blockedURI} ` +
				`${e.sourceFile}:${e.lineNumber} ${(e.sample || '').slice(0, 80)}`);
		});
	});
	page.on('websocket', (ws) => sockets.push(ws));
	page.on('request', (r) => {
		const u = new URL(r.url());
		const m = r.method();
		if (!u.pathname.startsWith('/api/') || ['GET', 'HEAD', 'OPTIONS'].includes(m)) return;
		if (m === 'POST' && u.pathname === '/api/session') return; // the login itself
		stateChanges.push({ what: m + ' ' + u.pathname.replace(/\d+/g, 'N'),
			csrf: r.headers()['x-csrf-token'] ?? null });
	});
	// While a fault is injected on purpose, failed requests to the API and the WebSocket (and
	// Chromium's console lines about them) are expected; while logged out or logging in wrongly,
	// Chromium's lines about 401/429 answers (and a WebSocket refused with 401) are; nothing
	// else is, ever.
	const netError = /^(console: Failed to load resource: net::ERR_|console: WebSocket connection to |requestfailed: http:\/\/127\.0\.0\.1:\d+\/api\/)/;
	const authError = new RegExp('^console: (Failed to load resource: the server responded with a ' +
		'status of (401|429) |WebSocket connection to \'[^\']+/api/events\' failed: ' +
		'(HTTP Authentication failed|Error during WebSocket handshake: Unexpected response code: 401))');
	const record = (msg) => {
		if (faultWindow && netError.test(msg)) toleratedErrors.push(msg);
		else if (authWindow && authError.test(msg)) toleratedErrors.push(msg);
		else consoleErrors.push(msg);
	};
	page.on('console', (m) => {
		if (m.type() === 'error') record('console: ' + m.text());
	});
	page.on('pageerror', (e) => record('pageerror: ' + e.message));
	page.on('requestfailed', (r) => {
		record('requestfailed: ' + r.url() + ' ' + (r.failure()?.errorText ?? ''));
	});
});

after(async () => {
	if (browser) await browser.close().catch(() => {});
	const x = await stopServer();
	if (x && (x.code !== 0 || x.sig)) {
		stopLeftoverPostgres();
		process.stderr.write(`# server exit: code ${x.code} signal ${x.sig}\n`);
	}
	if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
	if (toleratedErrors.length) {
		console.log(`# ${toleratedErrors.length} network errors and 401/429 answers where expected`);
	}
	// A clean exit on SIGTERM, and no sanitizer or valgrind report in the server's log.
	const report = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: \w+Sanitizer|definitely lost: [1-9]|ERROR SUMMARY: [1-9])[^\n]*/
		.exec(serverLog);
	if (report) throw new Error('server log: ' + report[0]);
	if (x && (x.code !== 0 || x.sig)) throw new Error(`server exit on SIGTERM: code ${x.code} signal ${x.sig}`);
	// The server's log, for whoever has to read a failure.
	fs.writeFileSync(path.join(SHOT_DIR, 'page-server.log'), serverLog);
});

test('logged out the page shows only the login form; the first-run link logs in as admin',
	{ timeout: T(60000) }, async () => {
		assert.ok(firstLink, 'the server printed its first-run login link on stdout');
		assert.ok(firstLink.startsWith(baseUrl + '/#login='), firstLink);
		authWindow = true; // GET /api/session answers 401 (Chromium logs it)
		const res = await page.goto(baseUrl + '/', { waitUntil: 'load' });
		assert.equal(res.status(), 200);
		const csp = res.headers()['content-security-policy'] || '';
		assert.match(csp, /default-src 'self'/, 'the page is served with its CSP');
		assert.match(csp, /script-src 'self'/);
		assert.match(csp, /frame-ancestors 'none'/);
		assert.equal(res.headers()['x-content-type-options'], 'nosniff');
		await page.locator('[data-testid="login-form"]').waitFor({ timeout: T(15000) });
		assert.equal(await page.locator('#app').isVisible(), false, 'no app before login');
		assert.equal(await page.locator('[data-testid="ws-status"]').isVisible(), false);
		assert.equal(await page.locator('#user-box').isVisible(), false);
		assert.equal(sockets.length, 0, 'no WebSocket before login');
		authWindow = false;

		// The link from the console, opened in the browser: logged in, the secret gone from the URL.
		await page.goto('about:blank');
		await page.goto(firstLink, { waitUntil: 'load' });
		await loggedInAs('admin');
		assert.ok(!page.url().includes('login='), 'the secret left the address bar: ' + page.url());
		assert.equal(await page.evaluate(() => location.hash), '');
		await page.locator('[data-testid="file-input"]').waitFor({ state: 'attached' });
		assert.equal(await page.locator('[data-testid="drop-zone"]').isVisible(), true);
		assert.equal(sockets.length, 1, 'one WebSocket, opened after login');
		const cookie = await sessionCookie();
		assert.ok(cookie, 'session cookie set');
		assert.equal(cookie.httpOnly, true, 'HttpOnly');
		assert.equal(cookie.sameSite, 'Strict', 'SameSite=Strict');
		assert.equal(await page.evaluate(() => document.cookie.includes('pf_session')), false,
			'the page cannot read its session cookie');

		// The first-run admin has no password: a prompt (not blocking the page) offers to set one.
		const prompt = page.locator('[data-testid="password-prompt"]');
		await prompt.waitFor({ timeout: T(5000) });
		await page.locator('[data-testid="password-new"]').fill(ADMIN_PW);
		await page.locator('[data-testid="password-save"]').click();
		await page.locator('[data-testid="password-prompt"][data-state="done"]')
			.waitFor({ timeout: T(30000) });
		const s = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
		assert.equal(s.user.name, 'admin');
		assert.equal(s.user.admin, true);
		assert.equal(s.user.has_password, true, 'the password was set: ' + JSON.stringify(s.user));
		assert.match(s.csrf, /^[A-Za-z0-9_-]{43}$/);
		await prompt.waitFor({ state: 'hidden', timeout: T(10000) });
	});

test('upload, live progress, first rows, virtual scrolling, record detail', { timeout: 300000 },
	async () => {
		const t0 = Date.now();
		await page.locator('[data-testid="file-input"]').setInputFiles({
			name: 'listings-messy.csv', mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8'),
		});
		await page.locator('[data-testid="upload-progress"]').waitFor({ state: 'visible' });

		// The first row shows as soon as it is stored, without waiting for the end.
		const first = page.locator('[data-testid="property-row"][data-row="1"]');
		await first.waitFor({ state: 'visible', timeout: 30000 });
		const firstMs = Date.now() - t0;

		const item = page.locator('[data-testid="job-item"]').first();
		await page.locator('[data-testid="job-item"][data-state="done"]')
			.waitFor({ timeout: 240000 });
		assert.equal(await item.getAttribute('data-state'), 'done');
		assert.match(await item.getAttribute('data-job-id'), /^\d+$/);
		await page.locator('[data-testid="upload-progress"][data-state="done"]')
			.waitFor({ timeout: 30000 });
		jobIds['listings-messy.csv'] = Number(await item.getAttribute('data-job-id'));
		const uploadText = await page.locator('[data-testid="upload-progress"]').innerText();
		assert.match(uploadText, /\d/, 'upload progress shows bytes');

		const count = async (id) => Number((await page.locator(`[data-testid="${id}"]`).innerText())
			.replace(/[^\d]/g, ''));
		// Counters come from WebSocket frames; the final one carries the terminal state.
		assert.equal(await count('rows-parsed'), ROWS + 1);
		assert.equal(await count('rows-inserted'), ROWS);
		assert.equal(await count('rows-rejected'), 1);
		console.log(`# first row visible after ${firstMs} ms; done after ${Date.now() - t0} ms`);

		// Virtual scrolling: thousands stored, only the visible rows in the DOM.
		const table = page.locator('[data-testid="property-table"]');
		await first.waitFor({ state: 'visible' });
		const rowsInDom = await page.locator('[data-testid="property-row"]').count();
		assert.ok(rowsInDom > 5 && rowsInDom < 100, `rows in the DOM: ${rowsInDom}`);
		const scrollH = await table.evaluate((e) => e.scrollHeight);
		assert.ok(scrollH > ROWS * 20, `spacer sized to ${ROWS} rows (scrollHeight ${scrollH})`);

		// Scroll to the bottom: further keyset pages load on demand, the last row appears.
		await table.evaluate((e) => {
			e.scrollTop = e.scrollHeight;
		});
		const last = page.locator(`[data-testid="property-row"][data-row="${ROWS}"]`);
		await last.waitFor({ state: 'visible', timeout: 30000 });
		const inDomAfter = await page.locator('[data-testid="property-row"]').count();
		assert.ok(inDomAfter < 100, `rows in the DOM after scrolling: ${inDomAfter}`);
		assert.equal(await page.locator('[data-testid="property-row"][data-row="1"]').count(), 0,
			'rows scrolled out of view leave the DOM');

		// A record's detail shows its original text exactly as the file had it.
		await last.click();
		const panel = page.locator('[data-testid="detail-panel"]');
		await panel.waitFor({ state: 'visible' });
		const raw = page.locator('[data-testid="raw-data"]');
		await raw.locator('tbody tr').first().waitFor({ timeout: 15000 });
		const rawText = await raw.innerText();
		assert.ok(rawText.includes('List Price'), 'raw row keyed by the original headers');
		assert.ok(rawText.includes(expected.get(ROWS)), `raw shows ${expected.get(ROWS)}`);
		const priceCell = raw.locator('tr[data-header="List Price"] td').nth(1);
		assert.equal((await priceCell.innerText()).trim(), expected.get(ROWS));
		assert.ok(rawText.includes(`MLS${String(ROWS).padStart(7, '0')}`));

		await page.screenshot({ path: path.join(SHOT_DIR, 'page.png') });

		// Mapping view: the messy headers were matched.
		await page.locator('#detail-close').click();
		await panel.waitFor({ state: 'hidden' });
		await page.locator('#tab-mapping').click();
		const mapping = page.locator('[data-testid="mapping-table"]');
		await mapping.waitFor({ state: 'visible' });
		assert.equal(await mapping.locator('tbody tr').count(), HEADERS.length);
		const fieldOf = (header) => mapping.locator('tbody tr', { hasText: header }).locator('td')
			.nth(2).locator('code');
		assert.equal(await fieldOf('Zip Code').innerText(), 'zip');
		assert.equal(await fieldOf('List Price').innerText(), 'price');

		// Issues view: the rejected row and the unreadable "three" beds.
		await page.locator('#tab-errors').click();
		const errors = page.locator('[data-testid="errors-table"]');
		await errors.locator('tbody tr[data-kind="rejected"]').first().waitFor({ timeout: 15000 });
		assert.ok(await errors.locator('tbody tr[data-kind="warning"]').count() >= 1,
			'warnings listed');
		await page.screenshot({ path: path.join(SHOT_DIR, 'page-errors.png') });
		await page.locator('#tab-records').click();
	});

test('a PATCH dropped by the network is resumed by the page by itself', { timeout: T(180000) },
	async () => {
		const name = 'listings-dropped.csv';
		await setPiece(PIECE);
		await watchUploadStates();
		const log = []; // method + Upload-Offset of every tus request the page made
		let patches = 0;
		await page.route('**/api/imports/*', (route) => {
			const req = route.request();
			const m = req.method();
			if (m === 'PATCH' || m === 'HEAD') log.push(m + ' ' + (req.headers()['upload-offset'] ?? ''));
			if (m === 'PATCH' && ++patches === 3) {
				log.push('aborted');
				return route.abort('connectionreset');
			}
			return route.continue();
		});
		faultWindow = true;
		try {
			await page.locator('[data-testid="file-input"]').setInputFiles({
				name, mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8'),
			});
			const id = await uploadJobId();
			jobIds[name] = id;
			await page.locator('[data-testid="upload-progress"][data-state="done"]')
				.waitFor({ timeout: T(120000) });
			await jobItem(name).and(page.locator('[data-state="done"]')).waitFor({ timeout: T(120000) });
		} finally {
			faultWindow = false;
			await page.unrouteAll({ behavior: 'ignoreErrors' });
			await setPiece(0);
		}
		const id = jobIds[name];
		const states = await uploadStates();
		assert.ok(states.includes('retrying'), 'the page showed the retry: ' + states.join(' > '));
		assert.equal(states[states.length - 1], 'done');
		// After the drop: HEAD, then PATCH from the offset HEAD gave (the dropped piece again).
		const at = log.indexOf('aborted');
		assert.ok(at > 0, 'one PATCH was dropped: ' + log.join(', '));
		assert.match(log[at + 1] ?? '', /^HEAD/, 'HEAD after the drop: ' + log.join(', '));
		assert.equal(log[at + 2], log[at - 1], 'the dropped piece is sent again: ' + log.join(', '));
		const pieces = Math.ceil(Buffer.byteLength(csv) / PIECE);
		assert.equal(log.filter((l) => l.startsWith('PATCH')).length, pieces + 1, log.join(', '));

		await assertExactJob(id, ROWS, Buffer.byteLength(csv));
		// The page shows the finished job with its exact counters.
		assert.equal(Number(await jobItem(name).getAttribute('data-job-id')), id);
		await page.locator(`[data-testid="job-item"][data-job-id="${id}"][aria-current="true"]`)
			.waitFor({ timeout: T(10000) });
		await page.locator('#job-state[data-state="done"]').waitFor({ timeout: T(10000) });
		assert.equal(await countOf('rows-parsed'), ROWS + 1);
		assert.equal(await countOf('rows-inserted'), ROWS);
		assert.equal(await countOf('rows-rejected'), 1);
		await page.locator('[data-testid="property-row"][data-row="1"]').waitFor({ timeout: T(15000) });
		assert.equal(await page.locator('#upload-error').isVisible(), false, 'no upload error shown');
	});

test('after a reload mid-upload the page offers to resume; the same file continues',
	{ timeout: T(240000) }, async () => {
		const name = path.basename(bigFile);
		await setPiece(PIECE);
		let patches = 0;
		let reloadAt = null;
		const reached = new Promise((resolve) => {
			reloadAt = resolve;
		});
		const log = [];
		// Slow the pieces down so that the reload lands mid-upload.
		await page.route('**/api/imports/*', async (route) => {
			const req = route.request();
			if (req.method() === 'PATCH') {
				log.push('PATCH ' + req.headers()['upload-offset']);
				if (++patches === 6) reloadAt();
				await new Promise((r) => setTimeout(r, 100));
			} else if (req.method() === 'HEAD') {
				log.push('HEAD');
			}
			return route.continue().catch(() => {});
		});
		faultWindow = true;
		let id;
		try {
			await page.locator('[data-testid="file-input"]').setInputFiles(bigFile);
			id = await uploadJobId();
			jobIds[name] = id;
			await reached;
			await page.reload({ waitUntil: 'load' });
			log.push('reloaded');
			await page.locator('[data-testid="ws-status"][data-state="open"]')
				.waitFor({ timeout: T(15000) });
			const offer = page.locator(`[data-testid="resume-item"][data-job-id="${id}"]`);
			await offer.waitFor({ timeout: T(15000) });
			assert.match(await offer.innerText(), /listings-big\.csv/);
			const job = await apiJson('/api/imports/' + id);
			assert.equal(job.state, 'receiving', 'a reload does not end a tus upload');
			assert.ok(job.upload_offset > 0 && job.upload_offset < Buffer.byteLength(bigCsv),
				`upload_offset ${job.upload_offset} mid-file`);
			const [chooser] = await Promise.all([
				page.waitForEvent('filechooser', { timeout: T(10000) }),
				offer.locator('[data-testid="resume-pick"]').click(),
			]);
			await watchUploadStates();
			await chooser.setFiles(bigFile);
			await page.locator('[data-testid="upload-progress"][data-state="done"]')
				.waitFor({ timeout: T(180000) });
		} finally {
			faultWindow = false;
			await page.unrouteAll({ behavior: 'ignoreErrors' });
			await setPiece(0);
		}
		// After the reload: HEAD first, then PATCHes from a non-zero offset (no byte sent twice
		// except the piece the reload cut).
		const after = log.slice(log.indexOf('reloaded') + 1);
		assert.equal(after[0], 'HEAD', log.join(', '));
		assert.match(after[1], /^PATCH [1-9]\d*$/, 'resumed mid-file: ' + log.join(', '));
		assert.equal(after.filter((l) => l === 'HEAD').length, 1,
			'no piece failed after the resume: ' + log.join(', '));
		await waitJobState(id, ['done'], T(60000));
		await assertExactJob(id, BIG_ROWS, Buffer.byteLength(bigCsv));
		await itemDone(id, T(30000));
		assert.equal(await page.locator('[data-testid="resume-list"]').isVisible(), false,
			'nothing left to resume');
		assert.deepEqual(await page.evaluate(() => JSON.parse(localStorage.getItem('propflow.uploads') ||
			'[]')), [], 'the finished upload is forgotten');
	});

test('the server killed mid-upload and restarted: the page resumes by itself',
	{ timeout: T(300000) }, async () => {
		const name = 'listings-restart.csv';
		const bytes = Buffer.from(bigCsv, 'utf8');
		await setPiece(PIECE);
		await watchUploadStates();
		let patches = 0;
		let killAt = null;
		const reached = new Promise((resolve) => {
			killAt = resolve;
		});
		await page.route('**/api/imports/*', async (route) => {
			if (route.request().method() === 'PATCH') {
				if (++patches === 8) killAt();
				await new Promise((r) => setTimeout(r, 100));
			}
			return route.continue().catch(() => {});
		});
		faultWindow = true;
		let id;
		try {
			await page.locator('[data-testid="file-input"]').setInputFiles({
				name, mimeType: 'text/csv', buffer: bytes,
			});
			id = await uploadJobId();
			jobIds[name] = id;
			await reached;
			const port = Number(new URL(baseUrl).port);
			server.kill('SIGKILL');
			await serverExit;
			await page.locator('[data-testid="upload-progress"][data-state="retrying"]')
				.waitFor({ timeout: T(30000) });
			const url = await startServer(port);
			assert.equal(url, baseUrl, 'restarted on the same address');
			await page.locator('[data-testid="upload-progress"][data-state="done"]')
				.waitFor({ timeout: T(180000) });
		} finally {
			faultWindow = false;
			await page.unrouteAll({ behavior: 'ignoreErrors' });
			await setPiece(0);
		}
		const states = await uploadStates();
		assert.ok(states.includes('retrying'), states.join(' > '));
		await waitJobState(id, ['done'], T(60000));
		await assertExactJob(id, BIG_ROWS, bytes.length);
		await page.locator('[data-testid="ws-status"][data-state="open"]').waitFor({ timeout: T(30000) });
		await itemDone(id, T(30000));
		assert.equal(await page.locator('#upload-error').isVisible(), false, 'no upload error shown');
	});

test('reprocess from the page with a mapping override', { timeout: T(180000) }, async () => {
	const id = jobIds['listings-messy.csv'];
	assert.ok(id, 'the first upload ran');
	await page.locator(`[data-testid="job-item"][data-job-id="${id}"]`).click();
	await page.locator('#job-state[data-state="done"]').waitFor({ timeout: T(10000) });
	const before = await apiJson('/api/imports/' + id);
	await page.locator('#tab-mapping').click();
	const select = page.locator('[data-testid="mapping-select"][data-header="List Price"]');
	await select.waitFor({ timeout: T(10000) });
	assert.equal(await select.inputValue(), 'price');
	assert.equal(await page.locator('[data-testid="mapping-apply"]').isDisabled(), true,
		'nothing to apply before an edit');
	await select.selectOption('');
	// One change, easy to check afterwards: List Price -> not mapped.
	const apply = page.locator('[data-testid="mapping-apply"]');
	assert.equal(await apply.isDisabled(), false);
	await apply.click();

	const mapping = page.locator('[data-testid="mapping-table"]');
	await mapping.locator('tbody tr[data-match="override"]').waitFor({ timeout: T(60000) });
	let j;
	for (const end = Date.now() + T(120000); ;) {
		j = await waitJobState(id, ['done'], T(120000));
		if (j.finished_at !== before.finished_at || Date.now() > end) break;
		await new Promise((r) => setTimeout(r, 200));
	}
	assert.notEqual(j.finished_at, before.finished_at, 'a new run finished');
	assert.equal(j.rows_parsed, ROWS + 1);
	assert.equal(j.rows_inserted, ROWS);
	assert.equal(j.rows_rejected, 1);
	assert.equal(j.bytes_received, before.bytes_received, 'no new upload');
	const col = j.columns.find((c) => c.header === 'List Price');
	assert.equal(col.field, null);
	assert.equal(col.match, 'override');
	assert.equal(j.columns.find((c) => c.header === 'Zip Code').field, 'zip');
	const items = await allProperties(id);
	assert.equal(items.length, ROWS);
	assert.equal(new Set(items.map((it) => it.row)).size, ROWS);
	assert.ok(items.every((it) => it.price === null), 'prices no longer mapped');
	assert.ok(items.every((it) => it.source_id === `MLS${String(it.row).padStart(7, '0')}`));

	// The page shows the new run: done, the same counts, the override, the rows reloaded.
	await page.locator('#job-state[data-state="done"]').waitFor({ timeout: T(30000) });
	await itemDone(id, T(30000));
	assert.equal(await countOf('rows-inserted'), ROWS);
	assert.equal(await countOf('rows-rejected'), 1);
	const row = mapping.locator('tbody tr', { hasText: 'List Price' });
	assert.equal(await row.getAttribute('data-match'), 'override');
	assert.equal(await select.inputValue(), '');
	await page.locator('#tab-records').click();
	const first = page.locator('[data-testid="property-row"][data-row="1"]');
	await first.waitFor({ timeout: T(15000) });
	assert.equal(await first.getAttribute('data-id'), String(items.find((it) => it.row === 1).id),
		'the table shows the new rows');
	assert.equal((await first.locator('.vt-cell').nth(6).innerText()).trim(), '—', 'no price');
	assert.equal(await page.locator('#job-action-error').isVisible(), false);
});

test('delete a finished job and cancel a running upload from the page', { timeout: T(180000) },
	async () => {
		// A finished job: Delete, confirm; it leaves the list and the API.
		const id = jobIds['listings-dropped.csv'];
		assert.ok(id, 'the dropped-upload job exists');
		await page.locator(`[data-testid="job-item"][data-job-id="${id}"]`).click();
		await page.locator('#job-state[data-state="done"]').waitFor({ timeout: T(10000) });
		const del = page.locator('[data-testid="job-delete"]');
		assert.equal((await del.innerText()).trim(), 'Delete');
		page.once('dialog', (d) => d.accept());
		await del.click();
		await page.locator(`[data-testid="job-item"][data-job-id="${id}"]`)
			.waitFor({ state: 'detached', timeout: T(10000) });
		assert.equal(await apiStatus('/api/imports/' + id), 404);
		assert.equal(await apiStatus(`/api/imports/${id}/properties`), 404);
		assert.equal(await page.locator('#job-action-error').isVisible(), false);

		// Dismissing the confirm keeps the job.
		const keep = jobIds['listings-messy.csv'];
		await page.locator(`[data-testid="job-item"][data-job-id="${keep}"]`).click();
		page.once('dialog', (d) => d.dismiss());
		await del.click();
		await new Promise((r) => setTimeout(r, 300));
		assert.equal(await apiStatus('/api/imports/' + keep), 200);
		assert.equal(await page.locator(`[data-testid="job-item"][data-job-id="${keep}"]`).count(), 1);

		// A running upload: "Cancel import" stops the upload and deletes the job.
		await setPiece(PIECE);
		await watchUploadStates();
		let patches = 0;
		let cancelAt = null;
		const reached = new Promise((resolve) => {
			cancelAt = resolve;
		});
		await page.route('**/api/imports/*', async (route) => {
			if (route.request().method() === 'PATCH') {
				if (++patches === 4) cancelAt();
				await new Promise((r) => setTimeout(r, 150));
			}
			return route.continue().catch(() => {});
		});
		faultWindow = true; // the cancelled PATCH fails in the browser, on purpose
		let running;
		try {
			await page.locator('[data-testid="file-input"]').setInputFiles({
				name: 'listings-cancel.csv', mimeType: 'text/csv', buffer: Buffer.from(bigCsv, 'utf8'),
			});
			running = await uploadJobId();
			await reached;
			await page.locator(`[data-testid="job-item"][data-job-id="${running}"][aria-current="true"]`)
				.waitFor({ timeout: T(10000) });
			assert.equal((await del.innerText()).trim(), 'Cancel import');
			page.once('dialog', (d) => d.accept());
			await del.click();
			await page.locator(`[data-testid="job-item"][data-job-id="${running}"]`)
				.waitFor({ state: 'detached', timeout: T(10000) });
			await page.locator('[data-testid="upload-progress"][data-state="cancelled"]')
				.waitFor({ timeout: T(10000) });
			const patchesAtCancel = patches;
			await new Promise((r) => setTimeout(r, 1500));
			assert.ok(patches <= patchesAtCancel + 1, 'no more pieces sent after the cancel');
		} finally {
			faultWindow = false;
			await page.unrouteAll({ behavior: 'ignoreErrors' });
			await setPiece(0);
		}
		assert.equal(await apiStatus('/api/imports/' + running), 404);
		assert.equal(await apiStatus('/api/imports/' + running, 'HEAD'), 404);
		assert.deepEqual(await page.evaluate(() => JSON.parse(localStorage.getItem('propflow.uploads') ||
			'[]')), [], 'the cancelled upload is forgotten');
		// A reload shows the same list: the deleted jobs stay gone.
		await page.reload({ waitUntil: 'load' });
		await page.locator('[data-testid="ws-status"][data-state="open"]').waitFor({ timeout: T(15000) });
		await page.locator(`[data-testid="job-item"][data-job-id="${keep}"]`).waitFor();
		assert.equal(await page.locator(`[data-testid="job-item"][data-job-id="${id}"]`).count(), 0);
		assert.equal(await page.locator(`[data-testid="job-item"][data-job-id="${running}"]`).count(), 0);
		assert.equal(await page.locator('[data-testid="resume-list"]').isVisible(), false);
	});

test('log out: the login form, the WebSocket closed, the old cookie answers 401',
	{ timeout: T(60000) }, async () => {
		const cookie = await sessionCookie();
		assert.ok(cookie, 'logged in');
		assert.equal(await cookieStatus('/api/imports', cookie.value), 200);
		const live = lastSocket();
		assert.ok(live && !live.isClosed(), 'the page has its WebSocket open');
		authWindow = true;
		try {
			const closed = live.waitForEvent('close', { timeout: T(10000) }).catch(() => {});
			await logout();
			assert.match(await page.locator('[data-testid="login-note"]').innerText(), /logged out/i);
			await closed;
			assert.equal(live.isClosed(), true, 'the WebSocket closed at logout');
			assert.equal(await page.locator('[data-testid="ws-status"]').isVisible(), false);
			assert.equal(await sessionCookie(), null, 'the cookie was cleared');
			assert.equal(await cookieStatus('/api/imports', cookie.value), 401, 'the old session is gone');
			assert.equal(await cookieStatus('/api/session', cookie.value), 401);
			assert.equal(await page.evaluate(() => fetch('/api/imports').then((r) => r.status)), 401);
			assert.equal(await page.locator('[data-testid="job-item"]').count(), 0, 'no data left');
			const n = sockets.length;
			await new Promise((r) => setTimeout(r, 1000));
			assert.equal(sockets.length, n, 'no WebSocket opened while logged out');
		} finally {
			authWindow = false;
		}
	});

test('a used link and a wrong password show an error; the right password logs in',
	{ timeout: T(120000) }, async () => {
		const add = await runCli(['user', 'add', 'alice'], ALICE_PW + '\n');
		assert.equal(add.code, 0, add.stdout + add.stderr);
		assert.match(add.stdout, /created user alice/);
		assert.doesNotMatch(add.stdout, /password:/, 'the password came from stdin');
		authWindow = true;
		try {
			// The first-run link again (pasted into the open page): used already.
			await page.goto(firstLink);
			const err = page.locator('[data-testid="login-error"]');
			await err.waitFor({ timeout: T(15000) });
			assert.match(await err.innerText(), /invalid|used/i);
			assert.ok(!page.url().includes('login='), page.url());
			assert.equal(await page.locator('#app').isVisible(), false);

			await submitLogin('alice', 'not ' + ALICE_PW);
			await err.waitFor({ timeout: T(15000) });
			assert.match(await err.innerText(), /wrong name or password/i);
			assert.equal(await page.locator('#app').isVisible(), false, 'still logged out');
			assert.equal(await sessionCookie(), null);

			await submitLogin('alice', ALICE_PW);
			await loggedInAs('alice');
			assert.equal(await err.isVisible(), false);
			assert.equal(await page.locator('[data-testid="password-prompt"]').isVisible(), false,
				'alice has a password: no prompt');
			// Alice sees none of admin's imports.
			await page.locator('#jobs-empty').waitFor({ timeout: T(10000) });
			assert.equal(await page.locator('[data-testid="job-item"]').count(), 0);
			assert.equal(await page.evaluate(() => fetch('/api/imports').then((r) => r.json()))
				.then((r) => r.items.length), 0);
		} finally {
			authWindow = false;
		}
	});

test('the session ends mid-upload: the login form, then the same user continues the upload',
	{ timeout: T(240000) }, async () => {
		const name = 'listings-alice.csv';
		const bytes = Buffer.from(csv, 'utf8');
		await tokenFor('alice');
		await setPiece(PIECE);
		await watchUploadStates();
		let patches = 0;
		let endAt = null;
		const reached = new Promise((resolve) => {
			endAt = resolve;
		});
		await page.route('**/api/imports/*', async (route) => {
			if (route.request().method() === 'PATCH') {
				if (++patches === 4) endAt();
				await new Promise((r) => setTimeout(r, 150));
			}
			return route.continue().catch(() => {});
		});
		let id;
		authWindow = true;
		try {
			await page.locator('[data-testid="file-input"]').setInputFiles({
				name, mimeType: 'text/csv', buffer: bytes,
			});
			id = await uploadJobId();
			await reached;
			// Disabling a user deletes its sessions: the page's next request answers 401.
			await cli(['user', 'disable', 'alice']);
			await page.locator('[data-testid="login-form"]').waitFor({ timeout: T(30000) });
			assert.match(await page.locator('[data-testid="login-note"]').innerText(), /session has ended/i);
			assert.equal(await page.locator('[data-testid="login-name"]').inputValue(), 'alice');
			const kept = await page.evaluate(() => JSON.parse(localStorage.getItem('propflow.uploads') ||
				'[]'));
			assert.ok(kept.some((p) => p.id === id), 'the upload is still remembered: ' +
				JSON.stringify(kept));
			const n = sockets.length;
			const sentAtEnd = patches;
			await new Promise((r) => setTimeout(r, 1500));
			assert.ok(patches <= sentAtEnd + 1, 'no pieces sent while logged out');
			assert.ok(lastSocket().isClosed(), 'the WebSocket is closed while logged out');
			assert.equal(sockets.length, n, 'no WebSocket opened while logged out');

			await cli(['user', 'enable', 'alice']);
			await submitLogin('alice', ALICE_PW);
			await loggedInAs('alice');
			await page.locator('[data-testid="upload-progress"][data-state="done"]')
				.waitFor({ timeout: T(120000) });
		} finally {
			authWindow = false;
			await page.unrouteAll({ behavior: 'ignoreErrors' });
			await setPiece(0);
		}
		const states = await uploadStates();
		assert.ok(states.includes('paused'), 'the upload paused: ' + states.join(' > '));
		assert.equal(states[states.length - 1], 'done');
		await waitJobState(id, ['done'], T(60000), 'alice');
		await assertExactJob(id, ROWS, bytes.length, 'alice');
		assert.equal(await apiStatus('/api/imports/' + id), 404, 'not admin\'s');
		await itemDone(id, T(30000), 'alice');
		assert.equal(await page.locator('#upload-error').isVisible(), false, 'no upload error shown');
		assert.deepEqual(await page.evaluate(() => JSON.parse(localStorage.getItem('propflow.uploads') ||
			'[]')), [], 'the finished upload is forgotten');
	});

test('admin logs in with the password set from the prompt; repeated failures wait (429)',
	{ timeout: T(180000) }, async () => {
		await logout();
		await submitLogin('admin', ADMIN_PW);
		await loggedInAs('admin');
		await page.locator(`[data-testid="job-item"][data-job-id="${jobIds['listings-messy.csv']}"]`)
			.waitFor({ timeout: T(15000) });
		assert.equal(await page.locator('[data-testid="password-prompt"]').isVisible(), false);
		await logout();

		// The last test that logs in: the client's failure count stays up for --login-window.
		authWindow = true;
		try {
			const err = page.locator('[data-testid="login-error"]');
			let text = '';
			for (let i = 0; i < 15 && !/too many/i.test(text); i++) {
				await submitLogin('admin', 'wrong ' + i);
				text = await err.innerText();
			}
			assert.match(text, /Too many failed logins\. Try again in \d+ s\./, text);
			assert.equal(await page.locator('[data-testid="login-submit"]').isDisabled(), true,
				'no attempt until the wait is over');
			assert.equal(await page.locator('#app').isVisible(), false);
			const r = await fetch(baseUrl + '/api/session', { method: 'POST',
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ name: 'admin', password: ADMIN_PW }) });
			await r.arrayBuffer();
			assert.equal(r.status, 429, 'even the right password waits');
			assert.match(r.headers.get('retry-after') || '', /^\d+$/);
		} finally {
			authWindow = false;
		}
	});

test('every state-changing request carried the CSRF token', () => {
	const kinds = new Set(stateChanges.map((c) => c.what));
	for (const k of ['POST /api/imports', 'PATCH /api/imports/N', 'DELETE /api/imports/N',
		'POST /api/imports/N/reprocess', 'POST /api/account/password', 'DELETE /api/session']) {
		assert.ok(kinds.has(k), `the run made a ${k}: ${[...kinds].join(', ')}`);
	}
	const bad = stateChanges.filter((c) => !/^[A-Za-z0-9_-]{43}$/.test(c.csrf ?? ''));
	assert.deepEqual(bad, [], 'requests without X-CSRF-Token');
});

test('no console errors and no CSP violations during the whole run', async () => {
	assert.deepEqual(cspViolations, [], 'CSP violations');
	assert.deepEqual(consoleErrors, [], 'console errors');
	// The detector works: a style attribute set from script is reported.
	await page.evaluate(() => document.body.setAttribute('style', 'color: red'));
	for (let i = 0; i < 50 && cspViolations.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
	assert.ok(cspViolations.length >= 1, 'a style attribute is a CSP violation');
	for (const v of cspViolations) assert.match(v, /style-src/);
	cspViolations.length = 0;
	consoleErrors.length = 0;
});
