#!/usr/bin/env node
// bench/gen.mjs - deterministic generator of realistic, messy property exports.
//
// Writes a CSV export the way MLS systems, county assessors and Kaggle/Zillow-like dumps write them
// (different header names for the same fields, currency and thousands separators, exponent prices,
// dialect-specific dates, null words, quoted commas/quotes/newlines, Windows-1252 text, bad rows), and
// optionally what a correct importer must make of it:
//   --truth FILE.ndjson  one JSON object per data record: the canonical values (API.md item field
//                        names), row, line, raw (original row keyed by header), warnings; bad rows as
//                        {row, line, rejected: true, text}.
//   --meta FILE.json     header, intended column -> field mapping, numeric date order, expected job
//                        counters (rows_parsed/inserted/rejected/warned); written next to --truth by default.
//   --copy-dir DIR       the same rows already normalised for a psql \copy baseline (text COPY format):
//                        DIR/records.tsv  job_id, row_no, line_no, the 17 canonical columns
//                        DIR/raw.tsv      job_id, row_no, original row as a JSON object
// Everything is streamed in chunks with backpressure: memory does not grow with --rows.
// Same options + same --seed give byte-identical output; --encoding, --delimiter, --crlf and --bom do
// not change the data, only its bytes.
//
// Node 20, no dependencies. Run with --help for the options.

import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';

const USAGE = `usage: node bench/gen.mjs --rows N [options]
  --rows N              data records to write (bad rows included)           (required)
  --dialect D           mls | county | zillow | mixed                        (default mls)
  --seed S              any string; same seed and options -> same bytes      (default 1)
  --encoding E          utf8 | cp1252                                        (default utf8)
  --bom                 start with a UTF-8 byte order mark (utf8 only)
  --delimiter D         , | ; | tab | "|"                                    (default ,)
  --crlf                CRLF line endings (default LF; embedded newlines stay LF)
  --date-order O        mdy | dmy: numeric dates in mls/mixed files  (default mls mdy, mixed dmy)
  --bad-rows K          K records with a wrong field count (rejected)        (default 0)
  --blank-lines K       K blank lines between records (not records)          (default 0)
  --job-id J            job_id written in the --copy-dir files               (default 1)
  --out FILE            CSV output (default stdout)
  --truth FILE.ndjson   expected canonical values per record (+ FILE.meta.json)
  --meta FILE.json      header, intended mapping, expected job counters (default with
                        --truth: next to it; can be given alone)
  --copy-dir DIR        records.tsv + raw.tsv for the psql \\copy baseline
  --quiet               no summary on stderr`;

function fail(msg) {
	process.stderr.write(`gen.mjs: ${msg}\n${USAGE}\n`);
	process.exit(2);
}

function parseArgs(argv) {
	const o = {
		rows: null, dialect: 'mls', seed: '1', encoding: 'utf8', bom: false, delimiter: ',',
		crlf: false, dateOrder: null, badRows: 0, blankLines: 0, jobId: 1, out: null, truth: null,
		copyDir: null, meta: null, quiet: false,
	};
	const need = (i) => {
		if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
		return argv[i + 1];
	};
	const int = (s, name) => {
		if (!/^\d+$/.test(s)) fail(`${name} must be a non-negative integer`);
		return Number(s);
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		switch (a) {
		case '--rows': o.rows = int(need(i), a); i++; break;
		case '--dialect': o.dialect = need(i); i++; break;
		case '--seed': o.seed = need(i); i++; break;
		case '--encoding': o.encoding = need(i); i++; break;
		case '--bom': o.bom = true; break;
		case '--delimiter': o.delimiter = need(i); i++; break;
		case '--crlf': o.crlf = true; break;
		case '--date-order': o.dateOrder = need(i); i++; break;
		case '--bad-rows': o.badRows = int(need(i), a); i++; break;
		case '--blank-lines': o.blankLines = int(need(i), a); i++; break;
		case '--job-id': o.jobId = int(need(i), a); i++; break;
		case '--out': o.out = need(i); i++; break;
		case '--truth': o.truth = need(i); i++; break;
		case '--copy-dir': o.copyDir = need(i); i++; break;
		case '--meta': o.meta = need(i); i++; break;
		case '--quiet': o.quiet = true; break;
		case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
		default: fail(`unknown option ${a}`);
		}
	}
	if (o.rows === null) fail('--rows is required');
	if (!DIALECTS[o.dialect]) fail(`unknown dialect ${o.dialect}`);
	if (o.encoding === 'utf-8') o.encoding = 'utf8';
	if (o.encoding === 'windows-1252') o.encoding = 'cp1252';
	if (o.encoding !== 'utf8' && o.encoding !== 'cp1252') fail(`unknown encoding ${o.encoding}`);
	if (o.bom && o.encoding !== 'utf8') fail('--bom only makes sense with utf8');
	const delims = { ',': ',', ';': ';', tab: '\t', '\t': '\t', '|': '|', comma: ',', semicolon: ';', pipe: '|' };
	if (!(o.delimiter in delims)) fail(`unknown delimiter ${JSON.stringify(o.delimiter)}`);
	o.delimiter = delims[o.delimiter];
	if (o.dateOrder === null) o.dateOrder = DIALECTS[o.dialect].dateOrder;
	if (o.dateOrder !== 'mdy' && o.dateOrder !== 'dmy') fail('--date-order must be mdy or dmy');
	if (o.badRows > o.rows) fail('--bad-rows cannot exceed --rows');
	if (o.truth && !o.meta) o.meta = o.truth.replace(/\.ndjson$/, '') + '.meta.json';
	return o;
}

