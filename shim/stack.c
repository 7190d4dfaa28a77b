/*
 * stack.c - callers and stacks of spans (see stack.h).
 *
 * Hazards handled here:
 * - libunwind may be missing at run time, or fail to load: no stacks, the
 *   rest works (names do not need it: see below);
 * - loading it takes ~0.1 ms: one thread loads, the others skip their
 *   capture meanwhile rather than wait;
 * - libunwind's pipe (memory validation): moved high and protected, see
 *   stack_fd_adopt(); if the program takes its number over anyway (dup2,
 *   or the raw close_range system call and a new file; checked before
 *   each capture, two fstat calls), no more captures: libunwind would
 *   read and write the program's file;
 * - names: dladdr knows only exported symbols; the others (static
 *   functions) come from the object's .symtab, read from its file with
 *   pread into a static buffer (no allocation, no mapping, one O_CLOEXEC
 *   descriptor that a child forked meanwhile closes): a fork may land in
 *   the middle of a search, and an exec on another thread too;
 * - a stripped object (no .symtab): no name but the exported ones; a
 *   function is named only when the address lies inside it (never the
 *   nearest function before it);
 * - a module unloaded (dlclose) between the capture and the export:
 *   dladdr fails and the frame is printed as a bare address; every
 *   dlclose (glibc's dlpi_subs count) empties the caches, since another
 *   module may now sit at the same addresses;
 * - cost: each address is looked up once (a cache of SYM_CACHE entries),
 *   and at most SLOW_LOOKUPS symbol-table searches (each reads the
 *   object's symbol table) run per batch; beyond, frames keep their
 *   module and offset and get their names later. An object without a
 *   symbol table (stripped) is not searched again.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef OTELSHIM_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

#include "conn.h"
#include "guard.h"
#include "quiet.h"
#include "real.h"
#include "stack.h"

struct stack_policy stack_policy = {STACK_OFF, UINT64_MAX};

void stack_init(const struct config *cfg)
{
	stack_policy.mode = (uint8_t)cfg->stack_mode;
	switch (cfg->stack_mode) {
	case STACK_ALL:
		stack_policy.keep_ns = 0;
		break;
	case STACK_SLOW:
		stack_policy.keep_ns = (uint64_t)cfg->stack_slow_ms * 1000000u;
		break;
	default:
		stack_policy.keep_ns = UINT64_MAX;	/* failed ones only */
		break;
	}
}

/* ---- the shim's own code ------------------------------------------------- */

static uintptr_t self_lo, self_hi;
static int self_known;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t a = (uintptr_t)arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && a >= lo &&
		    a < lo + ph->p_memsz) {
			self_lo = lo;
			self_hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/* The executable segment that holds this file's code. */
static void self_range(void)
{
	if (__atomic_load_n(&self_known, __ATOMIC_ACQUIRE))
		return;
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&stack_capture);
	__atomic_store_n(&self_known, 1, __ATOMIC_RELEASE);
}

void stack_set_self(uintptr_t lo, uintptr_t hi)
{
	self_lo = lo;
	self_hi = hi;
	__atomic_store_n(&self_known, 1, __ATOMIC_RELEASE);
}

static int is_self(uint64_t ip)
{
	return ip >= self_lo && ip < self_hi;
}

/* ---- libunwind, loaded on first use -------------------------------------- */

#ifndef OTELSHIM_LIBUNWIND_SONAME
#define OTELSHIM_LIBUNWIND_SONAME "libunwind.so.8"
#endif

enum { UNW_NONE = 0, UNW_LOADING, UNW_READY, UNW_MISSING };

static int unw_state;
static int unw_fd_lost;		/* the program took the pipe's number */

#ifdef OTELSHIM_HAVE_LIBUNWIND
/* The names the header maps the API to (_ULx86_64_set_caching_policy,
   ...). */
#define NAME2(x) #x
#define NAME(x) NAME2(x)

static struct {
	__typeof__(&unw_backtrace) backtrace;
} unw;

