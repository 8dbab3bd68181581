/* account.c - being written */
