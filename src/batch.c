/* batch.c - being written */
