/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer (symbolize.h): a cache of libdwfl modules, one Dwfl per ELF
 * file reported at its own addresses (bias 0), so that a module serves every
 * process that maps the file, wherever it is loaded. An address is turned
 * into the file's own virtual address through the mapping's file offset and
 * the PT_LOAD segment holding it.
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "symbolize.h"

/* libstdc++'s demangler (the exporter links it for RE2 already). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

struct module {
	bool used;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char build_id[SYMBOLIZE_BUILD_ID];
	Dwfl *dwfl; /* NULL: the file could not be read as ELF (remembered too) */
	Dwfl_Module *mod;
	uint64_t last_use;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct module cache[SYMBOLIZE_MODULES];
static uint64_t use_clock;

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

int symbolizer_open(struct symbolizer *s, unsigned pid, unsigned *opens_left)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->opens_left = opens_left;
	return proc_maps_read(pid, &s->maps);
}

void symbolizer_close(struct symbolizer *s)
{
	proc_maps_free(&s->maps);
}

/* path inside the process's root, whatever its symlinks say. */
static int open_in_root(unsigned pid, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	char root[64];
	int dirfd, fd;

	snprintf(root, sizeof(root), "/proc/%u/root", pid);
	dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd < 0)
		fd = -errno;
	close(dirfd);
	return fd;
}

static void build_id_hex(Dwfl_Module *m, char *out)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(m, &bits, &vaddr);

	out[0] = '\0';
	for (int i = 0; i < n && i < (SYMBOLIZE_BUILD_ID - 1) / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", bits[i]);
}

static struct module *find_cached(const struct stat *st)
{
	for (int i = 0; i < SYMBOLIZE_MODULES; i++) {
		struct module *m = &cache[i];

		if (m->used && m->dev == st->st_dev && m->ino == st->st_ino &&
		    m->size == st->st_size && m->mtime.tv_sec == st->st_mtim.tv_sec &&
		    m->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return m;
	}
	return NULL;
}

/* The same build in another file (another container's copy): share it. */
static struct module *find_build_id(const char *id)
{
	for (int i = 0; id[0] && i < SYMBOLIZE_MODULES; i++)
		if (cache[i].used && cache[i].dwfl && strcmp(cache[i].build_id, id) == 0)
			return &cache[i];
	return NULL;
}

static struct module *victim(void)
{
	struct module *v = &cache[0];

	for (int i = 0; i < SYMBOLIZE_MODULES; i++) {
		if (!cache[i].used)
			return &cache[i];
		if (cache[i].last_use < v->last_use)
			v = &cache[i];
	}
	if (v->dwfl)
		dwfl_end(v->dwfl);
	memset(v, 0, sizeof(*v));
	return v;
}

/* Reads fd (consumed) as an ELF file into m. */
static void load(struct module *m, int fd, const char *name)
{
	m->dwfl = dwfl_begin(&callbacks);
	if (!m->dwfl) {
		close(fd);
		return;
	}
	m->mod = dwfl_report_offline(m->dwfl, name, name, fd);
	if (!m->mod || dwfl_report_end(m->dwfl, NULL, NULL) != 0) {
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
		m->mod = NULL;
		return;
	}
	build_id_hex(m->mod, m->build_id);
}

static struct module *module_for(struct symbolizer *s, const struct proc_map *pm)
{
	struct module *m, *same;
	struct stat st;
	int fd = open_in_root(s->pid, pm->path);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (unsigned long long)st.st_size > SYMBOLIZE_FILE_MAX) {
		close(fd);
		return NULL;
	}
	m = find_cached(&st);
	if (m || *s->opens_left == 0) {
		close(fd);
		return m;
	}
	(*s->opens_left)--;
	m = victim();
	m->used = true;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->size = st.st_size;
	m->mtime = st.st_mtim;
	load(m, fd, pm->path);
	same = m->dwfl ? find_build_id(m->build_id) : NULL;
	if (same && same != m) {
		/* Keep the older module, which may have its debug info loaded. */
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
		m->mod = NULL;
		m->used = false;
		return same;
	}
	return m;
}

