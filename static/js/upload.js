// upload.js - choose or drop a file and stream it as the raw body of POST /api/imports?name=...
// XMLHttpRequest (not fetch) because only its upload.onprogress reports bytes sent.

import { errorFromBody } from './api.js';
import { el, fmtBytes, fmtDuration, setBar } from './format.js';

const SPEED_WINDOW_MS = 2000;

export function initUpload({ input, zone, box, errorBox, onStart, onDone }) {
	const nameEl = box.querySelector('.upload-name');
	const stateEl = box.querySelector('.upload-state');
	const statsEl = box.querySelector('.upload-stats');
	const bar = box.querySelector('.bar');
	const cancelBtn = el('button', 'btn', 'Cancel', { type: 'button' });
	cancelBtn.classList.add('upload-cancel');
	box.append(cancelBtn);
	let xhr = null;

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
		if (xhr) {
			showError('An upload is already running: wait for it or cancel it first.');
			return;
		}
		showError('');
		const name = file.name || 'upload.csv';
		const total = file.size;
		const t0 = performance.now();
		const samples = [{ t: t0, b: 0 }];
		box.hidden = false;
		cancelBtn.hidden = false;
		nameEl.textContent = name;
		nameEl.title = name;
		setState('uploading', 'Uploading');
		setBar(bar, 0, 'running');
		statsEl.textContent = '0 B of ' + fmtBytes(total);
		zone.classList.add('busy');

		xhr = new XMLHttpRequest();
		xhr.open('POST', '/api/imports?name=' + encodeURIComponent(name));
		xhr.setRequestHeader('Content-Type', file.type || 'text/csv');
		xhr.setRequestHeader('Accept', 'application/json');
		xhr.responseType = 'text';

		xhr.upload.onprogress = (ev) => {
			const now = performance.now();
			const sent = ev.loaded;
			const all = ev.lengthComputable ? ev.total : total;
			samples.push({ t: now, b: sent });
			while (samples.length > 2 && now - samples[0].t > SPEED_WINDOW_MS) samples.shift();
			const dt = (now - samples[0].t) / 1000;
			const speed = dt > 0 ? (sent - samples[0].b) / dt : 0;
			const left = speed > 0 ? (all - sent) / speed : NaN;
			setBar(bar, all > 0 ? sent / all : null);
			statsEl.textContent = fmtBytes(sent) + ' of ' + fmtBytes(all) + ' · ' +
				fmtBytes(speed) + '/s' + (sent < all && Number.isFinite(left) ? ' · ' +
				fmtDuration(left) + ' left' : '');
		};
		xhr.upload.onload = () => {
			setBar(bar, 1);
			setState('waiting', 'Sent, waiting for the server');
		};
		xhr.onload = () => {
			const req = xhr;
			xhr = null;
			finish();
			if (req.status === 202 || req.status === 200 || req.status === 201) {
				let job = null;
				try {
					job = JSON.parse(req.responseText);
				} catch {
					/* the job still comes through the WebSocket */
				}
				const secs = (performance.now() - t0) / 1000;
				setState('done', 'Uploaded');
				setBar(bar, 1, 'done');
				statsEl.textContent = fmtBytes(total) + ' in ' + fmtDuration(secs) +
					' · ' + fmtBytes(secs > 0 ? total / secs : 0) + '/s average';
				onDone(job);
			} else {
				const err = errorFromBody(req.status, req.responseText);
				setState('error', 'Failed');
				setBar(bar, 1, 'failed');
				showError('Upload failed: ' + err.message);
			}
		};
		xhr.onerror = () => {
			xhr = null;
			finish();
			setState('error', 'Failed');
			setBar(bar, 1, 'failed');
			showError('Upload failed: the connection to the server was lost.');
		};
		xhr.onabort = () => {
			xhr = null;
			finish();
			setState('error', 'Cancelled');
			setBar(bar, 1, 'cancelled');
		};
		onStart(name);
		xhr.send(file);
	}

	function finish() {
		statsEl.textContent = statsEl.textContent.replace(/ · [^·]* left$/, '');
		zone.classList.remove('busy');
		cancelBtn.hidden = true;
		input.value = '';
	}

	cancelBtn.addEventListener('click', () => {
		if (xhr) xhr.abort();
	});
	input.addEventListener('change', () => start(input.files && input.files[0]));

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
}
