// detail.js - the side panel for one record: GET /api/properties/ID, its stored (canonical)
// fields (the field table's, in its order and with its labels) and its original row exactly as
// the file had it.

import { api } from './api.js';
import { el, fmtInt } from './format.js';
import { formatter } from './fields.js';

export class DetailPanel {
	// fields: the field table (fields.js), every one shown in its order.
	constructor(panel, fields) {
		this.panel = panel;
		this.shown = fields.map((f) => [f.name, f.label, formatter(f)]);
		this.title = panel.querySelector('#detail-title');
		this.sub = panel.querySelector('#detail-sub');
		this.fields = panel.querySelector('#detail-fields');
		this.raw = panel.querySelector('[data-testid="raw-data"] tbody');
		this.error = panel.querySelector('#detail-error');
		this.closeBtn = panel.querySelector('#detail-close');
		this.ctl = null;
		this.returnFocus = null;
		this.onClose = null;
		this.closeBtn.addEventListener('click', () => this.close());
		document.addEventListener('keydown', (e) => {
			if (e.key === 'Escape' && !this.panel.hidden) this.close();
		});
	}

	async open(id, fromEl) {
		if (this.ctl) this.ctl.abort();
		const ctl = new AbortController();
		this.ctl = ctl;
		this.returnFocus = fromEl || null;
		this.panel.hidden = false;
		this.panel.dataset.state = 'loading';
		this.panel.dataset.propertyId = String(id);
		this.title.textContent = 'Record';
		this.sub.textContent = 'Loading…';
		this.error.hidden = true;
		this.fields.replaceChildren();
		this.raw.replaceChildren();
		try {
			const p = await api.property(id, ctl.signal);
			if (this.ctl !== ctl) return;
			this.render(p);
			this.panel.dataset.state = 'ready';
		} catch (e) {
			if (e.name === 'AbortError' || this.ctl !== ctl) return;
			this.panel.dataset.state = 'error';
			this.sub.textContent = '';
			this.error.textContent = 'Could not load record ' + id + ': ' + e.message;
			this.error.hidden = false;
		}
		this.closeBtn.focus({ preventScroll: true });
	}

	render(p) {
		this.title.textContent = p.address || p.source_id || 'Record ' + p.id;
		const sub = ['Row ' + fmtInt(p.row)];
		if (Number.isFinite(p.line)) sub.push('line ' + fmtInt(p.line));
		if (p.job_id !== undefined) sub.push('import #' + p.job_id);
		sub.push('record id ' + p.id);
		this.sub.textContent = sub.join(' · ');

		const frag = document.createDocumentFragment();
		for (const [key, label, fmt] of this.shown) {
			const v = p[key];
			frag.append(el('dt', null, label));
			const dd = el('dd');
			if (v === null || v === undefined || v === '') {
				dd.textContent = '—';
				dd.className = 'null';
			} else {
				dd.textContent = fmt ? fmt(v) : String(v);
			}
			frag.append(dd);
		}
		this.fields.replaceChildren(frag);

		const rows = document.createDocumentFragment();
		const raw = p.raw && typeof p.raw === 'object' ? p.raw : {};
		const keys = Object.keys(raw);
		for (const k of keys) {
			const tr = el('tr');
			tr.dataset.header = k;
			tr.append(el('td', null, k));
			const v = raw[k];
			tr.append(el('td', null, v === null || v === undefined ? '' : String(v)));
			rows.append(tr);
		}
		if (keys.length === 0) {
			const tr = el('tr');
			tr.append(el('td', 'empty-row', 'The original row is not available.', { colspan: 2 }));
			rows.append(tr);
		}
		this.raw.replaceChildren(rows);
	}

	close() {
		if (this.ctl) this.ctl.abort();
		this.ctl = null;
		this.panel.hidden = true;
		this.panel.dataset.state = 'closed';
		if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus({ preventScroll: true });
		this.returnFocus = null;
		if (this.onClose) this.onClose();
	}
}
