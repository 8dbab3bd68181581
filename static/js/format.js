// format.js - number, size, duration and value formatting shared by the page's views.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const moneyFmt = new Intl.NumberFormat('en-US', {
	style: 'currency', currency: 'USD', maximumFractionDigits: 0,
});

export function fmtInt(n) {
	return Number.isFinite(n) ? intFmt.format(n) : '–';
}

export function fmtNum(n) {
	return Number.isFinite(n) ? decFmt.format(n) : '–';
}

export function fmtMoney(n) {
	return Number.isFinite(n) ? moneyFmt.format(n) : '–';
}

export function fmtBytes(n) {
	if (!Number.isFinite(n)) return '–';
	const units = ['B', 'KB', 'MB', 'GB', 'TB'];
	let u = 0;
	while (n >= 1000 && u < units.length - 1) {
		n /= 1000;
		u++;
	}
	return (u === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[u];
}

export function fmtDuration(sec) {
	if (!Number.isFinite(sec) || sec < 0) return '–';
	if (sec < 1) return '< 1 s';
	if (sec < 60) return Math.round(sec) + ' s';
	const m = Math.floor(sec / 60);
	if (m < 60) return m + ' min ' + String(Math.round(sec % 60)).padStart(2, '0') + ' s';
	return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
}

export function fmtTime(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return String(iso);
	return d.toLocaleString(undefined, {
		month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
	});
}

// Create an element with a class and optional text; attributes via a plain object.
export function el(tag, cls, text, attrs) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined && text !== null) e.textContent = text;
	if (attrs) {
		for (const [k, v] of Object.entries(attrs)) {
			if (v !== undefined && v !== null) e.setAttribute(k, String(v));
		}
	}
	return e;
}

// Set a progress bar (div.bar > div.bar-fill) to a fraction in [0,1], or indeterminate (null).
export function setBar(bar, frac, state) {
	const fill = bar.firstElementChild;
	if (state) bar.dataset.state = state;
	if (frac === null || frac === undefined || !Number.isFinite(frac)) {
		bar.classList.add('indeterminate');
		bar.removeAttribute('aria-valuenow');
		fill.style.width = '';
		return;
	}
	const pct = Math.max(0, Math.min(100, frac * 100));
	bar.classList.remove('indeterminate');
	bar.setAttribute('aria-valuenow', String(Math.round(pct)));
	fill.style.width = pct.toFixed(2) + '%';
}

export const TERMINAL = new Set(['done', 'failed', 'interrupted', 'cancelled']);