// ---------------------------------------------------------------- randomness
// sfc32 seeded by cyrb128 of the seed string: fast, well mixed, reproducible everywhere.
function cyrb128(str) {
	let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
	for (let i = 0; i < str.length; i++) {
		const k = str.charCodeAt(i);
		h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
		h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
		h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
		h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
	}
	h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
	h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
	h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
	h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
	return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

function makeRng(seed) {
	let [a, b, c, d] = cyrb128(String(seed));
	const next = () => {
		a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
		let t = (a + b) | 0;
		a = b ^ (b >>> 9);
		b = (c + (c << 3)) | 0;
		c = (c << 21) | (c >>> 11);
		d = (d + 1) | 0;
		t = (t + d) | 0;
		c = (c + t) | 0;
		return (t >>> 0) / 4294967296;
	};
	for (let i = 0; i < 16; i++) next();
	const r = {
		f: next,
		int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
		pick: (arr) => arr[Math.floor(next() * arr.length)],
		chance: (p) => next() < p,
		// weighted pick from [[weight, value], ...]
		wpick: (pairs) => {
			let total = 0;
			for (const [w] of pairs) total += w;
			let x = next() * total;
			for (const [w, v] of pairs) {
				if ((x -= w) < 0) return v;
			}
			return pairs[pairs.length - 1][1];
		},
	};
	return r;
}

// ---------------------------------------------------------------- reference data
// [city, state, zip base, latitude, longitude]; some names need Windows-1252 (ñ, é, ü ...).
const CITIES = [
	['Hoboken', 'NJ', 7030, 40.7440, -74.0324],
	['Jersey City', 'NJ', 7302, 40.7178, -74.0431],
	['Montclair', 'NJ', 7042, 40.8259, -74.2090],
	['Boston', 'MA', 2108, 42.3601, -71.0589],
	['Cambridge', 'MA', 2139, 42.3736, -71.1097],
	['Portland', 'ME', 4101, 43.6591, -70.2568],
	['Burlington', 'VT', 5401, 44.4759, -73.2121],
	['Providence', 'RI', 2903, 41.8240, -71.4128],
	['Austin', 'TX', 78701, 30.2672, -97.7431],
	['San Antonio', 'TX', 78205, 29.4241, -98.4936],
	['Seattle', 'WA', 98101, 47.6062, -122.3321],
	['Kent', 'WA', 98032, 47.3809, -122.2348],
	['Denver', 'CO', 80202, 39.7392, -104.9903],
	['Cañon City', 'CO', 81212, 38.4410, -105.2424],
	['Española', 'NM', 87532, 35.9911, -106.0806],
	['La Cañada Flintridge', 'CA', 91011, 34.1992, -118.1873],
	['San Jose', 'CA', 95110, 37.3382, -121.8863],
	["Coeur d'Alene", 'ID', 83814, 47.6777, -116.7805],
	['Chicago', 'IL', 60614, 41.9214, -87.6513],
	['Miami Beach', 'FL', 33139, 25.7907, -80.1300],
	['Atlanta', 'GA', 30308, 33.7710, -84.3822],
	['Nashville', 'TN', 37203, 36.1512, -86.7870],
	['Phoenix', 'AZ', 85004, 33.4484, -112.0740],
	['Minneapolis', 'MN', 55401, 44.9778, -93.2650],
];
const COUNTIES = ['Hudson', 'Essex', 'Suffolk', 'Middlesex', 'Cumberland', 'Travis', 'King', 'Denver',
	'Fremont', 'Rio Arriba', 'Los Angeles', 'Santa Clara', 'Kootenai', 'Cook', 'Miami-Dade', 'Fulton'];
const STREETS = ['Main', 'Oak', 'Maple', 'Washington', 'Park', 'Elm', 'Lake', 'Hill', 'Cedar', 'Pine',
	'Sunset', 'Willow', 'Bloomfield', 'Garden', 'Hudson', 'Jefferson', 'Madison', 'Church', 'River',
	'Highland', 'Calle Peña', 'Rue Bélanger', 'Chestnut', 'Spring', 'Ridge', 'Meadow', 'Forest', 'Adams'];
const SUFFIXES = ['St', 'Ave', 'Rd', 'Blvd', 'Dr', 'Ln', 'Ct', 'Way', 'Pl', 'Ter', 'Street', 'Avenue'];
const FIRST = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David',
	'Elizabeth', 'José', 'Zoë', 'Renée', 'André', 'François', 'Chloé', 'Jürgen', 'Søren', 'Mónica',
	'Ángel', 'Wei', 'Priya', 'Fatima', 'Liam'];
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Müller',
	'Peña', 'Núñez', "O'Brien", 'Gómez', 'Schäfer', 'Dubois', 'Nguyen', 'Kim', 'Patel', 'Lefèvre',
	'Ibáñez', 'Wilson', 'Taylor'];
const OFFICES = ['Keller Williams Realty', 'RE/MAX Premier', 'Coldwell Banker', 'Compass',
	'Sotheby’s International Realty', 'Century 21 Café Group', 'Berkshire Hathaway HomeServices',
	'eXp Realty, LLC', 'Weichert, Realtors', 'Douglas Elliman'];
const SUBDIVISIONS = ['Castle Point', 'Uptown', 'Maple Ridge', 'Old Town', 'Riverside Estates',
	'Bella Vista', 'Los Álamos', 'Cedar Creek', 'The Highlands', 'Lakeview'];
const MLS_TYPES = [[40, 'Single Family'], [22, 'Condo'], [12, 'Townhouse'], [8, 'Multi-Family'],
	[4, 'Land'], [3, 'Co-op']];
const MLS_STATUS = [[38, 'Active'], [12, 'Pending'], [30, 'Sold'], [8, 'Contingent'], [6, 'Withdrawn'],
	[6, 'Expired']];
const USE_CODES = [[45, 'SFR'], [20, 'CONDO'], [8, 'MFR-2'], [4, 'MFR-4'], [10, 'TWNHS'], [5, 'VAC'],
	[3, 'COMM']];
const Z_TYPES = [[50, 'SINGLE_FAMILY'], [20, 'CONDO'], [15, 'TOWNHOUSE'], [8, 'MULTI_FAMILY'], [4, 'LOT']];
const Z_STATUS = [[60, 'SOLD'], [25, 'RECENTLY_SOLD'], [10, 'FOR_SALE'], [5, 'PENDING']];
const ZONING = ['R-1', 'R-2', 'R-3', 'RM-1', 'C-1', 'MU-2', 'R-1A'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
	'September', 'October', 'November', 'December'];
const REMARKS_A = ['Charming', 'Sun-filled', 'Renovated', 'Spacious', 'Cozy', 'Stunning', 'Classic',
	'Move-in ready', 'Light & bright', 'Rarely available', 'Investor special'];
const REMARKS_B = ['home', 'condo', 'brownstone', 'colonial', 'ranch', 'townhouse', 'bungalow', 'loft'];
const REMARKS_C = [
	'updated kitchen, quartz counters',
	'hardwood floors throughout',
	'walk to café, shops & transit',
	'seller says "bring all offers"',
	'“turn-key” — just unpack',
	'new roof (2019), HVAC 2021',
	'close to schools; quiet street',
	'garage + EV charger',
	'no HOA; large yard',
	'sold "as is", cash only',
	'owner’s suite w/ walk-in closet',
	'façade restored, original details',
	'2 blocks to PATH | ferry',
	'tenant occupied\tthrough June',
];
const PHONE_AREA = ['201', '551', '617', '207', '802', '512', '206', '303', '505', '818', '408', '312'];

