/* ws.c - being written */
