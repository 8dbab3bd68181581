// page.test.mjs - smoke test of the page in headless Chromium against the real server:
// upload a generated messy export through the file input, watch the job finish in the list,
// check virtual scrolling (few rows in the DOM, the last row reachable by scrolling), open a
// record and find its original text, and check that nothing logged an error or broke the CSP.
//
// Env: PROPFLOW_BIN (server binary), PROPFLOW_SRC (repo root), PROPFLOW_BUILD (screenshot dir),
// CHROMIUM_PATH (default /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.PROPFLOW_BIN;
const SRC = process.env.PROPFLOW_SRC || path.resolve(import.meta.dirname, '..', '..');
const SHOT_DIR = process.env.PROPFLOW_BUILD || os.tmpdir();
const LISTEN_TIMEOUT_MS = 60000;
const ROWS = 5000; // valid data rows; one malformed row follows them
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

function q(s) {
	return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// A messy MLS-style export: money with $ and thousands separators, quoted fields with commas,
// zips with leading zeros, month-first dates, CRLF line ends, and one row with a field missing.
function makeCsv() {
	const prices = new Map();
	const lines = [HEADERS.map(q).join(',')];
	for (let i = 1; i <= ROWS; i++) {
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

function startServer() {
	dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'propflow-page-'));
	fs.chmodSync(dataDir, 0o755); // the embedded PostgreSQL may run as another user
	const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
		'--static-dir', path.join(SRC, 'static')];
	server = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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

async function stopServer() {
	if (!server) return;
	if (server.exitCode === null && server.signalCode === null) {
		server.kill('SIGTERM');
		const t = new Promise((r) => setTimeout(() => r('timeout'), 15000));
		if ((await Promise.race([serverExit, t])) === 'timeout') {
			server.kill('SIGKILL');
			await serverExit;
		}
	}
	server = null;
}

before(async () => {
	assert.ok(BIN, 'PROPFLOW_BIN must name the server binary');
	({ text: csv, prices: expected } = makeCsv());
	baseUrl = await startServer();
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
		args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
	page = await ctx.newPage();
	// CSP violations are recorded by the page itself (init scripts are exempt from the CSP).
	await page.addInitScript(() => {
		window.__csp = [];
		document.addEventListener('securitypolicyviolation', (e) => {
			window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
		});
	});
	page.on('console', (m) => {
		if (m.type() === 'error') consoleErrors.push('console: ' + m.text());
	});
	page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
	page.on('requestfailed', (r) => {
		consoleErrors.push('requestfailed: ' + r.url() + ' ' + (r.failure()?.errorText ?? ''));
	});
});

after(async () => {
	if (browser) await browser.close().catch(() => {});
	await stopServer();
	if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
	// The server's log, for whoever has to read a failure.
	fs.writeFileSync(path.join(SHOT_DIR, 'page-server.log'), serverLog);
});

test('the page loads under its CSP and goes live', { timeout: 30000 }, async () => {
	const res = await page.goto(baseUrl + '/', { waitUntil: 'load' });
	assert.equal(res.status(), 200);
	const csp = res.headers()['content-security-policy'] || '';
	assert.match(csp, /default-src 'self'/, 'the page is served with its CSP');
	await page.locator('[data-testid="ws-status"][data-state="open"]').waitFor({ timeout: 15000 });
	await page.locator('[data-testid="file-input"]').waitFor({ state: 'attached' });
	assert.equal(await page.locator('[data-testid="drop-zone"]').isVisible(), true);
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
		const zipRow = mapping.locator('tbody tr', { hasText: 'Zip Code' });
		assert.match(await zipRow.innerText(), /\bzip\b/);
		const priceRow = mapping.locator('tbody tr', { hasText: 'List Price' });
		assert.match(await priceRow.innerText(), /\bprice\b/);

		// Issues view: the rejected row and the unreadable "three" beds.
		await page.locator('#tab-errors').click();
		const errors = page.locator('[data-testid="errors-table"]');
		await errors.locator('tbody tr[data-kind="rejected"]').first().waitFor({ timeout: 15000 });
		assert.ok(await errors.locator('tbody tr[data-kind="warning"]').count() >= 1,
			'warnings listed');
		await page.screenshot({ path: path.join(SHOT_DIR, 'page-errors.png') });
		await page.locator('#tab-records').click();
	});

test('no console errors and no CSP violations', async () => {
	const csp = await page.evaluate(() => window.__csp);
	assert.deepEqual(csp, [], 'CSP violations');
	assert.deepEqual(consoleErrors, [], 'console errors');
});