// Null words, as real exports spell "nothing".
const NULLS_MLS = [[6, ''], [2, 'N/A'], [1, '-'], [1, 'NA']];
const NULLS_COUNTY = [[8, ''], [1, 'NULL'], [1, ' ']];
const NULLS_ZILLOW = [[5, 'NA'], [3, ''], [1, 'null']];
const NULLS_MIXED = [[3, ''], [2, 'N/A'], [1, '#N/A'], [1, 'null'], [1, 'None'], [1, '-'], [1, 'na']];

// ---------------------------------------------------------------- value rendering helpers
const pad2 = (n) => (n < 10 ? '0' : '') + n;
const pad5 = (n) => String(n).padStart(5, '0');
function thousands(n) {
	const [int, frac] = String(Math.abs(n)).split('.');
	let out = '';
	for (let i = 0; i < int.length; i++) {
		if (i > 0 && (int.length - i) % 3 === 0) out += ',';
		out += int[i];
	}
	return (n < 0 ? '-' : '') + out + (frac ? '.' + frac : '');
}
// 1250000 -> "1.25e+06" (as spreadsheets and pandas write it); null if not exact.
function expo(n) {
	const s = n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
	return Number(s) === n ? s : null;
}
const DAY_MS = 86400000;
function dateParts(ms) {
	const d = new Date(ms);
	return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}
const iso = (y, m, d) => `${y}-${pad2(m)}-${pad2(d)}`;
const LIST_FROM = Date.UTC(2012, 0, 1);
const LIST_DAYS = Math.round((Date.UTC(2024, 5, 30) - LIST_FROM) / DAY_MS);

// ---------------------------------------------------------------- the row model
// A row's canonical values (the truth) are drawn first, then each column renders them as text in the
// dialect's style. A column's render returns the text; it may report the canonical value it implies
// (null for null words, null + a warning for text that cannot be read).

function canonicalRow(rng, idx) {
	const [city, state, zipBase, lat0, lon0] = rng.pick(CITIES);
	const type = rng.wpick(MLS_TYPES);
	const land = type === 'Land';
	const beds = land ? 0 : rng.wpick([[4, 1], [14, 2], [30, 3], [28, 4], [14, 5], [6, 6], [2, 7]]);
	const baths = land ? 0 : Math.min(6, Math.max(1, beds - 1 + rng.pick([0, 0.5, 1, 1.5]) - 0.5 * rng.int(0, 1)));
	const sqft = land ? 0 : Math.round((450 + beds * 520 + rng.int(0, 900)) / 5) * 5;
	const lot = type === 'Condo' || type === 'Co-op' ? 0 : rng.int(12, 420) * 100;
	const ppsf = rng.int(150, 900);
	let price = Math.round(((land ? 40000 + lot * 6 : sqft * ppsf) * (0.8 + rng.f() * 0.4)) / 1000) * 1000;
	if (rng.chance(0.3)) price = Math.round(price / 10000) * 10000;
	if (price < 25000) price = 25000;
	const listMs = LIST_FROM + rng.int(0, LIST_DAYS) * DAY_MS;
	const status = rng.wpick(MLS_STATUS);
	const soldMs = listMs + rng.int(6, 240) * DAY_MS;
	const num = rng.int(1, 9899);
	const dir = rng.chance(0.12) ? rng.pick(['N ', 'S ', 'E ', 'W ']) : '';
	let address = `${num} ${dir}${rng.pick(STREETS)} ${rng.pick(SUFFIXES)}`;
	if (type === 'Condo' || type === 'Co-op' || rng.chance(0.05)) {
		address += rng.pick([', Unit ', ' Apt ', ' #', ', Apt ']) + rng.int(1, 24) + rng.pick(['', 'A', 'B', 'C']);
	}
	const latDigits = rng.pick([4, 5, 6, 6]);
	const lat = (lat0 + (rng.f() - 0.5) * 0.09).toFixed(latDigits);
	const lon = (lon0 + (rng.f() - 0.5) * 0.09).toFixed(latDigits);
	return {
		idx, city, state, zip: pad5(zipBase + rng.int(0, 6)), zip4: rng.int(1000, 9999), type, beds, baths,
		sqft, lot, price, year: land ? null : rng.int(1890, 2023), listMs, status,
		soldMs: status === 'Sold' ? soldMs : null, address, lat, lon,
		county: rng.pick(COUNTIES), agent: `${rng.pick(FIRST)} ${rng.pick(LAST)}`,
		office: rng.pick(OFFICES), phone: `(${rng.pick(PHONE_AREA)}) 555-${String(rng.int(100, 9999)).padStart(4, '0')}`,
		id8: String(rng.int(100000, 99999999)).padStart(8, '0'),
	};
}

function remarks(rng, allowNewline) {
	let s = `${rng.pick(REMARKS_A)} ${rng.pick(REMARKS_B)}, ${rng.pick(REMARKS_C)}`;
	if (rng.chance(0.15)) s += `. ${rng.pick(REMARKS_C)}`;
	if (rng.chance(0.06)) {
		const sep = allowNewline ? '\n' : ' ';
		s += `.${sep}Showings by appt${rng.chance(0.5) ? `${sep}Call ${rng.pick(FIRST)}` : ''}`;
	}
	return s;
}

// Per-dialect column lists. f = canonical field the column is meant to map to (null: unmapped).
// r(ctx) returns the column's text for the row; ctx has rng, c (canonical draw), out (truth values
// being built), warn(column text) and helpers.
// years: almost always plain; spreadsheets sometimes write "1,998" or pandas "1998.0"
const YEAR_STYLE = [[94, 'plain'], [3, 'comma'], [3, 'dot0']];
const NUMBER_STYLES = {
	mls: { price: [[55, 'dollar'], [25, 'plain'], [12, 'cents'], [5, 'exp'], [3, 'pad']], num: [[70, 'plain'], [30, 'comma']] },
	county: { price: [[70, 'plain'], [30, 'cents']], num: [[95, 'plain'], [5, 'comma']] },
	zillow: { price: [[80, 'plain'], [12, 'dot0'], [8, 'exp']], num: [[100, 'plain']] },
	mixed: { price: [[30, 'dollar'], [20, 'plain'], [20, 'cents'], [10, 'exp'], [10, 'pad'], [10, 'dot0']], num: [[50, 'plain'], [40, 'comma'], [10, 'dot0']] },
};

function renderPrice(rng, p, style) {
	switch (rng.wpick(style)) {
	case 'dollar': return '$' + thousands(p);
	case 'cents': return p + '.00';
	case 'dot0': return p + '.0';
	case 'exp': return expo(p) ?? String(p);
	case 'pad': return ` $${thousands(p)} `;
	default: return String(p);
	}
}
function renderNum(rng, n, style) {
	switch (rng.wpick(style)) {
	case 'comma': return thousands(n);
	case 'dot0': return Number.isInteger(n) ? n + '.0' : String(n);
	default: return String(n);
	}
}

