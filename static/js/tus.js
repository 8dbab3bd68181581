// tus.js - the tus 1.0.0 client (core + creation + termination) the page uploads with, and the
// list of unfinished uploads kept in localStorage so that a reload can resume them.
//
// An upload: POST /api/imports (Upload-Length, Upload-Metadata filename) -> 201 + Location, then
// PATCH pieces of CHUNK bytes from Upload-Offset. Any failure that may be temporary (network
// error, 5xx, 409, 408, 429, a stalled piece) is retried forever while the page is open, with a
// backoff of 1 s, 2 s, 4 s ... capped at 10 s: HEAD tells the offset the server has, the next
// PATCH starts there. Failures that cannot heal (4xx, the import deleted) end the upload. A 401
// (the session ended) pauses the upload until the same user logs in again (resumeAuth), then it
// continues from the server's offset; it stays remembered either way.
//
// POST, PATCH and DELETE carry the session's X-CSRF-Token. The remembered uploads are kept per
// user (the user id with each entry): another user of the same browser is not offered them.

import { session, sessionLost, withCsrf } from './api.js';

export const TUS_VERSION = '1.0.0';
const CHUNK_DEFAULT = 2 * 1024 * 1024;
const CHUNK_MIN = 16 * 1024;
const CHUNK_MAX = 16 * 1024 * 1024;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 10000;
const STALL_MS = 60000; // a piece with no progress for this long is dropped and retried
const PENDING_KEY = 'propflow.uploads';
const CHUNK_KEY = 'propflow.chunkBytes'; // optional override of the piece size (tests, slow links)
const PENDING_MAX = 20;

// Piece size: CHUNK_DEFAULT unless localStorage says otherwise (clamped).
function chunkBytes() {
	let n = NaN;
	try {
		n = Number(localStorage.getItem(CHUNK_KEY));
	} catch {
		/* storage disabled */
	}
	if (!Number.isFinite(n) || n <= 0) return CHUNK_DEFAULT;
	return Math.max(CHUNK_MIN, Math.min(CHUNK_MAX, Math.floor(n)));
}

// ---- unfinished uploads, remembered across reloads ----

// Every user's entries.
function allPending() {
	try {
		const v = JSON.parse(localStorage.getItem(PENDING_KEY) || '[]');
		return Array.isArray(v) ? v.filter((p) => p && Number.isInteger(p.id)) : [];
	} catch {
		return [];
	}
}

// The logged-in user's entries (entries from before accounts have no user: anyone's).
export function pendingList() {
	const uid = session.user ? session.user.id : null;
	return allPending().filter((p) => p.user === undefined || p.user === uid);
}

function savePending(list) {
	try {
		localStorage.setItem(PENDING_KEY, JSON.stringify(list.slice(-PENDING_MAX)));
	} catch {
		/* storage full or disabled: resuming after a reload is then not offered */
	}
}

export function rememberPending(p) {
	const list = allPending().filter((x) => x.id !== p.id);
	list.push(p);
	savePending(list);
}

export function forgetPending(id) {
	savePending(allPending().filter((x) => x.id !== id));
}

// The remembered upload this file continues, if any (same name, size and modification time).
export function pendingFor(file) {
	return pendingList().find((p) => p.name === file.name && p.size === file.size &&
		p.lastModified === file.lastModified) ?? null;
}

// ---- helpers ----

// Base64 of the UTF-8 bytes of s (Upload-Metadata values).
export function b64utf8(s) {
	const bytes = new TextEncoder().encode(s);
	let bin = '';
	for (let i = 0; i < bytes.length; i += 0x8000) {
		bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
	}
	return btoa(bin);
}

class UploadError extends Error {
	constructor(message, { permanent = false, status = 0, gone = false, conflict = false,
		auth = false } = {}) {
		super(message);
		this.permanent = permanent;
		this.status = status;
		this.gone = gone; // the import no longer exists
		this.conflict = conflict; // 409: offset or state mismatch
		this.auth = auth; // 401: the session ended
	}
}

const authLost = () => new UploadError('your session ended: log in again to continue',
	{ auth: true, status: 401 });

function serverMessage(status, text) {
	try {
		const j = JSON.parse(text);
		if (j && typeof j.error === 'string') return j.error;
	} catch {
		/* not JSON */
	}
	return 'HTTP ' + status;
}

// 408, 409, 423, 429 and 5xx may heal by themselves; other 4xx do not.
function retryable(status) {
	return status === 0 || status === 408 || status === 409 || status === 423 || status === 429 ||
		status >= 500;
}

