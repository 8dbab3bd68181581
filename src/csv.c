/* csv.c - being written */
