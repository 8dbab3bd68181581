/* multipart.c - being written */