class RowCtx {
	constructor(rng, dialect, dateOrder) {
		this.rng = rng;
		this.d = dialect;
		this.styles = NUMBER_STYLES[dialect.name];
		this.nulls = dialect.nulls;
		this.dateOrder = dateOrder;
		this.evidence = new Map(); // date column -> day-first evidence already written
	}
	start(c, row) {
		this.c = c;
		this.row = row;
		this.out = {};
		this.warnings = [];
		this.unlocated = false;
		this.bad = false;
	}
	nullWord() { return this.rng.wpick(this.nulls); }
	// canonical value v (null -> null word); p = chance of a spontaneous null word
	set(field, v, text) { this.out[field] = v; return text; }
	invalid(field, header, text) {
		this.out[field] = null;
		this.warnings.push({ column: header, value: text });
		return text;
	}
	number(field, header, v, { pNull = 0.02, pBad = 0, bad = ['?'], price = false, trim = false, style = null } = {}) {
		const rng = this.rng;
		if (v === null || rng.chance(pNull)) return this.set(field, null, this.nullWord());
		if (rng.chance(pBad)) return this.invalid(field, header, rng.pick(bad));
		const t = price ? renderPrice(rng, v, this.styles.price) : renderNum(rng, v, style ?? this.styles.num);
		this.out[field] = v;
		return trim && rng.chance(0.1) ? ` ${t}` : t;
	}
	text(field, v, { pNull = 0.01, pad = 0 } = {}) {
		if (v === null || this.rng.chance(pNull)) return this.set(field, null, this.nullWord());
		this.out[field] = v;
		return this.rng.chance(pad) ? ` ${v} ` : v;
	}
	// ms: canonical date (or null); style: mdy | dmy | iso | compact
	date(field, header, ms, style, { pNull = 0.01, pBad = 0.003 } = {}) {
		const rng = this.rng;
		if (ms === null || rng.chance(pNull)) return this.set(field, null, this.nullWord());
		let [y, m, d] = dateParts(ms);
		if (rng.chance(pBad)) {
			if (rng.chance(0.5)) return this.invalid(field, header, rng.pick(['TBD', 'soon', 'see remarks']));
			// a date that does not exist, in the column's own style
			const t = style === 'iso' || style === 'compact' ? `${y}-02-30`
				: style === 'dmy' ? `30/02/${y}` : `02/30/${y}`;
			if (style === 'dmy' && !this.bad) this.evidence.set(header, true);
			return this.invalid(field, header, t);
		}
		let text;
		if (style === 'mdy' || style === 'dmy') {
			const named = rng.chance(0.05);
			if (!named && style === 'dmy' && !this.evidence.get(header) && !this.bad) {
				// the importer decides a column's order from evidence: make sure the first numeric
				// date it sees can only be day-first (a day above 12)
				if (d <= 12) d += 13;
				ms = Date.UTC(y, m - 1, d);
				this.evidence.set(header, true);
			}
			if (named) {
				text = style === 'mdy'
					? (rng.chance(0.8) ? `${MONTHS[m - 1]} ${d}, ${y}` : `${MONTHS_LONG[m - 1]} ${d} ${y}`)
					: (rng.chance(0.7) ? `${d} ${MONTHS[m - 1]} ${y}` : `${pad2(d)}-${MONTHS[m - 1]}-${y}`);
			} else {
				const padded = rng.chance(0.5);
				const a = style === 'mdy' ? m : d;
				const b = style === 'mdy' ? d : m;
				const yy = rng.chance(0.04) ? pad2(y % 100) : String(y);
				text = padded ? `${pad2(a)}/${pad2(b)}/${yy}` : `${a}/${b}/${yy}`;
			}
		} else if (style === 'iso') {
			text = rng.chance(0.2) ? `${iso(y, m, d)} 00:00:00` : iso(y, m, d);
		} else if (style === 'compact') {
			text = `${y}${pad2(m)}${pad2(d)}T000000`;
		} else if (style === 'isoT') {
			text = rng.chance(0.3) ? `${iso(y, m, d)}T00:00:00Z` : iso(y, m, d);
		} else {
			throw new Error(`date style ${style}`);
		}
		this.out[field] = iso(y, m, d);
		return text;
	}
	coord(field, header, text, { pBad = 0.002 } = {}) {
		// both coordinates of a row are nulled together (see coordsNull)
		if (this.coordsNull !== null) return this.set(field, null, this.coordsNull);
		if (this.rng.chance(pBad)) {
			// a decimal comma: the European spelling a US importer cannot read
			return this.invalid(field, header, text.replace('.', ','));
		}
		this.out[field] = Number(text);
		return text;
	}
}

const DIALECTS = {};

// MLS export: text fields quoted (numbers bare), month-first dates, dollar prices.
DIALECTS.mls = {
	name: 'mls', dateOrder: 'mdy', nulls: NULLS_MLS, quote: 'text',
	cols: [
		['MLS #', 'source_id', (x) => x.text('source_id', x.unlocated ? null : (x.rng.chance(0.7) ? x.c.id8 : `NJ${x.c.id8.slice(1)}`), { pNull: 0 })],
		['Status', 'status', (x) => x.text('status', x.c.status)],
		['List Price', 'price', (x) => x.number('price', 'List Price', x.c.price, { price: true, pBad: 0.006, bad: ['call agent', 'Call for price', 'TBD'] })],
		['Street Address', 'address', (x) => x.text('address', x.unlocated ? null : x.c.address, { pNull: 0.005, pad: 0.03 })],
		['Unit #', null, (x) => (x.rng.chance(0.1) ? String(x.rng.int(1, 30)) : '')],
		['City', 'city', (x) => x.text('city', x.c.city, { pad: 0.02 })],
		['State', 'state', (x) => x.text('state', x.c.state)],
		['Zip Code', 'zip', (x) => x.text('zip', x.rng.chance(0.05) ? `${x.c.zip}-${x.c.zip4}` : x.c.zip)],
		['County', null, (x) => x.c.county],
		['Beds', 'beds', (x) => x.number('beds', 'Beds', x.c.beds, { pBad: 0.002 })],
		['Baths', 'baths', (x) => x.number('baths', 'Baths', x.c.baths)],
		['Sq Ft', 'sqft', (x) => x.number('sqft', 'Sq Ft', x.c.sqft || null, { pNull: 0.03 })],
		['Lot Size', 'lot_sqft', (x) => x.number('lot_sqft', 'Lot Size', x.c.lot || null, { pNull: 0.05, pBad: 0.003, bad: ['1.5 acres', 'irregular'] })],
		['Year Built', 'year_built', (x) => x.number('year_built', 'Year Built', x.c.year, { style: YEAR_STYLE, pBad: 0.002, bad: ['TBD'] })],
		['Property Type', 'property_type', (x) => x.text('property_type', x.c.type)],
		['List Date', 'listed_on', (x) => x.date('listed_on', 'List Date', x.c.listMs, x.dateOrder)],
		['Sold Date', 'sold_on', (x) => x.date('sold_on', 'Sold Date', x.c.soldMs, x.dateOrder, { pNull: 0 })],
		['Latitude', 'latitude', (x) => x.coord('latitude', 'Latitude', x.c.lat)],
		['Longitude', 'longitude', (x) => x.coord('longitude', 'Longitude', x.c.lon)],
		['Subdivision', null, (x) => (x.rng.chance(0.7) ? x.rng.pick(SUBDIVISIONS) : '')],
		['HOA Fee', null, (x) => (x.c.type === 'Condo' || x.rng.chance(0.2) ? '$' + x.rng.int(50, 900) : '')],
		['Taxes', null, (x) => '$' + thousands(Math.round(x.c.price * 0.018))],
		['Garage Spaces', null, (x) => String(x.rng.int(0, 3))],
		['Stories', null, (x) => String(x.rng.int(1, 3))],
		['Pool', null, (x) => (x.rng.chance(0.15) ? 'Y' : 'N')],
		['DOM', null, (x) => String(x.rng.int(0, 180))],
		['Agent Name', null, (x) => (x.row === 1 ? 'José Peña' : x.c.agent)],
		['Agent Phone', null, (x) => x.c.phone],
		['Listing Office', null, (x) => x.c.office],
		['Remarks', null, (x) => remarks(x.rng, true)],
	],
};

