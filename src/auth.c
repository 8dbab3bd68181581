/* auth.c - being written */
