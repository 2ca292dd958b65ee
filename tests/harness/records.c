/* Certificate records as the engine reads them (see records.h). */
#include "tests/harness/records.h"

#include <string.h>

int harness_record_load(struct at_store *store, const char *directory_url, const char *name,
			struct at_cert_record *rec)
{
	char ca[256];

	memset(rec, 0, sizeof(*rec));
	if (at_store_ca_component(ca, sizeof(ca), directory_url) != 0)
		return -1;
	return at_cert_record_load(store, ca, name, rec);
}

int harness_record_load_dir(const char *dir, const char *directory_url, const char *name, struct at_cert_record *rec)
{
	struct at_store *s = NULL;
	int rc;

	memset(rec, 0, sizeof(*rec));
	rc = at_store_open_file(&s, dir);
	if (rc != 0)
		return rc;
	rc = harness_record_load(s, directory_url, name, rec);
	at_store_close(s);
	return rc;
}

int harness_record_not_after(const char *dir, const char *directory_url, const char *name, time_t *not_after)
{
	struct at_cert_record rec;
	int rc = harness_record_load_dir(dir, directory_url, name, &rec);

	*not_after = rec.info.not_after;
	at_cert_record_clear(&rec);
	return rc;
}
