/* normalise.c - being written */