// County assessor roll: upper-case names, ISO dates, plain numbers, no listing fields.
DIALECTS.county = {
	name: 'county', dateOrder: 'mdy', nulls: NULLS_COUNTY, quote: 'minimal',
	cols: [
		['APN', 'source_id', (x) => x.text('source_id', x.unlocated ? null : `${x.c.id8.slice(0, 3)}-${x.c.id8.slice(3, 6)}-${x.c.id8.slice(6)}`, { pNull: 0 })],
		['SITUS_ADDRESS', 'address', (x) => x.text('address', x.unlocated ? null : x.c.address.toUpperCase(), { pNull: 0.008 })],
		['SITUS_CITY', 'city', (x) => x.text('city', x.c.city.toUpperCase())],
		['ST', 'state', (x) => x.text('state', x.c.state)],
		// spreadsheets turn 07030 into 7030; the importer keeps what the file says
		['ZIP5', 'zip', (x) => x.text('zip', x.rng.chance(0.08) ? String(Number(x.c.zip)) : x.c.zip)],
		['LAST_SALE_PRICE', 'price', (x) => x.number('price', 'LAST_SALE_PRICE', x.c.price, { price: true, pNull: 0.04, pBad: 0.003, bad: ['NOT DISCLOSED'] })],
		['LAST_SALE_DATE', 'sold_on', (x) => x.date('sold_on', 'LAST_SALE_DATE', x.c.soldMs ?? x.c.listMs - 400 * DAY_MS, 'iso', { pNull: 0.04 })],
		['BLDG_SQFT', 'sqft', (x) => x.number('sqft', 'BLDG_SQFT', x.c.sqft || null)],
		['LOT_SQFT', 'lot_sqft', (x) => x.number('lot_sqft', 'LOT_SQFT', x.c.lot || null)],
		['YR_BUILT', 'year_built', (x) => x.number('year_built', 'YR_BUILT', x.c.year, { style: YEAR_STYLE, pBad: 0.002, bad: ['UNK'] })],
		['BEDS', 'beds', (x) => x.number('beds', 'BEDS', x.c.beds)],
		['BATHS', 'baths', (x) => x.number('baths', 'BATHS', x.c.baths)],
		['USE_CODE', 'property_type', (x) => x.text('property_type', x.rng.wpick(USE_CODES))],
		['LAT', 'latitude', (x) => x.coord('latitude', 'LAT', x.c.lat)],
		['LON', 'longitude', (x) => x.coord('longitude', 'LON', x.c.lon)],
		['OWNER_NAME', null, (x) => (x.row === 1 ? 'PEÑA JOSÉ & MARÍA' : x.rng.chance(0.1) ? `${x.c.agent.split(' ')[1].toUpperCase()} FAMILY TRUST` : `${x.c.agent.split(' ')[1].toUpperCase()} ${x.c.agent.split(' ')[0].toUpperCase()}`)],
		['MAIL_ADDRESS', null, (x) => (x.rng.chance(0.8) ? x.c.address.toUpperCase() : `PO BOX ${x.rng.int(1, 9999)}`)],
		['MAIL_CITY', null, (x) => x.c.city.toUpperCase()],
		['MAIL_ST', null, (x) => x.c.state],
		['MAIL_ZIP', null, (x) => x.c.zip],
		['LAND_VALUE', null, (x) => String(Math.round(x.c.price * 0.3))],
		['IMPR_VALUE', null, (x) => String(Math.round(x.c.price * 0.55))],
		['TOTAL_VALUE', null, (x) => String(Math.round(x.c.price * 0.85))],
		['TAX_AMT', null, (x) => (x.c.price * 0.0171).toFixed(2)],
		['TAX_YEAR', null, () => '2023'],
		['ZONING', null, (x) => x.rng.pick(ZONING)],
		['NBHD_CODE', null, (x) => `N${x.rng.int(100, 999)}`],
		['STORIES', null, (x) => String(x.rng.int(1, 3))],
		['UNITS', null, (x) => String(x.c.type === 'Multi-Family' ? x.rng.int(2, 4) : 1)],
		['LEGAL_DESC', null, (x) => `LOT ${x.rng.int(1, 60)} BLK ${x.rng.int(1, 40)} ${x.rng.pick(SUBDIVISIONS).toUpperCase()} SUB`],
	],
};

