// main.js - wires the page together: store <- WebSocket events and uploads; views <- store.
// Nothing asks the server for data before login (session.js); a logout or a lost session
// empties the views and closes the WebSocket.

import { api } from './api.js';
import { createEvents } from './events.js';
import { initSession } from './session.js';
import { initUpload } from './upload.js';
import { deleteImport } from './tus.js';
import { JobList, JobSummary } from './jobs.js';
import { VirtualTable } from './table.js';
import { DetailPanel } from './detail.js';
import { renderMapping } from './mapping.js';
import { ErrorsView } from './errors.js';
import { fmtInt, TERMINAL } from './format.js';
import { loadFields } from './fields.js';

const REPROCESSABLE = new Set(['done', 'failed', 'interrupted']);
import * as store from './store.js';

const $ = (sel) => document.querySelector(sel);

// fields: the field table (GET /api/fields), which the views that list fields are built from.
function init(fields) {
	const detail = new DetailPanel($('#detail-panel'), fields);
	const table = new VirtualTable($('#property-table'), $('#vt-status'),
		(id, rowEl) => detail.open(id, rowEl), fields);
	detail.onClose = () => table.clearSelection();
	const summary = new JobSummary($('#job-view'));
	const errors = new ErrorsView($('[data-testid="errors-table"]'), $('#errors-status'), $('#errors-more'));
	const list = new JobList($('[data-testid="job-list"]'), $('#jobs-empty'), $('#job-count'),
		(id) => store.select(id));

	// ---- tabs ----
	const tabs = [...document.querySelectorAll('[role="tab"]')];
	let activeTab = 'tab-records';
	function showTab(id, focus) {
		activeTab = id;
		for (const t of tabs) {
			const on = t.id === id;
			t.setAttribute('aria-selected', on ? 'true' : 'false');
			t.tabIndex = on ? 0 : -1;
			document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
			if (on && focus) t.focus();
		}
		const j = store.getJob(store.selected());
		if (j) renderTabs(j);
		if (id === 'tab-records') table.schedule();
	}
	for (const t of tabs) {
		t.addEventListener('click', () => showTab(t.id, false));
		t.addEventListener('keydown', (e) => {
			const i = tabs.indexOf(t);
			let n = -1;
			if (e.key === 'ArrowRight') n = (i + 1) % tabs.length;
			else if (e.key === 'ArrowLeft') n = (i + tabs.length - 1) % tabs.length;
			else if (e.key === 'Home') n = 0;
			else if (e.key === 'End') n = tabs.length - 1;
			if (n >= 0) {
				e.preventDefault();
				showTab(tabs[n].id, true);
			}
		});
	}

	// ---- mapping override (edited in the mapping tab, sent with a reprocess) ----
	let mappingKey = '';
	const draft = new Map(); // header -> field | null, for the selected job
	function updateMappingFoot(j) {
		const finished = !!j && REPROCESSABLE.has(j.state);
		const n = draft.size;
		$('#mapping-apply').disabled = !finished || n === 0 || busy;
		$('#mapping-reset').disabled = n === 0;
		$('#mapping-status').textContent = n ? n + (n === 1 ? ' column' : ' columns') + ' changed' +
			(finished ? '' : ' · the import must finish first') : (finished ? '' :
			'The mapping can be changed once the import has finished.');
	}
	function onMappingChange(header, field, original) {
		if (field === original) draft.delete(header);
		else draft.set(header, field);
		updateMappingFoot(store.getJob(store.selected()));
	}
	$('#mapping-reset').addEventListener('click', () => {
		draft.clear();
		mappingKey = '';
		const j = store.getJob(store.selected());
		if (j) renderTabs(j);
	});
	$('#mapping-apply').addEventListener('click', () => reprocess(true));

	function renderTabs(j) {
		const cols = Array.isArray(j.columns) ? j.columns : [];
		const editable = REPROCESSABLE.has(j.state);
		const key = j.id + ':' + editable + ':' + JSON.stringify(cols);
		if (key !== mappingKey) {
			mappingKey = key;
			const mapped = renderMapping($('[data-testid="mapping-table"]'), cols,
				{ fields, editable, draft, onChange: onMappingChange });
			const fuzzy = cols.filter((c) => c.match === 'fuzzy').length;
			$('#mapping-count').textContent = cols.length ? mapped + '/' + cols.length +
				(fuzzy ? ' · ' + fuzzy + ' fuzzy' : '') : '';
		}
		const issues = (j.rows_rejected ?? 0) + (j.rows_warned ?? 0);
		$('#errors-count').textContent = issues ? fmtInt(issues) : '';
		$('#records-count').textContent = j.rows_inserted ? fmtInt(j.rows_inserted) : '';
		if (activeTab === 'tab-errors') errors.show(j);
		updateMappingFoot(j);
	}

	// ---- delete and reprocess ----
	let busy = false;
	const actionError = $('#job-action-error');
	function showActionError(msg) {
		actionError.textContent = msg;
		actionError.hidden = !msg;
	}
	function renderActions(j) {
		const running = !TERMINAL.has(j.state);
		const del = $('#job-delete');
		del.textContent = running ? 'Cancel import' : 'Delete';
		del.disabled = busy;
		const rep = $('#job-reprocess');
		rep.hidden = !REPROCESSABLE.has(j.state);
		rep.disabled = busy;
		rep.textContent = draft.size ? 'Reprocess (' + draft.size + ' changed)' : 'Reprocess';
	}
	$('#job-delete').addEventListener('click', async () => {
		const j = store.getJob(store.selected());
		if (!j || busy) return;
		const running = !TERMINAL.has(j.state);
		const what = (j.name || 'import #' + j.id);
		if (!window.confirm((running ? 'Cancel ' + what + ' and delete' : 'Delete ' + what + ' with') +
			' all its rows? This cannot be undone.')) return;
		busy = true;
		showActionError('');
		renderActions(j);
		uploader.forget(j.id); // stop sending bytes to it first
		try {
			await deleteImport(j.id);
			store.remove(j.id);
		} catch (e) {
			showActionError('Could not delete: ' + e.message);
		} finally {
			busy = false;
			const cur = store.getJob(store.selected());
			if (cur) renderActions(cur);
		}
	});
	$('#job-reprocess').addEventListener('click', () => reprocess(draft.size > 0));

	// A reprocess replaces the rows when it ends: the table then reloads them.
	const rerun = new Map(); // id -> finished_at of the run before the reprocess
	async function reprocess(withMapping) {
		const j = store.getJob(store.selected());
		if (!j || busy || !REPROCESSABLE.has(j.state)) return;
		busy = true;
		showActionError('');
		renderActions(j);
		updateMappingFoot(j);
		const mapping = withMapping ? Object.fromEntries(draft) : null;
		try {
			const before = store.getJob(j.id);
			const job = await api.reprocess(j.id, mapping);
			rerun.set(j.id, before ? before.finished_at ?? null : null);
			draft.clear();
			mappingKey = '';
			if (job && job.id === j.id) store.restartJob(job, before);
		} catch (e) {
			showActionError('Could not reprocess: ' + e.message);
		} finally {
			busy = false;
			const cur = store.getJob(store.selected());
			if (cur) renderSelected();
		}
	}

	// ---- selection and updates ----
	let shown = { id: null, state: null };
	function renderSelected() {
		const id = store.selected();
		const j = id === null ? null : store.getJob(id);
		$('#no-job').hidden = !!j;
		$('#job-view').hidden = !j;
		if (!j) {
			shown = { id: null, state: null };
			return;
		}
		// A finished job running again (reprocessed, here or by someone else).
		if (shown.id === j.id && TERMINAL.has(shown.state) && !TERMINAL.has(j.state) &&
			!rerun.has(j.id)) {
			rerun.set(j.id, shown.finished ?? null);
		}
		let reload = false;
		if (rerun.has(j.id) && TERMINAL.has(j.state) && (j.finished_at ?? null) !== rerun.get(j.id)) {
			rerun.delete(j.id);
			reload = true;
		}
		shown = { id: j.id, state: j.state, finished: j.finished_at ?? null };
		summary.render(j);
		renderActions(j);
		if (reload) {
			errors.reset();
			table.reload();
		}
		renderTabs(j);
		table.setJob(j.id, j.rows_inserted ?? 0, !TERMINAL.has(j.state));
	}

	store.subscribe((what, id) => {
		if (what === 'jobs') {
			list.render(store.jobList());
			if (store.selected() === null) {
				const first = store.jobList()[0];
				if (first) store.select(first.id);
			}
			adoptUpload();
			renderSelected();
		} else if (what === 'job') {
			const j = store.getJob(id);
			if (!list.items.has(id)) list.render(store.jobList());
			else list.updateOne(j);
			adoptUpload();
			if (id === store.selected()) renderSelected();
		} else if (what === 'select') {
			list.setSelected(id);
			errors.reset();
			mappingKey = '';
			draft.clear();
			showActionError('');
			if (!$('#detail-panel').hidden) detail.close();
			renderSelected();
			const u = new URL(location.href);
			u.hash = id === null ? '' : 'import-' + id;
			history.replaceState(null, '', u);
		}
	});

	// ---- uploads: select the new job as soon as it shows up, while it is still uploading ----
	let pending = null; // {name, known: Set of job ids that existed before}
	function adoptUpload() {
		if (!pending) return;
		for (const j of store.jobList()) {
			if (!pending.known.has(j.id) && j.name === pending.name) {
				pending = null;
				store.select(j.id);
				return;
			}
		}
	}
	const uploader = initUpload({
		input: $('[data-testid="file-input"]'),
		zone: $('[data-testid="drop-zone"]'),
		box: $('[data-testid="upload-progress"]'),
		errorBox: $('#upload-error'),
		resumeBox: $('#resume-box'),
		onStart: (name) => {
			pending = { name, known: new Set(store.jobList().map((j) => j.id)) };
		},
		// The import exists (tus creation answered, or a remembered upload resumes): show it now.
		onCreated: (job) => {
			pending = null;
			if (job && typeof job.id === 'number') {
				if (typeof job.state === 'string' && 'rows_parsed' in job) store.mergeHttpJob(job);
				else if (!store.getJob(job.id)) api.job(job.id).then(store.mergeHttpJob, () => {});
				store.select(job.id);
			}
		},
		onDeleted: (id) => store.remove(id),
		onDone: (job) => {
			pending = null;
			if (job && typeof job.id === 'number') {
				store.mergeHttpJob(job);
				store.select(job.id);
			}
		},
	});

	const events = createEvents($('[data-testid="ws-status"]'));

	// A deep link (#import-7) selects that job once logged in.
	const m = /^#import-(\d+)$/.exec(location.hash);
	let deepLink = m ? Number(m[1]) : null;

	const session = initSession({
		onEnter: (user) => {
			store.reset();
			events.start();
			uploader.resume(user);
			if (deepLink !== null) {
				const id = deepLink;
				deepLink = null;
				api.job(id).then((j) => {
					store.mergeHttpJob(j);
					store.select(id);
				}).catch(() => { /* gone or not ours: the newest job is shown instead */ });
			}
		},
		onLeave: (reason) => {
			events.stop();
			// A logout stops the upload (still resumable later); an ended session pauses it by
			// itself and it continues if the same user logs in again.
			if (reason === 'logout') uploader.suspend();
			if (!$('#detail-panel').hidden) detail.close();
			pending = null;
			store.reset();
			table.clear();
			errors.reset();
		},
	});
	session.start();
}

async function start() {
	init(await loadFields());
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
