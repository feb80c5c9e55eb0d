/*
 * probe-elf.c -- looks functions and USDT probes up in ELF files, so that
 * attaching can say precisely what is missing (no such file, not ELF,
 * stripped, no such symbol, an import, an IFUNC, no such USDT probe)
 * before the kernel is asked for anything.
 *
 * The file is mapped read-only and every offset read from it is checked
 * against its size: a malformed binary gives an error, never a crash.
 * 64-bit ELF in the host's byte order only (what uprobes on this host run).
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe/probe-int.h"

#define PROBE_STAPSDT_TYPE 3	/* NT_STAPSDT: a USDT probe note */

/* A mapped ELF file. */
struct probe_elf {
	const char *path;
	const unsigned char *base;
	size_t size;
	bool mapped;			/* base is our mapping (else the caller's buffer) */
	const Elf64_Ehdr *eh;
};

/* What a symbol search found. */
struct probe_elf_sym {
	bool found, undef, ifunc, object, ambiguous, have_symtab;
	uint64_t value, size;
	unsigned bind;
};

/* Checks the ELF header of a mapped file; 0 or -ENOEXEC with err. */
static int probe_elf_check(struct probe_elf *f, char *err, size_t errlen)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)f->base;

	if (f->size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return probe_fail(-ENOEXEC, err, errlen, "%s is not an ELF file", f->path);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return probe_fail(-ENOEXEC, err, errlen,
				  "%s is not a 64-bit ELF file: only 64-bit binaries are supported",
				  f->path);
	if (eh->e_ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB :
								     ELFDATA2MSB))
		return probe_fail(-ENOEXEC, err, errlen, "%s has the wrong byte order for this host",
				  f->path);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return probe_fail(-ENOEXEC, err, errlen,
				  "%s is not an executable or a shared library (ELF type %u)",
				  f->path, (unsigned)eh->e_type);
	if ((eh->e_shoff & 7) || (eh->e_phoff & 7) ||	/* the tables are read in place */
	    (eh->e_shnum && eh->e_shentsize != sizeof(Elf64_Shdr)) ||
	    eh->e_shoff > f->size || (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > f->size - eh->e_shoff ||
	    (eh->e_phnum && eh->e_phentsize != sizeof(Elf64_Phdr)) ||
	    eh->e_phoff > f->size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > f->size - eh->e_phoff)
		return probe_fail(-ENOEXEC, err, errlen, "%s is a truncated or malformed ELF file",
				  f->path);
	f->eh = eh;
	return 0;
}

/* Maps path read-only and checks its header; 0 or -errno with err. */
static int probe_elf_open(struct probe_elf *f, const char *path, char *err, size_t errlen)
{
	struct stat st;
	void *p;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	f->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return probe_fail(-errno, err, errlen, errno == ENOENT ?
				  "binary %s does not exist" : "cannot open %s: %m", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		rc = probe_fail(-ENOEXEC, err, errlen, "%s is not a regular, non-empty file", path);
		goto out;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		rc = probe_fail(-errno, err, errlen, "cannot map %s: %m", path);
		goto out;
	}
	f->base = p;
	f->size = (size_t)st.st_size;
	f->mapped = true;
	rc = probe_elf_check(f, err, errlen);
	if (rc) {
		munmap(p, f->size);
		f->base = NULL;
	}
out:
	close(fd);
	return rc;
}

/* Unmaps the file. */
static void probe_elf_close(struct probe_elf *f)
{
	if (f->base && f->mapped)
		munmap((void *)(uintptr_t)f->base, f->size);
	f->base = NULL;
}

/* Reads an ELF image already in memory (label names it in messages); 0 or -ENOEXEC with err. */
static int probe_elf_mem(struct probe_elf *f, const char *label, const void *buf, size_t len, char *err,
			 size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->path = label;
	f->base = buf;
	f->size = len;
	if (((uintptr_t)buf & 7) != 0)
		return probe_fail(-ENOEXEC, err, errlen, "%s: an ELF image must be 8-byte aligned", label);
	return probe_elf_check(f, err, errlen);
}

