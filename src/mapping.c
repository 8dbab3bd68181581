/* mapping.c - being written */
