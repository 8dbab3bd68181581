// timefactor.mjs - how much slower than usual this test run is, measured
// while it runs, so that every wait and timeout in the tests stretches with
// the machine instead of being a constant tuned on a quiet one.
//
// The factor is the product of two measurements:
//   build   PROPFLOW_TIME_FACTOR, set by tests/run for the kind of build
//           (1 plain, 3 under ASan/UBSan, 10 under valgrind): how much more
//           work the same code does there.
//   machine how busy the machine is right now, from two signals:
//           - CPU share: this process spins for SPIN_MS of wall time and
//             counts the CPU time it was given (process.cpuUsage). On an idle
//             core that is ~100 %; with other work competing it is less, and
//             1/share is how much longer anything CPU-bound takes.
//           - run queue: the 1-minute load average per core (os.loadavg /
//             os.availableParallelism). Above 1, runnable work waits for a
//             core; the test's own server and PostgreSQL count, which is
//             right, they compete with each other too.
//           The larger of the two, between 1 and MACHINE_MAX. It is measured
//           once when a test file starts (the spin) and the load average is
//           read again every RESAMPLE_MS: a wait computed later uses the
//           largest machine factor seen so far in the file, so a hog that
//           starts mid-file stretches the waits after it.
//
// Used by tests/integration/lib.mjs (scaled(), and `test` whose timeouts it
// scales) and tests/browser/page.test.mjs; `node tests/timefactor.mjs`
// prints the machine factor for tests/run (meson's per-test timeouts).

import os from 'node:os';

const SPIN_MS = 150;
const MACHINE_MAX = 6;
const RESAMPLE_MS = 2000;

const cores = () => (os.availableParallelism ? os.availableParallelism() : os.cpus().length) || 1;

/** The share of a core this thread got while spinning for ms (0..1]. */
export function cpuShare(ms = SPIN_MS) {
	const w0 = process.hrtime.bigint();
	const c0 = process.cpuUsage();
	let x = 0;
	while (Number(process.hrtime.bigint() - w0) < ms * 1e6) {
		for (let i = 0; i < 10000; i++) x += i & 7;
	}
	const wallUs = Number(process.hrtime.bigint() - w0) / 1e3;
	const c = process.cpuUsage(c0);
	if (x < 0) return 1; // keeps the loop from being optimised away
	return Math.min(1, Math.max(0.01, (c.user + c.system) / wallUs));
}

/** Runnable work per core over the last minute. */
export function loadPerCore() {
	return os.loadavg()[0] / cores();
}

const clamp = (f) => Math.min(MACHINE_MAX, Math.max(1, f));

/** {machine, share, load}: a fresh measurement (blocks for SPIN_MS). */
export function measureMachine() {
	const share = cpuShare();
	const load = loadPerCore();
	return { machine: clamp(Math.max(1 / share, load)), share, load };
}

export const BUILD_FACTOR = Math.max(1, Number(process.env.PROPFLOW_TIME_FACTOR) || 1);

const first = measureMachine();
let machine = first.machine;
const timer = setInterval(() => {
	machine = Math.max(machine, clamp(loadPerCore()));
}, RESAMPLE_MS);
timer.unref();

/** The factor now: build x the largest machine factor seen in this file. */
export function timeFactor() {
	return BUILD_FACTOR * machine;
}

/** ms stretched by the time factor. */
export function scaled(ms) {
	return Math.round(ms * timeFactor());
}

/** One line saying what was measured (tests print it as a TAP comment). */
export function describe() {
	return `time factor ${timeFactor().toFixed(2)} = build ${BUILD_FACTOR} x machine ` +
		`${machine.toFixed(2)} (cpu share ${(first.share * 100).toFixed(0)} %, ` +
		`load ${(first.load * cores()).toFixed(2)} on ${cores()} cores)`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	// `node tests/timefactor.mjs`: the machine factor, rounded up.
	process.stdout.write(`${Math.ceil(first.machine)}\n`);
}
