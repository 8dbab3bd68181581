/*
 * common.h - the one error rule and the small helpers every module shares.
 *
 * Error rule (the whole code base follows it):
 *   0         success
 *   negative  fatal for the operation; passed up unchanged (PF_ENOMEM, PF_EIO, ...)
 *   positive  a documented, module-specific outcome the caller handles
 *             (e.g. PF_CSV_PAUSED); each header lists its own.
 * Functions that can fail are marked PF_MUST_CHECK.
 */
#ifndef PROPFLOW_COMMON_H
#define PROPFLOW_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define PF_MUST_CHECK   __attribute__((warn_unused_result))
#define PF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PF_UNUSED(x)    ((void)(x))
#define PF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Event priorities (libevent; the app initialises PF_PRIO_LEVELS). Bulk
 * work, reading and parsing upload bodies, runs only when no interactive
 * event (a request head, a database answer, a timer) is ready, so that a
 * user browsing is answered before the next 64 KB of someone's upload is
 * parsed. Setting a priority on a base without levels is a no-op. */
#define PF_PRIO_LEVELS 3
#define PF_PRIO_NORMAL 1 /* libevent's default with 3 levels */
#define PF_PRIO_BULK   2

enum {
	PF_OK = 0,
	PF_ENOMEM = -1,  /* allocation failed */
	PF_EIO = -2,     /* system call or socket failed */
	PF_EINVAL = -3,  /* caller broke a contract */
	PF_ELIMIT = -4,  /* a configured cap was exceeded */
	PF_EDB = -5,     /* database failure */
	PF_ECLOSED = -6, /* peer went away */
};

const char *pf_strerror(int err);

#endif
