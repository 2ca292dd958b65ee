/*
 * The records of distributed challenge solving in a shared store (challenge/fleet_record.c): the keys, and the
 * checks a follower or a new leader makes of a record it did not write, from tables with hostile records
 * (oversized, bytes outside the alphabets, a NUL, a record moved under another record's key).
 */
#include "challenge/fleet_record.h"
#include "tests/test.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define THUMB "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define TXT "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

static void keys(void)
{
	char k[AT_FLEET_KEY_MAX], small[30];
	CHECK_OK(at_fleet_record_key(k, sizeof k, "http-01", "abc", 3));
	/* SHA-256("abc"), FIPS 180-2's example. */
	CHECK_STR(k, "challenges/http-01/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_INT(at_fleet_record_key(small, sizeof small, "http-01", "abc", 3), ==, AT_E_RANGE);
}

struct h01_case {
	const char *value;
	size_t len; /* 0: strlen */
	int ok;
};

static void http01_records(void)
{
	char key[AT_FLEET_KEY_MAX], other[AT_FLEET_KEY_MAX], big[700];
	size_t tl = 0;
	REQUIRE(at_fleet_record_key(key, sizeof key, "http-01", TOKEN, strlen(TOKEN)) == 0);
	REQUIRE(at_fleet_record_key(other, sizeof other, "http-01", "other", 5) == 0);
	memset(big, 'A', sizeof big);
	memcpy(big, TOKEN ".", sizeof(TOKEN));
	big[sizeof big - 1] = '\0';
	const struct h01_case cases[] = {
		{ TOKEN "." THUMB, 0, 1 },
		{ TOKEN, 0, 0 },                     /* no thumbprint */
		{ TOKEN ".", 0, 0 },                 /* an empty one */
		{ "." THUMB, 0, 0 },                 /* no token */
		{ TOKEN "." THUMB "\n", 0, 0 },      /* a byte outside base64url */
		{ TOKEN "." THUMB ".x", 0, 0 },      /* a second dot */
		{ TOKEN "/../x." THUMB, 0, 0 },      /* a path */
		{ TOKEN "." THUMB "\0A", sizeof(TOKEN "." THUMB "\0A") - 1, 0 }, /* a NUL inside */
		{ big, 0, 0 },                       /* over the cap */
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].value);
		int rc = at_fleet_http01_check(key, cases[i].value, len, &tl);
		if ((rc == 0) != cases[i].ok)
			fprintf(stderr, "  case %zu\n", i);
		CHECK_INT(rc == 0, ==, cases[i].ok);
	}
	CHECK_OK(at_fleet_http01_check(key, TOKEN "." THUMB, strlen(TOKEN "." THUMB), &tl));
	CHECK_INT(tl, ==, strlen(TOKEN));
	/* A good record under another token's key is refused: it could not shadow that token. */
	CHECK_INT(at_fleet_http01_check(other, TOKEN "." THUMB, strlen(TOKEN "." THUMB), &tl), ==, AT_E_PARSE);
	CHECK_INT(at_fleet_http01_check(NULL, TOKEN "." THUMB, strlen(TOKEN "." THUMB), &tl), ==, AT_E_PARSE);
}

static void dns01_records(void)
{
	static const char *const bad[] = {
		"_acme-challenge.a.example.test",                  /* no value */
		"_acme-challenge.a.example.test\n",                /* an empty one */
		"a.example.test\n" TXT,                            /* not under _acme-challenge. */
		"_acme-challenge.\n" TXT,                          /* no domain */
		"_acme-challenge.a example.test\n" TXT,            /* a space (an argument of the hook) */
		"_acme-challenge.a.example.test;rm\n" TXT,         /* a shell character */
		"_acme-challenge.a.example.test\n" TXT "\n",       /* a second line */
		"_acme-challenge.a.example.test\n" TXT " x",       /* a byte outside base64url */
		"_acme-challenge.a.example.test\n" TXT TXT TXT,    /* over the value's cap */
	};
	char key[AT_FLEET_KEY_MAX], rec[400];
	size_t nl = 0;
	const char good[] = "_acme-challenge.a.example.test\n" TXT;
	REQUIRE(at_fleet_record_key(key, sizeof key, "dns-01", good, strlen(good)) == 0);
	CHECK_OK(at_fleet_dns01_check(key, good, strlen(good), &nl));
	CHECK_INT(nl, ==, strlen("_acme-challenge.a.example.test"));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char k[AT_FLEET_KEY_MAX];
		/* Each under its own key, so that only its content can make it fail. */
		REQUIRE(at_fleet_record_key(k, sizeof k, "dns-01", bad[i], strlen(bad[i])) == 0);
		int rc = at_fleet_dns01_check(k, bad[i], strlen(bad[i]), &nl);
		if (rc != AT_E_PARSE)
			fprintf(stderr, "  case %zu\n", i);
		CHECK_INT(rc, ==, AT_E_PARSE);
	}
	/* A name over 253 bytes. */
	int n = snprintf(rec, sizeof rec, "_acme-challenge.%0250d\n%s", 0, TXT);
	char k[AT_FLEET_KEY_MAX];
	REQUIRE(at_fleet_record_key(k, sizeof k, "dns-01", rec, (size_t)n) == 0);
	CHECK_INT(at_fleet_dns01_check(k, rec, (size_t)n, &nl), ==, AT_E_PARSE);
	/* The good record under the key of another, and under the HTTP-01 kind's key for the same bytes. */
	REQUIRE(at_fleet_record_key(k, sizeof k, "http-01", good, strlen(good)) == 0);
	CHECK_INT(at_fleet_dns01_check(k, good, strlen(good), &nl), ==, AT_E_PARSE);
	REQUIRE(at_fleet_record_key(k, sizeof k, "dns-01", bad[0], strlen(bad[0])) == 0);
	CHECK_INT(at_fleet_dns01_check(k, good, strlen(good), &nl), ==, AT_E_PARSE);
}

int main(void)
{
	RUN(keys);
	RUN(http01_records);
	RUN(dns01_records);
	return TEST_EXIT();
}
