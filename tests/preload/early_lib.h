/*
 * early_lib.h - a library the program links (DT_NEEDED) whose constructor
 * runs before otelshim's and whose destructor runs after otelshim's (the
 * dynamic loader initialises the program's needed libraries before the
 * preloaded one, and finalises in the opposite order; same_output.py
 * --init-order checks this with LD_DEBUG=libs on every run of the test).
 *
 * Both make a real HTTP exchange over loopback, with a server the
 * constructor starts (threads that live until the process exits), and
 * print one line each. The program uses the same server.
 */
#ifndef EARLY_LIB_H
#define EARLY_LIB_H

/* The port of the server the constructor started. */
int early_port(void);

#endif
