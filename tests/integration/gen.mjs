// gen.mjs - a small deterministic generator of messy property exports for the
// integration tests, with the exact truth for every record: what the server
// must store (normalised values), which records it must reject (wrong field
// count), which values must give warnings, and on which physical line each
// record starts.
//
// Usage from a test:  const { buffer, truth } = generate({ rows: 30000 });
// From a shell:       node gen.mjs --rows 30000 --out x.csv [--truth x.json]
//                     [--encoding windows-1252] [--eol crlf] [--delimiter ';']
//
// The mess, on purpose: RFC 4180 quoting (delimiters, quotes and newlines in
// fields), "$1,250,000" / "1250000.00" / "1.5e+06" prices, "4,789" sizes,
// ISO / ISO date-time / compact / month-first / named-month dates in one
// column and day-first dates in another, NA/N/A/#N/A/-/null/none/'' as NULL,
// zips and ids with leading zeros, padded values, blank lines, unparseable
// values (warnings), records with no address, id or coordinates (warnings),
// records with the wrong field count (rejected), a duplicate and an empty
// header name, non-ASCII text (UTF-8 with BOM, or Windows-1252).

// The header: [name, canonical field or null]. "Notes" twice and an empty
// name exercise the raw row's " (2)" and "column_N" keys.
export const HEADER = [
	['MLS #', 'source_id'],
	['Address', 'address'],
	['City', 'city'],
	['State', 'state'],
	['Zip Code', 'zip'],
	['List Price', 'price'],
	['Beds', 'beds'],
	['Baths', 'baths'],
	['Sq Ft', 'sqft'],
	['Lot Sqft', 'lot_sqft'],
	['Year Built', 'year_built'],
	['Property Type', 'property_type'],
	['Status', 'status'],
	['List Date', 'listed_on'],
	['Sold Date', 'sold_on'],
	['Latitude', 'latitude'],
	['Longitude', 'longitude'],
	['Agent Name', null],
	['Remarks', null],
	['Notes', null],
	['Notes', null],
	['', null],
];

export const FIELDS = [
	'source_id', 'address', 'city', 'state', 'zip', 'price', 'beds', 'baths', 'sqft', 'lot_sqft',
	'year_built', 'property_type', 'status', 'listed_on', 'sold_on', 'latitude', 'longitude',
];
const NUMERIC = new Set(['price', 'beds', 'baths', 'sqft', 'lot_sqft', 'year_built', 'latitude',
	'longitude']);

// Keys of the raw row object, as API.md describes them.
export function rawKeys(names) {
	const seen = new Map();
	return names.map((n, i) => {
		if (n === '') return `column_${i + 1}`;
		const k = (seen.get(n) || 0) + 1;
		seen.set(n, k);
		return k === 1 ? n : `${n} (${k})`;
	});
}

// mulberry32: small, fast, deterministic.
function rng(seed) {
	let a = seed >>> 0;
	const next = () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	return {
		next,
		int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
		pick: (arr) => arr[Math.floor(next() * arr.length)],
		chance: (p) => next() < p,
	};
}

const NULLS = ['', 'NA', 'N/A', '#N/A', '-', 'null', 'none', 'n/a', 'NULL'];
const STREETS = ['Main St', 'Oak Ave', 'Maple Dr', 'Cedar Ln', 'Elm St', 'Park Blvd', 'Lakeview Rd',
	'Sunset Blvd', 'Hillcrest Way', 'River Rd', 'Camino Real', 'Peña Ct'];
const CITIES = [['Austin', 'TX'], ['Hoboken', 'NJ'], ['Boston', 'MA'], ['Holtsville', 'NY'],
	['Beverly Hills', 'CA'], ['Miami', 'FL'], ['San José', 'CA'], ['Española', 'NM'],
	['Coeur d’Alene', 'ID'], ['Cañon City', 'CO']];
