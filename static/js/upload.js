// upload.js - choose or drop a file and upload it with tus (tus.js): byte progress, automatic
// retries while the connection is down, and after a reload a "resume" prompt for the uploads
// that did not finish (the user picks the same file again and it continues where the server is).
// Nothing talks to the server before login (resume); a session that ends pauses the running
// upload, which continues when the same user logs in again.

import { api, session } from './api.js';
import { el, fmtBytes, fmtDuration, setBar } from './format.js';
import { TusUpload, deleteImport, forgetPending, pendingList, rememberPending } from './tus.js';

const SPEED_WINDOW_MS = 2000;

export function initUpload({ input, zone, box, errorBox, resumeBox, onStart, onCreated, onDone,
	onDeleted }) {
	const nameEl = box.querySelector('.upload-name');
	const stateEl = box.querySelector('.upload-state');
	const statsEl = box.querySelector('.upload-stats');
	const bar = box.querySelector('.bar');
	const cancelBtn = el('button', 'btn', 'Cancel', { type: 'button', 'data-testid': 'upload-cancel' });
	cancelBtn.classList.add('upload-cancel');
	box.append(cancelBtn);
	const resumeList = resumeBox.querySelector('ul');
	let up = null; // the running TusUpload
	let wanted = null; // the remembered upload the user asked to resume (picker open)

	function showError(msg) {
		errorBox.textContent = msg;
		errorBox.hidden = !msg;
	}

	function setState(state, text) {
		box.dataset.state = state;
		stateEl.textContent = text;
	}

	function start(file) {
		if (!file) return;
		if (up) {
			showError('An upload is already running: wait for it or cancel it first.');
			return;
		}
		showError('');
		// Asked to resume a remembered upload: a file with the same name and size is taken as the
		// same file even when its modification time changed (copied back, say).
		if (wanted && wanted.name === file.name && wanted.size === file.size &&
			wanted.lastModified !== file.lastModified) {
			rememberPending({ ...wanted, lastModified: file.lastModified });
		}
		wanted = null;
		const name = file.name || 'upload.csv';
		const total = file.size;
		const t0 = performance.now();
		let samples = [{ t: t0, b: 0 }];
		let retrying = false;
		box.hidden = false;
		delete box.dataset.jobId;
		delete box.dataset.sent;
		cancelBtn.hidden = false;
		nameEl.textContent = name;
		nameEl.title = name;
		setState('uploading', 'Uploading');
		setBar(bar, 0, 'running');
		statsEl.textContent = '0 B of ' + fmtBytes(total);
		zone.classList.add('busy');
		onStart(name);

		const u = new TusUpload(file, {
			onCreated: (job) => {
				if (up !== u) return;
				box.dataset.jobId = String(job.id);
				onCreated(job);
				renderPending();
			},
			onResumed: (offset) => {
				if (up !== u) return;
				samples = [{ t: performance.now(), b: offset }];
				if (retrying || offset > 0) setState('uploading', offset > 0 ? 'Resumed' : 'Uploading');
				retrying = false;
			},
			onProgress: (sent, all) => {
				// (an aborted request still reports progress: ignore a stopped upload's)
				if (up !== u || retrying) return; // after a failure, the next HEAD says where we are
				const now = performance.now();
				samples.push({ t: now, b: sent });
				while (samples.length > 2 && now - samples[0].t > SPEED_WINDOW_MS) samples.shift();
				const dt = (now - samples[0].t) / 1000;
				const speed = dt > 0 ? Math.max(0, sent - samples[0].b) / dt : 0;
				const left = speed > 0 ? (all - sent) / speed : NaN;
				setBar(bar, all > 0 ? sent / all : null);
				box.dataset.sent = String(sent);
				statsEl.textContent = fmtBytes(sent) + ' of ' + fmtBytes(all) + ' · ' +
					fmtBytes(speed) + '/s' + (sent < all && Number.isFinite(left) ? ' · ' +
					fmtDuration(left) + ' left' : '');
			},
			onRetry: (ms, message) => {
				if (up !== u) return;
				retrying = true;
				setState('retrying', 'Connection lost · retrying in ' + Math.ceil(ms / 1000) + ' s');
				statsEl.textContent = message + '; the upload resumes by itself';
			},
			onDone: (id) => {
				if (up !== u) return;
				up = null;
				finish();
				const secs = (performance.now() - t0) / 1000;
				setState('done', 'Uploaded');
				setBar(bar, 1, 'done');
				statsEl.textContent = fmtBytes(total) + ' in ' + fmtDuration(secs) +
					' · ' + fmtBytes(secs > 0 ? total / secs : 0) + '/s average';
				api.job(id).then(onDone, () => onDone({ id }));
				renderPending();
			},
			onAuthLost: () => {
				if (up !== u) return;
				retrying = true; // the HEAD after the login says where the server is
				setState('paused', 'Paused · log in to continue');
				statsEl.textContent = 'The session ended; the upload continues after you log in again';
			},
			onFail: (message, gone) => {
				if (up !== u) return;
				up = null;
				finish();
				setState('error', gone ? 'Deleted' : 'Failed');
				setBar(bar, 1, 'failed');
				showError('Upload failed: ' + message);
				renderPending();
			},
		});
		up = u;
		u.start();
	}

	function finish() {
		statsEl.textContent = statsEl.textContent.replace(/ · [^·]* left$/, '');
		zone.classList.remove('busy');
		cancelBtn.hidden = true;
		input.value = '';
	}

	cancelBtn.addEventListener('click', async () => {
		const u = up;
		if (!u) return;
		if (!window.confirm('Stop uploading ' + u.name + ' and delete its import?')) return;
		up = null;
		u.stop();
		finish();
		setState('cancelled', 'Cancelled');
		setBar(bar, 1, 'cancelled');
		if (u.id !== null) {
			forgetPending(u.id);
			try {
				await deleteImport(u.id);
				onDeleted(u.id);
			} catch (e) {
				showError('Could not delete the import: ' + e.message);
			}
		}
		renderPending();
	});
	input.addEventListener('change', () => start(input.files && input.files[0]));
	window.addEventListener('online', () => {
		if (up) up.retryNow();
	});

	// ---- uploads left unfinished by an earlier visit ----
	let checked = false;
	async function renderPending() {
		if (!session.user) return; // offered only to their user, after login
		const gen = session.gen;
		let list = pendingList().filter((p) => !up || p.id !== up.id);
		if (!checked) {
			// Once per login: forget the ones the server no longer waits for.
			checked = true;
			const keep = [];
			for (const p of list) {
				if (gen !== session.gen) return;
				try {
					const j = await api.job(p.id);
					if (j.state === 'receiving') keep.push({ ...p, offset: j.upload_offset ?? j.bytes_received });
					else forgetPending(p.id);
				} catch (e) {
					if (e.status === 404) forgetPending(p.id);
					else keep.push(p); // unreachable now: keep the offer
				}
			}
			if (gen !== session.gen) return; // logged out meanwhile
			list = keep.filter((p) => !up || p.id !== up.id);
		}
		const frag = document.createDocumentFragment();
		for (const p of list) {
			const li = el('li', 'resume-item', null, { 'data-testid': 'resume-item', 'data-job-id': p.id });
			const text = el('span', 'resume-text');
			text.append(el('strong', null, p.name));
			text.append(el('span', null, ' · ' + (Number.isFinite(p.offset) ? fmtBytes(p.offset) + ' of ' : '') +
				fmtBytes(p.size) + ' sent'));
			const again = el('button', 'btn btn-small', 'Resume…', { type: 'button',
				'data-testid': 'resume-pick', title: 'Choose ' + p.name + ' again to continue' });
			again.addEventListener('click', () => {
				wanted = p;
				input.click();
			});
			const drop = el('button', 'btn btn-small', 'Discard', { type: 'button',
				'data-testid': 'resume-discard' });
			drop.addEventListener('click', async () => {
				if (!window.confirm('Discard the unfinished upload of ' + p.name + ' (import #' + p.id +
					')?')) return;
				forgetPending(p.id);
				try {
					await deleteImport(p.id);
					onDeleted(p.id);
				} catch (e) {
					showError('Could not delete the import: ' + e.message);
				}
				renderPending();
			});
			const actions = el('span', 'resume-actions');
			actions.append(again, drop);
			li.append(text, actions);
			frag.append(li);
		}
		resumeList.replaceChildren(frag);
		resumeBox.hidden = list.length === 0;
	}

	// Drag and drop onto the zone; a file dropped elsewhere must not navigate away from the page.
	let depth = 0;
	zone.addEventListener('dragenter', (e) => {
		e.preventDefault();
		depth++;
		zone.classList.add('dragover');
	});
	zone.addEventListener('dragleave', () => {
		depth = Math.max(0, depth - 1);
		if (depth === 0) zone.classList.remove('dragover');
	});
	zone.addEventListener('dragover', (e) => {
		e.preventDefault();
		if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
	});
	zone.addEventListener('drop', (e) => {
		e.preventDefault();
		depth = 0;
		zone.classList.remove('dragover');
		const files = e.dataTransfer && e.dataTransfer.files;
		if (!files || files.length === 0) return;
		start(files[0]);
		if (files.length > 1) showError('One file at a time: importing ' + files[0].name + ' only.');
	});
	for (const type of ['dragover', 'drop']) {
		window.addEventListener(type, (e) => {
			if (!zone.contains(e.target)) e.preventDefault();
		});
	}

	// Stop the running upload without forgetting it (it is offered again to its user).
	function suspend() {
		const u = up;
		if (!u) return;
		up = null;
		u.stop();
		finish();
		box.hidden = true;
		setState('idle', '');
	}

	return {
		// Logged in (again) as user: a paused upload of the same user continues, anyone else's
		// stops (still remembered); the unfinished uploads of this user are offered.
		resume(user) {
			if (up && up.user !== user.id) suspend();
			else if (up && up.paused) up.resumeAuth();
			checked = false;
			renderPending();
		},
		// Logged out: stop sending (the upload stays resumable) and offer nothing.
		suspend() {
			suspend();
			showError('');
			wanted = null;
			resumeList.replaceChildren();
			resumeBox.hidden = true;
		},
		// The import was deleted (from the job view): stop uploading to it.
		forget(id) {
			forgetPending(id);
			if (up && up.id === id) {
				const u = up;
				up = null;
				u.stop();
				finish();
				setState('cancelled', 'Cancelled');
				setBar(bar, 1, 'cancelled');
			}
			renderPending();
		},
		uploadingId: () => (up ? up.id : null),
	};
}
