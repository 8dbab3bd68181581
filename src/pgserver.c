/* pgserver.c - being written */
