/*
 * log.h - one line per event on stderr: time, level, then the object the
 * line is about ("conn 12", "import 7"), then the message. Never log a
 * secret (password, token, cookie).
 */
#ifndef PROPFLOW_LOG_H
#define PROPFLOW_LOG_H

#include "propflow/base/common.h"

typedef enum pf_log_level {
	PF_LOG_DEBUG = 0,
	PF_LOG_INFO,
	PF_LOG_WARN,
	PF_LOG_ERROR,
} pf_log_level;

/* Lines below this level are dropped. Set once at start. */
void pf_log_set_level(pf_log_level lvl);
void pf_log(pf_log_level lvl, const char *fmt, ...) PF_PRINTF(2, 3);

#define pf_debug(...) pf_log(PF_LOG_DEBUG, __VA_ARGS__)
#define pf_info(...)  pf_log(PF_LOG_INFO, __VA_ARGS__)
#define pf_warn(...)  pf_log(PF_LOG_WARN, __VA_ARGS__)
#define pf_error(...) pf_log(PF_LOG_ERROR, __VA_ARGS__)

#endif