// One HTTP exchange through XHR (upload progress, abortable). Resolves {status, xhr} for any
// answer; a network failure resolves with status 0. A 401 is reported to the session.
function send(method, url, headers, body, onProgress, upload) {
	const gen = session.gen;
	if (method !== 'HEAD') withCsrf(headers);
	return new Promise((resolve) => {
		const xhr = new XMLHttpRequest();
		let stallTimer = 0;
		let finished = false;
		const done = (status) => {
			if (finished) return;
			finished = true;
			clearTimeout(stallTimer);
			if (upload.xhr === xhr) upload.xhr = null;
			if (status === 401) sessionLost(gen);
			resolve({ status, xhr });
		};
		const arm = () => {
			clearTimeout(stallTimer);
			stallTimer = setTimeout(() => {
				upload.stalled = true;
				xhr.abort();
			}, STALL_MS);
		};
		xhr.open(method, url);
		for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
		xhr.responseType = 'text';
		if (body && onProgress) {
			xhr.upload.onprogress = (ev) => {
				arm();
				onProgress(ev.loaded);
			};
		}
		xhr.onload = () => done(xhr.status);
		xhr.onerror = () => done(0);
		xhr.ontimeout = () => done(0);
		xhr.onabort = () => done(0);
		upload.xhr = xhr;
		arm();
		xhr.send(body ?? null);
	});
}

/**
 * TusUpload: one file uploaded to /api/imports with tus. Callbacks (all optional):
 *   onCreated(job)          the import exists (201 body, or the remembered one being resumed)
 *   onProgress(sent, total) bytes the server has plus bytes of the current piece sent so far
 *   onRetry(ms, message)    a piece failed; retrying after ms
 *   onResumed(offset)       HEAD answered: continuing from offset
 *   onDone(id)              every byte is in (the job then finishes by itself)
 *   onFail(message, gone)   the upload cannot go on (gone: the import was deleted)
 *   onAuthLost(message)     a 401: waiting for resumeAuth() (or stop())
 */
export class TusUpload {
	constructor(file, callbacks) {
		this.file = file;
		this.name = file.name || 'upload.csv';
		this.total = file.size;
		this.cb = callbacks;
		this.id = null;
		this.offset = 0;
		this.xhr = null;
		this.stalled = false;
		this.stopped = false;
		this.sleepTimer = 0;
		this.wake = null;
		this.resumed = false;
		this.user = session.user ? session.user.id : null; // whose upload this is
		this.authWake = null; // set while paused for a login
	}

	get paused() {
		return this.authWake !== null;
	}

	get url() {
		return '/api/imports/' + this.id;
	}

	// Start (or continue the remembered upload of the same file). Resolves when it ends.
	async start() {
		const known = pendingFor(this.file);
		if (known) {
			this.id = known.id;
			this.resumed = true;
		}
		let attempt = 0;
		let needHead = this.id !== null;
		while (!this.stopped) {
			try {
				if (this.id === null) {
					await this.create();
				} else if (needHead) {
					await this.head();
					needHead = false;
				}
				if (this.offset >= this.total) {
					forgetPending(this.id);
					this.cb.onDone?.(this.id);
					return;
				}
				await this.patch();
				attempt = 0;
			} catch (e) {
				if (this.stopped) return;
				if (e.auth) {
					// Paused until the same user is logged in again; then ask where the server is.
					this.cb.onAuthLost?.(e.message);
					await new Promise((resolve) => {
						this.authWake = resolve;
					});
					this.authWake = null;
					if (this.stopped) return;
					needHead = this.id !== null;
					attempt = 0;
					continue;
				}
				if (e.gone && this.resumed) {
					// The remembered import is gone: upload the file afresh.
					forgetPending(this.id);
					this.id = null;
					this.resumed = false;
					continue;
				}
				if (e.permanent) {
					if (e.gone || this.id !== null) forgetPending(this.id);
					this.cb.onFail?.(e.message, e.gone);
					return;
				}
				if (e.conflict && this.id !== null) await this.checkState();
				if (this.stopped) return;
				needHead = this.id !== null;
				const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
				attempt++;
				this.cb.onRetry?.(delay, e.message);
				await this.sleep(delay);
			}
		}
	}

	async create() {
		const r = await send('POST', '/api/imports', {
			'Tus-Resumable': TUS_VERSION,
			'Upload-Length': String(this.total),
			'Upload-Metadata': 'filename ' + b64utf8(this.name),
			Accept: 'application/json',
		}, null, null, this);
		if (r.status === 401) throw authLost();
		if (r.status !== 201) {
			throw new UploadError(r.status ? 'the server refused the upload: ' +
				serverMessage(r.status, r.xhr.responseText) : 'cannot reach the server',
			{ permanent: !retryable(r.status), status: r.status });
		}
		let job = null;
		try {
			job = JSON.parse(r.xhr.responseText);
		} catch {
			/* the Location header is enough */
		}
		const loc = r.xhr.getResponseHeader('Location') || '';
		const m = /\/api\/imports\/(\d+)$/.exec(loc);
		const id = job && Number.isInteger(job.id) ? job.id : (m ? Number(m[1]) : NaN);
		if (!Number.isInteger(id)) throw new UploadError('the server sent no import id', { permanent: true });
		this.id = id;
		this.offset = 0;
		rememberPending({ id, name: this.name, size: this.total, lastModified: this.file.lastModified,
			started: Date.now(), ...(this.user !== null ? { user: this.user } : {}) });
		this.cb.onCreated?.(job && job.id === id ? job : { id, name: this.name, state: 'receiving' });
	}

