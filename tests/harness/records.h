/*
 * A store's certificate records as the engine reads them, for a test that looks behind the library (what a
 * renewal wrote, that a failed order wrote nothing): the record for a name under the CA of a directory URL.
 */
#ifndef AUTOTLS_TESTS_HARNESS_RECORDS_H
#define AUTOTLS_TESTS_HARNESS_RECORDS_H

#include "store/certs.h"
#include "store/store.h"

#include <time.h>

/* Loads the live record for name from store, the CA by its directory URL. 0 or an at_err code (AT_E_NOTFOUND:
 * none); on 0 the caller clears rec (at_cert_record_clear). */
int harness_record_load(struct at_store *store, const char *directory_url, const char *name,
			struct at_cert_record *rec);

/* The same from the file store at dir (opened and closed here). */
int harness_record_load_dir(const char *dir, const char *directory_url, const char *name, struct at_cert_record *rec);

/* The notAfter of the live record for name in the file store at dir (harness_record_load_dir), the record
 * cleared here. 0 or an at_err code; *not_after is 0 when there is none. */
int harness_record_not_after(const char *dir, const char *directory_url, const char *name, time_t *not_after);

#endif
