// jobs.js - the list of imports (one button per job, kept by id so updates do not rebuild it)
// and the selected job's summary: state, progress bar, counters, rate and time left.

import { el, fmtBytes, fmtDuration, fmtInt, fmtNum, fmtTime, setBar, TERMINAL } from './format.js';

const STATE_LABEL = {
	receiving: 'Receiving',
	processing: 'Processing',
	done: 'Done',
	failed: 'Failed',
	interrupted: 'Interrupted',
	cancelled: 'Cancelled',
};
const DELIM_NAME = { ',': 'comma', ';': 'semicolon', '\t': 'tab', '|': 'pipe' };

// Fraction done for a bar, or null when it cannot be known (chunked upload of unknown size).
export function jobFraction(j) {
	if (j.state === 'done') return 1;
	const stored = (j.rows_inserted ?? 0) + (j.rows_rejected ?? 0);
	if (j.state === 'processing' && j.rows_parsed > 0) return Math.min(1, stored / j.rows_parsed);
	if (j.bytes_total > 0) return Math.min(1, (j.bytes_received ?? 0) / j.bytes_total);
	if (TERMINAL.has(j.state)) return 1;
	return null;
}

function jobSub(j) {
	const parts = [fmtInt(j.rows_inserted ?? 0) + ' rows'];
	if (j.rows_rejected) parts.push(fmtInt(j.rows_rejected) + ' rejected');
	if (j.state === 'receiving') {
		parts.push(fmtBytes(j.bytes_received ?? 0) +
			(j.bytes_total ? ' / ' + fmtBytes(j.bytes_total) : ''));
	} else {
		parts.push(fmtBytes(j.bytes_total ?? j.bytes_received ?? 0));
	}
	return parts.join(' · ');
}

export class JobList {
	constructor(listEl, emptyEl, countEl, onSelect) {
		this.listEl = listEl;
		this.emptyEl = emptyEl;
		this.countEl = countEl;
		this.items = new Map(); // id -> {li, btn, name, badge, bar, sub}
		this.selectedId = null;
		listEl.addEventListener('click', (e) => {
			const btn = e.target.closest('[data-testid="job-item"]');
			if (btn) onSelect(Number(btn.dataset.jobId));
		});
		listEl.addEventListener('keydown', (e) => {
			if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
			const btns = [...listEl.querySelectorAll('[data-testid="job-item"]')];
			const i = btns.indexOf(document.activeElement);
			if (i < 0) return;
			e.preventDefault();
			const next = btns[e.key === 'ArrowDown' ? Math.min(btns.length - 1, i + 1) : Math.max(0, i - 1)];
			next.focus();
		});
	}

	render(jobs) {
		const seen = new Set();
		let prev = null;
		for (const j of jobs) {
			seen.add(j.id);
			let it = this.items.get(j.id);
			if (!it) {
				it = this.create(j);
				this.items.set(j.id, it);
			}
			// Keep the DOM order newest first without re-inserting unchanged nodes.
			const want = prev ? prev.nextSibling : this.listEl.firstChild;
			if (want !== it.li) this.listEl.insertBefore(it.li, want);
			prev = it.li;
			this.update(it, j);
		}
		for (const [id, it] of this.items) {
			if (!seen.has(id)) {
				it.li.remove();
				this.items.delete(id);
			}
		}
		this.emptyEl.hidden = jobs.length > 0;
		this.countEl.textContent = jobs.length ? String(jobs.length) : '';
	}

	updateOne(j) {
		const it = this.items.get(j.id);
		if (it) this.update(it, j);
	}

	create(j) {
		const li = el('li');
		const btn = el('button', 'job-item', null, { type: 'button', 'data-testid': 'job-item',
			'data-job-id': j.id });
		const name = el('span', 'job-name');
		const badge = el('span', 'badge');
		const bar = el('div', 'bar', null, { role: 'progressbar', 'aria-valuemin': 0,
			'aria-valuemax': 100 });
		bar.append(el('div', 'bar-fill'));
		const sub = el('span', 'job-sub');
		btn.append(name, badge, bar, sub);
		li.append(btn);
		return { li, btn, name, badge, bar, sub };
	}

