// main.js - wires the page together: store <- WebSocket events and uploads; views <- store.

import { api } from './api.js';
import { startEvents } from './events.js';
import { initUpload } from './upload.js';
import { JobList, JobSummary } from './jobs.js';
import { VirtualTable } from './table.js';
import { DetailPanel } from './detail.js';
import { renderMapping } from './mapping.js';
import { ErrorsView } from './errors.js';
import { fmtInt, TERMINAL } from './format.js';
import * as store from './store.js';

const $ = (sel) => document.querySelector(sel);

function init() {
	const detail = new DetailPanel($('#detail-panel'));
	const table = new VirtualTable($('#property-table'), $('#vt-status'),
		(id, rowEl) => detail.open(id, rowEl));
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

	let mappingKey = '';
	function renderTabs(j) {
		const cols = Array.isArray(j.columns) ? j.columns : [];
		const key = j.id + ':' + JSON.stringify(cols);
		if (key !== mappingKey) {
			mappingKey = key;
			const mapped = renderMapping($('[data-testid="mapping-table"]'), cols);
			const fuzzy = cols.filter((c) => c.match === 'fuzzy').length;
			$('#mapping-count').textContent = cols.length ? mapped + '/' + cols.length +
				(fuzzy ? ' · ' + fuzzy + ' fuzzy' : '') : '';
		}
		const issues = (j.rows_rejected ?? 0) + (j.rows_warned ?? 0);
		$('#errors-count').textContent = issues ? fmtInt(issues) : '';
		$('#records-count').textContent = j.rows_inserted ? fmtInt(j.rows_inserted) : '';
		if (activeTab === 'tab-errors') errors.show(j);
	}

	// ---- selection and updates ----
	function renderSelected() {
		const id = store.selected();
		const j = id === null ? null : store.getJob(id);
		$('#no-job').hidden = !!j;
		$('#job-view').hidden = !j;
		if (!j) return;
		summary.render(j);
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
	initUpload({
		input: $('[data-testid="file-input"]'),
		zone: $('[data-testid="drop-zone"]'),
		box: $('[data-testid="upload-progress"]'),
		errorBox: $('#upload-error'),
		onStart: (name) => {
			pending = { name, known: new Set(store.jobList().map((j) => j.id)) };
		},
		onDone: (job) => {
			pending = null;
			if (job && typeof job.id === 'number') {
				store.mergeHttpJob(job);
				store.select(job.id);
			}
		},
	});

	// A deep link (#import-7) selects that job once it is known.
	const m = /^#import-(\d+)$/.exec(location.hash);
	if (m) {
		const id = Number(m[1]);
		api.job(id).then((j) => {
			store.mergeHttpJob(j);
			store.select(id);
		}).catch(() => { /* gone: the newest job is shown instead */ });
	}

	startEvents($('[data-testid="ws-status"]'));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