// Kaggle/Zillow-like dump (kc_house_data.csv plus listing columns): compact dates, pandas floats.
// As in kc_house_data, "date" is a bare "date": propflow's synonyms read it as the listing date.
DIALECTS.zillow = {
	name: 'zillow', dateOrder: 'mdy', nulls: NULLS_ZILLOW, quote: 'minimal', quoteCols: new Set(['date', 'street_address', 'description']),
	cols: [
		['id', 'source_id', (x) => x.text('source_id', x.unlocated ? null : `${x.c.id8}${String(x.c.zip4).slice(0, 2)}`, { pNull: 0 })],
		['date', 'listed_on', (x) => x.date('listed_on', 'date', x.c.listMs, 'compact', { pNull: 0 })],
		['price', 'price', (x) => x.number('price', 'price', x.c.price, { price: true, pNull: 0.005, pBad: 0.002, bad: ['Contact agent'] })],
		['bedrooms', 'beds', (x) => x.number('beds', 'bedrooms', x.c.beds, { pNull: 0.005 })],
		['bathrooms', 'baths', (x) => x.number('baths', 'bathrooms', x.c.baths ? x.c.baths + x.rng.pick([0, 0, 0.25, -0.25]) : x.c.baths, { pNull: 0.005 })],
		['sqft_living', 'sqft', (x) => x.number('sqft', 'sqft_living', x.c.sqft || null, { pNull: 0.005 })],
		['sqft_lot', 'lot_sqft', (x) => x.number('lot_sqft', 'sqft_lot', x.c.lot || null, { pNull: 0.005 })],
		['floors', null, (x) => x.rng.pick(['1', '1.5', '2', '2.5', '3'])],
		['waterfront', null, (x) => (x.rng.chance(0.01) ? '1' : '0')],
		['view', null, (x) => String(x.rng.wpick([[85, 0], [5, 1], [5, 2], [3, 3], [2, 4]]))],
		['condition', null, (x) => String(x.rng.int(1, 5))],
		['grade', null, (x) => String(x.rng.int(4, 12))],
		['sqft_above', null, (x) => String(Math.round((x.c.sqft || 0) * 0.8))],
		['sqft_basement', null, (x) => String(Math.round((x.c.sqft || 0) * 0.2))],
		['yr_built', 'year_built', (x) => x.number('year_built', 'yr_built', x.c.year, { style: YEAR_STYLE, pNull: 0.01 })],
		['yr_renovated', null, (x) => (x.rng.chance(0.05) ? String(x.rng.int(1990, 2015)) : '0')],
		['zipcode', 'zip', (x) => x.text('zip', x.c.zip, { pNull: 0.002 })],
		['lat', 'latitude', (x) => x.coord('latitude', 'lat', x.c.lat)],
		['long', 'longitude', (x) => x.coord('longitude', 'long', x.c.lon)],
		['sqft_living15', null, (x) => String(Math.round((x.c.sqft || 1500) * (0.8 + x.rng.f() * 0.4)))],
		['sqft_lot15', null, (x) => String(Math.round((x.c.lot || 5000) * (0.8 + x.rng.f() * 0.4)))],
		['street_address', 'address', (x) => x.text('address', x.unlocated ? null : x.c.address, { pNull: 0.004 })],
		['city', 'city', (x) => x.text('city', x.c.city)],
		['state', 'state', (x) => x.text('state', x.c.state)],
		['home_type', 'property_type', (x) => x.text('property_type', x.rng.wpick(Z_TYPES))],
		['status', 'status', (x) => x.text('status', (x.zstatus = x.rng.wpick(Z_STATUS)), { pNull: 0 })],
		['last_sold_date', 'sold_on', (x) => x.date('sold_on', 'last_sold_date', x.zstatus.endsWith('SOLD') ? x.c.soldMs ?? x.c.listMs + 45 * DAY_MS : null, 'isoT', { pNull: 0 })],
		['days_on_zillow', null, (x) => String(x.rng.int(0, 240))],
		['zestimate', null, (x) => String(Math.round(x.c.price * (0.9 + x.rng.f() * 0.2)))],
		['description', null, (x) => (x.row === 1 ? 'Near Café Müller — “turn-key”' : remarks(x.rng, false))],
	],
};

// Hand-edited spreadsheet: near-miss headers, a duplicated and an empty header, day-first dates,
// every null word, values quoted at random.
DIALECTS.mixed = {
	name: 'mixed', dateOrder: 'dmy', nulls: NULLS_MIXED, quote: 'random',
	cols: [
		['Lisitng ID', 'source_id', (x) => x.text('source_id', x.unlocated ? null : x.c.id8, { pNull: 0 })],
		['Listing Status', 'status', (x) => x.text('status', x.c.status, { pad: 0.05 })],
		['Price ($)', 'price', (x) => x.number('price', 'Price ($)', x.c.price, { price: true, pBad: 0.008, bad: ['call agent', 'POA', '?'] })],
		['Adress', 'address', (x) => x.text('address', x.unlocated ? null : x.c.address, { pNull: 0.01, pad: 0.05 })],
		['City ', 'city', (x) => x.text('city', x.c.city, { pad: 0.05 })],
		['State', 'state', (x) => x.text('state', x.rng.chance(0.1) ? x.c.state.toLowerCase() : x.c.state)],
		['Property Zip Code', 'zip', (x) => x.text('zip', x.c.zip)],
		['Bedrooms', 'beds', (x) => x.number('beds', 'Bedrooms', x.c.beds, { pNull: 0.03, pBad: 0.003, bad: ['studio?', '3+'] , trim: true })],
		['Bathrooms', 'baths', (x) => x.number('baths', 'Bathrooms', x.c.baths, { pNull: 0.03, trim: true })],
		['Living Area', 'sqft', (x) => x.number('sqft', 'Living Area', x.c.sqft || null, { pNull: 0.03 })],
		['Lot Size (sqft)', 'lot_sqft', (x) => x.number('lot_sqft', 'Lot Size (sqft)', x.c.lot || null, { pNull: 0.05 })],
		['Yr Built', 'year_built', (x) => x.number('year_built', 'Yr Built', x.c.year, { style: YEAR_STYLE, pNull: 0.03, pBad: 0.003, bad: ['19??', 'old'] })],
		['Propety Type', 'property_type', (x) => x.text('property_type', x.c.type)],
		['List Dte', 'listed_on', (x) => x.date('listed_on', 'List Dte', x.c.listMs, x.dateOrder, { pNull: 0.02, pBad: 0.005 })],
		['Sold Dte', 'sold_on', (x) => x.date('sold_on', 'Sold Dte', x.c.soldMs, x.dateOrder, { pNull: 0 })],
		['Lattitude', 'latitude', (x) => x.coord('latitude', 'Lattitude', x.c.lat, { pBad: 0.004 })],
		['Longitude', 'longitude', (x) => x.coord('longitude', 'Longitude', x.c.lon)],
		['Neighborhood', null, (x) => (x.rng.chance(0.6) ? x.rng.pick(SUBDIVISIONS) : x.nullWord())],
		['HOA', null, (x) => (x.rng.chance(0.3) ? '$' + x.rng.int(50, 900) + '/mo' : 'none')],
		['Tax Amount', null, (x) => '$' + thousands(Math.round(x.c.price * 0.018))],
		['Garage', null, (x) => x.rng.pick(['Attached', 'Detached', 'None', '1 car', '2 car'])],
		['Stories', null, (x) => String(x.rng.int(1, 3))],
		['Pool', null, (x) => x.rng.pick(['Yes', 'No', 'no', ''])],
		['Days On Mkt', null, (x) => String(x.rng.int(0, 180))],
		['Agent', null, (x) => (x.row === 1 ? 'Zoë Núñez' : x.c.agent)],
		['Agent Email', null, (x) => `${x.c.agent.split(' ')[0].normalize('NFD').replace(/[^a-zA-Z]/g, '').toLowerCase()}@example.com`],
		['Brokerage', null, (x) => x.c.office],
		['Remarks', null, (x) => remarks(x.rng, true)],
		['Remarks', null, (x) => (x.rng.chance(0.15) ? remarks(x.rng, false) : '')],
		['', null, () => ''],
	],
};

