/* Private keys: generation per type, PKCS#8 PEM round trip, refusal of garbage, the type-name table. */
#include "tests/test.h"
#include "util/err.h"
#include "util/keys.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(enum at_key_type type)
{
	EVP_PKEY *key = NULL, *back = NULL;
	enum at_key_type got = (enum at_key_type)42;
	char *pem = NULL;
	size_t len = 0;

	REQUIRE(at_key_generate(&key, type) == 0);
	CHECK_OK(at_key_type_of(&got, key));
	CHECK_INT(got, ==, type);
	CHECK_OK(at_key_to_pem(&pem, &len, key));
	REQUIRE(pem != NULL);
	CHECK_INT(strlen(pem), ==, len);
	CHECK(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0); /* PKCS#8 */
	CHECK(strstr(pem, "-----END PRIVATE KEY-----") != NULL);
	CHECK_OK(at_key_from_pem(&back, pem, len));
	REQUIRE(back != NULL);
	CHECK_INT(EVP_PKEY_eq(key, back), ==, 1);
	got = (enum at_key_type)42;
	CHECK_OK(at_key_type_of(&got, back));
	CHECK_INT(got, ==, type);
	at_secret_free(pem, len);
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
}

static void test_p256(void)
{
	roundtrip(AT_KEY_P256);
}

static void test_p384(void)
{
	roundtrip(AT_KEY_P384);
}

static void test_rsa2048(void)
{
	roundtrip(AT_KEY_RSA2048);
}

static void test_rsa3072(void)
{
	roundtrip(AT_KEY_RSA3072);
}

static void test_rsa4096(void)
{
	roundtrip(AT_KEY_RSA4096);
}

static void test_generate_bad_type(void)
{
	EVP_PKEY *key = NULL;

	CHECK_INT(at_key_generate(&key, (enum at_key_type)99), ==, AT_E_INVAL);
	CHECK(key == NULL);
}

/* A traditional ("BEGIN EC PRIVATE KEY") PEM is accepted too; this one is a P-256 key made for this test. */
static void test_traditional_pem(void)
{
	EVP_PKEY *key = NULL, *back = NULL;
	enum at_key_type got;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;

	REQUIRE(bio != NULL);
	REQUIRE(at_key_generate(&key, AT_KEY_P256) == 0);
	/* PEM_write_bio_PrivateKey_traditional writes the SEC 1 form. */
	CHECK_INT(PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL), ==, 1);
	n = BIO_get_mem_data(bio, &data);
	REQUIRE(n > 0);
	CHECK(strncmp(data, "-----BEGIN EC PRIVATE KEY-----", 30) == 0);
	CHECK_OK(at_key_from_pem(&back, data, (size_t)n));
	CHECK(back != NULL && EVP_PKEY_eq(key, back) == 1);
	CHECK_OK(at_key_type_of(&got, back));
	CHECK_INT(got, ==, AT_KEY_P256);
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
	BIO_free(bio);
}

static void test_parse_refuses_garbage(void)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"-----BEGIN PRIVATE KEY-----\nnot base64 at all !!!\n-----END PRIVATE KEY-----\n",
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	};
	EVP_PKEY *key = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(at_key_from_pem(&key, bad[i], strlen(bad[i])), ==, AT_E_PARSE);
	CHECK_INT(at_key_from_pem(&key, NULL, 10), ==, AT_E_PARSE);
	CHECK(key == NULL);
}

/* An encrypted key is refused, never a passphrase prompt on the server's terminal. */
static void test_parse_refuses_encrypted(void)
{
	EVP_PKEY *key = NULL, *back = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	static char pass[] = "secret";

	REQUIRE(bio != NULL);
	REQUIRE(at_key_generate(&key, AT_KEY_P256) == 0);
	CHECK_INT(PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_128_cbc(), NULL, 0, NULL, pass), ==, 1);
	n = BIO_get_mem_data(bio, &data);
	REQUIRE(n > 0);
	CHECK_INT(at_key_from_pem(&back, data, (size_t)n), ==, AT_E_PARSE);
	CHECK(back == NULL);
	EVP_PKEY_free(key);
	BIO_free(bio);
}

static void test_type_of_unsupported(void)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	enum at_key_type t = AT_KEY_RSA4096;

	REQUIRE(ed != NULL && p521 != NULL && rsa1024 != NULL);
	CHECK_INT(at_key_type_of(&t, ed), ==, AT_E_UNSUPPORTED);
	CHECK_INT(at_key_type_of(&t, p521), ==, AT_E_UNSUPPORTED);
	CHECK_INT(at_key_type_of(&t, rsa1024), ==, AT_E_UNSUPPORTED);
	CHECK_INT(t, ==, AT_KEY_RSA4096); /* untouched */
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(rsa1024);
}

static void test_type_parse_table(void)
{
	static const struct {
		const char *s;
		int rc;
		enum at_key_type t;
	} cases[] = {
		{ "p256", 0, AT_KEY_P256 },         { "P256", 0, AT_KEY_P256 },
		{ "p384", 0, AT_KEY_P384 },         { "rsa2048", 0, AT_KEY_RSA2048 },
		{ "RSA3072", 0, AT_KEY_RSA3072 },   { "rsa4096", 0, AT_KEY_RSA4096 },
		{ "", AT_E_INVAL, 0 },              { "p521", AT_E_INVAL, 0 },
		{ "rsa1024", AT_E_INVAL, 0 },       { "p256 ", AT_E_INVAL, 0 },
		{ " p256", AT_E_INVAL, 0 },         { "p25", AT_E_INVAL, 0 },
		{ "p2566", AT_E_INVAL, 0 },         { "ed25519", AT_E_INVAL, 0 },
		{ "P-256", AT_E_INVAL, 0 },         { "rsa", AT_E_INVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum at_key_type t = (enum at_key_type)42;
		CHECK_INT(at_key_type_parse(&t, cases[i].s), ==, cases[i].rc);
		if (cases[i].rc == 0)
			CHECK_INT(t, ==, cases[i].t);
		else
			CHECK_INT(t, ==, 42); /* untouched */
	}
	enum at_key_type t;
	CHECK_INT(at_key_type_parse(&t, NULL), ==, AT_E_INVAL);
	/* name and parse agree for every type */
	for (int k = AT_KEY_P256; k <= AT_KEY_RSA4096; k++) {
		CHECK_OK(at_key_type_parse(&t, at_key_type_name((enum at_key_type)k)));
		CHECK_INT(t, ==, k);
	}
	CHECK_STR(at_key_type_name((enum at_key_type)42), "unknown");
}

static void test_secret_free_null(void)
{
	char *p = malloc(16);

	at_secret_free(NULL, 0);
	REQUIRE(p != NULL);
	memset(p, 'k', 16);
	at_secret_free(p, 16);
}

int main(void)
{
	RUN(test_p256);
	RUN(test_p384);
	RUN(test_rsa2048);
	RUN(test_rsa3072);
	RUN(test_rsa4096);
	RUN(test_generate_bad_type);
	RUN(test_traditional_pem);
	RUN(test_parse_refuses_garbage);
	RUN(test_parse_refuses_encrypted);
	RUN(test_type_of_unsupported);
	RUN(test_type_parse_table);
	RUN(test_secret_free_null);
	return TEST_EXIT();
}