/* Opens path, or the in-memory image buf (when non-NULL); 0 or -errno with err. */
static int probe_elf_get(struct probe_elf *f, const char *path, const void *buf, size_t len, char *err,
			 size_t errlen)
{
	return buf ? probe_elf_mem(f, path, buf, len, err, errlen) : probe_elf_open(f, path, err, errlen);
}

/* Section header i (i < e_shnum, checked by the caller). */
static const Elf64_Shdr *probe_elf_shdr(const struct probe_elf *f, size_t i)
{
	return (const Elf64_Shdr *)(const void *)(f->base + f->eh->e_shoff) + i;
}

/* True if section sh's contents lie inside the file. */
static bool probe_elf_sec_ok(const struct probe_elf *f, const Elf64_Shdr *sh)
{
	return sh->sh_type != SHT_NOBITS && sh->sh_offset <= f->size &&
	       sh->sh_size <= f->size - sh->sh_offset;
}

/* The NUL-terminated string at off in string section strndx, or NULL. */
static const char *probe_elf_str(const struct probe_elf *f, size_t strndx, uint64_t off)
{
	const Elf64_Shdr *sh;
	const char *s;

	if (strndx == 0 || strndx >= f->eh->e_shnum)
		return NULL;
	sh = probe_elf_shdr(f, strndx);
	if (!probe_elf_sec_ok(f, sh) || off >= sh->sh_size)
		return NULL;
	s = (const char *)f->base + sh->sh_offset + off;
	return memchr(s, '\0', sh->sh_size - off) ? s : NULL;
}

/* The name of section i, or "". */
static const char *probe_elf_sec_name(const struct probe_elf *f, const Elf64_Shdr *sh)
{
	const char *n = probe_elf_str(f, f->eh->e_shstrndx, sh->sh_name);

	return n ? n : "";
}

/* Records one symbol named like the one searched for. */
static void probe_elf_sym_note(struct probe_elf_sym *r, const Elf64_Sym *sym)
{
	unsigned type = ELF64_ST_TYPE(sym->st_info), bind = ELF64_ST_BIND(sym->st_info);

	if (sym->st_shndx == SHN_UNDEF) {
		r->undef = true;
		return;
	}
	if (type == STT_GNU_IFUNC) {
		r->ifunc = true;
		return;
	}
	if (type != STT_FUNC) {
		r->object = true;
		return;
	}
	if (r->found && r->value != sym->st_value) {
		/* A global definition wins over local (static) ones of the same name. */
		if (bind == STB_LOCAL && r->bind != STB_LOCAL)
			return;
		if (!(bind != STB_LOCAL && r->bind == STB_LOCAL)) {
			r->ambiguous = true;
			return;
		}
	}
	r->found = true;
	r->value = sym->st_value;
	r->size = sym->st_size;
	r->bind = bind;
}

/* The symbol version table (.gnu.version) if the file has a valid one, else NULL. */
static const uint16_t *probe_elf_versym(const struct probe_elf *f, size_t nsyms)
{
	for (size_t i = 0; i < f->eh->e_shnum; i++) {
		const Elf64_Shdr *sh = probe_elf_shdr(f, i);

		if (sh->sh_type == SHT_GNU_versym && probe_elf_sec_ok(f, sh) &&
		    sh->sh_size >= nsyms * sizeof(uint16_t) && !(sh->sh_offset & 1))
			return (const uint16_t *)(const void *)(f->base + sh->sh_offset);
	}
	return NULL;
}

/*
 * Scans one symbol table section for name. In .dynsym, versions that are
 * not the default one (memcpy@GLIBC_2.2.5 beside memcpy@@GLIBC_2.14) are
 * skipped: programs linked today call the default.
 */
static void probe_elf_symtab_scan(const struct probe_elf *f, const Elf64_Shdr *sh,
				  const char *name, struct probe_elf_sym *r)
{
	const Elf64_Sym *syms = (const Elf64_Sym *)(const void *)(f->base + sh->sh_offset);
	/* read in place: a misaligned table is skipped */
	size_t n = sh->sh_entsize == sizeof(Elf64_Sym) && !(sh->sh_offset & 7) ? sh->sh_size / sizeof(Elf64_Sym) : 0;
	const uint16_t *ver = sh->sh_type == SHT_DYNSYM ? probe_elf_versym(f, n) : NULL;

	for (size_t i = 0; i < n; i++) {
		const char *s = probe_elf_str(f, sh->sh_link, syms[i].st_name);

		if (!s || strcmp(s, name) != 0 || (ver && (ver[i] & 0x8000)))
			continue;
		probe_elf_sym_note(r, &syms[i]);
	}
}

