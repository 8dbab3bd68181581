// api.js - fetch wrappers for the JSON API. Errors come back as ApiError carrying the server's
// {"error", "detail"} message so views can show it as is.

export class ApiError extends Error {
	constructor(message, status, detail) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.detail = detail ?? null;
	}
}

// Turn a failed response's body into a readable message ("404: no such import").
export function errorFromBody(status, text) {
	let msg = '';
	let detail = null;
	try {
		const j = JSON.parse(text);
		if (j && typeof j.error === 'string') {
			msg = j.error;
			detail = j.detail ?? null;
		}
	} catch {
		/* not JSON: fall through */
	}
	if (!msg) msg = status ? 'HTTP ' + status : 'network error';
	if (detail !== null && typeof detail !== 'object') msg += ' (' + detail + ')';
	return new ApiError(msg, status, detail);
}

export async function getJSON(path, signal) {
	let res;
	try {
		res = await fetch(path, { headers: { Accept: 'application/json' }, signal });
	} catch (e) {
		if (e.name === 'AbortError') throw e;
		throw new ApiError('cannot reach the server', 0, null);
	}
	const text = await res.text();
	if (!res.ok) throw errorFromBody(res.status, text);
	try {
		return JSON.parse(text);
	} catch {
		throw new ApiError('the server sent invalid JSON', res.status, null);
	}
}

function qs(params) {
	const u = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) {
		if (v !== undefined && v !== null) u.set(k, String(v));
	}
	const s = u.toString();
	return s ? '?' + s : '';
}

// POST a JSON body (or none); resolves the parsed answer, throws ApiError otherwise.
export async function postJSON(path, body) {
	let res;
	const opts = { method: 'POST', headers: { Accept: 'application/json' } };
	if (body !== undefined && body !== null) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	try {
		res = await fetch(path, opts);
	} catch {
		throw new ApiError('cannot reach the server', 0, null);
	}
	const text = await res.text();
	if (!res.ok) throw errorFromBody(res.status, text);
	try {
		return JSON.parse(text);
	} catch {
		return null;
	}
}

export const api = {
	jobs: (signal) => getJSON('/api/imports', signal),
	job: (id, signal) => getJSON('/api/imports/' + encodeURIComponent(id), signal),
	properties: (id, limit, after, signal) =>
		getJSON('/api/imports/' + encodeURIComponent(id) + '/properties' + qs({ limit, after }), signal),
	errors: (id, limit, after, signal) =>
		getJSON('/api/imports/' + encodeURIComponent(id) + '/errors' + qs({ limit, after }), signal),
	property: (id, signal) => getJSON('/api/properties/' + encodeURIComponent(id), signal),
	// mapping: {header: field | null} overriding the automatic one, or null for none
	reprocess: (id, mapping) => postJSON('/api/imports/' + encodeURIComponent(id) + '/reprocess',
		mapping && Object.keys(mapping).length ? { mapping } : null),
};