/* The file's own virtual address of a file offset, through its PT_LOADs. */
static bool file_vaddr(Dwfl_Module *mod, uint64_t file_off, uint64_t *vaddr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t n;

	if (!elf || elf_getphdrnum(elf, &n) != 0)
		return false;
	for (size_t i = 0; i < n && i < 256; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (file_off >= ph.p_offset && file_off - ph.p_offset < ph.p_filesz) {
			*vaddr = file_off - ph.p_offset + ph.p_vaddr + bias;
			return true;
		}
	}
	return false;
}

static void copy_name(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	/* Labels must stay printable, whatever the file says. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 0x20 || (unsigned char)dst[i] == 0x7f)
			dst[i] = '?';
}

static void set_function(struct frame_info *out, const char *name)
{
	int status = -1;
	char *d =
	    name[0] == '_' && name[1] == 'Z' ? __cxa_demangle(name, NULL, NULL, &status) : NULL;

	copy_name(out->function, sizeof(out->function), status == 0 && d ? d : name);
	free(d);
	out->found_symbol = true;
}

static void describe(Dwfl_Module *mod, uint64_t vaddr, struct frame_info *out)
{
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(mod, vaddr, &off, &sym, NULL, NULL, NULL);
	Dwfl_Line *line;
	const char *file;
	int lineno = 0;

	if (name) {
		set_function(out, name);
		out->function_offset = off + 1; /* of the return address */
	}
	line = dwfl_module_getsrc(mod, vaddr);
	if (line && (file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL)) && lineno > 0) {
		const char *base = strrchr(file, '/');

		copy_name(out->file, sizeof(out->file), base ? base + 1 : file);
		out->line = lineno;
	}
}

void symbolize(struct symbolizer *s, uint64_t addr, struct frame_info *out)
{
	const struct proc_map *pm = proc_maps_find(&s->maps, addr);
	const char *base;
	struct module *m;
	uint64_t vaddr;

	memset(out, 0, sizeof(*out));
	if (!pm)
		return;
	out->found_map = true;
	out->map_start = pm->start;
	out->map_end = pm->end;
	out->map_offset = pm->offset;
	copy_name(out->path, sizeof(out->path), pm->path);
	base = strrchr(pm->path, '/');
	copy_name(out->object, sizeof(out->object), base ? base + 1 : pm->path);
	pthread_mutex_lock(&lock);
	m = module_for(s, pm);
	if (m && m->dwfl) {
		m->last_use = ++use_clock;
		memcpy(out->build_id, m->build_id, sizeof(out->build_id));
		/* addr - 1: the call, not the instruction after it. */
		if (file_vaddr(m->mod, addr - 1 - pm->start + pm->offset, &vaddr))
			describe(m->mod, vaddr, out);
	}
	pthread_mutex_unlock(&lock);
}

static bool prefixed(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool symbolize_is_allocator(const struct frame_info *f)
{
	static const char *objects[] = {"libmemtide.so", "libc.so", "libc-", "libstdc++.so"};
	static const char *functions[] = {"operator new",    "PyMem_",
					  "_PyMem_",	     "PyObject_Malloc",
					  "PyObject_Calloc", "PyObject_Realloc",
					  "_PyObject_",	     "g_malloc",
					  "g_slice_",	     "xmalloc",
					  "xcalloc",	     "xrealloc",
					  "_PyBytes_",	     "PyBytes_FromStringAndSize"};

	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		if (prefixed(f->object, objects[i]))
			return true;
	for (size_t i = 0; f->found_symbol && i < sizeof(functions) / sizeof(functions[0]); i++)
		if (prefixed(f->function, functions[i]))
			return true;
	return false;
}

void symbolize_label(const struct frame_info *f, uint64_t addr, char *buf, size_t len)
{
	if (f->found_symbol && f->line > 0)
		snprintf(buf, len, "%s (%s:%d)", f->function, f->file, f->line);
	else if (f->found_symbol)
		snprintf(buf, len, "%s+0x%llx in %s", f->function,
			 (unsigned long long)f->function_offset, f->object);
	else if (f->found_map)
		snprintf(buf, len, "0x%llx in %s", (unsigned long long)(addr - f->map_start),
			 f->object);
	else
		snprintf(buf, len, "0x%llx", (unsigned long long)addr);
}

void symbolize_flush(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < SYMBOLIZE_MODULES; i++) {
		if (cache[i].dwfl)
			dwfl_end(cache[i].dwfl);
		memset(&cache[i], 0, sizeof(cache[i]));
	}
	pthread_mutex_unlock(&lock);
}
