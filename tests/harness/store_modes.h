/*
 * The modes of a store's key-holding files, as the reach tests (391-395) assert them: every file holding a
 * private key is 0600 (and owned by uid, when given), except certificate records under certificates/, which are
 * 0640 of the group AUTOTLS_STORAGE_GROUP names when one is given. Each file that breaks the rule is printed.
 */
#ifndef AUTOTLS_TESTS_HARNESS_STORE_MODES_H
#define AUTOTLS_TESTS_HARNESS_STORE_MODES_H

#include <sys/types.h>

struct store_modes {
	int key_files;    /* files holding a private key */
	int cert_records; /* of those, certificate records (certificates/...) */
	int acct_keys;    /* of those, account keys (accounts/...) */
	int bad;          /* of those, with the wrong mode, owner or group */
};

/* Walks store. uid (uid_t)-1: any owner; group (gid_t)-1: no AUTOTLS_STORAGE_GROUP (records 0600 too). 0, or -1
 * when the walk failed. Not thread-safe (nftw's callback takes no argument). */
int store_modes_check(const char *store, uid_t uid, gid_t group, struct store_modes *out);

#endif
