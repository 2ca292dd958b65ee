/* store/seal.c (AUTOTLS_STORAGE_KEY's sealing) and store/etcd_url.c (AUTOTLS_STORAGE's etcd:// form). */
#include "store/etcd_url.h"
#include "store/seal.h"
#include "store/store.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/keys.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char secret[] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
			     "-----END PRIVATE KEY-----\n";

static struct at_seal_key *key_of(unsigned char fill)
{
	unsigned char k[AT_SEAL_KEY_LEN];
	struct at_seal_key *key = NULL;
	memset(k, fill, sizeof k);
	if (at_seal_key_from_bytes(&key, k, sizeof k) != 0)
		return NULL;
	return key;
}

static void test_round_trip(void)
{
	struct at_seal_key *k = key_of(1);
	unsigned char *sealed = NULL, *again = NULL;
	size_t sn = 0, an = 0, on = 0;
	char *open = NULL;
	REQUIRE(k != NULL);
	CHECK_OK(at_seal(k, "certificates/ca/a.example/record", secret, sizeof secret - 1, &sealed, &sn));
	CHECK_INT(sn, ==, sizeof secret - 1 + AT_SEAL_OVERHEAD);
	CHECK(at_seal_is_sealed(sealed, sn));
	CHECK(memmem(sealed, sn, "PRIVATE KEY", 11) == NULL);
	CHECK_OK(at_unseal(k, "certificates/ca/a.example/record", sealed, sn, &open, &on));
	CHECK(on == sizeof secret - 1 && open && memcmp(open, secret, on) == 0 && open[on] == '\0');
	at_secret_free(open, on);
	/* A fresh nonce each time: the same value seals differently. */
	CHECK_OK(at_seal(k, "certificates/ca/a.example/record", secret, sizeof secret - 1, &again, &an));
	CHECK(an == sn && memcmp(again, sealed, sn) != 0);
	/* The empty value. */
	free(again);
	CHECK_OK(at_seal(k, "x", "", 0, &again, &an));
	CHECK_OK(at_unseal(k, "x", again, an, &open, &on));
	CHECK_INT(on, ==, 0);
	at_secret_free(open, on);
	free(again);
	free(sealed);
	at_seal_key_free(k);
}

static void test_refusals(void)
{
	struct at_seal_key *k = key_of(1), *other = key_of(2);
	unsigned char *sealed = NULL;
	size_t sn = 0, on = 0;
	char *open = NULL;
	int flips_ok = 0;
	REQUIRE(k != NULL && other != NULL);
	REQUIRE(at_seal(k, "accounts/ca/default/key.pem", secret, sizeof secret - 1, &sealed, &sn) == 0);
	/* A wrong key is told apart from a damaged value. */
	CHECK_INT(at_unseal(other, "accounts/ca/default/key.pem", sealed, sn, &open, &on), ==, AT_E_KEY_MISMATCH);
	/* Moved under another key: the name is associated data. */
	CHECK_INT(at_unseal(k, "accounts/ca/other/key.pem", sealed, sn, &open, &on), ==, AT_E_CRYPTO);
	/* Every bit of every byte flipped, one at a time: refused each time (the key id's bytes as a wrong key). */
	for (size_t i = 0; i < sn; i++) {
		for (int b = 0; b < 8; b++) {
			sealed[i] ^= (unsigned char)(1u << b);
			int rc = at_unseal(k, "accounts/ca/default/key.pem", sealed, sn, &open, &on);
			if (rc == AT_E_CRYPTO || (rc == AT_E_KEY_MISMATCH && i >= 5 && i < 5 + AT_SEAL_ID_LEN))
				flips_ok++;
			else if (rc == 0)
				at_secret_free(open, on);
			sealed[i] ^= (unsigned char)(1u << b);
		}
	}
	CHECK_INT(flips_ok, ==, (int)(sn * 8));
	/* Every cut. */
	int cuts_ok = 0;
	for (size_t n = 0; n < sn; n++)
		cuts_ok += at_unseal(k, "accounts/ca/default/key.pem", sealed, n, &open, &on) == AT_E_CRYPTO;
	CHECK_INT(cuts_ok, ==, (int)sn);
	/* Plain text is not a sealed value. */
	CHECK(!at_seal_is_sealed(secret, sizeof secret - 1));
	CHECK_INT(at_unseal(k, "x", secret, sizeof secret - 1, &open, &on), ==, AT_E_CRYPTO);
	free(sealed);
	at_seal_key_free(k);
	at_seal_key_free(other);
}

