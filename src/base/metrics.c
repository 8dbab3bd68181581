/*
 * metrics.c - the metrics registry and its Prometheus text rendering (see
 * metrics.h). Each family owns one allocation of all its series, their
 * label values and (histograms) their buckets, made at registration; a
 * series is found by an open-addressing hash of its label values, so the
 * hot path is one hash and a few compares, and never allocates.
 */
#include "propflow/base/metrics.h"
#include "propflow/base/log.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PF_METRICS_SCRAPE_INITIAL (64 * 1024) /* first allocation of a scrape's text */

struct pf_metric_series {
	const pf_metric *fam; /* borrowed: its family */
	double value;         /* counter or gauge */
	double sum;           /* histogram: sum of observations */
	uint64_t count;       /* histogram: observations */
	uint64_t *buckets;    /* borrowed from the family: nbounds + 1 counts, not cumulative */
	char *values;         /* borrowed from the family: nlabels strings of VALUE_MAX + 1 bytes */
	bool used;            /* made (and rendered) */
};

struct pf_metric {
	pf_metrics *reg;                           /* borrowed: the registry */
	const char *name;                          /* borrowed, static */
	const char *help;                          /* borrowed, static */
	pf_metric_type type;                       /* counter, gauge or histogram */
	const char *labels[PF_METRICS_LABELS_MAX]; /* borrowed, static */
	size_t nlabels;                            /* label names */
	double bounds[PF_METRICS_BUCKETS_MAX];     /* histogram upper bounds */
	size_t nbounds;                            /* finite bounds */
	size_t max_series;                         /* series allocated */
	size_t nseries;                            /* series made */
	pf_metric_series *series;                  /* owned: max_series */
	uint32_t *index;                           /* owned: hash slots, series number + 1 */
	size_t nslots;                             /* a power of two >= 2 * max_series */
	char *value_store;                         /* owned: every series' label values */
	uint64_t *bucket_store;                    /* owned: every series' buckets */
};

typedef struct collector {
	pf_metrics_collect_cb cb; /* NULL = free slot */
	void *arg;                /* borrowed */
} collector;

struct pf_metrics {
	pf_metric *families[PF_METRICS_FAMILIES_MAX]; /* owned */
	size_t nfamilies;                             /* registered */
	collector collectors[PF_METRICS_COLLECTORS_MAX];
	uint64_t dropped;  /* series refused at a family's cap */
	double start_time; /* Unix seconds at pf_metrics_new */
};

/* The text of one scrape. */
typedef struct text {
	char *p;    /* owned */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
	int err;    /* first error: PF_ENOMEM or PF_ELIMIT; sticky */
} text;

struct pf_metrics_scrape {
	pf_metrics *m;                                 /* borrowed */
	text *t;                                       /* borrowed */
	const char *emitted[PF_METRICS_COLLECTED_MAX]; /* families collectors declared */
	size_t nemitted;                               /* entries of emitted */
	const char *family;                            /* current family; NULL = skip samples */
};

/* ---------------- names ---------------- */

static bool name_valid(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
		          (colon && ch == ':') || (i > 0 && ch >= '0' && ch <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static bool label_name_valid(const char *s)
{
	return name_valid(s, false) && strncmp(s, "__", 2) != 0 && strcmp(s, "le") != 0;
}

/* A family name in use by a registered family. */
static pf_metric *family_find(const pf_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->nfamilies; i++)
		if (strcmp(m->families[i]->name, name) == 0)
			return m->families[i];
	return NULL;
}

/* ---------------- registry ---------------- */

pf_metrics *pf_metrics_new(void)
{
	pf_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	return m;
}

static void family_free(pf_metric *f)
{
	if (!f)
		return;
	free(f->series);
	free(f->index);
	free(f->value_store);
	free(f->bucket_store);
	free(f);
}

void pf_metrics_free(pf_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfamilies; i++)
		family_free(m->families[i]);
	free(m);
}

