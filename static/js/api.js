// api.js - fetch wrappers for the JSON API, and the session they run in. Errors come back as
// ApiError carrying the server's {"error", "detail"} message so views can show it as is.
//
// The session cookie (HttpOnly) goes with every same-origin request by itself; what the page
// keeps is the session's CSRF token, only in memory, sent as X-CSRF-Token with every
// state-changing request. A 401 from any API route means the session is gone (expired, logged
// out elsewhere, user disabled): the handler set with onSessionLost takes the page back to the
// login form. gen tells a late 401 of an older session from one of the current session.

export const session = {
	user: null, // {id, name, admin, has_password} while logged in
	csrf: '', // the session's CSRF token
	gen: 0, // bumped at every login and logout
};
let lostHandler = null;

export function setSession(s) {
	session.gen++;
	session.user = s && s.user ? s.user : null;
	session.csrf = s && typeof s.csrf === 'string' ? s.csrf : '';
}

export function onSessionLost(fn) {
	lostHandler = fn;
}

// A request sent under session generation gen was answered 401.
export function sessionLost(gen) {
	if (gen === session.gen && session.user && lostHandler) lostHandler();
}

// headers plus X-CSRF-Token (for POST, PATCH, DELETE).
export function withCsrf(headers = {}) {
	if (session.csrf) headers['X-CSRF-Token'] = session.csrf;
	return headers;
}

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
	const gen = session.gen;
	try {
		res = await fetch(path, { headers: { Accept: 'application/json' }, signal });
	} catch (e) {
		if (e.name === 'AbortError') throw e;
		throw new ApiError('cannot reach the server', 0, null);
	}
	const text = await res.text();
	if (res.status === 401) sessionLost(gen);
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
	const gen = session.gen;
	const opts = { method: 'POST', headers: withCsrf({ Accept: 'application/json' }) };
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
	if (res.status === 401) sessionLost(gen);
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

// ---- the session routes (a 401 here is an answer, not a lost session) ----

// One exchange with /api/session or /api/account/*: resolves {status, json, retryAfter}; a
// network failure resolves status 0.
async function accountRequest(method, path, body) {
	const headers = { Accept: 'application/json' };
	if (method !== 'GET') withCsrf(headers);
	const opts = { method, headers, credentials: 'same-origin', cache: 'no-store' };
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch {
		return { status: 0, json: null, retryAfter: null, error: 'cannot reach the server' };
	}
	const text = await res.text();
	let json = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch {
		/* not JSON */
	}
	const ra = Number(res.headers.get('Retry-After'));
	return {
		status: res.status,
		json,
		retryAfter: Number.isFinite(ra) && ra >= 0 ? Math.ceil(ra) : null,
		error: json && typeof json.error === 'string' ? json.error : 'HTTP ' + res.status,
	};
}

export const account = {
	// 200 {user, csrf, expires_at} or 401
	current: () => accountRequest('GET', '/api/session'),
	// {name, password} or {link}
	login: (body) => accountRequest('POST', '/api/session', body),
	logout: () => accountRequest('DELETE', '/api/session'),
	// {new} (and {current} when the user has a password already): 204
	setPassword: (body) => accountRequest('POST', '/api/account/password', body),
};
