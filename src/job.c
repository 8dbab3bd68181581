/* job.c - being written */
