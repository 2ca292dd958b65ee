/*
 * What a binary's ELF file says about its TLS library, for `autotls doctor`: the program interpreter (no
 * interpreter: statically linked, the loader never runs and LD_PRELOAD means nothing), the dynamic section's
 * NEEDED names (libssl.so.3: the preload's interposition works; libgnutls, libssl.so.1.1, NSS, mbed TLS, wolfSSL:
 * it does not), a Go program (its .go.buildinfo section, or the section's magic when the section headers are
 * stripped: Go does TLS itself), and, for a binary that needs no TLS library, OpenSSL or BoringSSL linked in
 * statically (their version strings or the function names their error records keep). Only reads the file (mapped read-only); every offset is checked against
 * the file's size before it is used, since the file is whatever the operator points at.
 */
#include "tools/autotls/doctor.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int in_file(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

/* The file offset of virtual address addr through the PT_LOAD segments; 0 and -1 when none holds it. */
static int vaddr_to_off(const unsigned char *m, size_t size, const Elf64_Ehdr *eh, uint64_t addr, uint64_t *off)
{
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr));
		if (ph->p_type == PT_LOAD && addr >= ph->p_vaddr && addr - ph->p_vaddr < ph->p_filesz) {
			*off = addr - ph->p_vaddr + ph->p_offset;
			return in_file(size, *off, 1) ? 0 : -1;
		}
	}
	return -1;
}

static void add_needed(struct doctor_elf *f, const char *name)
{
	size_t have = strlen(f->needed);
	if (have + strlen(name) + 2 < sizeof(f->needed))
		snprintf(f->needed + have, sizeof(f->needed) - have, "%s%s", have ? " " : "", name);
	if (strcmp(name, "libssl.so.3") == 0)
		f->libssl3 = 1;
	else if (strncmp(name, "libssl.so.", 10) == 0)
		f->libssl_other = 1;
	else if (strncmp(name, "libgnutls.so", 12) == 0)
		f->gnutls = 1;
	else if (strncmp(name, "libnss3.so", 10) == 0 || strncmp(name, "libmbedtls.so", 13) == 0 ||
		 strncmp(name, "libwolfssl.so", 13) == 0)
		snprintf(f->other_tls, sizeof(f->other_tls), "%s", name);
}

static void read_dynamic(struct doctor_elf *f, const unsigned char *m, size_t size, const Elf64_Ehdr *eh,
			 const Elf64_Phdr *dyn)
{
	if (!in_file(size, dyn->p_offset, dyn->p_filesz))
		return;
	const Elf64_Dyn *d = (const Elf64_Dyn *)(m + dyn->p_offset);
	size_t n = dyn->p_filesz / sizeof(Elf64_Dyn);
	uint64_t strtab = 0, strsz = 0, stroff;
	for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag == DT_STRTAB)
			strtab = d[i].d_un.d_ptr;
		else if (d[i].d_tag == DT_STRSZ)
			strsz = d[i].d_un.d_val;
	}
	if (strtab == 0 || vaddr_to_off(m, size, eh, strtab, &stroff) != 0 || !in_file(size, stroff, strsz))
		return;
	for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag != DT_NEEDED || d[i].d_un.d_val >= strsz)
			continue;
		const char *s = (const char *)m + stroff + d[i].d_un.d_val;
		size_t max = strsz - d[i].d_un.d_val;
		if (memchr(s, '\0', max) != NULL)
			add_needed(f, s);
	}
}

static void read_sections(struct doctor_elf *f, const unsigned char *m, size_t size, const Elf64_Ehdr *eh)
{
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum ||
	    !in_file(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
		return;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(m + eh->e_shoff);
	const Elf64_Shdr *names = &sh[eh->e_shstrndx];
	if (!in_file(size, names->sh_offset, names->sh_size))
		return;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_name >= names->sh_size)
			continue;
		const char *s = (const char *)m + names->sh_offset + sh[i].sh_name;
		size_t max = names->sh_size - sh[i].sh_name;
		if (memchr(s, '\0', max) == NULL)
			continue;
		if (strcmp(s, ".go.buildinfo") == 0 || strcmp(s, ".note.go.buildid") == 0)
			f->go = 1;
	}
}

/* 1 when the file's bytes hold text. Out of line: GCC 12's -Wnonnull in the sanitizer build took m for NULL on
 * one of the inlined paths (it never is: a failed mmap returned before). */
__attribute__((noinline)) static int holds(const unsigned char *m, size_t size, const char *text)
{
	return m != NULL && memmem(m, size, text, strlen(text)) != NULL;
}

/* "OpenSSL 3.0.x" / "OpenSSL 1.1.1x": the version text a statically linked libcrypto carries when the program
 * asks for it; the function names OpenSSL 3's error records keep (__func__, "ssl3_read_bytes") when not. */
static int has_openssl_version(const unsigned char *m, size_t size)
{
	const unsigned char *p = m, *end = m + size;
	while ((p = memmem(p, (size_t)(end - p), "OpenSSL ", 8)) != NULL) {
		if (end - p > 11 && (p[8] == '1' || p[8] == '3') && p[9] == '.' && p[10] >= '0' && p[10] <= '9')
			return 1;
		p += 8;
	}
	return 0;
}

int doctor_elf_read(struct doctor_elf *f, const char *path)
{
	struct stat st;
	int fd, rc = 0;
	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(f->why, sizeof(f->why), "cannot read %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return AT_E_IO;
	}
	f->mode = st.st_mode;
	f->uid = st.st_uid;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		snprintf(f->why, sizeof(f->why), "%s is not an executable file", path);
		close(fd);
		return AT_E_INVAL;
	}
	size_t size = (size_t)st.st_size;
	unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(f->why, sizeof(f->why), "cannot map %s: %s", path, strerror(errno));
		return AT_E_IO;
	}
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		/* A script: its #! line names the interpreter, which is what would load a TLS library. */
		if (m[0] == '#' && m[1] == '!')
			snprintf(f->why, sizeof(f->why), "%s is a script: ask about its interpreter (the #! line) or "
							 "a running PID", path);
		else
			snprintf(f->why, sizeof(f->why), "%s is not an ELF file", path);
		rc = AT_E_INVAL;
		goto out;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_file(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
		snprintf(f->why, sizeof(f->why), "%s is not a 64-bit little-endian ELF file this command can read",
			 path);
		rc = AT_E_INVAL;
		goto out;
	}
	f->elf = 1;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff + (uint64_t)i * sizeof(Elf64_Phdr));
		if (ph->p_type == PT_INTERP)
			f->interp = 1;
		else if (ph->p_type == PT_DYNAMIC)
			read_dynamic(f, m, size, eh, ph);
	}
	read_sections(f, m, size, eh);
	if (!f->go && holds(m, size, "\xff Go buildinf:"))
		f->go = 1;
	if (!f->libssl3 && !f->libssl_other && !f->gnutls && !f->go) {
		if (holds(m, size, "BoringSSL") || holds(m, size, "boringssl"))
			f->boringssl = 1;
		else if (has_openssl_version(m, size) || holds(m, size, "ssl3_read_bytes"))
			f->static_openssl = 1;
	}
out:
	munmap(m, size);
	return rc;
}

int doctor_elf_glob_libssl3(const char *pattern, char *out, size_t size)
{
	glob_t g;
	int found = 0;
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc && !found; i++) {
		struct doctor_elf m;
		if (doctor_elf_read(&m, g.gl_pathv[i]) == 0 && m.libssl3) {
			snprintf(out, size, "%s", g.gl_pathv[i]);
			found = 1;
		}
	}
	globfree(&g);
	return found;
}
