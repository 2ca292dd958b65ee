/*
 * `autotls doctor`: what it reads (doctor_elf.c: a binary's ELF file; doctor.c: a running process's maps and
 * environment, a systemd unit's ExecStart and drop-ins) and how it answers.
 */
#ifndef AUTOTLS_TOOLS_AUTOTLS_DOCTOR_H
#define AUTOTLS_TOOLS_AUTOTLS_DOCTOR_H

#include "util/err.h"

#include <sys/types.h>

/* Exit codes of doctor (man page autotls(1)). */
#define DOCTOR_YES 0     /* coverable (a binary, a unit) or covered now (a running process) */
#define DOCTOR_NO 1      /* not coverable, or not covered now: each reason printed with its fix */
#define DOCTOR_USAGE 2   /* the command line is wrong */
#define DOCTOR_UNKNOWN 3 /* cannot tell: no such process, unit or file, unreadable, no TLS library seen */

struct doctor_elf {
	int elf;             /* a 64-bit ELF file was read */
	int interp;          /* has a program interpreter (dynamically linked executable) */
	int libssl3;         /* NEEDED libssl.so.3 */
	int libssl_other;    /* NEEDED another libssl (1.1): not what the preload interposes */
	int gnutls;          /* NEEDED libgnutls */
	char other_tls[64];  /* NEEDED NSS, mbed TLS or wolfSSL: its name */
	int go;              /* a Go program */
	int boringssl;       /* BoringSSL linked in */
	int static_openssl;  /* OpenSSL linked in statically (no libssl NEEDED, its version text inside) */
	char needed[1024];   /* the NEEDED names, space-separated (cut when longer) */
	mode_t mode;         /* the file's mode (set-uid, set-gid) */
	uid_t uid;           /* its owner */
	char why[512];       /* when doctor_elf_read fails: one line */
};

/* Reads what path's ELF file says. 0, or an error with f->why set (not a file, not ELF, unreadable). */
int doctor_elf_read(struct doctor_elf *f, const char *path) AT_MUST_CHECK;

/* 1 when a file pattern (a glob) matches links libssl.so.3 dynamically, the first such in glob's order with its
 * path in out; else 0 (no match, or none links it). For a server whose TLS lives in a module of its own. */
int doctor_elf_glob_libssl3(const char *pattern, char *out, size_t size);

#endif