const ZIPS = ['07030', '02134', '00501', '90210', '33101', '78701', '01002', '08540', '95112', '87532'];
const TYPES = ['Single Family', 'Condo', 'Townhouse', 'Multi-Family', 'Land'];
const STATUSES = ['Active', 'Pending', 'Sold', 'Closed'];
const AGENTS = ['Ann Lee', 'Bob Smith', 'Zoë Müller', 'José García', 'Dana O’Neil', 'Chris Park'];
const WORDS = ['bright', 'spacious', 'updated', 'kitchen', 'granite', 'hardwood', 'floors', 'close',
	'to', 'schools', 'parks', 'and', 'shopping', 'new', 'roof', 'in', '2019', 'great', 'light',
	'quiet', 'street', 'large', 'yard', 'with', 'deck', 'garage', 'fits', '2', 'cars', 'café', 'nearby'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
	'September', 'October', 'November', 'December'];

const pad = (n, w = 2) => String(n).padStart(w, '0');
const withCommas = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

// Values that cannot be read, per field, giving a warning and NULL.
const INVALID = {
	price: ['call agent', 'see remarks', '$12abc'],
	sqft: ['huge', 'approx'],
	year_built: ['19x8', 'old'],
	listed_on: ['2014-02-30', 'not a date', '2015-02-29'],
	latitude: ['95.5', 'north'],
};

function genDate(r) {
	return { y: r.int(1995, 2024), m: r.int(1, 12), d: r.int(1, 28) };
}
const iso = (t) => `${t.y}-${pad(t.m)}-${pad(t.d)}`;

// Month-first column (with ISO, date-time, compact and named forms mixed in).
function listedText(r, t) {
	switch (r.int(0, 7)) {
	case 0: return iso(t);
	case 1: return `${iso(t)}T00:00:00Z`;
	case 2: return `${iso(t)} 10:30`;
	case 3: return `${t.y}${pad(t.m)}${pad(t.d)}T000000`;
	case 4: return `${MONTHS[t.m - 1]} ${t.d}, ${t.y}`;
	case 5: return `${t.d}-${MONTHS[t.m - 1]}-${t.y}`;
	case 6: return `${MONTHS_LONG[t.m - 1]} ${t.d} ${t.y}`;
	default: return `${t.m}/${t.d}/${t.y}`;
	}
}
// Day-first column: only numeric day-first forms, so the column's dialect
// must come from the evidence (days above 12) and be applied to ambiguous
// values such as 05/06/2015 (5 June).
function soldText(r, t) {
	return r.chance(0.7) ? `${pad(t.d)}/${pad(t.m)}/${t.y}` : `${t.d}.${t.m}.${t.y}`;
}

function priceText(r) {
	const k = r.int(50, 3000); // thousands
	switch (r.int(0, 5)) {
	case 0: return [`$${withCommas(k * 1000)}`, k * 1000];
	case 1: return [`${k * 1000}.00`, k * 1000];
	case 2: {
		const m = r.int(10, 99) / 10; // 1.0e+06 .. 9.9e+06
		return [`${m.toFixed(1)}e+06`, Math.round(m * 10) * 100000];
	}
	case 3: return [`$${withCommas(k * 1000)}.50`, k * 1000 + 0.5];
	case 4: return [` ${k * 1000} `, k * 1000];
	default: return [String(k * 1000), k * 1000];
	}
}

function remarks(r, delim) {
	const n = r.int(8, 30);
	const w = [];
	for (let i = 0; i < n; i++) w.push(r.pick(WORDS));
	let s = w.join(' ');
	if (r.chance(0.3)) s += `, ${r.pick(WORDS)}${delim} ${r.pick(WORDS)}`;
	if (r.chance(0.15)) s += ` "as is"`;
	return s;
}

function quote(field, delim, force) {
	if (force || field.includes(delim) || field.includes('"') || field.includes('\n') ||
	    field.includes('\r'))
		return `"${field.replaceAll('"', '""')}"`;
	return field;
}

// Windows-1252 bytes for the few non-ASCII characters the generator uses.
const CP1252 = new Map([['€', 0x80], ['‚', 0x82], ['„', 0x84], ['…', 0x85], ['‘', 0x91],
	['’', 0x92], ['“', 0x93], ['”', 0x94], ['–', 0x96], ['—', 0x97]]);
