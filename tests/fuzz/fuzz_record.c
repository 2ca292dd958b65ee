/*
 * libFuzzer: the certificate record parser of store/certs.c, reached the way a tampered or torn store file
 * reaches it: the input is written as the live record of one name in a file store (a temp folder made once,
 * removed at exit) and loaded with at_cert_record_load. A record that loads must be for that name and must pass
 * at_chain_check (the key matches the leaf, the names are covered) on exactly what was returned.
 */
#include "store/certs.h"
#include "store/store.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"
#include "util/log.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CA "ca.test-dir"
#define NAME "a.example.test"

static char dir[] = "/tmp/autotls-fuzz-record-XXXXXX";
static struct at_store *store;
static char key[512];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	at_store_close(store);
	store = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	at_log_set_level(AT_LOG_ERROR);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	FUZZ_CHECK(at_store_open_file(&store, dir) == 0);
	FUZZ_CHECK(at_store_key(key, sizeof key, "certificates", CA, NAME, "record", NULL) == 0);
	atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct at_cert_record rec;

	if (store == NULL)
		setup();
	memset(&rec, 0, sizeof rec);
	/* the store refuses nothing by content; an empty value is still a value */
	FUZZ_CHECK(at_store_put(store, key, data, size) == 0);
	int rc = at_cert_record_load(store, CA, NAME, &rec);
	if (rc == 0) {
		FUZZ_CHECK(rec.nnames >= 1 && rec.names != NULL);
		FUZZ_CHECK(strcmp(rec.names[0], NAME) == 0);
		FUZZ_CHECK(rec.key_pem != NULL && rec.chain_pem != NULL);
		FUZZ_CHECK(at_chain_check(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len,
					  (const char *const *)rec.names, rec.nnames, NULL, 0, NULL) == 0);
	} else {
		FUZZ_CHECK(rc < 0);
		FUZZ_CHECK(rec.key_pem == NULL && rec.chain_pem == NULL && rec.names == NULL);
	}
	at_cert_record_clear(&rec);
	return 0;
}