static pf_metric *family_new(pf_metrics *m, const char *name, const char *help, pf_metric_type type,
                             const char *const *labels, size_t max_series, const double *bounds,
                             size_t nbounds)
{
	if (!m)
		return NULL;
	if (!name_valid(name, true) || family_find(m, name) || max_series == 0 ||
	    max_series > PF_METRICS_SERIES_MAX || m->nfamilies >= PF_METRICS_FAMILIES_MAX) {
		pf_error("metrics: cannot register %s (invalid, duplicate, or a cap)",
		         name ? name : "(null)");
		return NULL;
	}
	pf_metric *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->reg = m;
	f->name = name;
	f->help = help ? help : "";
	f->type = type;
	for (; labels && labels[f->nlabels]; f->nlabels++) {
		if (f->nlabels >= PF_METRICS_LABELS_MAX || !label_name_valid(labels[f->nlabels]))
			goto invalid;
		f->labels[f->nlabels] = labels[f->nlabels];
	}
	if (type == PF_METRIC_HISTOGRAM) {
		if (nbounds == 0 || nbounds > PF_METRICS_BUCKETS_MAX)
			goto invalid;
		for (size_t i = 0; i < nbounds; i++) {
			if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
				goto invalid;
			f->bounds[i] = bounds[i];
		}
		f->nbounds = nbounds;
	}
	f->max_series = max_series;
	f->nslots = 4;
	while (f->nslots < 2 * max_series)
		f->nslots *= 2;
	f->series = calloc(max_series, sizeof(*f->series));
	f->index = calloc(f->nslots, sizeof(*f->index));
	f->value_store =
	    calloc(max_series * (f->nlabels ? f->nlabels : 1), PF_METRICS_VALUE_MAX + 1);
	if (type == PF_METRIC_HISTOGRAM)
		f->bucket_store = calloc(max_series * (f->nbounds + 1), sizeof(uint64_t));
	if (!f->series || !f->index || !f->value_store ||
	    (type == PF_METRIC_HISTOGRAM && !f->bucket_store)) {
		family_free(f);
		return NULL;
	}
	for (size_t i = 0; i < max_series; i++) {
		pf_metric_series *s = &f->series[i];
		s->fam = f;
		s->values =
		    f->value_store + i * (f->nlabels ? f->nlabels : 1) * (PF_METRICS_VALUE_MAX + 1);
		if (f->bucket_store)
			s->buckets = f->bucket_store + i * (f->nbounds + 1);
	}
	m->families[m->nfamilies++] = f;
	if (f->nlabels == 0)
		pf_metric_only(f); /* shown (at 0) from the start */
	return f;
invalid:
	pf_error("metrics: cannot register %s: bad labels or buckets", name);
	free(f);
	return NULL;
}

pf_metric *pf_metrics_counter(pf_metrics *m, const char *name, const char *help,
                              const char *const *labels, size_t max_series)
{
	return family_new(m, name, help, PF_METRIC_COUNTER, labels, max_series, NULL, 0);
}

pf_metric *pf_metrics_gauge(pf_metrics *m, const char *name, const char *help,
                            const char *const *labels, size_t max_series)
{
	return family_new(m, name, help, PF_METRIC_GAUGE, labels, max_series, NULL, 0);
}

pf_metric *pf_metrics_histogram(pf_metrics *m, const char *name, const char *help,
                                const char *const *labels, size_t max_series, const double *bounds,
                                size_t nbounds)
{
	return family_new(m, name, help, PF_METRIC_HISTOGRAM, labels, max_series, bounds, nbounds);
}

/* ---------------- series ---------------- */

/* Label value i of s. */
static char *series_value(const pf_metric_series *s, size_t i)
{
	return s->values + i * (PF_METRICS_VALUE_MAX + 1);
}

/* Whether v (cut to VALUE_MAX bytes, as stored) equals stored. */
static bool value_eq(const char *stored, const char *v)
{
	size_t n = strnlen(v, PF_METRICS_VALUE_MAX);
	return strncmp(stored, v, n) == 0 && stored[n] == '\0';
}