export function encodeCp1252(s) {
	const out = Buffer.alloc(s.length);
	let n = 0;
	for (const ch of s) {
		const c = ch.codePointAt(0);
		if (c < 0x80 || (c >= 0xa0 && c <= 0xff)) out[n++] = c;
		else if (CP1252.has(ch)) out[n++] = CP1252.get(ch);
		else throw new Error(`no Windows-1252 byte for U+${c.toString(16)}`);
	}
	return out.subarray(0, n);
}

// One data record: fields (original text), expect (normalised values),
// warn (header names of columns that must give a warning), noLocator.
function makeRecord(r, i, opt) {
	const e = {};
	const f = {};
	const warn = [];
	const nul = () => r.pick(NULLS);
	const noLocator = i > 3 && r.chance(opt.noLocatorRate);

	// source_id: text, leading zeros kept.
	if (noLocator) { f.source_id = r.pick(['', 'NA']); e.source_id = null; }
	else if (r.chance(0.3)) { f.source_id = pad(r.int(1, 99999), 7); e.source_id = f.source_id; }
	else { f.source_id = `MLS${r.int(100000, 999999)}`; e.source_id = f.source_id; }

	const num = r.int(1, 9999);
	const street = r.pick(STREETS);
	if (noLocator) { f.address = ''; e.address = null; }
	else if (r.chance(0.15)) { f.address = `${num} ${street}, Unit ${r.int(1, 40)}`; e.address = f.address; }
	else if (r.chance(0.1)) { f.address = `  ${num} ${street} `; e.address = `${num} ${street}`; }
	else { f.address = `${num} ${street}`; e.address = f.address; }

	const [city, st] = r.pick(CITIES);
	if (r.chance(0.03)) { f.city = nul(); e.city = null; } else { f.city = city; e.city = city; }
	f.state = st; e.state = st;

	if (r.chance(0.03)) { f.zip = nul(); e.zip = null; }
	else if (r.chance(0.1)) { const z = r.pick(ZIPS); f.zip = ` ${z}`; e.zip = z; }
	else { f.zip = r.pick(ZIPS); e.zip = f.zip; }

	if (r.chance(0.02)) { f.price = nul(); e.price = null; }
	else if (r.chance(opt.invalidRate)) { f.price = r.pick(INVALID.price); e.price = null; warn.push('List Price'); }
	else { [f.price, e.price] = priceText(r); }

	if (r.chance(0.05)) { f.beds = nul(); e.beds = null; }
	else { e.beds = r.int(1, 6); f.beds = String(e.beds); }
	if (r.chance(0.05)) { f.baths = nul(); e.baths = null; }
	else { e.baths = r.pick([1, 1.5, 2, 2.5, 3, 3.75]); f.baths = String(e.baths); }

	if (r.chance(0.04)) { f.sqft = nul(); e.sqft = null; }
	else if (r.chance(opt.invalidRate)) { f.sqft = r.pick(INVALID.sqft); e.sqft = null; warn.push('Sq Ft'); }
	else { e.sqft = r.int(400, 9000); f.sqft = r.chance(0.5) ? withCommas(e.sqft) : String(e.sqft); }

	if (r.chance(0.2)) { f.lot_sqft = nul(); e.lot_sqft = null; }
	else { e.lot_sqft = r.int(1000, 50000); f.lot_sqft = r.chance(0.5) ? withCommas(e.lot_sqft) : String(e.lot_sqft); }

	if (r.chance(0.05)) { f.year_built = nul(); e.year_built = null; }
	else if (r.chance(opt.invalidRate)) { f.year_built = r.pick(INVALID.year_built); e.year_built = null; warn.push('Year Built'); }
	else { e.year_built = r.int(1900, 2023); f.year_built = r.chance(0.2) ? `${e.year_built}.0` : String(e.year_built); }

	if (r.chance(0.03)) { f.property_type = nul(); e.property_type = null; }
	else { f.property_type = r.pick(TYPES); e.property_type = f.property_type; }
	f.status = r.pick(STATUSES); e.status = f.status;

	if (r.chance(0.03)) { f.listed_on = nul(); e.listed_on = null; }
	else if (r.chance(opt.invalidRate)) { f.listed_on = r.pick(INVALID.listed_on); e.listed_on = null; warn.push('List Date'); }
	else { const t = genDate(r); f.listed_on = listedText(r, t); e.listed_on = iso(t); }

	// The first records carry day-first evidence (day > 12) so that a
	// server deciding on its first rows decides right.
	if (f.status === 'Sold' || f.status === 'Closed' || i <= 3) {
		const t = genDate(r);
		if (i <= 3) t.d = 13 + i;
		f.sold_on = soldText(r, t); e.sold_on = iso(t);
	} else { f.sold_on = r.pick(['', '', 'NA', '-']); e.sold_on = null; }

	if (noLocator || r.chance(0.02)) {
		f.latitude = noLocator ? '' : nul(); f.longitude = noLocator ? '' : nul();
		e.latitude = null; e.longitude = null;
	} else if (r.chance(opt.invalidRate / 2)) {
		f.latitude = r.pick(INVALID.latitude); e.latitude = null; warn.push('Latitude');
		e.longitude = -r.int(70000000, 122000000) / 1e6; f.longitude = e.longitude.toFixed(6);
	} else {
		e.latitude = r.int(25000000, 48000000) / 1e6; f.latitude = e.latitude.toFixed(6);
		e.longitude = -r.int(70000000, 122000000) / 1e6; f.longitude = e.longitude.toFixed(6);
	}

	const extra = [
		r.pick(AGENTS),
		remarks(r, opt.delimiter),
		r.chance(0.05) ? `Line one\nLine two${r.chance(0.5) ? '\nLine three' : ''}` : r.pick(['', 'motivated seller', 'NA']),
		r.chance(0.1) ? `he said "${r.pick(WORDS)}", then left` : '',
		r.chance(0.5) ? String(r.int(0, 99)) : '',
	];
	const fields = FIELDS.map((k) => f[k]).concat(extra);
	return { fields, expect: e, warn, noLocator };
}

