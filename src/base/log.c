/*
 * log.c - stderr logging with a level filter. The level is written once at
 * start-up, before the loop runs; a single-threaded program needs no lock.
 */
#include "propflow/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static pf_log_level log_min = PF_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pf_log_set_level(pf_log_level lvl)
{
	log_min = lvl;
}

void pf_log(pf_log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min)
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char line[2048];
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* one write per line keeps lines whole when stderr is shared */
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

const char *pf_strerror(int err)
{
	switch (err) {
	case PF_OK: return "ok";
	case PF_ENOMEM: return "out of memory";
	case PF_EIO: return "i/o error";
	case PF_EINVAL: return "invalid argument";
	case PF_ELIMIT: return "limit exceeded";
	case PF_EDB: return "database error";
	case PF_ECLOSED: return "peer closed";
	default: return err > 0 ? "module result" : "unknown error";
	}
}
