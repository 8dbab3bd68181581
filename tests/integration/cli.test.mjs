// cli.test.mjs - the `propflow` command line: --help, `propflow import FILE
// --json`, errors, and the embedded PostgreSQL's life cycle across runs:
// created once, found again (no second initdb) by `propflow serve`, stopped on
// SIGTERM, and recovered after the server was killed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { generate } from './gen.mjs';
import {
	brief, embeddedConninfo, processesMentioning, psql, removeDir, request, runCli, sleep, startServer,
	tempDir,
	test,
} from './lib.mjs';

const dir = tempDir('propflow-cli-');
const work = tempDir('propflow-cli-files-');
after(() => {
	// Whatever happened, leave no PostgreSQL behind for our data dir.
	for (const p of processesMentioning(dir)) {
		try { process.kill(p.pid, 'SIGQUIT'); } catch { /* gone */ }
	}
	removeDir(dir);
	removeDir(work);
});

const data = generate({ rows: 2500, rejected: 4, seed: 4242 });
const file = path.join(work, 'listings export.csv');
fs.writeFileSync(file, data.buffer);
const S = {};

async function noPostgresFor(d, ms = 10000) {
	const end = Date.now() + ms;
	let left;
	while ((left = processesMentioning(d)).length && Date.now() < end) await sleep(100);
	return left;
}

test('--help lists the commands and options', async () => {
	const r = await runCli(['--help']);
	assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
	const text = r.stdout + r.stderr;
	for (const w of ['serve', 'import', '--listen', '--db', '--data-dir', '--batch-rows', '--max-upload',
		'--static-dir', '--json'])
		assert.ok(text.includes(w), `--help mentions ${w}:\n${text}`);
});

test('unknown command or option: non-zero exit with a message', async () => {
	const a = await runCli(['frobnicate']);
	assert.notEqual(a.code, 0);
	assert.ok(a.stderr.length > 0, 'a message on stderr');
	// Should these start a server after all, they are killed after 30 s.
	const scratch = tempDir('propflow-cli-scratch-');
	try {
		const b = await runCli(['serve', '--no-such-option', '--listen', '127.0.0.1:0', '--data-dir', scratch],
			{ timeoutMs: 30000 });
		assert.notEqual(b.code, 0);
		assert.match(b.stderr, /no-such-option/);
		const c = await runCli(['serve', '--batch-rows', 'lots', '--listen', '127.0.0.1:0', '--data-dir', scratch],
			{ timeoutMs: 30000 });
		assert.notEqual(c.code, 0, 'a non-numeric --batch-rows is refused');
		assert.match(c.stderr, /batch-rows/);
	} finally {
		for (const p of processesMentioning(scratch)) {
			try { process.kill(p.pid, 'SIGQUIT'); } catch { /* gone */ }
		}
		removeDir(scratch);
	}
});

// Issue 10: `propflow user token admin` without the server's --data-dir used
// to make a second, empty database and then say "no such user". Only serve
// creates a database; the others say where they looked and how to point them.
test('user and import never create a database: they say where they looked, exit 1', {
	timeout: 60000,
}, async () => {
	const missing = path.join(work, 'no-such-dir');
	for (const d of [missing, dir]) {
		for (const args of [['user', 'token', 'admin'], ['user', 'list'], ['user', 'link', 'admin'],
			['import', file]]) {
			const r = await runCli([...args, '--data-dir', d], { timeoutMs: 30000 });
			const what = `${args.join(' ')} --data-dir ${d}`;
			assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
			assert.ok(r.stderr.includes(d), `${what}: names where it looked: ${r.stderr}`);
			assert.match(r.stderr, /--data-dir/, r.stderr);
			assert.match(r.stderr, /--db/, r.stderr);
			assert.equal(r.stdout, '', `${what}: nothing on stdout`);
		}
	}
	assert.ok(!fs.existsSync(missing), 'the missing data dir was not created');
	assert.deepEqual(fs.readdirSync(dir), [], 'nothing created in the empty data dir');
});

