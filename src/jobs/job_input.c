/*
 * job_input.c - the job's input as a rewindable stream. Every byte fed is
 * spooled (LZ4 chunks on their way to import_chunks) and waits in
 * `pending` for the reader; what the reader consumed stays in `kept` until
 * a batch that ends past it commits. A resync rewinds the stream to the
 * committed position from memory when it still holds it, else by fetching
 * the stored upload back from import_chunks (live bytes that come during
 * the fetch wait in `tail`). Knows nothing of records or phases but the
 * gate on sending chunks; never calls the parts above it.
 */
#include "job_internal.h"

#include <stdlib.h>
#include <string.h>

int job_input_init(job_input *in)
{
	memset(in, 0, sizeof(*in));
	pf_spool_init(&in->spool, 0);
	in->pending = evbuffer_new();
	in->kept = evbuffer_new();
	in->tail = evbuffer_new();
	return in->pending && in->kept && in->tail ? 0 : PF_ENOMEM;
}

void job_input_deinit(job_input *in)
{
	pf_spool_deinit(&in->spool);
	if (in->pending)
		evbuffer_free(in->pending);
	if (in->kept)
		evbuffer_free(in->kept);
	if (in->tail)
		evbuffer_free(in->tail);
	in->pending = in->kept = in->tail = NULL;
}

int job_input_add(job_input *in, const char *data, size_t len)
{
	return evbuffer_add(in->fetching ? in->tail : in->pending, data, len) == 0 ? 0 : PF_ENOMEM;
}

int job_input_consumed(job_input *in, size_t n)
{
	if (n && evbuffer_remove_buffer(in->pending, in->kept, n) != (int)n)
		return PF_ENOMEM;
	in->parse_off += (int64_t)n;
	return 0;
}

/* Lets go of kept's bytes before stream offset end. */
static void drop_kept_before(job_input *in, int64_t end)
{
	int64_t drop = end - in->kept_off;
	int64_t have = (int64_t)evbuffer_get_length(in->kept);
	if (drop > have)
		drop = have;
	if (drop > 0) {
		evbuffer_drain(in->kept, (size_t)drop);
		in->kept_off += drop;
	}
}

void job_input_committed(job_input *in, int64_t end)
{
	drop_kept_before(in, end); /* no longer needed for a rewind */
}

/* A record longer than PF_JOB_KEPT_MAX (a 100 MB field) must not be held
 * whole for a rewind: bytes already stored are let go, a rewind reads them
 * back from import_chunks. */
void job_input_trim(job_input *in)
{
	if (evbuffer_get_length(in->kept) <= PF_JOB_KEPT_MAX)
		return;
	drop_kept_before(in, in->spool.durable);
}

void job_input_drop(job_input *in)
{
	evbuffer_drain(in->pending, evbuffer_get_length(in->pending));
	evbuffer_drain(in->kept, evbuffer_get_length(in->kept));
	evbuffer_drain(in->tail, evbuffer_get_length(in->tail));
}

bool job_input_spool_full(const job_input *in)
{
	return in->spool.unacked >= PF_SPOOL_UNACKED_MAX;
}

bool job_input_settled(const job_input *in)
{
	return !in->fetching && evbuffer_get_length(in->pending) == 0 && in->spool.head == NULL &&
	       in->spool.open_len == 0;
}

int job_input_rewind(job_input *in, int64_t pos, int64_t durable, bool complete, bool fresh)
{
	if (fresh) {
		pf_spool_deinit(&in->spool);
		pf_spool_init(&in->spool, durable);
		in->spool.finished = complete;
	} else {
		int rc = pf_spool_rewind(&in->spool, durable, complete);
		if (rc != 0)
			return rc;
	}
	int64_t mem_end = in->parse_off + (int64_t)evbuffer_get_length(in->pending);
	if (!fresh && !in->fetching && pos >= in->kept_off && pos <= mem_end) {
		/* the bytes from pos on are still in memory */
		if (pos <= in->parse_off) {
			evbuffer_drain(in->kept, (size_t)(pos - in->kept_off));
			if (evbuffer_prepend_buffer(in->pending, in->kept) != 0)
				return PF_ENOMEM;
		} else {
			evbuffer_drain(in->kept, evbuffer_get_length(in->kept));
			evbuffer_drain(in->pending, (size_t)(pos - in->parse_off));
		}
	} else {
		/* fetch the stored bytes; live ones wait in tail */
		if (!fresh && !in->fetching) {
			/* memory holds [kept_off, mem_end): what is past the stored
			 * bytes waits in tail, the rest comes back from the table */
			if (in->kept_off > durable)
				return PF_EINVAL; /* bytes neither kept nor stored */
			if (evbuffer_prepend_buffer(in->pending, in->kept) != 0)
				return PF_ENOMEM;
			int64_t have = (int64_t)evbuffer_get_length(in->pending);
			int64_t skip = durable - in->kept_off;
			evbuffer_drain(in->pending, (size_t)(skip < have ? skip : have));
			if (evbuffer_prepend_buffer(in->tail, in->pending) != 0)
				return PF_ENOMEM;
		}
		evbuffer_drain(in->kept, evbuffer_get_length(in->kept));
		evbuffer_drain(in->pending, evbuffer_get_length(in->pending));
		in->fetching = true;
		in->fetch_busy = false;
		in->fetch_off = pos;
		in->fetch_end = durable;
		in->fetch_complete = complete;
	}
	in->kept_off = in->parse_off = pos;
	return 0;
}

