/* hasher.c - being written */
