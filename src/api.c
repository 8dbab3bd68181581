/* api.c - being written */
