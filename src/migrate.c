/* migrate.c - being written */
