/*
 * static_files.h - the SPA's files, read once at start into memory (they
 * are ours and small, so no file I/O happens on the loop later), served
 * with a content type, ETag/If-None-Match, and security headers.
 *
 * Ownership: pf_static owns every file copy.
 */
#ifndef PROPFLOW_STATIC_FILES_H
#define PROPFLOW_STATIC_FILES_H

#include "propflow/base/common.h"
#include "propflow/net/http.h"

#define PF_STATIC_FILE_MAX  (4 * 1024 * 1024) /* larger files are skipped at load */
#define PF_STATIC_FILES_MAX 256

typedef struct pf_static pf_static;

/* Load every regular file under dir (recursively). NULL on failure (logged). */
pf_static *pf_static_load(const char *dir);
void pf_static_free(pf_static *st);
/* Serve path ("/" means "/index.html"); returns false if no such file (the
 * caller answers 404). GET and HEAD only. */
bool pf_static_serve(pf_static *st, pf_http_req *req);

#endif
