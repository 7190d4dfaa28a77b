/* guard.c - storage of the reentrancy guard declared in guard.h. */
#include "guard.h"

__thread int guard_depth __attribute__((tls_model("initial-exec")));
