/*
 * init.c - start-up, exit and fork. Nothing else.
 *
 * Hazards handled here:
 * - init order: hooks run before this constructor (from other libraries'
 *   constructors) and simply forward, because init_active is still 0;
 * - the constructor does only cheap work that cannot fail badly: read the
 *   configuration and register the fork handlers. Symbols are bound lazily
 *   (real.h), the exporter thread starts on the first span, and libunwind
 *   is loaded on the first stack (stack.h);
 * - secure execution (setuid, or /etc/ld.so.preload in a privileged
 *   program): config_load() reads nothing and the shim stays inert;
 * - fork: prepare binds every symbol first (so the child never runs dlsym
 *   under pthread_once) and lets our quiet sections end (exporter/quiet.h:
 *   a load of libunwind, whose half-done dlopen a child must not inherit,
 *   our calls to dl_iterate_phdr, whose lock glibc does not reset in the
 *   child, and the exporter thread's malloc and free);
 *   the child reseeds its id generators and drops the parent's queue (the
 *   parent exports it);
 * - exit: the destructor flushes within OTELSHIM_EXIT_FLUSH_TIMEOUT. It runs
 *   after the program's own atexit handlers, so their spans are flushed too.
 */
#include <pthread.h>

#include "config.h"
#include "conn.h"
#include "context.h"
#include "db.h"
#include "envcarrier.h"
#include "exporter.h"
#include "guard.h"
#include "http_conn.h"
#include "init.h"
#include "real.h"
#include "span.h"
#include "stack.h"

/* TRACESTATE of the environment, which the context points into. */
static char env_tracestate[TRACESTATE_MAX];

/* The exporter thread never traces itself. */
static void exporter_thread_start(void)
{
	guard_enter();
}

static void fork_prepare(void)
{
	guard_enter();
	real_bind();
	exporter_atfork_prepare();
}

static void fork_parent(void)
{
	conn_fork_parent();
	exporter_atfork_parent();
	guard_leave();
}

static void fork_child(void)
{
	span_after_fork();
	conn_after_fork();
	context_after_fork();
	stack_atfork_child();
	exporter_atfork_child();
	guard_leave();
}

__attribute__((constructor)) static void init(void)
{
	const struct config *cfg;

	otel_log_init();	/* before the program can rewrite argv[0] */
	conn_set_pid();
	config_load();
	cfg = config_get();
	if (cfg->secure || cfg->disabled)
		return;
	if (exporter_init(&cfg->exporter) < 0)
		return;
	exporter_set_thread_hook(exporter_thread_start);
	exporter_set_fd_hook(conn_mark_ours);
	stack_init(cfg);
	if (cfg->stack_mode != STACK_OFF) {
		/* Off, the span code runs its copies without stacks. */
		db_use_stacks(1);
		http_conn_use_stacks(1);
		exporter_set_symbolizer(&stack_symbolizer);
	}
	if (cfg->env_traceparent[0]) {
		struct span_ctx env;
		envcarrier_parse(cfg->env_traceparent, cfg->env_tracestate,
				 &env, env_tracestate, sizeof(env_tracestate));
		if (env.valid)
			context_set_env(&env);
	}
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
		otel_log(LOG_ERROR, "cannot register fork handlers; tracing is "
				    "off");
		return;
	}
	__atomic_store_n(&init_active, 1, __ATOMIC_RELEASE);
}

__attribute__((destructor)) static void fini(void)
{
	if (!__atomic_load_n(&init_active, __ATOMIC_ACQUIRE))
		return;
	guard_enter();
	exporter_shutdown();
	/* From now on the hooks only forward: nothing we start could be
	   exported, so nothing is injected either. */
	__atomic_store_n(&init_active, 0, __ATOMIC_RELEASE);
	guard_leave();
}