	update(it, j) {
		it.btn.dataset.state = j.state;
		it.btn.setAttribute('aria-current', j.id === this.selectedId ? 'true' : 'false');
		it.name.textContent = j.name || 'import #' + j.id;
		it.name.title = j.name || '';
		it.badge.textContent = STATE_LABEL[j.state] || j.state;
		it.badge.dataset.state = j.state;
		it.bar.setAttribute('aria-label', 'Progress of ' + (j.name || 'import #' + j.id));
		setBar(it.bar, jobFraction(j), j.state);
		it.sub.textContent = jobSub(j);
	}

	setSelected(id) {
		this.selectedId = id;
		for (const [jid, it] of this.items) it.btn.setAttribute('aria-current', jid === id ? 'true' : 'false');
	}
}

// The selected job's header, bar and counters.
export class JobSummary {
	constructor(root) {
		const q = (id) => root.querySelector('#' + id);
		this.title = q('job-title');
		this.meta = q('job-meta');
		this.badge = q('job-state');
		this.bar = q('job-bar');
		this.caption = q('job-caption');
		this.error = q('job-error');
		this.parsed = q('rows-parsed');
		this.inserted = q('rows-inserted');
		this.rejected = q('rows-rejected');
		this.warned = q('rows-warned');
		this.rate = q('rows-rate');
		this.eta = q('rows-eta');
	}

	render(j) {
		this.title.textContent = j.name || 'import #' + j.id;
		this.title.title = j.name || '';
		const meta = ['Import #' + j.id];
		if (j.created_at) meta.push('started ' + fmtTime(j.created_at));
		if (j.encoding) meta.push(j.encoding.toUpperCase());
		if (j.delimiter) meta.push((DELIM_NAME[j.delimiter] || JSON.stringify(j.delimiter)) + '-delimited');
		if (Number.isFinite(j.raw_ratio) && j.raw_ratio > 0) {
			meta.push('original rows compressed ' + fmtNum(j.raw_ratio) + '×');
		}
		this.meta.textContent = meta.join(' · ');
		this.badge.textContent = STATE_LABEL[j.state] || j.state;
		this.badge.dataset.state = j.state;
		setBar(this.bar, jobFraction(j), j.state);

		setCount(this.parsed, j.rows_parsed);
		setCount(this.inserted, j.rows_inserted);
		setCount(this.rejected, j.rows_rejected);
		setCount(this.warned, j.rows_warned);
		const running = !TERMINAL.has(j.state);
		const secs = elapsed(j);
		if (running) {
			this.rate.textContent = Number.isFinite(j.rows_per_sec) ? fmtInt(j.rows_per_sec) : '–';
			this.rate.title = 'current rate (smoothed)';
		} else {
			this.rate.textContent = secs > 0 ? fmtInt((j.rows_parsed ?? 0) / secs) : '–';
			this.rate.title = 'average over the whole import';
		}
		this.eta.textContent = running && Number.isFinite(j.eta_seconds) ?
			fmtDuration(j.eta_seconds) : (j.state === 'done' ? 'Finished' : '–');
		this.caption.textContent = caption(j);
		this.error.textContent = j.error ? 'Import ' + j.state + ': ' + j.error : '';
		this.error.hidden = !j.error;
	}
}

// Seconds from creation to the end, or NaN while running / when unknown.
function elapsed(j) {
	if (!j.finished_at || !j.created_at) return NaN;
	return (Date.parse(j.finished_at) - Date.parse(j.created_at)) / 1000;
}

function setCount(dd, n) {
	const v = Number.isFinite(n) ? n : 0;
	dd.textContent = fmtInt(v);
	dd.dataset.value = String(v);
}

function caption(j) {
	const bytes = fmtBytes(j.bytes_received ?? 0) + (j.bytes_total ? ' of ' + fmtBytes(j.bytes_total) : '');
	switch (j.state) {
	case 'receiving':
		return 'Receiving the file: ' + bytes + ' received, rows are stored as they arrive';
	case 'processing':
		return 'File received (' + bytes + '); storing the last rows';
	case 'done': {
		const secs = elapsed(j);
		return 'Finished' + (Number.isFinite(secs) ? ' in ' + fmtDuration(secs) : '') + ': ' +
			fmtInt(j.rows_inserted ?? 0) + ' rows stored from ' + fmtBytes(j.bytes_received ?? 0) +
			(j.rows_rejected ? ', ' + fmtInt(j.rows_rejected) + ' rejected' : '');
	}
	default:
		return 'Stopped (' + j.state + ') after ' + bytes;
	}
}
