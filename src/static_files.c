/* static_files.c - being written */
