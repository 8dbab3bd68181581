// mapping.js - the column mapping of a job: each header of the file, the canonical field it was
// matched to, how (exact / synonym / fuzzy / none) and with what confidence. Fuzzy ones stand out.

import { el } from './format.js';

const ORDER_NAME = { mdy: 'month-first dates', dmy: 'day-first dates', ymd: 'year-first dates' };

export function renderMapping(table, columns) {
	const tbody = table.tBodies[0];
	const frag = document.createDocumentFragment();
	const cols = Array.isArray(columns) ? columns : [];
	for (const c of cols) {
		const match = c.match || (c.field ? 'exact' : 'none');
		const tr = el('tr', match === 'fuzzy' ? 'fuzzy' : (c.field ? '' : 'unmapped'));
		tr.dataset.match = match;
		tr.append(el('td', 'num', String((c.index ?? 0) + 1)));
		tr.append(el('td', null, c.header === '' ? '(empty)' : c.header));
		const f = el('td');
		if (c.field) {
			f.append(el('code', null, c.field));
			if (c.date_order) f.append(document.createTextNode(' · ' + (ORDER_NAME[c.date_order] ||
				c.date_order)));
		} else {
			f.textContent = 'not mapped (kept in the original row)';
		}
		tr.append(f);
		const m = el('td');
		m.append(el('span', 'pill ' + match, match));
		tr.append(m);
		const conf = Number.isFinite(c.confidence) ? c.confidence : 0;
		const ct = el('td');
		if (c.field) {
			const wrap = el('span', 'conf' + (conf < 0.9 ? ' conf-low' : ''));
			const bar = el('span', 'bar', null, { role: 'img', 'aria-label': Math.round(conf * 100) +
				'% confidence' });
			const fill = el('span', 'bar-fill');
			fill.style.width = Math.round(conf * 100) + '%';
			bar.append(fill);
			wrap.append(bar, el('span', null, Math.round(conf * 100) + '%'));
			ct.append(wrap);
		} else {
			ct.textContent = '—';
		}
		tr.append(ct);
		frag.append(tr);
	}
	if (cols.length === 0) {
		const tr = el('tr');
		tr.append(el('td', 'empty-row', 'The header has not been read yet.', { colspan: 5 }));
		frag.append(tr);
	}
	tbody.replaceChildren(frag);
	return cols.filter((c) => c.field).length;
}
