/*
 * AES-256-GCM sealing of store values (store/seal.h). A sealed value is
 *
 *   "ATSL" | version (1 byte, 1) | key id (8) | nonce (12, random per value) | ciphertext (n) | tag (16)
 *
 * and the associated data is the 25-byte header followed by the store key ("certificates/ca/name/record"),
 * so the version and the key id cannot be changed, and a value copied under another key does not open
 * (NIST SP 800-38D: a 96-bit random nonce per message; at the store's write rate, far below 2^32 messages per
 * key). Plaintext copies are cleansed; the key never leaves struct at_seal_key and is never logged.
 */
#include "store/seal.h"
#include "util/keys.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "ATSL"
#define VERSION 1
#define HDR_LEN (4 + 1 + AT_SEAL_ID_LEN + 12)
#define NONCE_OFF (4 + 1 + AT_SEAL_ID_LEN)
#define TAG_LEN 16

int at_seal_key_from_bytes(struct at_seal_key **out, const unsigned char *k, size_t n)
{
	static const char label[] = "autotls seal key id";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	struct at_seal_key *key;

	if (out == NULL || k == NULL || n != AT_SEAL_KEY_LEN)
		return AT_E_INVAL;
	key = calloc(1, sizeof *key);
	ctx = EVP_MD_CTX_new();
	if (key == NULL || ctx == NULL) {
		free(key);
		EVP_MD_CTX_free(ctx);
		return AT_E_NOMEM;
	}
	memcpy(key->k, k, n);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, label, sizeof label - 1) != 1 ||
	    EVP_DigestUpdate(ctx, k, n) != 1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
		EVP_MD_CTX_free(ctx);
		at_seal_key_free(key);
		return AT_E_CRYPTO;
	}
	EVP_MD_CTX_free(ctx);
	memcpy(key->id, md, AT_SEAL_ID_LEN);
	*out = key;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int at_seal_key_load(struct at_seal_key **out, const char *path)
{
	unsigned char buf[130], k[AT_SEAL_KEY_LEN];
	struct stat st;
	ssize_t n = 0, r;
	int fd, rc;

	if (out == NULL || path == NULL)
		return AT_E_INVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? AT_E_NOTFOUND : errno == EACCES ? AT_E_PERM : AT_E_IO;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		at_log_warn("AUTOTLS_STORAGE_KEY %s: others may read it (mode %03o); it opens every sealed key",
			    path, (unsigned)(st.st_mode & 0777));
	while (n < (ssize_t)sizeof buf && (r = read(fd, buf + n, sizeof buf - (size_t)n)) > 0)
		n += r;
	close(fd);
	if (n == AT_SEAL_KEY_LEN) {
		memcpy(k, buf, AT_SEAL_KEY_LEN);
	} else {
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (n != 2 * AT_SEAL_KEY_LEN) {
			OPENSSL_cleanse(buf, sizeof buf);
			return AT_E_PARSE;
		}
		for (int i = 0; i < AT_SEAL_KEY_LEN; i++) {
			int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				OPENSSL_cleanse(buf, sizeof buf);
				OPENSSL_cleanse(k, sizeof k);
				return AT_E_PARSE;
			}
			k[i] = (unsigned char)(hi << 4 | lo);
		}
	}
	rc = at_seal_key_from_bytes(out, k, sizeof k);
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_cleanse(k, sizeof k);
	return rc;
}

void at_seal_key_free(struct at_seal_key *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k, sizeof *k);
	free(k);
}

int at_seal_is_sealed(const void *v, size_t n)
{
	return v != NULL && n >= 4 && memcmp(v, MAGIC, 4) == 0;
}

/* One GCM pass: enc 1 seals in[0..n) into out, 0 opens it (tag read from/written to tag). 0 or AT_E_CRYPTO. */
static int gcm(int enc, const struct at_seal_key *k, const unsigned char *hdr, const char *name,
	       const unsigned char *in, size_t n, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	if (ctx == NULL || n > (size_t)0x7fffffff)
		return AT_E_CRYPTO;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, k->k, hdr + NONCE_OFF, enc) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &len, hdr, HDR_LEN) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)name, (int)strlen(name)) == 1 &&
	     (n == 0 || EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(ctx, out + (n ? (size_t)len : 0), &len) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : AT_E_CRYPTO;
}

int at_seal(const struct at_seal_key *k, const char *name, const void *in, size_t n, unsigned char **out,
	    size_t *outlen)
{
	unsigned char *v;

	if (k == NULL || name == NULL || (in == NULL && n > 0) || out == NULL || outlen == NULL)
		return AT_E_INVAL;
	v = malloc(n + AT_SEAL_OVERHEAD);
	if (v == NULL)
		return AT_E_NOMEM;
	memcpy(v, MAGIC, 4);
	v[4] = VERSION;
	memcpy(v + 5, k->id, AT_SEAL_ID_LEN);
	if (RAND_bytes(v + NONCE_OFF, 12) != 1 || gcm(1, k, v, name, in, n, v + HDR_LEN, v + HDR_LEN + n) != 0) {
		at_secret_free(v, n + AT_SEAL_OVERHEAD);
		return AT_E_CRYPTO;
	}
	*out = v;
	*outlen = n + AT_SEAL_OVERHEAD;
	return 0;
}

int at_unseal(const struct at_seal_key *k, const char *name, const void *in, size_t n, char **out, size_t *outlen)
{
	const unsigned char *v = in;
	unsigned char tag[TAG_LEN];
	char *p;
	size_t pn;

	if (k == NULL || name == NULL || out == NULL || outlen == NULL)
		return AT_E_INVAL;
	if (!at_seal_is_sealed(in, n) || n < AT_SEAL_OVERHEAD || v[4] != VERSION)
		return AT_E_CRYPTO;
	if (CRYPTO_memcmp(v + 5, k->id, AT_SEAL_ID_LEN) != 0)
		return AT_E_KEY_MISMATCH;
	pn = n - AT_SEAL_OVERHEAD;
	p = malloc(pn + 1);
	if (p == NULL)
		return AT_E_NOMEM;
	memcpy(tag, v + HDR_LEN + pn, TAG_LEN);
	if (gcm(0, k, v, name, v + HDR_LEN, pn, (unsigned char *)p, tag) != 0) {
		at_secret_free(p, pn + 1);
		return AT_E_CRYPTO;
	}
	p[pn] = '\0';
	*out = p;
	*outlen = pn;
	return 0;
}
