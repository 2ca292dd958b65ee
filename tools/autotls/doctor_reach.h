/*
 * `autotls doctor` on the servers that follow the host manager or lead through HTTP-01 (Postfix, Dovecot,
 * mosquitto, vsftpd): where their libssl.so.3 comes in when the binary does not link it, and the set-up each needs.
 */
#ifndef AUTOTLS_TOOLS_AUTOTLS_DOCTOR_REACH_H
#define AUTOTLS_TOOLS_AUTOTLS_DOCTOR_REACH_H

#include <stddef.h>

/* 1 when real (a binary's real path) is one of those servers and the library or module its TLS lives in links
 * libssl.so.3 dynamically (its path in out); else 0. */
int doctor_reach_module(const char *real, char *out, size_t size);

/* Prints "<path>: note: ..." with the set-up the server needs, when real is one of those servers. */
void doctor_reach_note(const char *path, const char *real);

#endif
