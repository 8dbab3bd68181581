// fields.js - the canonical fields, as the server's one field table gives them (GET /api/fields):
// [{name, kind: text|number|date, format, width, label, brief}]. The records table, the detail
// panel and the mapping picker are built from this list, so the page never repeats it; how a
// format is shown is the page's own (formatter below).

import { getJSON } from './api.js';
import { fmtInt, fmtMoney, fmtNum } from './format.js';

const RETRY_MS = 2000;

// The list, fetched once at start (it is open: no login needed). Retries until the server
// answers: without it no view can be built.
export async function loadFields() {
	for (;;) {
		try {
			const r = await getJSON('/api/fields');
			if (r && Array.isArray(r.items) && r.items.every((f) => f && typeof f.name === 'string')) {
				return r.items;
			}
		} catch {
			/* the server is away: try again */
		}
		await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
	}
}

// How a value of field f is shown (null: as it is).
export function formatter(f) {
	switch (f.format) {
	case 'money': return fmtMoney;
	case 'decimal': return fmtNum;
	case 'integer': return fmtInt;
	case 'year':
	case 'coordinate': return String;
	default: return null;
	}
}