// JSON object keys as the server builds them: duplicates get " (2)", " (3)"; empty -> column_N.
function rawKeys(headers) {
	const seen = new Map();
	return headers.map((h, i) => {
		if (h === '') return `column_${i + 1}`;
		const n = (seen.get(h) ?? 0) + 1;
		seen.set(h, n);
		return n === 1 ? h : `${h} (${n})`;
	});
}

// ---------------------------------------------------------------- output
const CP1252_HIGH = new Map([
	[0x20ac, 0x80], [0x201a, 0x82], [0x0192, 0x83], [0x201e, 0x84], [0x2026, 0x85], [0x2020, 0x86],
	[0x2021, 0x87], [0x02c6, 0x88], [0x2030, 0x89], [0x0160, 0x8a], [0x2039, 0x8b], [0x0152, 0x8c],
	[0x017d, 0x8e], [0x2018, 0x91], [0x2019, 0x92], [0x201c, 0x93], [0x201d, 0x94], [0x2022, 0x95],
	[0x2013, 0x96], [0x2014, 0x97], [0x02dc, 0x98], [0x2122, 0x99], [0x0161, 0x9a], [0x203a, 0x9b],
	[0x0153, 0x9c], [0x017e, 0x9e], [0x0178, 0x9f],
]);
function encodeCp1252(s) {
	const t = s.replace(/[^\x00-\xff]/g, (ch) => {
		const b = CP1252_HIGH.get(ch.codePointAt(0));
		if (b === undefined) throw new Error(`cannot encode U+${ch.codePointAt(0).toString(16)} in Windows-1252`);
		return String.fromCharCode(b);
	});
	return Buffer.from(t, 'latin1');
}
const encodeUtf8 = (s) => Buffer.from(s, 'utf8');

const FLUSH_CHARS = 1 << 18;

class Sink {
	constructor(file, encode) {
		this.encode = encode;
		this.parts = [];
		this.chars = 0;
		this.bytes = 0;
		this.toStdout = !file || file === '-';
		this.stream = this.toStdout ? process.stdout : fs.createWriteStream(file);
		this.stream.on('error', (e) => {
			if (e.code === 'EPIPE') process.exit(0);
			process.stderr.write(`gen.mjs: ${file || 'stdout'}: ${e.message}\n`);
			process.exit(1);
		});
	}
	add(s) {
		this.parts.push(s);
		this.chars += s.length;
	}
	async maybeFlush() {
		if (this.chars >= FLUSH_CHARS) await this.flush();
	}
	async flush() {
		if (this.chars === 0) return;
		const buf = this.encode(this.parts.join(''));
		this.parts = [];
		this.chars = 0;
		this.bytes += buf.length;
		if (!this.stream.write(buf)) await once(this.stream, 'drain');
	}
	async end() {
		await this.flush();
		if (!this.toStdout) await new Promise((resolve) => this.stream.end(resolve));
	}
}

// PostgreSQL COPY text format: backslash escapes; \N is NULL.
const COPY_ESC = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const copyText = (v) => (v === null || v === undefined ? '\\N' : String(v).replace(/[\\\n\r\t]/g, (m) => COPY_ESC[m]));

const FIELDS = ['source_id', 'address', 'city', 'state', 'zip', 'price', 'beds', 'baths', 'sqft',
	'lot_sqft', 'year_built', 'property_type', 'status', 'listed_on', 'sold_on', 'latitude', 'longitude'];

