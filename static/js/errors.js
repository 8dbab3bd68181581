// errors.js - the issues of a job (rejected rows and unreadable values), keyset-paged from
// GET /api/imports/ID/errors with a "Load more" button.

import { api } from './api.js';
import { el, fmtInt } from './format.js';

const PAGE = 100;

export class ErrorsView {
	constructor(table, statusEl, moreBtn) {
		this.tbody = table.tBodies[0];
		this.statusEl = statusEl;
		this.moreBtn = moreBtn;
		this.jobId = null;
		this.loadedFor = null; // "id:issues" the list was loaded for
		this.next = null;
		this.count = 0;
		this.ctl = null;
		moreBtn.addEventListener('click', () => this.load(false));
	}

	// Called when the tab is shown or the job changes; reloads only when something is new.
	show(job) {
		const key = job.id + ':' + ((job.rows_rejected ?? 0) + (job.rows_warned ?? 0)) + ':' + job.state;
		if (this.loadedFor === key) return;
		this.jobId = job.id;
		this.loadedFor = key;
		this.load(true);
	}

	reset() {
		if (this.ctl) this.ctl.abort();
		this.ctl = null;
		this.loadedFor = null;
		this.jobId = null;
		this.tbody.replaceChildren();
		this.statusEl.textContent = '';
		this.moreBtn.hidden = true;
	}

	async load(fresh) {
		if (this.ctl) this.ctl.abort();
		const ctl = new AbortController();
		this.ctl = ctl;
		const after = fresh ? null : this.next;
		this.statusEl.textContent = 'Loading…';
		this.moreBtn.disabled = true;
		try {
			const page = await api.errors(this.jobId, PAGE, after, ctl.signal);
			if (this.ctl !== ctl) return;
			const items = Array.isArray(page.items) ? page.items : [];
			if (fresh) {
				this.tbody.replaceChildren();
				this.count = 0;
			}
			this.append(items);
			this.count += items.length;
			this.next = page.next ?? null;
			this.moreBtn.hidden = this.next === null;
			if (this.count === 0) {
				const tr = el('tr');
				tr.append(el('td', 'empty-row', 'No issues: every row was read cleanly.', { colspan: 6 }));
				this.tbody.append(tr);
			}
			this.statusEl.textContent = this.count ? 'Showing ' + fmtInt(this.count) +
				(this.next === null ? '' : ', more available') : '';
		} catch (e) {
			if (e.name === 'AbortError' || this.ctl !== ctl) return;
			this.statusEl.textContent = 'Could not load issues: ' + e.message;
			this.loadedFor = null;
		} finally {
			if (this.ctl === ctl) {
				this.ctl = null;
				this.moreBtn.disabled = false;
			}
		}
	}

	append(items) {
		const frag = document.createDocumentFragment();
		for (const it of items) {
			const tr = el('tr');
			tr.dataset.kind = it.kind;
			const kind = el('td');
			kind.append(el('span', 'pill ' + it.kind, it.kind));
			tr.append(kind);
			tr.append(el('td', 'num', fmtInt(it.row)));
			tr.append(el('td', 'num', fmtInt(it.line)));
			tr.append(el('td', null, it.column ?? '—'));
			const v = el('td');
			if (it.value !== null && it.value !== undefined) v.append(el('code', null, it.value));
			else v.textContent = '—';
			tr.append(v);
			const reason = el('td', null, it.reason ?? '');
			if (it.raw) reason.append(el('code', 'err-raw', it.raw, { title: it.raw }));
			tr.append(reason);
			frag.append(tr);
		}
		this.tbody.append(frag);
	}
}