	async head() {
		const r = await send('HEAD', this.url, { 'Tus-Resumable': TUS_VERSION }, null, null, this);
		if (r.status === 401) throw authLost();
		if (r.status === 404 || r.status === 410) {
			throw new UploadError('the import was deleted on the server', { permanent: true, gone: true,
				status: r.status });
		}
		if (r.status !== 200) {
			throw new UploadError(r.status ? 'HTTP ' + r.status : 'cannot reach the server',
				{ permanent: !retryable(r.status), status: r.status });
		}
		const off = Number(r.xhr.getResponseHeader('Upload-Offset'));
		const len = Number(r.xhr.getResponseHeader('Upload-Length'));
		if (!Number.isSafeInteger(off) || off < 0 || off > this.total) {
			throw new UploadError('the server sent no usable Upload-Offset', { permanent: true });
		}
		if (Number.isSafeInteger(len) && len !== this.total) {
			throw new UploadError('this file does not match the unfinished upload (size differs)',
				{ permanent: true });
		}
		this.offset = off;
		this.cb.onResumed?.(off);
		this.cb.onProgress?.(off, this.total);
		if (this.resumed) {
			this.resumed = false;
			this.cb.onCreated?.({ id: this.id, name: this.name, state: 'receiving' });
		}
	}

	async patch() {
		const end = Math.min(this.total, this.offset + chunkBytes());
		const piece = this.file.slice(this.offset, end);
		const base = this.offset;
		this.stalled = false;
		const r = await send('PATCH', this.url, {
			'Tus-Resumable': TUS_VERSION,
			'Upload-Offset': String(base),
			'Content-Type': 'application/offset+octet-stream',
		}, piece, (loaded) => this.cb.onProgress?.(base + Math.min(loaded, end - base), this.total), this);
		if (r.status === 401) throw authLost();
		if (r.status === 204 || r.status === 200) {
			const off = Number(r.xhr.getResponseHeader('Upload-Offset'));
			this.offset = Number.isSafeInteger(off) && off >= base && off <= this.total ? off : end;
			this.cb.onProgress?.(this.offset, this.total);
			return;
		}
		if (r.status === 404 || r.status === 410) {
			throw new UploadError('the import was deleted on the server', { permanent: true, gone: true,
				status: r.status });
		}
		const why = this.stalled ? 'the upload stalled' : r.status ? 'HTTP ' + r.status + ': ' +
			serverMessage(r.status, r.xhr.responseText) : 'the connection to the server was lost';
		throw new UploadError(why, { permanent: !retryable(r.status), status: r.status,
			conflict: r.status === 409 });
	}

	// After a 409: an import that is no longer receiving will never take more bytes.
	async checkState() {
		let res;
		const gen = session.gen;
		try {
			res = await fetch(this.url, { headers: { Accept: 'application/json' } });
		} catch {
			return; // unreachable: the retry finds out
		}
		if (res.status === 401) {
			sessionLost(gen);
			return; // the retry pauses for the login
		}
		if (res.status === 404) {
			this.stop();
			forgetPending(this.id);
			this.cb.onFail?.('the import was deleted on the server', true);
			return;
		}
		if (!res.ok) return;
		let j;
		try {
			j = await res.json();
		} catch {
			return;
		}
		if (j.state === 'receiving') return;
		this.stop();
		forgetPending(this.id);
		if ((j.upload_offset ?? j.bytes_received) >= this.total && j.state !== 'failed') {
			this.offset = this.total;
			this.cb.onProgress?.(this.total, this.total);
			this.cb.onDone?.(this.id);
		} else {
			this.cb.onFail?.('the import is ' + j.state + (j.error ? ' (' + j.error + ')' : '') +
				' and takes no more bytes', false);
		}
	}

	sleep(ms) {
		return new Promise((resolve) => {
			this.wake = resolve;
			this.sleepTimer = setTimeout(resolve, ms);
		});
	}

	// Skip the rest of a backoff wait (the browser came back online).
	retryNow() {
		clearTimeout(this.sleepTimer);
		if (this.wake) this.wake();
		this.wake = null;
	}

	// The same user is logged in again: continue a paused upload.
	resumeAuth() {
		if (this.authWake) this.authWake();
	}

	// Stop sending; the import stays on the server (resumable) unless the caller deletes it.
	stop() {
		this.stopped = true;
		if (this.xhr) this.xhr.abort();
		this.retryNow();
		this.resumeAuth();
	}
}

// DELETE /api/imports/ID (tus termination; also cancels and removes a one-shot import).
export async function deleteImport(id) {
	let res;
	const gen = session.gen;
	try {
		res = await fetch('/api/imports/' + encodeURIComponent(id), {
			method: 'DELETE',
			headers: withCsrf({ 'Tus-Resumable': TUS_VERSION, Accept: 'application/json' }),
		});
	} catch {
		throw new Error('cannot reach the server');
	}
	if (res.status === 401) sessionLost(gen);
	if (res.status === 204 || res.status === 200 || res.status === 404) return res.status;
	throw new Error(serverMessage(res.status, await res.text()));
}
