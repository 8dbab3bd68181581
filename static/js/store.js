// store.js - the page's one source of truth: jobs by id, the last WebSocket seq seen per job,
// and the selected job. Views subscribe and re-render from it.

const jobs = new Map(); // id -> job object (plus rows_per_sec / eta_seconds from frames)
const lastSeq = new Map(); // id -> last applied seq
const deleted = new Set(); // ids deleted (cancelled): later frames for them are ignored
const listeners = new Set();
let selectedId = null;

function emit(what, id) {
	for (const fn of listeners) fn(what, id);
}

export function subscribe(fn) {
	listeners.add(fn);
	return () => listeners.delete(fn);
}

export function getJob(id) {
	return jobs.get(id) ?? null;
}

// Newest first (ids grow with time).
export function jobList() {
	return [...jobs.values()].sort((a, b) => b.id - a.id);
}

export function selected() {
	return selectedId;
}

export function select(id) {
	if (id === selectedId) return;
	selectedId = id;
	emit('select', id);
}

// A (re)connect's snapshot replaces everything: progress shown is never older than the server's.
export function replaceAll(list) {
	const old = new Map(jobs);
	jobs.clear();
	lastSeq.clear();
	for (const j of list || []) {
		if (!j || typeof j.id !== 'number') continue;
		const prev = old.get(j.id);
		// The snapshot has no rate: keep the last known one while the job still runs.
		jobs.set(j.id, {
			rows_per_sec: prev?.rows_per_sec ?? null,
			eta_seconds: prev?.eta_seconds ?? null,
			...j,
		});
		lastSeq.set(j.id, typeof j.seq === 'number' ? j.seq : 0);
	}
	if (selectedId !== null && !jobs.has(selectedId) && old.has(selectedId) &&
		!deleted.has(selectedId)) {
		jobs.set(selectedId, old.get(selectedId)); // keep what the user is looking at
	}
	emit('jobs', null);
}

// An "import" frame: applied only when its seq is newer than the last one seen for that job.
export function applyFrame(f) {
	if (!f || typeof f.id !== 'number' || deleted.has(f.id)) return false;
	// A cancelled job has been deleted with all its rows (DELETE /api/imports/ID).
	if (f.state === 'cancelled') {
		remove(f.id);
		return true;
	}
	const seq = typeof f.seq === 'number' ? f.seq : null;
	if (seq !== null) {
		const last = lastSeq.get(f.id) ?? 0;
		if (seq <= last) return false;
		lastSeq.set(f.id, seq);
	}
	const prev = jobs.get(f.id);
	const next = { ...prev, ...f };
	delete next.type;
	jobs.set(f.id, next);
	emit('job', f.id);
	return true;
}

// A job object from an HTTP answer (the upload's 202, a GET): fills a gap when no frame has
// brought that job yet, never overrides newer live state.
export function mergeHttpJob(j) {
	if (!j || typeof j.id !== 'number' || deleted.has(j.id)) return;
	const prev = jobs.get(j.id);
	if (prev && (prev.rows_parsed ?? 0) > (j.rows_parsed ?? 0)) return;
	if (prev && prev.state !== j.state && (prev.state === 'done' || prev.state === 'failed')) return;
	jobs.set(j.id, { rows_per_sec: null, eta_seconds: null, ...prev, ...j });
	emit(prev ? 'job' : 'jobs', j.id);
}

// The answer to a reprocess: a new run starts, its counters begin again from zero. Applied only
// when no frame has changed the job since the request was sent (before: the job object then),
// so that it never hides a frame of the new run.
export function restartJob(j, before) {
	if (!j || typeof j.id !== 'number' || deleted.has(j.id)) return;
	const prev = jobs.get(j.id);
	if (prev !== before) return;
	jobs.set(j.id, { rows_per_sec: null, eta_seconds: null, ...prev, ...j });
	emit(prev ? 'job' : 'jobs', j.id);
}

// A job deleted (by this page or, through its final "cancelled" frame, by anyone): it leaves
// the list; when it was selected, the newest remaining job is shown.
export function remove(id) {
	deleted.add(id);
	lastSeq.delete(id);
	if (!jobs.delete(id)) return;
	if (selectedId === id) {
		const first = jobList()[0];
		selectedId = first ? first.id : null;
		emit('select', selectedId);
	}
	emit('jobs', null);
}

// Logged out (or another user logged in): nothing of the previous session stays.
export function reset() {
	jobs.clear();
	lastSeq.clear();
	deleted.clear();
	if (selectedId !== null) {
		selectedId = null;
		emit('select', null);
	}
	emit('jobs', null);
}