test('import FILE --json: exit 0, the job object with exact counts', { timeout: 180000 }, async () => {
	// only serve creates the database: start it once, as README's quick start does
	const first = await startServer({ dataDir: dir });
	assert.equal((await first.stop({ keepDir: true })).code, 0);
	const r = await runCli(['import', file, '--json', '--data-dir', dir]);
	assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr.slice(-3000)}`);
	let job;
	try {
		job = JSON.parse(r.stdout.trim());
	} catch (e) {
		assert.fail(`stdout is not one JSON object: ${JSON.stringify(r.stdout.slice(0, 500))}`);
	}
	assert.equal(job.state, 'done', brief(job));
	assert.equal(job.name, 'listings export.csv', 'name defaults to the file name');
	assert.equal(job.rows_parsed, 2500, brief(job));
	assert.equal(job.rows_rejected, 4, brief(job));
	assert.equal(job.rows_inserted, data.truth.inserted, brief(job));
	assert.equal(job.rows_warned, data.truth.warnedRows, brief(job));
	assert.equal(job.bytes_received, data.buffer.length, brief(job));
	S.job = job;
	assert.ok(fs.existsSync(path.join(dir, 'pg', 'PG_VERSION')), 'embedded cluster under DIR/pg');
	S.pgVersion = fs.statSync(path.join(dir, 'pg', 'PG_VERSION'));
	const left = await noPostgresFor(dir);
	assert.deepEqual(left, [], 'no PostgreSQL left running for the data dir after the import');
});

test('import without --json prints a one-line summary; --name names the job', { timeout: 180000 }, async () => {
	assert.ok(S.job, 'needs the first import');
	const r = await runCli(['import', file, '--name', 'second run', '--data-dir', dir]);
	assert.equal(r.code, 0, r.stderr.slice(-2000));
	const lines = r.stdout.trim().split('\n');
	assert.equal(lines.length, 1, `one summary line: ${JSON.stringify(r.stdout)}`);
	assert.match(lines[0], /2500|2,500/, 'the summary gives the rows');
	S.second = true;
});

test('import of a missing file: non-zero exit and a message', async () => {
	const missing = path.join(work, 'does-not-exist.csv');
	const r = await runCli(['import', missing, '--json', '--data-dir', dir]);
	assert.notEqual(r.code, 0);
	assert.ok(r.stderr.includes('does-not-exist.csv'), `message names the file: ${r.stderr}`);
	const left = await noPostgresFor(dir);
	assert.deepEqual(left, [], 'no PostgreSQL left running');
});

test('serve on the same data dir finds the existing database; SIGTERM stops it and PostgreSQL', {
	timeout: 180000,
}, async () => {
	assert.ok(S.job, 'needs the first import');
	const srv = await startServer({ dataDir: dir });
	try {
		const list = await request('GET', `${srv.url}/api/imports`);
		assert.equal(list.status, 200);
		const j = list.json.items.find((x) => x.id === S.job.id);
		assert.ok(j, `the CLI's job is listed: ${list.text.slice(0, 300)}`);
		assert.equal(j.state, 'done');
		assert.equal(j.rows_inserted, S.job.rows_inserted);
		if (S.second) assert.ok(list.json.items.some((x) => x.name === 'second run'));
		const pv = fs.statSync(path.join(dir, 'pg', 'PG_VERSION'));
		assert.equal(pv.ino, S.pgVersion.ino, 'cluster not re-created (same PG_VERSION file)');
		assert.equal(pv.mtimeMs, S.pgVersion.mtimeMs, 'cluster not re-created');
		assert.ok(processesMentioning(dir).length > 0, 'embedded PostgreSQL runs for the data dir');
		const props = await request('GET', `${srv.url}/api/imports/${S.job.id}/properties?limit=5`);
		assert.equal(props.json.items.length, 5);
	} finally {
		const t0 = Date.now();
		const x = await srv.stop({ keepDir: true });
		assert.ok(Date.now() - t0 < 10000, `stopped within 10 s (${Date.now() - t0} ms)`);
		assert.equal(x.code, 0, `clean exit on SIGTERM (code ${x.code}, signal ${x.signal})`);
	}
	const left = await noPostgresFor(dir);
	assert.deepEqual(left, [], 'SIGTERM also stopped the embedded PostgreSQL');
});