pf_metric_series *pf_metric_series_get(pf_metric *f, const char *const *values)
{
	if (!f)
		return NULL;
	/* FNV-1a over the values as stored (cut), each ended by a 0xff */
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < f->nlabels; i++) {
		const char *v = values && values[i] ? values[i] : "";
		for (size_t k = 0; v[k] && k < PF_METRICS_VALUE_MAX; k++) {
			h ^= (unsigned char)v[k];
			h *= 1099511628211ULL;
		}
		h ^= 0xff;
		h *= 1099511628211ULL;
	}
	size_t mask = f->nslots - 1;
	for (size_t slot = (size_t)(h ^ (h >> 32)) & mask;; slot = (slot + 1) & mask) {
		uint32_t at = f->index[slot];
		if (at == 0)
			break;
		pf_metric_series *s = &f->series[at - 1];
		size_t i = 0;
		for (; i < f->nlabels; i++)
			if (!value_eq(series_value(s, i), values && values[i] ? values[i] : ""))
				break;
		if (i == f->nlabels)
			return s;
	}
	if (f->nseries >= f->max_series) {
		f->reg->dropped++;
		return NULL;
	}
	pf_metric_series *s = &f->series[f->nseries];
	for (size_t i = 0; i < f->nlabels; i++) {
		const char *v = values && values[i] ? values[i] : "";
		size_t n = strnlen(v, PF_METRICS_VALUE_MAX);
		memcpy(series_value(s, i), v, n);
		series_value(s, i)[n] = '\0';
	}
	s->used = true;
	f->nseries++;
	/* at most half the slots are taken: the probe above ended on a free one */
	size_t slot = (size_t)(h ^ (h >> 32)) & mask;
	while (f->index[slot])
		slot = (slot + 1) & mask;
	f->index[slot] = (uint32_t)f->nseries;
	return s;
}

pf_metric_series *pf_metric_only(pf_metric *f)
{
	return pf_metric_series_get(f, NULL);
}

void pf_metric_add(pf_metric_series *s, double v)
{
	if (!s || (s->fam->type == PF_METRIC_COUNTER && !(v >= 0)))
		return; /* a counter only goes up */
	s->value += v;
}

void pf_metric_set(pf_metric_series *s, double v)
{
	if (s && s->fam->type == PF_METRIC_GAUGE)
		s->value = v;
}

void pf_metric_observe(pf_metric_series *s, double v)
{
	if (!s || !s->buckets || isnan(v))
		return;
	const pf_metric *f = s->fam;
	size_t i = 0;
	while (i < f->nbounds && v > f->bounds[i])
		i++;
	s->buckets[i]++; /* i == nbounds: only the +Inf bucket */
	s->sum += v;
	s->count++;
}

double pf_metric_value(const pf_metric_series *s)
{
	if (!s)
		return 0;
	return s->buckets ? (double)s->count : s->value;
}
/* ---------------- collectors ---------------- */

int pf_metrics_collector_add(pf_metrics *m, pf_metrics_collect_cb cb, void *arg)
{
	if (!m)
		return 0;
	for (size_t i = 0; i < PF_METRICS_COLLECTORS_MAX; i++) {
		if (!m->collectors[i].cb) {
			m->collectors[i] = (collector){cb, arg};
			return 0;
		}
	}
	return PF_ELIMIT;
}

void pf_metrics_collector_remove(pf_metrics *m, pf_metrics_collect_cb cb, void *arg)
{
	if (!m)
		return;
	for (size_t i = 0; i < PF_METRICS_COLLECTORS_MAX; i++)
		if (m->collectors[i].cb == cb && m->collectors[i].arg == arg)
			m->collectors[i] = (collector){NULL, NULL};
}

/* ---------------- text ---------------- */

