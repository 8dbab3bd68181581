/* test_export.c - the Content-Disposition of a download (export.h): the
 * import's name made a safe ASCII filename (one '_' per character it
 * cannot keep, the format's extension instead of the upload's, capped),
 * with the UTF-8 name in filename* (RFC 8187) only when the two differ, and
 * no hidden file. */
#include "check.h"
#include "propflow/api/export.h"

#include <string.h>

int main(void)
{
	char out[4 * PF_EXPORT_NAME_MAX + 64];
	pf_export_disposition("houses.csv", ".ndjson", out, sizeof(out));
	CHECK_STR(out, "attachment; filename=\"houses.ndjson\"");
	pf_export_disposition("houses.csv", NULL, out, sizeof(out));
	CHECK_STR(out, "attachment; filename=\"houses.csv\"");
	pf_export_disposition("März \"Q4\".csv", ".csv", out, sizeof(out));
	CHECK_STR(out, "attachment; filename=\"M_rz _Q4_.csv\"; "
	               "filename*=UTF-8''M%C3%A4rz%20%22Q4%22.csv");
	pf_export_disposition("../../etc/passwd", ".csv", out, sizeof(out));
	CHECK(strstr(out, "/") == NULL || strstr(out, "filename*=") < strstr(out, "/") ||
	      strstr(strstr(out, "filename*="), "/") == NULL);
	CHECK(strncmp(out, "attachment; filename=\"_._", 25) == 0);
	pf_export_disposition(".hidden", ".csv", out, sizeof(out));
	CHECK(strncmp(out, "attachment; filename=\"_hidden.csv\"", 34) == 0);
	pf_export_disposition("", ".csv", out, sizeof(out));
	CHECK_STR(out, "attachment; filename=\"import.csv\"");
	pf_export_disposition(NULL, ".csv", out, sizeof(out));
	CHECK_STR(out, "attachment; filename=\"import.csv\"");
	/* not UTF-8: the ASCII name alone */
	pf_export_disposition("caf\xe9.csv", ".csv", out, sizeof(out));
	CHECK_STR(out, "attachment; filename=\"caf_.csv\"");
	/* control bytes and CR/LF never reach the header */
	pf_export_disposition("a\r\nSet-Cookie: x.csv", ".csv", out, sizeof(out));
	CHECK(strpbrk(out, "\r\n") == NULL);
	/* capped: at most PF_EXPORT_NAME_MAX bytes of name, extension included */
	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	pf_export_disposition(longname, ".geojson", out, sizeof(out));
	const char *q = strchr(out, '"');
	const char *e = q ? strchr(q + 1, '"') : NULL;
	CHECK(q && e && (size_t)(e - q - 1) == PF_EXPORT_NAME_MAX);
	CHECK(e && strncmp(e - 8, ".geojson", 8) == 0);
	/* a small output: cut, still a valid string */
	char tiny[24];
	pf_export_disposition("März.csv", ".csv", tiny, sizeof(tiny));
	CHECK(strlen(tiny) < sizeof(tiny));
	return CHECK_DONE();
}