// ---------------------------------------------------------------- main
async function main() {
	const o = parseArgs(process.argv.slice(2));
	const t0 = process.hrtime.bigint();
	const dialect = DIALECTS[o.dialect];
	const headers = dialect.cols.map((c) => c[0]);
	const keys = rawKeys(headers);
	const ncols = headers.length;
	const delim = o.delimiter;
	const eol = o.crlf ? '\r\n' : '\n';
	const rng = makeRng(`${o.seed}/${o.dialect}/${o.dateOrder}`);
	// bad rows and blank lines get their own stream so that K does not change the good rows' data
	const posRng = makeRng(`${o.seed}/positions`);
	const ctx = new RowCtx(rng, dialect, o.dateOrder);

	const needQuote = new RegExp(`[${delim === '\t' ? '\\t' : delim === '|' ? '\\|' : delim}"\\r\\n]`);
	const quoteField = (s, col, forceRandom) => {
		let q = needQuote.test(s);
		if (!q) {
			if (dialect.quote === 'all') q = true;
			else if (dialect.quote === 'text') q = !/^-?[0-9.]*$/.test(s);
			else if (dialect.quote === 'random') q = forceRandom;
			else if (dialect.quoteCols) q = dialect.quoteCols.has(col);
		}
		return q ? `"${s.replace(/"/g, '""')}"` : s;
	};

	const pickPositions = (k, n) => {
		const set = new Set();
		if (k * 2 > n) {
			// dense: take every position, then drop at random
			const all = Array.from({ length: n }, (_, i) => i + 1);
			for (let i = all.length - 1; i > 0; i--) {
				const j = posRng.int(0, i);
				[all[i], all[j]] = [all[j], all[i]];
			}
			for (let i = 0; i < k; i++) set.add(all[i]);
			return set;
		}
		while (set.size < k) set.add(posRng.int(1, n));
		return set;
	};
	const badAt = pickPositions(o.badRows, o.rows);
	// blank line before record r (r in 2..rows+1; rows+1 = after the last record)
	const blankBefore = new Map();
	for (let i = 0; i < o.blankLines; i++) {
		const r = posRng.int(2, o.rows + 1);
		blankBefore.set(r, (blankBefore.get(r) ?? 0) + 1);
	}

	const enc = o.encoding === 'cp1252' ? encodeCp1252 : encodeUtf8;
	if (o.out && o.out !== '-') fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
	const csv = new Sink(o.out, enc);
	let truth = null, recs = null, raws = null;
	if (o.truth) {
		fs.mkdirSync(path.dirname(path.resolve(o.truth)), { recursive: true });
		truth = new Sink(o.truth, encodeUtf8);
	}
	if (o.copyDir) {
		fs.mkdirSync(o.copyDir, { recursive: true });
		recs = new Sink(path.join(o.copyDir, 'records.tsv'), encodeUtf8);
		raws = new Sink(path.join(o.copyDir, 'raw.tsv'), encodeUtf8);
	}

	if (o.bom) csv.add('\ufeff');
	csv.add(headers.map((h, i) => quoteField(h, headers[i], dialect.quote !== 'minimal')).join(delim) + eol);
	let line = 2;
	let rejected = 0, warned = 0, unlocatedRows = 0;
	const fieldTexts = new Array(ncols);

	for (let row = 1; row <= o.rows; row++) {
		const nb = blankBefore.get(row);
		if (nb) {
			for (let i = 0; i < nb; i++) csv.add(eol);
			line += nb;
		}
		const c = canonicalRow(rng, row);
		ctx.start(c, row);
		ctx.bad = badAt.has(row);
		// draw the same numbers whether or not the row is bad, so --bad-rows does not reshuffle the data
		const unlocated = rng.chance(0.002);
		const coordsNull = rng.chance(0.015);
		const nullWord = ctx.nullWord();
		ctx.unlocated = unlocated && !ctx.bad;
		ctx.coordsNull = ctx.unlocated || coordsNull ? nullWord : null;
		for (let i = 0; i < ncols; i++) fieldTexts[i] = dialect.cols[i][2](ctx);
		const quoteRand = dialect.quote === 'random' ? fieldTexts.map(() => rng.chance(0.2)) : null;

		if (ctx.bad) {
			// a record that cannot be read as a row: its field count differs from the header's
			const kind = posRng.int(0, 2);
			let parts = fieldTexts.map((t) => t.replace(/[\r\n]+/g, ' '));
			if (kind === 0) {
				parts = parts.slice(0, ncols - posRng.int(1, 4)); // truncated export line
			} else if (kind === 1 && delim === ',') {
				// an unquoted "$1,250,000": one value becomes several fields
				const p = '$' + thousands(c.price < 1000 ? 1000 : c.price);
				const i = dialect.cols.findIndex((col) => col[1] === 'price');
				const q = parts.map((t, j) => quoteField(t, headers[j], quoteRand ? quoteRand[j] : false));
				q[i] = p;
				parts = null;
				const text = q.join(delim);
				csv.add(text + eol);
				if (truth) truth.add(JSON.stringify({ row, line, rejected: true, text }) + '\n');
				line += 1;
				rejected++;
				continue;
			} else {
				parts.push('extra'); // a stray trailing field
			}
			const text = parts.map((t, j) => quoteField(t, headers[j], quoteRand ? quoteRand[j] : false)).join(delim);
			csv.add(text + eol);
			if (truth) truth.add(JSON.stringify({ row, line, rejected: true, text }) + '\n');
			line += 1;
			rejected++;
			continue;
		}

		const out = ctx.out;
		for (const f of FIELDS) if (!(f in out)) out[f] = null;
		const text = fieldTexts.map((t, j) => quoteField(t, headers[j], quoteRand ? quoteRand[j] : false)).join(delim);
		csv.add(text + eol);
		const warnings = ctx.warnings;
		if (out.source_id === null && out.address === null && (out.latitude === null || out.longitude === null)) {
			warnings.push({ column: null, value: null, reason: 'no location' });
			unlocatedRows++;
		}
		if (warnings.length) warned++;
		const rec = { row, line };
		for (const f of FIELDS) rec[f] = out[f];
		let rawJson = null;
		if (truth || raws) {
			const raw = {};
			for (let i = 0; i < ncols; i++) raw[keys[i]] = fieldTexts[i];
			rawJson = JSON.stringify(raw);
		}
		if (truth) {
			let s = JSON.stringify(rec);
			s = s.slice(0, -1) + `,"raw":${rawJson},"warnings":${JSON.stringify(warnings)}}`;
			truth.add(s + '\n');
		}
		if (recs) {
			let s = `${o.jobId}\t${row}\t${line}`;
			for (const f of FIELDS) s += '\t' + copyText(out[f]);
			recs.add(s + '\n');
			raws.add(`${o.jobId}\t${row}\t${copyText(rawJson)}\n`);
		}
		for (let i = 0; i < ncols; i++) {
			const t = fieldTexts[i];
			for (let p = t.indexOf('\n'); p !== -1; p = t.indexOf('\n', p + 1)) line++;
		}
		line += 1;

		if ((row & 255) === 0) {
			await csv.maybeFlush();
			if (truth) await truth.maybeFlush();
			if (recs) {
				await recs.maybeFlush();
				await raws.maybeFlush();
			}
		}
	}
	const trailing = blankBefore.get(o.rows + 1);
	if (trailing) for (let i = 0; i < trailing; i++) csv.add(eol);

	await csv.end();
	if (truth) await truth.end();
	if (recs) {
		await recs.end();
		await raws.end();
	}

	const expected = {
		rows_parsed: o.rows, rows_inserted: o.rows - rejected, rows_rejected: rejected,
		rows_warned: warned, unlocated_rows: unlocatedRows,
	};
	if (o.meta) {
		const metaFile = o.meta;
		fs.mkdirSync(path.dirname(path.resolve(metaFile)), { recursive: true });
		const mapping = dialect.cols.map((c, i) => ({ index: i, header: c[0], raw_key: keys[i], field: c[1] }));
		// numeric a/b/y dates only in mls and mixed; county and zillow dates are ISO or compact
		const dateOrders = o.dialect === 'mls' || o.dialect === 'mixed'
			? { listed_on: o.dateOrder, sold_on: o.dateOrder } : {};
		const meta = {
			generator: 'bench/gen.mjs', args: process.argv.slice(2), dialect: o.dialect, seed: o.seed,
			encoding: o.encoding === 'cp1252' ? 'windows-1252' : 'utf-8', bom: o.bom,
			delimiter: delim, line_ending: o.crlf ? 'crlf' : 'lf', headers, mapping,
			date_order: dateOrders, expected, bytes: csv.bytes, lines: line - 1 + (trailing ?? 0),
		};
		fs.writeFileSync(metaFile, JSON.stringify(meta, null, 1) + '\n');
	}
	if (!o.quiet) {
		const secs = Number(process.hrtime.bigint() - t0) / 1e9;
		process.stderr.write(`gen.mjs: ${o.dialect} ${o.rows} rows (${rejected} rejected, ${warned} warned), ` +
			`${csv.bytes} bytes (${(csv.bytes / Math.max(1, o.rows)).toFixed(0)} B/row) in ${secs.toFixed(2)} s\n`);
	}
}

main().catch((e) => {
	process.stderr.write(`gen.mjs: ${e.stack || e}\n`);
	process.exit(1);
});
