// events.js - the WebSocket client for /api/events: reconnects with exponential backoff (with
// jitter), replaces the store with each (re)connect's snapshot, applies "import" frames by seq.
// It authenticates by the session cookie, so it is opened only once logged in (start) and closed
// at logout (stop).

import { api } from './api.js';
import { replaceAll, applyFrame } from './store.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const POLL_MS = 3000; // while the socket is down, the job list is polled over HTTP instead

export function createEvents(statusEl) {
	let running = false;
	let epoch = 0; // bumped by start and stop: answers of an earlier login are dropped
	let ws = null;
	let attempt = 0;
	let timer = null;
	let pollTimer = null;
	const label = statusEl.querySelector('.ws-label');

	function setStatus(state, text) {
		statusEl.dataset.state = state;
		label.textContent = text;
	}

	function url() {
		const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
		return proto + '//' + location.host + '/api/events';
	}

	// Only while disconnected; a poll answer that lands after the socket is back is dropped
	// so it cannot put older counters over the fresh snapshot.
	function poll() {
		pollTimer = null;
		if (!running) return;
		if (ws && ws.readyState === WebSocket.OPEN) return;
		const e = epoch;
		api.jobs().then((r) => {
			if (e === epoch && !(ws && ws.readyState === WebSocket.OPEN) && Array.isArray(r.items)) {
				replaceAll(r.items);
			}
		}).catch(() => { /* the status badge already says offline */ }).finally(() => {
			if (e === epoch && running && !(ws && ws.readyState === WebSocket.OPEN) && pollTimer === null) {
				pollTimer = setTimeout(poll, POLL_MS);
			}
		});
	}

	function schedule() {
		if (!running) return;
		if (pollTimer === null) pollTimer = setTimeout(poll, POLL_MS);
		if (timer !== null) return;
		const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
		const delay = Math.round(base / 2 + Math.random() * base / 2);
		attempt++;
		setStatus('closed', 'Offline · retrying in ' + Math.ceil(delay / 1000) + ' s');
		timer = setTimeout(() => {
			timer = null;
			connect();
		}, delay);
	}

	function connect() {
		setStatus('connecting', attempt ? 'Reconnecting…' : 'Connecting…');
		let sock;
		try {
			sock = new WebSocket(url());
		} catch {
			schedule();
			return;
		}
		ws = sock;
		// Events of a socket closed by stop() (or replaced) are not ours any more.
		const mine = () => running && ws === sock;
		sock.addEventListener('open', () => {
			if (!mine()) return;
			attempt = 0;
			clearTimeout(pollTimer);
			pollTimer = null;
			setStatus('open', 'Live');
		});
		sock.addEventListener('message', (ev) => {
			if (!mine()) return;
			let msg;
			try {
				msg = JSON.parse(ev.data);
			} catch {
				return; // not ours to act on
			}
			if (msg.type === 'snapshot') replaceAll(msg.jobs);
			else if (msg.type === 'import') applyFrame(msg);
		});
		sock.addEventListener('close', () => {
			if (!mine()) return;
			ws = null;
			schedule();
		});
		// 'error' is always followed by 'close', which reconnects.
	}

	// Coming back online or to the tab: try at once rather than waiting out the backoff.
	function kick() {
		if (running && ws === null && timer !== null) {
			clearTimeout(timer);
			timer = null;
			attempt = 0;
			connect();
		}
	}
	window.addEventListener('online', kick);
	document.addEventListener('visibilitychange', () => {
		if (document.visibilityState === 'visible') kick();
	});

	return {
		start() {
			if (running) return;
			running = true;
			epoch++;
			attempt = 0;
			statusEl.hidden = false;
			connect();
		},
		stop() {
			running = false;
			epoch++;
			clearTimeout(timer);
			clearTimeout(pollTimer);
			timer = null;
			pollTimer = null;
			const sock = ws;
			ws = null;
			if (sock) sock.close(1000, 'logged out');
			statusEl.hidden = true;
			setStatus('closed', 'Offline');
		},
	};
}