// Build a record that must be rejected (field count differs from the header's).
function makeRejected(r, kind, delim, base) {
	switch (kind % 4) {
	case 0: return base.concat(['surplus']);             // one field too many
	case 1: return base.slice(0, base.length - 3);       // three too few
	case 2: return [`--- page ${r.int(2, 99)} ---`];     // a stray line
	default: {                                           // too few, with an embedded newline
		const b = base.slice(0, 10);
		b[1] = `${b[1]}\nsecond line of the address`;
		return b;
	}
	}
}

/**
 * generate(options) -> { buffer, truth }
 *   rows        data records (rejected ones included), default 30000
 *   rejected    how many of them have a wrong field count, default 9
 *   seed        PRNG seed
 *   encoding    'utf-8' (default) or 'windows-1252'
 *   bom         prefix a UTF-8 BOM (utf-8 only)
 *   eol         '\n' (default) or '\r\n' (also inside quoted fields)
 *   delimiter   ',' (default), ';', '\t' or '|'
 *   blankLines  how many blank lines to scatter between records, default 3
 *   finalEol    end the file with an end of line, default true
 * truth: { header, keys, rows, rejected: [{row, line, fields}], records:
 *   [{row, line, fields, expect, warn, noLocator}] (stored ones, by row),
 *   inserted, warnedRows, warnings: [{row, line, column}], locatorWarnings: [{row, line}] }
 */