/* Searches .symtab and .dynsym for name. */
static void probe_elf_find_sym(const struct probe_elf *f, const char *name, struct probe_elf_sym *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < f->eh->e_shnum; i++) {
		const Elf64_Shdr *sh = probe_elf_shdr(f, i);

		if ((sh->sh_type != SHT_SYMTAB && sh->sh_type != SHT_DYNSYM) ||
		    !probe_elf_sec_ok(f, sh))
			continue;
		if (sh->sh_type == SHT_SYMTAB)
			r->have_symtab = true;
		probe_elf_symtab_scan(f, sh, name, r);
	}
}

/* Translates a virtual address to a file offset through the executable segments. */
static bool probe_elf_vaddr_to_off(const struct probe_elf *f, uint64_t va, uint64_t *off)
{
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(const void *)(f->base + f->eh->e_phoff);

	for (size_t i = 0; i < f->eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		if (va >= ph[i].p_vaddr && va - ph[i].p_vaddr < ph[i].p_filesz) {
			*off = va - ph[i].p_vaddr + ph[i].p_offset;
			return true;
		}
	}
	return false;
}

/* Turns a failed symbol search into the message that says why. */
static int probe_elf_sym_error(const struct probe_elf *f, const char *name,
			       const struct probe_elf_sym *r, char *err, size_t errlen)
{
	if (r->ambiguous)
		return probe_fail(-ENOTUNIQ, err, errlen,
				  "symbol '%s' in %s is ambiguous: several static functions have "
				  "that name", name, f->path);
	if (r->ifunc)
		return probe_fail(-ENOENT, err, errlen,
				  "'%s' in %s is an indirect function (IFUNC) chosen at run time; "
				  "attach to the implementation it selects instead", name, f->path);
	if (r->object)
		return probe_fail(-ENOENT, err, errlen, "symbol '%s' in %s is not a function",
				  name, f->path);
	if (r->undef)
		return probe_fail(-ENOENT, err, errlen,
				  "'%s' is imported by %s, not defined there: attach to the shared "
				  "library that defines it", name, f->path);
	return probe_fail(-ENOENT, err, errlen, "no function '%s' in %s (searched %s)", name,
			  f->path, r->have_symtab ? ".symtab and .dynsym" :
			  ".dynsym only: the binary is stripped");
}

int probe_elf_func_offset(const char *path, const char *sym, uint64_t off, uint64_t *file_off,
			  char *err, size_t errlen)
{
	return probe_elf_func_offset_mem(path, NULL, 0, sym, off, file_off, err, errlen);
}

int probe_elf_func_offset_mem(const char *path, const void *buf, size_t len, const char *sym, uint64_t off,
			      uint64_t *file_off, char *err, size_t errlen)
{
	struct probe_elf f;
	struct probe_elf_sym r;
	int rc = probe_elf_get(&f, path, buf, len, err, errlen);

	if (rc)
		return rc;
	probe_elf_find_sym(&f, sym, &r);
	if (!r.found || r.ambiguous)
		rc = probe_elf_sym_error(&f, sym, &r, err, errlen);
	else if (r.size && off >= r.size)
		rc = probe_fail(-ERANGE, err, errlen,
				"offset +%llu is beyond the end of '%s' in %s (%llu bytes long)",
				(unsigned long long)off, sym, path, (unsigned long long)r.size);
	else if (!probe_elf_vaddr_to_off(&f, r.value + off, file_off))
		rc = probe_fail(-ENOEXEC, err, errlen,
				"'%s' in %s lies outside every executable segment", sym, path);
	probe_elf_close(&f);
	return rc;
}

