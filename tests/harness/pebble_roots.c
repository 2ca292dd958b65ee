/* Pebble's roots (see pebble_roots.h). */
#include "tests/harness/pebble_roots.h"
#include "tests/harness/fetch.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

int pebble_root(const struct pebble *p, int idx, char *file, size_t fsize, char *cn, size_t cnsize)
{
	char url[256];
	char *body = NULL;
	size_t len = 0;
	long status = 0;
	snprintf(url, sizeof(url), "%s/roots/%d", p->mgmt_url, idx);
	if (harness_fetch(&status, &body, &len, "GET", url, p->api_root_file, NULL, 5000) != 0 || status != 200) {
		free(body);
		return -1;
	}
	BIO *b = BIO_new_mem_buf(body, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int rc = x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cnsize) > 0 ? 0 : -1;
	snprintf(file, fsize, "%s/root-%d.pem", p->workdir, idx);
	FILE *f = rc == 0 ? fopen(file, "we") : NULL;
	if (f == NULL || fwrite(body, 1, len, f) != len)
		rc = -1;
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	X509_free(x);
	BIO_free(b);
	free(body);
	return rc;
}