/* ---------------- the durable copy ---------------- */

int job_input_send_chunks(pf_job *job)
{
	if (job_phase_reads_row(job->phase) || !job->has_row || job->env->closing)
		return 0; /* sent after the row is read again */
	pf_spool_chunk *ch;
	while ((ch = pf_spool_next_unsent(&job->in.spool))) {
		unit_ctx *c;
		pf_db_unit *u = job_unit_new(job, UNIT_CHUNK, &c);
		char *copy = u ? malloc(ch->len ? ch->len : 1) : NULL;
		if (!copy) {
			ch->sent = false;
			job_unit_drop(u, c);
			return PF_ENOMEM;
		}
		if (ch->len)
			memcpy(copy, ch->data, ch->len);
		pf_db_unit_stmt(u, "SELECT durable, others_bytes "
		                   "FROM pf_chunk_put($1, $2, $3::int, $4, $5::boolean)");
		pf_db_unit_int(u, job->id);
		pf_db_unit_int(u, ch->offset);
		pf_db_unit_int(u, ch->raw_len);
		pf_db_unit_binary_owned(u, PF_OID_BYTEA, copy, ch->len);
		pf_db_unit_text(u, ch->final ? "t" : "f");
		job_submit(job, u);
	}
	return 0;
}

int job_input_make_durable(pf_job *job, int64_t end)
{
	if (job->in.spool.sealed < end) {
		int rc = pf_spool_seal(&job->in.spool, false);
		if (rc != 0)
			return rc;
	}
	return job_input_send_chunks(job);
}

/* What the owner's other imports hold came back with a chunk or a batch
 * ("-1": no owner, no quota): this import may use the rest of the quota,
 * which narrows while they grow and widens when one is deleted. An import
 * taken over after a restart gets its allowance here. */
void job_quota_follow(int64_t *left, int64_t max, const char *others)
{
	if (!others)
		return;
	int64_t o = strtoll(others, NULL, 10);
	if (o >= 0)
		*left = o < max ? max - o : 0;
}

void job_input_chunk_stored(pf_job *job, const pf_db_result *r)
{
	job_quota_follow(&job->bytes_left, job->env->cfg->user_max_bytes, pf_db_value(r, 0, 0, 1));
	pf_spool_ack_head(&job->in.spool);
}

/* ---------------- reading the stored upload back ---------------- */

int job_input_fetch_more(pf_job *job)
{
	job_input *in = &job->in;
	if (!in->fetching || in->fetch_busy)
		return JOB_FETCH_IDLE;
	if (in->fetch_off >= in->fetch_end) {
		/* the whole stored upload is in pending (or parsed): the live
		 * bytes that waited go next */
		in->fetching = false;
		if (evbuffer_add_buffer(in->pending, in->tail) != 0)
			return PF_ENOMEM;
		return JOB_FETCH_DONE;
	}
	if (evbuffer_get_length(in->pending) >= PF_JOB_FETCH_AHEAD)
		return JOB_FETCH_IDLE;
	pf_db_unit *u = job_unit_new(job, UNIT_FETCH, NULL);
	if (!u)
		return PF_ENOMEM;
	pf_db_unit_stmt(u, "SELECT byte_offset, raw_len, data FROM import_chunks "
	                   "WHERE job_id = $1 AND byte_offset + raw_len > $2 "
	                   "AND byte_offset < $3 ORDER BY byte_offset LIMIT $4");
	pf_db_unit_int(u, job->id);
	pf_db_unit_int(u, in->fetch_off);
	pf_db_unit_int(u, in->fetch_end);
	pf_db_unit_int(u, PF_JOB_FETCH_CHUNKS);
	in->fetch_busy = true;
	job_submit(job, u);
	return JOB_FETCH_SENT;
}

int job_input_fetch_apply(pf_job *job, const pf_db_result *r, const char **why)
{
	job_input *in = &job->in;
	int n = pf_db_rows(r, 0);
	char *raw = NULL;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		int64_t off = strtoll(pf_db_value(r, 0, i, 0), NULL, 10);
		int64_t len = strtoll(pf_db_value(r, 0, i, 1), NULL, 10);
		size_t blen = 0;
		unsigned char *blk =
		    PQunescapeBytea((const unsigned char *)pf_db_value(r, 0, i, 2), &blen);
		char *nraw = realloc(raw, len > 0 ? (size_t)len : 1);
		if (nraw)
			raw = nraw;
		if (!blk || !nraw || off > in->fetch_off ||
		    pf_spool_decode((const char *)blk, blen, raw, (size_t)len) != 0) {
			*why = "the stored upload cannot be read back";
			rc = PF_EINVAL;
		} else {
			int64_t skip = in->fetch_off - off;
			if (skip < len &&
			    evbuffer_add(in->pending, raw + skip, (size_t)(len - skip)) != 0) {
				*why = "out of memory";
				rc = PF_ENOMEM;
			}
			if (off + len > in->fetch_off)
				in->fetch_off = off + len;
		}
		PQfreemem(blk);
	}
	free(raw);
	if (rc == 0 && n == 0 && in->fetch_off < in->fetch_end) {
		*why = "the stored upload is missing bytes";
		rc = PF_EINVAL;
	}
	return rc;
}