/* Calls fn on each stapsdt note (provider, name) of section sh; stops on true. */
static bool probe_elf_notes(const struct probe_elf *f, const Elf64_Shdr *sh,
			    bool (*fn)(void *arg, const char *prov, const char *name), void *arg)
{
	const unsigned char *p = f->base + sh->sh_offset, *end = p + sh->sh_size;

	if (sh->sh_offset & 3)
		return false;	/* notes are 4-byte aligned: a misaligned section is malformed */
	while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(const void *)p;
		/* 64-bit: a 32-bit size near 2^32 must not wrap to a small one when rounded up */
		uint64_t room = (uint64_t)(end - p) - sizeof(*nh);
		uint64_t nsz = ((uint64_t)nh->n_namesz + 3) & ~(uint64_t)3, dsz = ((uint64_t)nh->n_descsz + 3) & ~(uint64_t)3;
		const char *desc, *prov, *name;
		size_t left;

		if (nsz > room || dsz > room - nsz)
			break;	/* the note does not fit its section: stop, read nothing beyond */
		desc = (const char *)p + sizeof(*nh) + nsz;
		p += sizeof(*nh) + nsz + dsz;
		if (nh->n_type != PROBE_STAPSDT_TYPE || nh->n_descsz <= 3 * 8 ||
		    nh->n_namesz != 8 || memcmp(desc - nsz, "stapsdt", 8) != 0)
			continue;
		left = nh->n_descsz - 3 * 8;
		prov = desc + 3 * 8;
		if (!(name = memchr(prov, '\0', left)))
			continue;	/* no provider string (never name++ on NULL: UB, found by fuzz-elf) */
		name++;
		if (!memchr(name, '\0', left - (size_t)(name - prov)))
			continue;
		if (fn(arg, prov, name))
			return true;
	}
	return false;
}

/* State of a USDT search: the wanted probe and a list of what exists. */
struct probe_usdt_search {
	const char *prov, *name;
	char list[200];
	unsigned count;
};

/* Note callback: true if this note is the wanted probe; else lists it. */
static bool probe_usdt_match(void *arg, const char *prov, const char *name)
{
	struct probe_usdt_search *s = arg;
	char item[2 * PROBE_NAME_MAX + 4];
	size_t len = strlen(s->list);

	if (strcmp(prov, s->prov) == 0 && strcmp(name, s->name) == 0)
		return true;
	snprintf(item, sizeof(item), "%s:%s", prov, name);
	if (strstr(s->list, item))
		return false;	/* the same probe at another site */
	s->count++;
	if (len + strlen(item) + 3 < sizeof(s->list))
		snprintf(s->list + len, sizeof(s->list) - len, "%s%s", len ? ", " : "", item);
	else if (len + 5 < sizeof(s->list) && !strstr(s->list, "..."))
		strcat(s->list, ", ...");
	return false;
}

int probe_elf_usdt(const char *path, const char *provider, const char *name, char *err,
		   size_t errlen)
{
	return probe_elf_usdt_mem(path, NULL, 0, provider, name, err, errlen);
}

int probe_elf_usdt_mem(const char *path, const void *buf, size_t len, const char *provider, const char *name,
		       char *err, size_t errlen)
{
	struct probe_usdt_search s = { .prov = provider, .name = name };
	bool have_notes = false, found = false;
	struct probe_elf f;
	int rc = probe_elf_get(&f, path, buf, len, err, errlen);

	if (rc)
		return rc;
	for (size_t i = 0; i < f.eh->e_shnum && !found; i++) {
		const Elf64_Shdr *sh = probe_elf_shdr(&f, i);

		if (sh->sh_type != SHT_NOTE || !probe_elf_sec_ok(&f, sh) ||
		    strcmp(probe_elf_sec_name(&f, sh), ".note.stapsdt") != 0)
			continue;
		have_notes = true;
		found = probe_elf_notes(&f, sh, probe_usdt_match, &s);
	}
	probe_elf_close(&f);
	if (found)
		return 0;
	if (!have_notes)
		return probe_fail(-ENOENT, err, errlen,
				  "%s has no USDT probes (no .note.stapsdt section: it was not built "
				  "with sys/sdt.h probes)", path);
	return probe_fail(-ENOENT, err, errlen, "no USDT probe %s:%s in %s; it has %s", provider,
			  name, path, s.list);
}