export function generate(options = {}) {
	const opt = {
		rows: 30000, rejected: 9, seed: 20261129, encoding: 'utf-8', bom: false, eol: '\n',
		delimiter: ',', blankLines: 3, finalEol: true, invalidRate: 0.004, noLocatorRate: 0.002,
		...options,
	};
	const r = rng(opt.seed);
	const names = HEADER.map((h) => h[0]);
	const keys = rawKeys(names);
	const d = opt.delimiter;
	const eolIn = opt.eol; // newlines inside quoted fields use the file's style

	// Positions of rejected records and blank lines, spread over the file
	// but never among the first 20 records.
	const rejectAt = new Set();
	while (rejectAt.size < opt.rejected) rejectAt.add(r.int(21, opt.rows));
	const blankAt = new Set();
	while (blankAt.size < opt.blankLines) blankAt.add(r.int(21, opt.rows));

	const parts = [];
	let line = 1;
	const emit = (fields) => {
		const text = fields.map((x) => quote(x.replaceAll('\n', eolIn), d, r.chance(0.05))).join(d);
		const start = line;
		line += 1 + (fields.join('\u0000').match(/\n/g) || []).length;
		parts.push(text + opt.eol);
		return { start, text };
	};
	emit(names);

	const truth = {
		header: names, keys, rows: opt.rows, records: [], rejected: [], warnings: [],
		locatorWarnings: [], inserted: 0, warnedRows: 0, encoding: opt.encoding,
		delimiter: opt.delimiter,
	};
	let kind = 0;
	for (let i = 1; i <= opt.rows; i++) {
		if (blankAt.has(i)) { parts.push(opt.eol); line++; }
		const rec = makeRecord(r, i, opt);
		if (rejectAt.has(i)) {
			const fields = makeRejected(r, kind++, d, rec.fields);
			const { start, text } = emit(fields);
			truth.rejected.push({ row: i, line: start, fields, text });
			continue;
		}
		const { start } = emit(rec.fields);
		// What the server must store: fields with the file's newline style.
		const fields = rec.fields.map((x) => x.replaceAll('\n', eolIn));
		truth.records.push({ row: i, line: start, fields, expect: rec.expect, warn: rec.warn,
			noLocator: rec.noLocator });
		for (const c of rec.warn) truth.warnings.push({ row: i, line: start, column: c });
		if (rec.noLocator) truth.locatorWarnings.push({ row: i, line: start });
		if (rec.warn.length || rec.noLocator) truth.warnedRows++;
	}
	truth.inserted = truth.records.length;
	let text = parts.join('');
	if (!opt.finalEol) text = text.slice(0, text.length - opt.eol.length);
	let buffer;
	if (opt.encoding === 'windows-1252') buffer = encodeCp1252(text);
	else buffer = Buffer.concat([opt.bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0),
		Buffer.from(text, 'utf8')]);
	truth.bytes = buffer.length;
	return { buffer, truth };
}

// Compare a stored item with a truth record; returns a list of mismatches.
export function compareItem(item, rec) {
	const bad = [];
	for (const k of FIELDS) {
		const want = rec.expect[k];
		const got = item[k];
		if (want === null || want === undefined) {
			if (got !== null && got !== undefined) bad.push(`${k}: want null, got ${JSON.stringify(got)}`);
		} else if (NUMERIC.has(k)) {
			const g = typeof got === 'string' ? Number(got) : got;
			if (typeof got !== 'number')
				bad.push(`${k}: want JSON number ${want}, got ${JSON.stringify(got)}`);
			else if (!(Math.abs(g - want) <= 1e-6 * Math.max(1, Math.abs(want))))
				bad.push(`${k}: want ${want}, got ${JSON.stringify(got)}`);
		} else if (got !== want) {
			bad.push(`${k}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
		}
	}
	return bad;
}

// The raw row object the server must give back for a stored record.
export function rawObject(truth, rec) {
	const o = {};
	truth.keys.forEach((k, i) => { o[k] = rec.fields[i]; });
	return o;
}

// Command line: write a file (and optionally its truth as JSON).
if (import.meta.url === `file://${process.argv[1]}`) {
	const args = process.argv.slice(2);
	const get = (name, def) => {
		const i = args.indexOf(name);
		return i >= 0 ? args[i + 1] : def;
	};
	const fs = await import('node:fs');
	const { buffer, truth } = generate({
		rows: Number(get('--rows', 30000)),
		seed: Number(get('--seed', 20261129)),
		encoding: get('--encoding', 'utf-8'),
		eol: get('--eol', 'lf') === 'crlf' ? '\r\n' : '\n',
		delimiter: get('--delimiter', ','),
		bom: args.includes('--bom'),
	});
	const out = get('--out', null);
	if (out) fs.writeFileSync(out, buffer);
	else process.stdout.write(buffer);
	const t = get('--truth', null);
	if (t) fs.writeFileSync(t, JSON.stringify(truth));
	process.stderr.write(`${truth.rows} records, ${truth.rejected.length} rejected, ` +
		`${truth.warnedRows} warned, ${buffer.length} bytes\n`);
}