static void text_put(text *t, const char *s, size_t n)
{
	if (t->err)
		return;
	if (n > PF_METRICS_SCRAPE_MAX - t->len - 1) {
		t->err = PF_ELIMIT;
		return;
	}
	if (n > t->cap - t->len - 1) {
		size_t cap = t->cap;
		while (n > cap - t->len - 1)
			cap *= 2;
		if (cap > PF_METRICS_SCRAPE_MAX)
			cap = PF_METRICS_SCRAPE_MAX;
		char *p = realloc(t->p, cap);
		if (!p) {
			t->err = PF_ENOMEM;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_str(text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* s escaped: backslash and newline always, the double quote in label values. */
static void text_escaped(text *t, const char *s, bool quote)
{
	const char *run = s;
	for (; *s; s++) {
		const char *esc = *s == '\\'             ? "\\\\"
		                  : *s == '\n'           ? "\\n"
		                  : (quote && *s == '"') ? "\\\""
		                                         : NULL;
		if (!esc)
			continue;
		text_put(t, run, (size_t)(s - run));
		text_str(t, esc);
		run = s + 1;
	}
	text_put(t, run, (size_t)(s - run));
}

void pf_metrics_format_value(double v, char out[32])
{
	if (isnan(v)) {
		snprintf(out, 32, "NaN");
	} else if (isinf(v)) {
		snprintf(out, 32, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		snprintf(out, 32, "%.0f", v);
	} else {
		snprintf(out, 32, "%.15g", v);
		if (strtod(out, NULL) != v)
			snprintf(out, 32, "%.17g", v);
	}
}

static void text_value(text *t, double v)
{
	char buf[32];
	pf_metrics_format_value(v, buf);
	text_str(t, buf);
}

static const char *type_name(pf_metric_type type)
{
	switch (type) {
	case PF_METRIC_COUNTER: return "counter";
	case PF_METRIC_GAUGE: return "gauge";
	case PF_METRIC_HISTOGRAM: return "histogram";
	}
	abort();
}

static void text_head(text *t, const char *name, pf_metric_type type, const char *help)
{
	text_str(t, "# HELP ");
	text_str(t, name);
	text_str(t, " ");
	text_escaped(t, help, false);
	text_str(t, "\n# TYPE ");
	text_str(t, name);
	text_str(t, " ");
	text_str(t, type_name(type));
	text_str(t, "\n");
}

/* name{labels of s[,le="bound"]} value */
static void text_sample(text *t, const pf_metric *f, const pf_metric_series *s, const char *suffix,
                        const char *le, double v)
{
	text_str(t, f->name);
	text_str(t, suffix);
	if (f->nlabels || le) {
		text_str(t, "{");
		for (size_t i = 0; i < f->nlabels; i++) {
			if (i)
				text_str(t, ",");
			text_str(t, f->labels[i]);
			text_str(t, "=\"");
			text_escaped(t, series_value(s, i), true);
			text_str(t, "\"");
		}
		if (le) {
			text_str(t, f->nlabels ? ",le=\"" : "le=\"");
			text_str(t, le);
			text_str(t, "\"");
		}
		text_str(t, "}");
	}
	text_str(t, " ");
	text_value(t, v);
	text_str(t, "\n");
}

static void render_family(text *t, const pf_metric *f)
{
	text_head(t, f->name, f->type, f->help);
	for (size_t i = 0; i < f->nseries; i++) {
		const pf_metric_series *s = &f->series[i];
		if (f->type != PF_METRIC_HISTOGRAM) {
			text_sample(t, f, s, "", NULL, s->value);
			continue;
		}
		uint64_t cum = 0;
		char le[32];
		for (size_t b = 0; b < f->nbounds; b++) {
			cum += s->buckets[b];
			pf_metrics_format_value(f->bounds[b], le);
			text_sample(t, f, s, "_bucket", le, (double)cum);
		}
		text_sample(t, f, s, "_bucket", "+Inf", (double)s->count);
		text_sample(t, f, s, "_sum", NULL, s->sum);
		text_sample(t, f, s, "_count", NULL, (double)s->count);
	}
}

/* ---------------- scrape-time samples ---------------- */

static bool scrape_name_taken(const pf_metrics_scrape *sc, const char *name)
{
	if (family_find(sc->m, name))
		return true;
	for (size_t i = 0; i < sc->nemitted; i++)
		if (strcmp(sc->emitted[i], name) == 0)
			return true;
	return false;
}

void pf_metrics_family(pf_metrics_scrape *sc, const char *name, pf_metric_type type,
                       const char *help)
{
	sc->family = NULL;
	if (!name_valid(name, true) || type == PF_METRIC_HISTOGRAM || scrape_name_taken(sc, name) ||
	    sc->nemitted >= PF_METRICS_COLLECTED_MAX) {
		pf_warn("metrics: collected family %s skipped (invalid, a histogram, or declared "
		        "twice)",
		        name ? name : "(null)");
		return;
	}
	sc->emitted[sc->nemitted++] = name;
	sc->family = name;
	text_head(sc->t, name, type, help ? help : "");
}

void pf_metrics_sample(pf_metrics_scrape *sc, double v, ...)
{
	if (!sc->family)
		return;
	text *t = sc->t;
	text_str(t, sc->family);
	va_list ap;
	va_start(ap, v);
	bool first = true;
	for (const char *k; (k = va_arg(ap, const char *));) {
		const char *val = va_arg(ap, const char *);
		if (!label_name_valid(k))
			continue;
		text_str(t, first ? "{" : ",");
		first = false;
		text_str(t, k);
		text_str(t, "=\"");
		text_escaped(t, val ? val : "", true);
		text_str(t, "\"");
	}
	va_end(ap);
	if (!first)
		text_str(t, "}");
	text_str(t, " ");
	text_value(t, v);
	text_str(t, "\n");
}

/* ---------------- process ---------------- */

/* Small procfs reads, at scrape time only: the resident and virtual
 * sizes, and the descriptors this process holds. */
static void render_process(pf_metrics_scrape *sc)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long vm = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%llu %llu", &vm, &rss) != 2)
			vm = rss = 0;
		fclose(f);
	}
	pf_metrics_family(sc, "process_resident_memory_bytes", PF_METRIC_GAUGE,
	                  "Resident memory size in bytes.");
	pf_metrics_sample(sc, (double)rss * (double)page, NULL);
	pf_metrics_family(sc, "process_virtual_memory_bytes", PF_METRIC_GAUGE,
	                  "Virtual memory size in bytes.");
	pf_metrics_sample(sc, (double)vm * (double)page, NULL);
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		double n = 0;
		for (struct dirent *e; (e = readdir(d));)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		pf_metrics_family(sc, "process_open_fds", PF_METRIC_GAUGE,
		                  "Open file descriptors.");
		pf_metrics_sample(sc, n - 1, NULL); /* not the one reading the directory */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		pf_metrics_family(sc, "process_max_fds", PF_METRIC_GAUGE,
		                  "Maximum number of open file descriptors.");
		pf_metrics_sample(sc, (double)rl.rlim_cur, NULL);
	}
	pf_metrics_family(sc, "process_start_time_seconds", PF_METRIC_GAUGE,
	                  "Start time of the process since the Unix epoch in seconds.");
	pf_metrics_sample(sc, sc->m->start_time, NULL);
	pf_metrics_family(sc, "pf_metrics_series_dropped_total", PF_METRIC_COUNTER,
	                  "Label combinations not recorded because their family was full.");
	pf_metrics_sample(sc, (double)sc->m->dropped, NULL);
}

int pf_metrics_render(pf_metrics *m, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	text t = {.cap = PF_METRICS_SCRAPE_INITIAL};
	t.p = malloc(t.cap);
	if (!t.p)
		return PF_ENOMEM;
	t.p[0] = '\0';
	pf_metrics_scrape sc = {.m = m, .t = &t};
	for (size_t i = 0; i < m->nfamilies; i++)
		render_family(&t, m->families[i]);
	render_process(&sc);
	for (size_t i = 0; i < PF_METRICS_COLLECTORS_MAX; i++) {
		if (!m->collectors[i].cb)
			continue;
		sc.family = NULL;
		m->collectors[i].cb(m->collectors[i].arg, &sc);
	}
	if (t.err) {
		free(t.p);
		return t.err;
	}
	*out = t.p;
	*len = t.len;
	return 0;
}
