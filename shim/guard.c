/*
 * guard.c - storage of the reentrancy guard (guard.h) and of the shim's
 * on/off switch (init.h), which the core reads and init.c sets.
 */
#include "guard.h"
#include "init.h"

int init_active;

__thread struct shim_tls shim_tls __attribute__((tls_model("initial-exec")));
