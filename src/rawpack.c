/* rawpack.c - being written */
