/*
 * init.h - whether the shim is tracing. Zero before our constructor ran,
 * when OTEL_SDK_DISABLED=true, in secure-execution processes, and after our
 * destructor: the hooks then only forward. Read with one relaxed load.
 */
#ifndef OTELSHIM_INIT_H
#define OTELSHIM_INIT_H

extern int init_active;

static inline int init_is_active(void)
{
	return __atomic_load_n(&init_active, __ATOMIC_RELAXED);
}

#endif
