/*
 * The placeholder certificate (see placeholder.h).
 *
 * What it owns: nothing once it returns (the certificate and key it makes or reads are freed here).
 */
#include "tests/harness/placeholder.h"
#include "tests/harness/certgen.h"
#include "tests/harness/proc.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <unistd.h>

int harness_placeholder(const char *cert_path, const char *key_path, const char *cn, char *serial, size_t cap)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	FILE *f = NULL;
	int ret = -1;

	if (cert_path[0] == '\0' || key_path[0] == '\0')
		return -1;
	if (access(cert_path, R_OK) == 0 && access(key_path, R_OK) == 0) {
		f = fopen(cert_path, "re");
		if (f == NULL || (cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
			goto out;
	} else {
		unlink(cert_path);
		unlink(key_path);
		if (harness_cert_make(&cert, &key, cn, cn, NULL, 0, NULL, NULL, 30) != 0 ||
		    harness_write_cert_pem(cert_path, cert) != 0 || harness_write_key_pem(key_path, key) != 0)
			goto out;
	}
	ret = serial != NULL ? harness_serial_hex(cert, serial, cap) : 0;
out:
	if (f != NULL)
		fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}
