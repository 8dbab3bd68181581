// mapping.js - the column mapping of a job: each header of the file, the canonical field it was
// matched to, how (exact / synonym / fuzzy / override / none) and with what confidence. Fuzzy ones
// stand out. A select per column edits a mapping override for a reprocess of a finished job.

import { el } from './format.js';

const UNMAPPED = ''; // the select's value for "not mapped"

const ORDER_NAME = { mdy: 'month-first dates', dmy: 'day-first dates', ymd: 'year-first dates' };

// opts: {fields: the field table (fields.js), whose names the selects offer in its order,
// editable: the selects are enabled, draft: Map header -> field|null (the edits so far),
// onChange(header, field|null, original)}.
export function renderMapping(table, columns, opts = {}) {
	const draft = opts.draft ?? new Map();
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
		tr.append(overrideCell(c, draft, opts));
		if (draft.has(c.header)) tr.classList.add('changed');
		frag.append(tr);
	}
	if (cols.length === 0) {
		const tr = el('tr');
		tr.append(el('td', 'empty-row', 'The header has not been read yet.', { colspan: 6 }));
		frag.append(tr);
	}
	tbody.replaceChildren(frag);
	return cols.filter((c) => c.field).length;
}

function overrideCell(c, draft, opts) {
	const td = el('td');
	const sel = el('select', 'map-select', null, { 'aria-label': 'Field for ' + (c.header || 'column ' +
		((c.index ?? 0) + 1)), 'data-testid': 'mapping-select', 'data-header': c.header });
	sel.append(el('option', null, 'not mapped', { value: UNMAPPED }));
	for (const f of opts.fields ?? []) sel.append(el('option', null, f.name, { value: f.name, title: f.label }));
	const current = c.field ?? null;
	const chosen = draft.has(c.header) ? draft.get(c.header) : current;
	sel.value = chosen ?? UNMAPPED;
	sel.disabled = !opts.editable;
	sel.addEventListener('change', () => {
		const v = sel.value === UNMAPPED ? null : sel.value;
		sel.closest('tr').classList.toggle('changed', v !== current);
		if (opts.onChange) opts.onChange(c.header, v, current);
	});
	td.append(sel);
	return td;
}
