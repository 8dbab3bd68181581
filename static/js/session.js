// session.js - who is using the page. On load: a one-time login link (#login=SECRET, taken out of
// the address bar at once) or the session the cookie already holds, else the login form. Logged
// in: the user's name and "Log out" in the top bar, and for a user without a password (the first
// run's admin) a small prompt to set one. When the session ends (any 401 of the API, see
// api.js), back to the form; the page's other state (remembered uploads) is left alone.

import { account, onSessionLost, session, setSession } from './api.js';

const $ = (sel) => document.querySelector(sel);
const LINK_RE = /^#(?:[^#]*&)?login=([A-Za-z0-9_-]{1,128})(?:&|$)/;
const LATER_KEY = 'propflow.passwordLater'; // sessionStorage: id of the user who said "Not now"
const BOOT_RETRY_MS = 3000; // the server was unreachable at load: ask again
const DONE_SHOW_MS = 4000; // "Password set" stays this long

// onEnter(user): logged in (the session's csrf is in api.js); onLeave(reason): 'logout' or
// 'expired', called before the form shows.
export function initSession({ onEnter, onLeave }) {
	const boot = $('#boot');
	const view = $('#login-view');
	const app = $('#app');
	const userBox = $('#user-box');
	const userName = $('#user-name');
	const form = $('#login-form');
	const nameIn = $('#login-name');
	const pwIn = $('#login-password');
	const submit = $('#login-submit');
	const loginError = $('#login-error');
	const note = $('#login-note');
	const notices = $('#notices');
	const appError = $('#app-error');
	const prompt = $('#pw-prompt');
	const pwForm = $('#pw-form');
	const pwNew = $('#pw-new');
	const pwSave = $('#pw-save');
	const pwMsg = $('#pw-msg');
	let busy = false;
	let waitUntil = 0; // a 429: no login attempt before this time (ms)
	let waitTimer = 0;
	let doneTimer = 0;
	let expiryTimer = 0;

	function text(elm, msg) {
		elm.textContent = msg || '';
		elm.hidden = !msg;
	}

	function updateNotices() {
		notices.hidden = prompt.hidden && appError.hidden;
	}

	function showAppError(msg) {
		text(appError, msg);
		updateNotices();
	}

	// ---- the login form ----

	function showLogin(noteText) {
		boot.hidden = true;
		app.hidden = true;
		userBox.hidden = true;
		view.hidden = false;
		text(note, noteText);
		document.title = 'Log in · propflow';
		(nameIn.value ? pwIn : nameIn).focus();
	}

	function showLoginError(msg) {
		text(loginError, msg);
	}

	// 429: say how long, keep the button off until then.
	function throttled(secs) {
		clearInterval(waitTimer);
		if (!Number.isFinite(secs) || secs === null) {
			showLoginError('Too many failed logins. Try again later.');
			return;
		}
		waitUntil = Date.now() + secs * 1000;
		const tick = () => {
			const left = Math.ceil((waitUntil - Date.now()) / 1000);
			if (left <= 0) {
				clearInterval(waitTimer);
				waitUntil = 0;
				submit.disabled = busy;
				showLoginError('');
				return;
			}
			submit.disabled = true;
			showLoginError('Too many failed logins. Try again in ' + left + ' s.');
		};
		tick();
		waitTimer = setInterval(tick, 1000);
	}

	function loginFailed(r, what) {
		if (r.status === 429) throttled(r.retryAfter);
		else if (r.status === 401) showLoginError(what);
		else if (r.status === 0) showLoginError('Cannot reach the server. Check the connection and try again.');
		else showLoginError('Could not log in: ' + r.error);
	}

	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		if (busy || Date.now() < waitUntil) return;
		busy = true;
		submit.disabled = true;
		submit.textContent = 'Logging in…';
		showLoginError('');
		try {
			const r = await account.login({ name: nameIn.value.trim(), password: pwIn.value });
			if (r.status === 200 && r.json && r.json.user) {
				pwIn.value = '';
				enter(r.json);
			} else {
				loginFailed(r, 'Wrong name or password.');
				if (r.status === 401) {
					pwIn.select();
					pwIn.focus();
				}
			}
		} finally {
			busy = false;
			submit.textContent = 'Log in';
			if (Date.now() >= waitUntil) submit.disabled = false;
		}
	});

	// ---- logged in ----

	function enter(s) {
		setSession(s);
		clearInterval(waitTimer);
		waitUntil = 0;
		showLoginError('');
		text(note, '');
		boot.hidden = true;
		view.hidden = true;
		app.hidden = false;
		userName.textContent = s.user.name;
		userName.title = 'Logged in as ' + s.user.name + (s.user.admin ? ' (administrator)' : '');
		userBox.hidden = false;
		document.title = 'propflow · property imports';
		showAppError('');
		renderPrompt();
		watchExpiry(s.expires_at);
		onEnter(s.user);
	}

	// When the session's time is up, ask the server (a WebSocket alone would not tell).
	function watchExpiry(iso) {
		clearTimeout(expiryTimer);
		const at = Date.parse(iso);
		if (!Number.isFinite(at)) return;
		const gen = session.gen;
		expiryTimer = setTimeout(async () => {
			const r = await account.current();
			if (gen !== session.gen) return;
			if (r.status === 401) leave('expired');
			else if (r.status === 200 && r.json) watchExpiry(r.json.expires_at);
			else watchExpiry(new Date(Date.now() + 60000).toISOString()); // unreachable: later
		}, Math.min(0x7fffffff, Math.max(1000, at - Date.now() + 1000)));
	}

	function leave(reason) {
		const was = session.user;
		setSession(null);
		clearTimeout(doneTimer);
		clearTimeout(expiryTimer);
		prompt.hidden = true;
		showAppError('');
		onLeave(reason);
		if (was && reason === 'expired') nameIn.value = was.name;
		showLogin(reason === 'expired' ? 'Your session has ended. Log in again to continue; ' +
			'unfinished uploads continue where they stopped.' : reason === 'logout' ?
			'You have logged out.' : '');
	}

	onSessionLost(() => leave('expired'));

	$('#logout').addEventListener('click', async () => {
		const btn = $('#logout');
		btn.disabled = true;
		try {
			const r = await account.logout();
			// 401: the session was already gone, which is what was asked for.
			if (r.status === 204 || r.status === 200 || r.status === 401) leave('logout');
			else showAppError('Could not log out: ' + (r.status ? r.error : 'cannot reach the server'));
		} finally {
			btn.disabled = false;
		}
	});

	// ---- the prompt to set a password (non-blocking) ----

	function laterFor(id) {
		try {
			return sessionStorage.getItem(LATER_KEY) === String(id);
		} catch {
			return false;
		}
	}

	function renderPrompt() {
		const u = session.user;
		clearTimeout(doneTimer);
		prompt.hidden = !u || u.has_password !== false || laterFor(u.id);
		delete prompt.dataset.state;
		pwNew.value = '';
		pwNew.disabled = false;
		pwSave.disabled = false;
		$('#pw-user').value = u ? u.name : '';
		pwMsg.textContent = '';
		delete pwMsg.dataset.kind;
		updateNotices();
	}

	pwForm.addEventListener('submit', async (e) => {
		e.preventDefault();
		if (pwSave.disabled || !pwNew.value) return;
		pwSave.disabled = true;
		pwMsg.textContent = 'Saving…';
		delete pwMsg.dataset.kind;
		const gen = session.gen;
		const r = await account.setPassword({ new: pwNew.value });
		if (gen !== session.gen) return; // logged out meanwhile
		if (r.status === 204 || r.status === 200) {
			session.user.has_password = true;
			pwNew.value = '';
			pwNew.disabled = true;
			prompt.dataset.state = 'done';
			pwMsg.textContent = 'Password set. Log in with it from now on.';
			doneTimer = setTimeout(() => {
				prompt.hidden = true;
				updateNotices();
			}, DONE_SHOW_MS);
			return;
		}
		if (r.status === 401) {
			leave('expired');
			return;
		}
		pwSave.disabled = false;
		pwMsg.dataset.kind = 'error';
		pwMsg.textContent = r.status ? 'Could not set the password: ' + r.error :
			'Cannot reach the server.';
	});

	$('#pw-later').addEventListener('click', () => {
		try {
			if (session.user) sessionStorage.setItem(LATER_KEY, String(session.user.id));
		} catch {
			/* storage disabled: it asks again next time */
		}
		prompt.hidden = true;
		updateNotices();
	});

	// ---- on load (and a login link pasted into an open page: only the fragment changes) ----

	window.addEventListener('hashchange', () => {
		const m = LINK_RE.exec(location.hash);
		if (m && !busy) linkLogin(m[1]);
	});

	async function linkLogin(secret) {
		// The secret leaves the address bar (and the history entry) before anything else.
		history.replaceState(null, '', location.pathname + location.search);
		busy = true;
		let r;
		try {
			r = await account.login({ link: secret });
		} finally {
			busy = false;
		}
		if (r.status === 200 && r.json && r.json.user) {
			if (session.user) leave('relogin');
			enter(r.json);
			return;
		}
		const cur = session.user ? { status: 200, json: { user: session.user } } :
			await account.current();
		if (cur.status === 200 && cur.json && cur.json.user) {
			if (!session.user) enter(cur.json);
			// Already logged in: say why the link did nothing.
			showAppError('The login link was not used: ' + (r.status === 401 ?
				'it is invalid, expired or already used.' : r.status ? r.error : 'cannot reach the server.') +
				' You are still logged in as ' + cur.json.user.name + '.');
			return;
		}
		showLogin('');
		loginFailed(r, 'This login link is invalid, has expired or was already used. ' +
			'Log in with your name and password, or ask for a new link.');
	}

	async function start() {
		const m = LINK_RE.exec(location.hash);
		if (m) {
			await linkLogin(m[1]);
			return;
		}
		const r = await account.current();
		if (r.status === 200 && r.json && r.json.user) enter(r.json);
		else if (r.status === 401) showLogin('');
		else {
			boot.textContent = (r.status ? 'The server answered ' + r.error : 'Cannot reach the server') +
				'. Trying again…';
			setTimeout(start, BOOT_RETRY_MS);
		}
	}

	return { start };
}