static int write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	int ok = write(fd, p, n) == (ssize_t)n;
	close(fd);
	return ok ? 0 : -1;
}

static void test_key_file(void)
{
	char dir[] = "/tmp/at-seal-XXXXXX", path[64];
	struct at_seal_key *a = NULL, *b = NULL, *c = NULL;
	unsigned char raw[32];
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/key", dir);
	for (int i = 0; i < 32; i++)
		raw[i] = (unsigned char)(0xa0 + i);
	/* 64 hex digits with a newline, and the same 32 bytes raw, are the same key. */
	char hex[66];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[64] = '\n';
	REQUIRE(write_file(path, hex, 65, 0600) == 0);
	CHECK_OK(at_seal_key_load(&a, path));
	REQUIRE(write_file(path, raw, 32, 0600) == 0);
	CHECK_OK(at_seal_key_load(&b, path));
	CHECK(a && b && memcmp(a->k, b->k, 32) == 0 && memcmp(a->id, b->id, AT_SEAL_ID_LEN) == 0);
	/* Not a key: too short, not hex, too long. */
	REQUIRE(write_file(path, hex, 63, 0600) == 0);
	CHECK_INT(at_seal_key_load(&c, path), ==, AT_E_PARSE);
	hex[10] = 'g';
	REQUIRE(write_file(path, hex, 65, 0600) == 0);
	CHECK_INT(at_seal_key_load(&c, path), ==, AT_E_PARSE);
	REQUIRE(write_file(path, secret, sizeof secret - 1, 0600) == 0);
	CHECK_INT(at_seal_key_load(&c, path), ==, AT_E_PARSE);
	CHECK_INT(at_seal_key_load(&c, "/nonexistent/autotls-key"), ==, AT_E_NOTFOUND);
	unlink(path);
	rmdir(dir);
	at_seal_key_free(a);
	at_seal_key_free(b);
}

static void test_url(void)
{
	struct at_etcd_url u;
	CHECK(at_etcd_url_is("etcd://a:1/p"));
	CHECK(at_etcd_url_is("etcds://a:1/p"));
	CHECK(!at_etcd_url_is("/var/lib/autotls"));
	CHECK(!at_etcd_url_is(NULL));
	CHECK(at_store_is_remote("etcd://a/p"));
	CHECK(!at_store_is_remote("/srv/etcd://x"));
	CHECK_OK(at_etcd_url_parse(&u, "etcd://127.0.0.1:2379,node-b.example:12379,[::1]:2380/fleet"));
	CHECK_INT(u.n, ==, 3);
	CHECK_STR(u.members[0], "http://127.0.0.1:2379");
	CHECK_STR(u.members[1], "http://node-b.example:12379");
	CHECK_STR(u.members[2], "http://[::1]:2380");
	CHECK_STR(u.prefix, "fleet");
	CHECK_INT(u.tls, ==, 0);
	CHECK_OK(at_etcd_url_parse(&u, "etcds://etcd.internal/prod/web/"));
	CHECK_STR(u.members[0], "https://etcd.internal:2379");
	CHECK_STR(u.prefix, "prod/web");
	CHECK_INT(u.tls, ==, 1);
	static const char *const bad[] = {
		"etcd://", "etcd:///fleet", "etcd://a:1", "etcd://a:1/", "etcd://a:0/p", "etcd://a:65536/p",
		"etcd://a:1x/p", "etcd://a:/p", "etcd://a b:1/p", "etcd://a:1,,b:2/p", "etcd://a:1/../p",
		"etcd://a:1/.locks", "etcd://a:1/P", "etcd://a:1/p//q", "etcd://[::1/p", "etcd://a@b:1/p",
		"etcd://a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1,k:1,l:1,m:1,n:1,o:1,p:1,q:1/p",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = at_etcd_url_parse(&u, bad[i]);
		if (rc != AT_E_INVAL)
			printf("  accepted: %s\n", bad[i]);
		CHECK_INT(rc, ==, AT_E_INVAL);
	}
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_refusals);
	RUN(test_key_file);
	RUN(test_url);
	return TEST_EXIT();
}
