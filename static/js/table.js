// table.js - the records of one import in a virtually scrolled table. The body is a spacer sized
// to the known row count (rows_inserted, growing while the import runs); only the rows in view
// plus a small overscan exist in the DOM, absolutely placed at index * ROW_H. Rows come from
// keyset pages (GET /api/imports/ID/properties?limit&after) fetched on demand: a page's "next"
// cursor is remembered as an anchor at the index where it continues, so a later scroll resumes
// from the nearest anchor below the missing rows. Rows far from the view are evicted.

import { api } from './api.js';
import { el, fmtInt } from './format.js';
import { formatter } from './fields.js';

export const ROW_H = 32; // must match --row-h in app.css
const OVERSCAN = 8; // rows above and below the view kept in the DOM
const READ_AHEAD = 100; // rows below the view fetched before they are needed
const PAGE = 200; // normal page size
const PAGE_MAX = 1000; // server maximum, used to walk quickly to a far scroll position
const CACHE_MAX = 8000; // rows kept in memory before eviction
const MAX_BODY_PX = 8000000; // past this the spacer is scaled (browsers cap element heights)
const RETRY_MS = 2000;

// The row number, then every field the field table gives a width (GET /api/fields, fields.js).
function tableColumns(fields) {
	return [
		{ key: 'row', label: '#', w: 72, cls: 'num muted', fmt: fmtInt },
		...fields.filter((f) => f.width > 0).map((f) => ({
			key: f.name, label: f.brief, w: f.width, cls: f.kind === 'number' ? 'num' : '', fmt: formatter(f),
		})),
	];
}

