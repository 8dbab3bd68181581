/* app.c - being written */
