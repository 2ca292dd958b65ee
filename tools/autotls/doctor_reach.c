/*
 * `autotls doctor` on the servers of issue 12 (mail, MQTT, FTP): where their TLS really is, and the one set-up
 * each needs (README, "Servers that cannot lead"). Only reads files; a table, one row a server.
 *
 * Postfix's daemons link no TLS library themselves: libpostfix-tls.so (in Postfix's own folder) does. Dovecot's
 * login processes load their TLS module at run time (libssl_iostream_openssl.so), as Python loads its ssl module.
 * Either way the preload reaches libssl.so.3, which the ELF file of the binary alone does not show.
 */
#include "tools/autotls/doctor_reach.h"
#include "tools/autotls/doctor.h"

#include <stdio.h>
#include <string.h>

struct reach_row {
	const char *folder;  /* the binary's real path starts with this (its package's folder) ... */
	const char *name;    /* ... or its file name is this (NULL: folder only) */
	const char *module;  /* a glob: where its libssl.so.3 comes in (NULL: the binary links it) */
	const char *note;    /* the set-up it needs under the preload */
};

static const struct reach_row rows[] = {
	{ "/usr/lib/postfix/", "postfix", "/usr/lib/postfix/libpostfix-tls.so*",
	  "Postfix's smtpd makes its context as root in a process master(8) starts, with master's environment "
	  "cleaned: add `import_environment = ... LD_PRELOAD AUTOTLS_DOMAINS AUTOTLS_STORAGE ...` to main.cf (the "
	  "AUTOTLS_* settings by name); it follows the store the host manager leads (autotls-manager --host, "
	  "autotls.service)" },
	{ "/usr/lib/dovecot/", "dovecot", "/usr/lib/dovecot/modules/libssl_iostream_openssl.so",
	  "Dovecot's imap-login makes its context as dovenull with RLIMIT_NPROC 1 and, by default, chrooted: set "
	  "`import_environment` (LD_PRELOAD and the AUTOTLS_* settings), `service imap-login { chroot = }` (inside the "
	  "chroot neither the manager library nor the store exists) and AUTOTLS_STORAGE_GROUP=dovenull for the host "
	  "manager (autotls-manager --host), which it follows" },
	{ NULL, "mosquitto", NULL,
	  "mosquitto makes its context after dropping to the mosquitto user: it follows the host manager "
	  "(autotls-manager --host) started with AUTOTLS_STORAGE_GROUP=mosquitto; LD_PRELOAD and the AUTOTLS_* "
	  "settings in its unit's drop-in (autotls enable mosquitto)" },
	{ NULL, "vsftpd", NULL,
	  "vsftpd makes its context as root and leads its store itself, through HTTP-01 (AUTOTLS_CHALLENGES=http-01: "
	  "the CA cannot reach TLS-ALPN-01 behind AUTH TLS; port 80 free, or the host manager leads instead); "
	  "LD_PRELOAD and the AUTOTLS_* settings in its unit's drop-in (autotls enable vsftpd)" },
};

static const struct reach_row *row_of(const char *real)
{
	const char *base = strrchr(real, '/');
	base = base ? base + 1 : real;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].folder != NULL && strncmp(real, rows[i].folder, strlen(rows[i].folder)) == 0)
			return &rows[i];
		if (rows[i].name != NULL && strcmp(base, rows[i].name) == 0)
			return &rows[i];
	}
	return NULL;
}

int doctor_reach_module(const char *real, char *out, size_t size)
{
	const struct reach_row *row = row_of(real);
	if (row == NULL || row->module == NULL)
		return 0;
	return doctor_elf_glob_libssl3(row->module, out, size);
}

void doctor_reach_note(const char *path, const char *real)
{
	const struct reach_row *row = row_of(real);
	if (row != NULL)
		printf("%s: note: %s\n", path, row->note);
}