export class VirtualTable {
	// fields: the field table (fields.js).
	constructor(root, statusEl, onOpen, fields) {
		this.root = root;
		this.columns = tableColumns(fields);
		this.head = root.querySelector('.vt-head');
		this.body = root.querySelector('.vt-body');
		this.statusEl = statusEl;
		this.onOpen = onOpen;
		this.empty = el('div', 'vt-empty', '');
		root.append(this.empty);
		root.style.setProperty('--vt-cols', this.columns.map((c) => c.w + 'px').join(' '));
		this.buildHead();
		this.jobId = null;
		this.reset();
		this.frame = 0;
		this.retryTimer = 0;

		root.addEventListener('scroll', () => this.schedule(), { passive: true });
		new ResizeObserver(() => this.schedule()).observe(root);
		this.body.addEventListener('click', (e) => {
			const r = e.target.closest('.vt-row[data-id]');
			if (r) this.open(r);
		});
		this.body.addEventListener('keydown', (e) => {
			const r = e.target.closest('.vt-row[data-id]');
			if (!r) return;
			if (e.key === 'Enter' || e.key === ' ') {
				e.preventDefault();
				this.open(r);
			} else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
				e.preventDefault();
				this.focusIndex(Number(r.dataset.index) + (e.key === 'ArrowDown' ? 1 : -1));
			}
		});
	}

	buildHead() {
		const row = el('div', 'vt-row vt-header', null, { role: 'row', 'aria-rowindex': 1 });
		for (const c of this.columns) {
			row.append(el('div', 'vt-cell' + (c.cls ? ' ' + c.cls : ''), c.label,
				{ role: 'columnheader' }));
		}
		this.head.append(row);
	}

	reset() {
		if (this.inflight) this.inflight.abort();
		this.inflight = null;
		this.gen = (this.gen || 0) + 1;
		this.total = 0;
		this.running = false;
		this.rows = new Map(); // index -> item
		this.anchors = new Map([[0, null]]); // index -> cursor that continues there
		this.exhausted = null; // {at, total}: next was null at index `at` when total was `total`
		this.failedAt = 0;
		this.error = '';
		this.selectedId = null;
		for (const r of this.body.querySelectorAll('.vt-row')) r.remove();
		this.rendered = new Map(); // index -> {el, loaded}
	}

	// Show another job (or the same one after a reconnect: keeps what is loaded).
	setJob(id, total, running) {
		if (id !== this.jobId) {
			this.reset();
			this.jobId = id;
			this.root.scrollTop = 0;
		}
		this.setTotal(total, running);
	}

	// Show nothing and keep nothing (logged out).
	clear() {
		this.reset();
		this.jobId = null;
		this.root.scrollTop = 0;
		this.schedule();
	}

	// The same job's rows were replaced (a reprocess ended): load them again from the top.
	reload() {
		const id = this.jobId;
		this.reset();
		this.jobId = id;
		this.root.scrollTop = 0;
		this.schedule();
	}

	// Counters never go backwards, and a page can show rows before their progress frame.
	setTotal(total, running) {
		total = Number.isFinite(total) && total > 0 ? total : 0;
		this.running = running;
		if (total > this.total) this.total = total;
		this.schedule();
	}

	schedule() {
		if (this.frame) return;
		this.frame = requestAnimationFrame(() => {
			this.frame = 0;
			this.render();
		});
	}

	geometry() {
		const total = this.total;
		const contentH = total * ROW_H;
		const bodyH = Math.min(contentH, MAX_BODY_PX);
		const viewH = Math.max(ROW_H, this.root.clientHeight - this.head.offsetHeight);
		const st = this.root.scrollTop;
		const scaled = contentH > MAX_BODY_PX;
		let topF = st / ROW_H;
		if (scaled) {
			const maxScroll = Math.max(1, bodyH - viewH);
			topF = Math.min(1, st / maxScroll) * Math.max(0, total - viewH / ROW_H);
		}
		const first = Math.max(0, Math.floor(topF) - OVERSCAN);
		const last = Math.min(total, Math.ceil(topF + viewH / ROW_H) + OVERSCAN);
		const y = scaled ? (i) => st + (i - topF) * ROW_H : (i) => i * ROW_H;
		return { total, bodyH, first, last, y, topF, viewH };
	}

	render() {
		const g = this.geometry();
		this.body.style.height = g.bodyH + 'px';
		this.root.setAttribute('aria-rowcount', String(g.total + 1));

		for (const [i, r] of this.rendered) {
			if (i < g.first || i >= g.last) {
				r.el.remove();
				this.rendered.delete(i);
			}
		}
		const frag = document.createDocumentFragment();
		for (let i = g.first; i < g.last; i++) {
			const item = this.rows.get(i);
			let r = this.rendered.get(i);
			if (r && r.loaded !== !!item) {
				r.el.remove();
				r = null;
			}
			if (!r) {
				r = { el: this.makeRow(i, item), loaded: !!item };
				this.rendered.set(i, r);
				frag.append(r.el);
			}
			r.el.style.transform = 'translateY(' + g.y(i) + 'px)';
		}
		this.body.append(frag);

		if (g.total === 0) {
			this.empty.hidden = false;
			this.empty.textContent = this.running ? 'Waiting for the first rows…' : 'No rows stored.';
		} else {
			this.empty.hidden = true;
		}
		this.updateStatus(g);
		this.ensureLoaded(g.first, Math.min(g.total, g.last + READ_AHEAD));
	}

	makeRow(i, item) {
		const r = el('div', 'vt-row', null, { role: 'row', 'aria-rowindex': i + 2 });
		r.dataset.index = String(i);
		if (!item) {
			r.classList.add('loading');
			r.setAttribute('aria-busy', 'true');
			for (let c = 0; c < this.columns.length; c++) r.append(el('div', 'vt-cell', null, { role: 'cell' }));
			return r;
		}
		r.dataset.testid = 'property-row';
		r.dataset.row = String(item.row);
		r.dataset.id = String(item.id);
		r.tabIndex = 0;
		if (item.id === this.selectedId) r.classList.add('selected');
		for (const c of this.columns) {
			const v = item[c.key];
			const cell = el('div', 'vt-cell' + (c.cls ? ' ' + c.cls : ''), null, { role: 'cell' });
			if (v === null || v === undefined || v === '') {
				cell.textContent = '—';
				cell.classList.add('null');
			} else {
				cell.textContent = c.fmt ? c.fmt(v) : String(v);
				if (!c.cls) cell.title = String(v);
			}
			r.append(cell);
		}
		return r;
	}

	updateStatus(g) {
		let s;
		if (this.error) s = 'Could not load rows: ' + this.error + ' (retrying)';
		else if (g.total === 0) s = '';
		else {
			const top = Math.min(g.total, Math.floor(g.topF) + 1);
			const bottom = Math.min(g.total, Math.round(g.topF + g.viewH / ROW_H));
			s = 'Rows ' + fmtInt(top) + '–' + fmtInt(Math.max(top, bottom)) + ' of ' + fmtInt(g.total) +
				(this.running ? ' so far' : '') + (this.inflight ? ' · loading…' : '');
		}
		if (this.statusEl.textContent !== s) this.statusEl.textContent = s;
	}

	ensureLoaded(first, last) {
		if (this.inflight || this.jobId === null) return;
		let missing = -1;
		for (let i = first; i < last; i++) {
			if (!this.rows.has(i)) {
				missing = i;
				break;
			}
		}
		if (missing < 0) return;
		if (this.exhausted && missing >= this.exhausted.at && this.total <= this.exhausted.total) {
			return; // the server had nothing more; wait for progress to report new rows
		}
		const since = performance.now() - this.failedAt;
		if (this.failedAt && since < RETRY_MS) {
			clearTimeout(this.retryTimer);
			this.retryTimer = setTimeout(() => this.schedule(), RETRY_MS - since);
			return;
		}
		let start = 0;
		for (const k of this.anchors.keys()) {
			if (k <= missing && k > start) start = k;
		}
		const limit = Math.max(PAGE, Math.min(PAGE_MAX, last - start));
		this.fetchPage(start, limit);
	}

	async fetchPage(start, limit) {
		const gen = this.gen;
		const ctl = new AbortController();
		this.inflight = ctl;
		const cursor = this.anchors.get(start);
		try {
			const page = await api.properties(this.jobId, limit, cursor, ctl.signal);
			if (gen !== this.gen) return;
			const items = Array.isArray(page.items) ? page.items : [];
			for (let j = 0; j < items.length; j++) this.rows.set(start + j, items[j]);
			const end = start + items.length;
			if (page.next !== null && page.next !== undefined && items.length > 0) {
				this.anchors.set(end, page.next);
				if (this.exhausted && this.exhausted.at <= end) this.exhausted = null;
			} else {
				this.exhausted = { at: end, total: this.total };
			}
			if (end > this.total) this.total = end; // rows can be visible before their frame
			this.error = '';
			this.failedAt = 0;
			this.evict();
		} catch (e) {
			if (e.name === 'AbortError' || gen !== this.gen) return;
			this.error = e.message;
			this.failedAt = performance.now();
		} finally {
			if (this.inflight === ctl) this.inflight = null;
		}
		if (gen === this.gen) this.schedule();
	}

	// Keep memory bounded on huge imports: drop the rows farthest from the view.
	evict() {
		if (this.rows.size <= CACHE_MAX) return;
		const g = this.geometry();
		const mid = (g.first + g.last) / 2;
		const keys = [...this.rows.keys()].sort((a, b) => Math.abs(b - mid) - Math.abs(a - mid));
		const drop = this.rows.size - Math.floor(CACHE_MAX * 0.75);
		for (let k = 0; k < drop; k++) this.rows.delete(keys[k]);
	}

	open(rowEl) {
		const id = Number(rowEl.dataset.id);
		this.selectedId = id;
		for (const r of this.body.querySelectorAll('.vt-row.selected')) r.classList.remove('selected');
		rowEl.classList.add('selected');
		this.onOpen(id, rowEl);
	}

	focusIndex(i) {
		if (i < 0 || i >= this.total) return;
		const g = this.geometry();
		const y = i * ROW_H;
		if (g.bodyH === this.total * ROW_H) {
			if (y < this.root.scrollTop) this.root.scrollTop = y;
			else if (y + ROW_H > this.root.scrollTop + g.viewH) this.root.scrollTop = y + ROW_H - g.viewH;
		}
		this.render();
		const r = this.rendered.get(i);
		if (r) r.el.focus({ preventScroll: true });
	}

	clearSelection() {
		this.selectedId = null;
		for (const r of this.body.querySelectorAll('.vt-row.selected')) r.classList.remove('selected');
	}
}