test('after the server was killed (SIGKILL), the next start still comes up on the same data', {
	timeout: 240000,
}, async () => {
	assert.ok(S.job, 'needs the first import');
	const first = await startServer({ dataDir: dir });
	first.proc.kill('SIGKILL');
	await first.exited;
	// PostgreSQL may or may not have outlived it: both must be handled.
	const second = await startServer({ dataDir: dir });
	try {
		const j = await request('GET', `${second.url}/api/imports/${S.job.id}`);
		assert.equal(j.status, 200);
		assert.equal(j.json.rows_inserted, S.job.rows_inserted);
		const h = await request('GET', `${second.url}/api/health`);
		assert.equal(h.json.db, true);
	} finally {
		const x = await second.stop({ keepDir: true });
		assert.equal(x.code, 0, `clean exit (code ${x.code}, signal ${x.signal})`);
	}
	const left = await noPostgresFor(dir);
	assert.deepEqual(left, [], 'no PostgreSQL left after the second server stopped');
});

test('SIGINT stops serve cleanly too', { timeout: 120000 }, async () => {
	const srv = await startServer({ dataDir: dir });
	srv.proc.kill('SIGINT');
	const x = await Promise.race([srv.exited, sleep(12000).then(() => null)]);
	if (!x) await srv.stop({ keepDir: true });
	assert.ok(x, 'exited within 12 s of SIGINT');
	assert.equal(x.code, 0, `exit code ${x.code} signal ${x.signal}`);
	assert.deepEqual(await noPostgresFor(dir), [], 'PostgreSQL stopped');
});

// Issue 10: `user link` names where the server actually listens (it guessed
// from its own --listen), and no line per database connection at info level.
test('user link names the port the server chose; connection lines only at debug', {
	timeout: 180000,
}, async () => {
	assert.ok(S.job, 'needs the first import');
	const srv = await startServer({ dataDir: dir });
	try {
		const k = await runCli(['user', 'link', 'admin', '--data-dir', dir], { timeoutMs: 60000 });
		assert.equal(k.code, 0, `${k.stdout}\n${k.stderr}`);
		assert.match(k.stdout.trim(), new RegExp(`^${srv.url.replace(/[.]/g, '\\.')}/#login=[A-Za-z0-9_-]{43}$`),
			`the link names ${srv.url}: ${k.stdout}`);
		assert.doesNotMatch(k.stderr, /no server has run/, k.stderr);
		// the default output of a command and of a server start: no line per connection
		const l = await runCli(['user', 'list', '--data-dir', dir], { timeoutMs: 60000 });
		assert.equal(l.code, 0, l.stderr);
		assert.doesNotMatch(l.stderr, /connected|schema up to date|adopted/, `user list chatter:\n${l.stderr}`);
		assert.doesNotMatch(srv.stderr(), /db (writer|reader)\/\d+: connected/, 'server start chatter');
		const dbg = await runCli(['user', 'list', '--data-dir', dir, '--log-level', 'debug'], { timeoutMs: 60000 });
		assert.match(dbg.stderr, /db writer\/\d+: connected/, `--log-level debug shows them: ${dbg.stderr}`);
		// forget every server's address, for the fallback below
		await psql(embeddedConninfo(dir), 'DELETE FROM server_instances');
	} finally {
		await srv.stop({ keepDir: true });
	}
	// no server recorded its address: a guess from --listen, and a note saying so
	const g = await runCli(['user', 'link', 'admin', '--data-dir', dir, '--listen', '127.0.0.1:9'], { timeoutMs: 60000 });
	assert.equal(g.code, 0, g.stderr);
	assert.match(g.stdout.trim(), /^http:\/\/127\.0\.0\.1:9\/#login=/, g.stdout);
	assert.match(g.stderr, /no server has run on this database/, g.stderr);
	assert.deepEqual(await noPostgresFor(dir), [], 'PostgreSQL stopped');
});