static int unw_load(void)
{
	void *h = dlopen(OTELSHIM_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *buf[1];

	if (!h)
		return -1;
	unw.backtrace = (__typeof__(unw.backtrace))dlsym(h, "unw_backtrace");
	__typeof__(&unw_set_caching_policy) policy =
		(__typeof__(policy))dlsym(h, NAME(unw_set_caching_policy));
	unw_addr_space_t *as = dlsym(h, NAME(unw_local_addr_space));
	if (!unw.backtrace)
		return -1;	/* (the handle stays: not worth a dlclose) */
	/* Per-thread caches: no lock shared between threads (a lock held
	   by another thread at fork would hang the child's first capture). */
	if (policy && as)
		policy(*as, UNW_CACHE_PER_THREAD);
	unw.backtrace(buf, 1);	/* the rest of its set-up, now */
	return 0;
}
#else
static int unw_load(void)
{
	return -1;
}
#endif

/*
 * libunwind ready for use? Loads it on the first call; a thread that finds
 * another one loading it gets 0 at once.
 */
static int unw_ready(void)
{
	int s = __atomic_load_n(&unw_state, __ATOMIC_ACQUIRE);
	int expected = UNW_NONE;

	if (s == UNW_READY)
		return !__atomic_load_n(&unw_fd_lost, __ATOMIC_RELAXED);
	if (s != UNW_NONE ||
	    !__atomic_compare_exchange_n(&unw_state, &expected, UNW_LOADING, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	int saved_errno = errno;
	self_range();
	/* libunwind may set itself up (and open its pipe) as it is loaded,
	   or at its first call: both under our eyes (stack_in_unwind) */
	shim_tls.in_unwind++;
	int ok = unw_load() == 0;
	shim_tls.in_unwind--;
	__atomic_store_n(&unw_state, ok ? UNW_READY : UNW_MISSING,
			 __ATOMIC_RELEASE);
	if (!ok)
		otel_log(stack_policy.mode >= STACK_SLOW ? LOG_WARN : LOG_DEBUG,
			 "cannot load %s: spans carry no stacks",
			 OTELSHIM_LIBUNWIND_SONAME);
	errno = saved_errno;
	return ok;
}

/* ---- capture ------------------------------------------------------------- */

/* The shim's frames above the program's, at most (recv hook to capture). */
#define SELF_MAX 16

static int pipe_intact(void);

unsigned stack_capture(uint64_t *out, unsigned max)
{
#ifdef OTELSHIM_HAVE_LIBUNWIND
	void *buf[SELF_MAX + SPAN_MAX_FRAMES];
	int saved_errno = errno;
	unsigned k = 0;
	/* no deeper than needed: the walk costs per frame */
	int want = (int)(SELF_MAX + (max < SPAN_MAX_FRAMES ? max
							  : SPAN_MAX_FRAMES));

	/* libunwind's own calls (read, close, pipe2 on its pipe) must pass
	   our hooks untouched */
	guard_enter();
	/* libunwind's loading (dlopen) and its search of the unwind tables
	   (dl_iterate_phdr) must not be cut by a fork (quiet.h): while one
	   is being prepared, no stack */
	if (!quiet_try()) {
		guard_leave();
		errno = saved_errno;
		return 0;
	}
	if (!unw_ready() || !pipe_intact()) {
		quiet_leave();
		guard_leave();
		errno = saved_errno;
		return 0;
	}
	shim_tls.in_unwind++;
	int n = unw.backtrace(buf, want);
	shim_tls.in_unwind--;
	quiet_leave();
	guard_leave();
	int i = 0;
	while (i < n && is_self((uintptr_t)buf[i]))
		i++;
	for (; i < n && k < max; i++)
		out[k++] = (uintptr_t)buf[i];
	errno = saved_errno;
	return k;
#else
	(void)out;
	(void)max;
	return 0;
#endif
}

void stack_keep(struct span_record *r, const struct stack *start)
{
	if (start && stack_policy.mode >= STACK_SLOW && start->n) {
		span_record_set_frames(r, start->ip, start->n);
		return;
	}
	r->n_frames = (uint8_t)stack_capture(r->frames, SPAN_MAX_FRAMES);
}

/* ---- libunwind's pipe ---------------------------------------------------- */

/*
 * The pipe's two numbers and what they were (device and inode, as fstat
 * gives them): a program can close them behind our back with the raw
 * close_range system call and reuse the numbers, and then they are its
 * own, for close() and for libunwind alike.
 */
static int unw_fds[2] = {-1, -1};
static uint64_t unw_fd_id[2][2];

int stack_in_unwind(void)
{
	return shim_tls.in_unwind != 0;
}

static int same_file(int fd, const uint64_t id[2])
{
	struct stat st;

	return fstat(fd, &st) == 0 && (uint64_t)st.st_dev == id[0] &&
	       (uint64_t)st.st_ino == id[1];
}

/*
 * A high number, away from the program's low ones like the exporter's
 * socket (exporter/otlp_http.c), and above where the exporter puts it: a
 * program that opens descriptors up to the exporter's number (the
 * reliability tests do) meets ours after it, if ever.
 */
static int move_high(int fd)
{
	struct rlimit rl;
	long base = 512;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		base = rl.rlim_cur >= 2048 ? 1024 : (long)rl.rlim_cur / 2;
	base += 64;
	if (fd >= base)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
	if (n < 0)
		return fd;	/* no room up there: keep it where it is */
	REAL(close)(fd);
	return n;
}

void stack_fd_adopt(int fds[2])
{
	int saved_errno = errno;

	for (int i = 0; i < 2; i++) {
		struct stat st;
		fds[i] = move_high(fds[i]);
		if (fstat(fds[i], &st) == 0) {
			unw_fd_id[i][0] = (uint64_t)st.st_dev;
			unw_fd_id[i][1] = (uint64_t)st.st_ino;
		}
		__atomic_store_n(&unw_fds[i], fds[i], __ATOMIC_RELEASE);
		conn_mark_ours(fds[i], 1);
	}
	errno = saved_errno;
}

int stack_fd_owned(int fd)
{
	for (int i = 0; i < 2; i++)
		if (fd >= 0 && __atomic_load_n(&unw_fds[i], __ATOMIC_ACQUIRE) == fd)
			return same_file(fd, unw_fd_id[i]);
	return 0;
}

void stack_fd_forget(int fd)
{
	for (int i = 0; i < 2; i++) {
		int expected = fd;
		if (fd >= 0 &&
		    __atomic_compare_exchange_n(&unw_fds[i], &expected, -1, 0,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			conn_mark_ours(fd, 0);
	}
}

void stack_fd_taken(int fd)
{
	if (!stack_fd_owned(fd))
		return;
	__atomic_store_n(&unw_fd_lost, 1, __ATOMIC_RELEASE);
	stack_fd_forget(fd);
}

void stack_fds(int out[2])
{
	out[0] = __atomic_load_n(&unw_fds[0], __ATOMIC_ACQUIRE);
	out[1] = __atomic_load_n(&unw_fds[1], __ATOMIC_ACQUIRE);
}

/*
 * Before libunwind runs: its pipe is still its own, or closed (libunwind
 * then makes a new one). A number that now holds a file of the program's
 * would be read from and written to: no more stacks then.
 */
static int pipe_intact(void)
{
	for (int i = 0; i < 2; i++) {
		int fd = __atomic_load_n(&unw_fds[i], __ATOMIC_ACQUIRE);
		if (fd < 0 || same_file(fd, unw_fd_id[i]))
			continue;
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			continue;	/* closed: libunwind reopens */
		__atomic_store_n(&unw_fd_lost, 1, __ATOMIC_RELEASE);
		return 0;
	}
	return 1;
}

/* ---- pure parts ---------------------------------------------------------- */

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

enum stack_module_kind stack_module_kind(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	if (has_prefix(b, "libc.so") || has_prefix(b, "libc-") ||
	    has_prefix(b, "ld-linux") || has_prefix(b, "ld-2.") ||
	    has_prefix(b, "ld.so") || has_prefix(b, "libpthread.so") ||
	    has_prefix(b, "libpthread-") || has_prefix(b, "libdl.so"))
		return STACK_MODULE_LIBC;
	/* the sanitizers' runtimes interpose libc's functions, as we do:
	   their frames above ours are not the program's either */
	if (has_prefix(b, "libasan.so") || has_prefix(b, "libubsan.so") ||
	    has_prefix(b, "libtsan.so") || has_prefix(b, "liblsan.so") ||
	    has_prefix(b, "libhwasan.so") ||
	    has_prefix(b, "libclang_rt.asan"))
		return STACK_MODULE_LIBC;
	if (has_prefix(b, "libpq.so") || has_prefix(b, "libmysqlclient.so") ||
	    has_prefix(b, "libmariadb.so") ||
	    has_prefix(b, "libmariadbclient.so"))
		return STACK_MODULE_DB;
	if (has_prefix(b, "libotelshim.so"))
		return STACK_MODULE_SELF;
	return STACK_MODULE_APP;
}

/* Appending to a bounded line: the formatting of one frame, ~32 per
   stack, without printf (it was most of the exporter's time per stack). */
struct line {
	char *p;
	size_t len, cap;	/* cap > 0: room for the NUL */
};

static void add(struct line *l, const char *s, size_t n)
{
	if (n > l->cap - 1 - l->len)
		n = l->cap - 1 - l->len;
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void add_str(struct line *l, const char *s)
{
	add(l, s, strlen(s));
}

static void add_hex(struct line *l, uint64_t v)
{
	char b[18];
	int i = (int)sizeof(b);

	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	add(l, b + i, sizeof(b) - (size_t)i);
}

static void add_uint(struct line *l, unsigned v)
{
	char b[12];
	int i = (int)sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	add(l, b + i, sizeof(b) - (size_t)i);
}

size_t stack_format_frame(char *buf, size_t cap, unsigned n, uint64_t ip,
			  const char *symbol, uint64_t sym_off,
			  const char *module, uint64_t mod_off)
{
	struct line l = {buf, 0, cap};

	if (!cap)
		return 0;
	add(&l, "#", 1);
	add_uint(&l, n);
	add(&l, " ", 1);
	add_hex(&l, ip);
	if (symbol) {
		add(&l, " ", 1);
		add_str(&l, symbol);
		add(&l, "+", 1);
		add_hex(&l, sym_off);
	}
	if (module) {
		add(&l, " (", 2);
		add_str(&l, module);
		add(&l, "+", 1);
		add_hex(&l, mod_off);
		add(&l, ")", 1);
	}
	buf[l.len] = '\0';
	return l.len;
}

/* ---- symbols, on the exporter thread ------------------------------------- */

#define SYM_CACHE 1024		/* addresses remembered */
#define SYM_NAME_MAX 128	/* longer names are cut */
#define MOD_MAX 256		/* objects remembered */
#define MOD_PATH_MAX 256
#define SLOW_LOOKUPS 256	/* symbol-table searches per batch */

struct module {
	const void *map;	/* its struct link_map: the identity */
	uintptr_t bias;		/* l_addr: file offsets for addr2line */
	uint8_t kind;		/* enum stack_module_kind */
	uint8_t no_symtab;	/* a search found nothing: stripped */
	char path[MOD_PATH_MAX];
};

struct sym {
	uint64_t ip;
	uint32_t gen;		/* sym_gen when filled */
	int16_t mod;		/* index in modules[], -1: no object */
	uint8_t named;
	uint8_t partial;	/* no symbol-table search yet (budget) */
	uint64_t off;		/* from the symbol's start */
	char name[SYM_NAME_MAX];
};

static struct module modules[MOD_MAX];
static unsigned n_modules;
static struct sym sym_cache[SYM_CACHE];
static uint32_t sym_gen = 1;
static unsigned long long seen_subs;
static int slow_left;
static char exe_path[MOD_PATH_MAX];

static int load_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) +
			    sizeof(info->dlpi_subs))
		*(unsigned long long *)arg = info->dlpi_subs;
	return 1;	/* the first object says it */
}

/*
 * Before a batch: forget everything if a module went away since.
 * dl_iterate_phdr holds the loader's list lock, which a fork must not
 * cut through (quiet.h).
 */
static void sym_batch(void)
{
	unsigned long long subs = 0;

	quiet_enter();
	dl_iterate_phdr(load_counts, &subs);
	self_range();
	quiet_leave();
	if (subs != seen_subs) {
		seen_subs = subs;
		sym_gen++;
		n_modules = 0;
	}
	slow_left = SLOW_LOOKUPS;
}

static int module_of(const struct link_map *lm)
{
	for (unsigned i = 0; i < n_modules; i++)
		if (modules[i].map == lm)
			return (int)i;
	if (n_modules == MOD_MAX)
		return -1;
	struct module *m = &modules[n_modules];
	const char *path = lm->l_name;
	if (!path || !path[0]) {
		/* the program itself: its file, not argv[0] */
		if (!exe_path[0]) {
			ssize_t k = readlink("/proc/self/exe", exe_path,
					     sizeof(exe_path) - 1);
			exe_path[k > 0 ? k : 0] = '\0';
		}
		path = exe_path[0] ? exe_path : "?";
	}
	m->map = lm;
	m->bias = lm->l_addr;
	m->no_symtab = 0;
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->kind = (uint8_t)stack_module_kind(m->path);
	return (int)n_modules++;
}

static void set_name(struct sym *e, const char *name, uint64_t off)
{
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->off = off;
	e->named = 1;
}

/*
 * The symbol table of a module's file, read on the exporter thread with
 * pread() into a static buffer: no allocation, no mapping, no lock, and
 * one descriptor (O_CLOEXEC), published in sym_fd from open to close. A
 * child forked in the middle of a search closes its copy
 * (stack_atfork_child) and inherits nothing else of it. (libunwind's
 * unw_get_proc_name, used before, mallocs a path, maps the file and
 * /proc/self/maps, and opens both without O_CLOEXEC: a fork in the middle
 * of it leaked the block, the mappings and the descriptors to the child,
 * and an exec from another thread the descriptors to the new program.)
 */
static int sym_fd = -1;
static uint64_t sym_fd_id[2];
static unsigned char sym_io[16384] __attribute__((aligned(16)));

/* n bytes at off, all of them, or -1. */
static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = pread(fd, (char *)buf + got, n - got,
				  (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

static int sym_open(const char *path, uint64_t *size)
{
	struct stat st;

	sym_fd_id[0] = sym_fd_id[1] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	__atomic_store_n(&sym_fd, fd, __ATOMIC_SEQ_CST);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		__atomic_store_n(&sym_fd, -1, __ATOMIC_SEQ_CST);
		REAL(close)(fd);
		return -1;
	}
	sym_fd_id[0] = (uint64_t)st.st_dev;
	sym_fd_id[1] = (uint64_t)st.st_ino;
	*size = (uint64_t)st.st_size;
	return fd;
}

static void sym_close(int fd)
{
	/* unpublished first: a child forked after this must not close the
	   number, which may be the program's again by then */
	__atomic_store_n(&sym_fd, -1, __ATOMIC_SEQ_CST);
	/* never close a number the program took over meanwhile (closed
	   behind our back, then reused) */
	if (same_file(fd, sym_fd_id))
		REAL(close)(fd);
}

struct elf_sym_best {
	uint64_t value, size;
	uint32_t name;
	int found;
};

/*
 * Look for the function at file address a in the symbol table (section
 * header sh) of the file fd of size fsize. Keeps in *in the function that
 * holds a (the latest start), in *near the latest start at or below a.
 */
static void scan_symtab(int fd, uint64_t fsize, const ElfW(Shdr) *sh,
			uint64_t a, struct elf_sym_best *in,
			struct elf_sym_best *near)
{
	const size_t es = sizeof(ElfW(Sym));
	uint64_t off = sh->sh_offset, end = sh->sh_offset + sh->sh_size;

	if (sh->sh_entsize != es || end < off || end > fsize)
		return;
	while (off + es <= end) {
		size_t chunk = sizeof(sym_io) / es * es;
		if (chunk > end - off)
			chunk = (size_t)((end - off) / es * es);
		if (read_at(fd, sym_io, chunk, off) < 0)
			return;
		for (size_t i = 0; i < chunk; i += es) {
			const ElfW(Sym) *y = (const ElfW(Sym) *)(sym_io + i);
			if (ELF64_ST_TYPE(y->st_info) != STT_FUNC ||
			    y->st_shndx == SHN_UNDEF || y->st_value > a)
				continue;
			if (!near->found || y->st_value > near->value)
				*near = (struct elf_sym_best){
					y->st_value, y->st_size, y->st_name, 1};
			if (y->st_size && a < y->st_value + y->st_size &&
			    (!in->found || y->st_value > in->value))
				*in = (struct elf_sym_best){
					y->st_value, y->st_size, y->st_name, 1};
		}
		off += chunk;
	}
}

enum { ELF_NAMED = 1, ELF_NO_NAME = 0, ELF_NO_SYMTAB = -1 };

/*
 * The function of the object at path that holds file address a (ip - 1
 * minus the load bias): its name into name (cut to cap) and its start
 * into *start. Only .symtab is read: .dynsym's names are dladdr's, which
 * was asked first. ELF_NO_SYMTAB when the file has none (stripped) or
 * cannot be read: not worth a search again.
 */
static int elf_function(const char *path, uint64_t a, char *name, size_t cap,
			uint64_t *start)
{
	ElfW(Ehdr) eh;
	uint64_t fsize = 0;
	int fd = sym_open(path, &fsize);
	int ret = ELF_NO_SYMTAB, have_symtab = 0;
	struct elf_sym_best in = {0}, near = {0};
	ElfW(Shdr) strtab;

	if (fd < 0)
		return ELF_NO_SYMTAB;
	if (read_at(fd, &eh, sizeof(eh), 0) < 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64
							  : ELFCLASS32) ||
	    eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 ||
	    eh.e_shoff > fsize ||
	    (uint64_t)eh.e_shnum * sizeof(ElfW(Shdr)) > fsize - eh.e_shoff)
		goto out;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		ElfW(Shdr) sh;
		if (read_at(fd, &sh, sizeof(sh),
			    eh.e_shoff + (uint64_t)i * sizeof(sh)) < 0)
			goto out;
		if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh.e_shnum)
			continue;
		if (read_at(fd, &strtab, sizeof(strtab),
			    eh.e_shoff +
				    (uint64_t)sh.sh_link * sizeof(strtab)) < 0 ||
		    strtab.sh_type != SHT_STRTAB)
			continue;
		have_symtab = 1;
		scan_symtab(fd, fsize, &sh, a, &in, &near);
		break;	/* one symbol table per object */
	}
	if (!have_symtab)
		goto out;
	ret = ELF_NO_NAME;
	/* The function that holds a; else a symbol without a size that
	   starts after every other (hand-written code), never a sized one
	   that ends before a (the nearest function of a stripped part). */
	const struct elf_sym_best *b = in.found ? &in
				     : near.found && !near.size ? &near
								: NULL;
	if (!b || !b->name || b->name >= strtab.sh_size ||
	    strtab.sh_offset + strtab.sh_size > fsize)
		goto out;
	size_t n = cap - 1;
	if (n > strtab.sh_size - b->name)
		n = (size_t)(strtab.sh_size - b->name);
	if (read_at(fd, name, n, strtab.sh_offset + b->name) < 0)
		goto out;
	name[n] = '\0';
	if (!name[0])
		goto out;
	*start = b->value;
	ret = ELF_NAMED;
out:
	sym_close(fd);
	return ret;
}

/*
 * The symbol-table name of ip (static functions too), from the file of
 * its module m. Returns 1 when named, 0 when the object has no name for
 * it, -1 when the object has no symbol table to search (stripped).
 */
static int file_name(struct sym *e, const struct module *m)
{
	char name[SYM_NAME_MAX];
	uint64_t start = 0;
	uint64_t a = e->ip - 1 - m->bias;	/* the call, in the file */

	if (e->ip - 1 < m->bias)
		return 0;
	int r = elf_function(m->path, a, name, sizeof(name), &start);
	if (r != ELF_NAMED)
		return r == ELF_NO_SYMTAB ? -1 : 0;
	set_name(e, name, e->ip - m->bias - start);
	return 1;
}

void stack_atfork_child(void)
{
	int fd = __atomic_exchange_n(&sym_fd, -1, __ATOMIC_SEQ_CST);

	/* the parent's exporter thread was searching a symbol table: our
	   copy of its descriptor is nobody's here */
	if (fd >= 0)
		REAL(close)(fd);
}

/* What is known of a return address (an entry of the cache). */
static const struct sym *resolve(uint64_t ip)
{
	struct sym *e = &sym_cache[(ip ^ (ip >> 12)) % SYM_CACHE];
	Dl_info d;
	struct link_map *lm = NULL;

	if (e->ip == ip && e->gen == sym_gen && !(e->partial && slow_left > 0))
		return e;
	e->ip = ip;
	e->gen = sym_gen;
	e->mod = -1;
	e->named = 0;
	e->partial = 0;
	e->off = 0;
	e->name[0] = '\0';
	/* ip - 1: the call instruction, inside the calling function */
	if (ip == 0 || !dladdr1((void *)(uintptr_t)(ip - 1), &d, (void **)&lm,
				RTLD_DL_LINKMAP) || !lm)
		return e;
	e->mod = (int16_t)module_of(lm);
	if (d.dli_sname && d.dli_saddr) {
		set_name(e, d.dli_sname, ip - (uintptr_t)d.dli_saddr);
		return e;
	}
	/* Each search reads the object's symbol table: an object that has
	   none is not searched again. */
	if (e->mod < 0 || modules[e->mod].no_symtab)
		return e;
	if (slow_left > 0) {
		slow_left--;
		if (file_name(e, &modules[e->mod]) < 0)
			modules[e->mod].no_symtab = 1;
	} else {
		e->partial = 1;
	}
	return e;
}

static enum stack_module_kind kind_of(uint64_t ip, const struct sym *e)
{
	if (is_self(ip))
		return STACK_MODULE_SELF;
	if (e->mod < 0)
		return STACK_MODULE_APP;	/* unknown: not ours to hide */
	return (enum stack_module_kind)modules[e->mod].kind;
}

/* Copy name into buf as the function; returns the bytes used. */
static size_t put_function(char *buf, size_t cap, const char *name,
			   struct span_code *out)
{
	size_t n = strlen(name);

	if (n >= cap)
		n = cap ? cap - 1 : 0;
	if (!n)
		return 0;
	memcpy(buf, name, n);
	buf[n] = '\0';
	out->function = buf;
	out->function_len = (uint32_t)n;
	return n + 1;
}

static size_t sym_span(const struct span_record *r, char *buf, size_t cap,
		       struct span_code *out)
{
	size_t used = 0;
	unsigned nf = r->n_frames <= SPAN_MAX_FRAMES ? r->n_frames
						     : SPAN_MAX_FRAMES;

	out->function = out->stacktrace = NULL;
	out->function_len = out->stacktrace_len = 0;
	if (r->caller) {
		const struct sym *e = resolve(r->caller);
		if (e->named && kind_of(r->caller, e) == STACK_MODULE_APP)
			used = put_function(buf, cap, e->name, out);
	}
	if (!nf)
		return used;

	/* libc's and our frames at the top are not the program's */
	unsigned top = 0;
	while (top < nf) {
		enum stack_module_kind k = kind_of(r->frames[top],
						   resolve(r->frames[top]));
		if (k != STACK_MODULE_LIBC && k != STACK_MODULE_SELF)
			break;
		top++;
	}
	if (top == nf)
		top = 0;	/* nothing else: show them all */

	/* the function's room first, then the text after it */
	size_t fn_room = out->function ? 0 : SYM_NAME_MAX;
	if (used + fn_room >= cap)
		return used;
	char *fn = buf + used;
	char *text = fn + fn_room;
	size_t room = cap - used - fn_room, len = 0;
	for (unsigned i = top; i < nf; i++) {
		uint64_t ip = r->frames[i];
		const struct sym *e = resolve(ip);
		const struct module *m = e->mod >= 0 ? &modules[e->mod] : NULL;
		char line[512];
		if (!out->function && e->named &&
		    kind_of(ip, e) == STACK_MODULE_APP)
			put_function(fn, fn_room, e->name, out);
		size_t ll = stack_format_frame(line, sizeof(line), i - top,
					       ip, e->named ? e->name : NULL,
					       e->off, m ? m->path : NULL,
					       m ? ip - m->bias : 0);
		/* whole lines only, with room kept for the last note */
		if (len + (len ? 1 : 0) + ll + 40 > room) {
			int k = snprintf(text + len, room - len,
					 "%s#%u ... (%u more)", len ? "\n" : "",
					 i - top, nf - i);
			if (k > 0 && (size_t)k < room - len)
				len += (size_t)k;
			break;
		}
		if (len)
			text[len++] = '\n';
		memcpy(text + len, line, ll);
		len += ll;
	}
	text[len] = '\0';
	out->stacktrace = text;
	out->stacktrace_len = (uint32_t)len;
	return (size_t)(text + len + 1 - buf);
}

const struct exporter_symbolizer stack_symbolizer = {
	.batch = sym_batch,
	.span = sym_span,
};
