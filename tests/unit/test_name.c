/* store/name.c: normalisation from a table that includes hostile inputs, punycode vectors from RFC 3492
 * section 7.1, and the component mapping. */
#include "store/name.h"
#include "store/punycode.h"
#include "util/err.h"
#include "tests/test.h"

#include <stdint.h>

struct norm_case {
	const char *in;
	size_t len;       /* 0: strlen(in) */
	const char *want; /* NULL: refused */
};

static const struct norm_case cases[] = {
	{ "example.com", 0, "example.com" },
	{ "Example.COM", 0, "example.com" },
	{ "example.com.", 0, "example.com" },
	{ "example.com..", 0, NULL },
	{ "EXAMPLE.com.", 0, "example.com" },
	{ "b\xc3\xbc" "cher.example", 0, "xn--bcher-kva.example" },
	{ "B\xc3\xbc" "CHER.example", 0, "xn--bcher-kva.example" },
	{ "\xe4\xbe\x8b\xe3\x81\x88.jp", 0, "xn--r8jz45g.jp" },
	{ "xn--bcher-kva.example", 0, "xn--bcher-kva.example" },
	{ "*.example.com", 0, "*.example.com" },
	{ "*.Example.com.", 0, "*.example.com" },
	{ "*", 0, NULL },
	{ "a.*.example.com", 0, NULL },
	{ "**.example.com", 0, NULL },
	{ "*a.example.com", 0, NULL },
	{ "192.0.2.1", 0, "192.0.2.1" },
	{ "2001:DB8:0:0::1", 0, "2001:db8::1" },
	{ "::FFFF:192.0.2.1", 0, "::ffff:192.0.2.1" },
	{ "::1", 0, "::1" },
	{ "fe80::1%eth0", 0, NULL },
	{ "1.2.3.4.", 0, NULL },
	{ "01.2.3.4", 0, NULL },
	{ "256.1.1.1", 0, NULL },
	{ "localhost", 0, "localhost" },
	{ "123", 0, NULL },
	{ "a-b.c-d.example", 0, "a-b.c-d.example" },
	{ "-a.example", 0, NULL },
	{ "a-.example", 0, NULL },
	{ "a_b.example", 0, NULL },
	{ "a b.example", 0, NULL },
	{ "../x", 0, NULL },
	{ "..", 0, NULL },
	{ ".", 0, NULL },
	{ "", 0, NULL },
	{ ".example.com", 0, NULL },
	{ "a..b", 0, NULL },
	{ "a/b", 0, NULL },
	{ "a\\b", 0, NULL },
	{ "a\nb.example", 0, NULL },
	{ "a\tb.example", 0, NULL },
	{ "a\x7f" "b.example", 0, NULL },
	{ "a\x1b[31m.example", 0, NULL },
	{ "a\0b.example", 11, NULL },
	{ "example.com\0", 12, NULL },
	{ "\xc3\x28.example", 0, NULL },          /* bad continuation */
	{ "\xc0\xaf.example", 0, NULL },          /* overlong '/' */
	{ "\xed\xa0\x80.example", 0, NULL },      /* surrogate */
	{ "\xf4\x90\x80\x80.example", 0, NULL },  /* above U+10FFFF */
	{ "\xc2\x85.example", 0, NULL },          /* C1 control NEL */
	{ "\xc3\xbc", 0, "xn--tda" },
	{ "-\xc3\xbc.example", 0, NULL },
	{ "a:b", 0, NULL },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[AT_NAME_MAX + 1];
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int rc = at_name_normalize(out, cases[i].in, len);
		if (cases[i].want == NULL) {
			if (rc != AT_E_BADNAME)
				fprintf(stderr, "  case %zu accepted as \"%s\"\n", i, rc == 0 ? out : "?");
			CHECK_INT(rc, ==, AT_E_BADNAME);
		} else {
			if (rc != 0)
				fprintf(stderr, "  case %zu (%s) refused\n", i, cases[i].want);
			CHECK_OK(rc);
			if (rc == 0)
				CHECK_STR(out, cases[i].want);
		}
	}
}

static void test_lengths(void)
{
	char in[400], out[AT_NAME_MAX + 1];

	/* 300 characters: too long in total */
	memset(in, 'a', 300);
	for (int i = 60; i < 300; i += 61)
		in[i] = '.';
	in[300] = '\0';
	CHECK_INT(at_name_normalize(out, in, 300), ==, AT_E_BADNAME);
	/* exactly 253 = 63+1+63+1+63+1+61 */
	memset(in, 'b', 253);
	in[63] = in[127] = in[191] = '.';
	in[253] = '\0';
	CHECK_OK(at_name_normalize(out, in, 253));
	CHECK_INT(strlen(out), ==, 253);
	/* and with the trailing dot: 254 bytes in, still fine */
	in[253] = '.';
	in[254] = '\0';
	CHECK_OK(at_name_normalize(out, in, 254));
	/* 254 without a dot */
	in[253] = 'b';
	CHECK_INT(at_name_normalize(out, in, 254), ==, AT_E_BADNAME);
	/* one 64-byte label */
	memset(in, 'c', 64);
	memcpy(in + 64, ".example", 9);
	CHECK_INT(at_name_normalize(out, in, strlen(in)), ==, AT_E_BADNAME);
	in[1] = '.';
	CHECK_OK(at_name_normalize(out, in, strlen(in)));
	/* a UTF-8 label whose A-label would pass 63 bytes */
	size_t o = 0;
	for (int i = 0; i < 30; i++) { /* 30 scattered CJK code points, U+4E00 + 97 i */
		unsigned v = 0x4E00 + 97u * (unsigned)i;
		in[o++] = (char)(0xE0 | (v >> 12));
		in[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
		in[o++] = (char)(0x80 | (v & 0x3F));
	}
	memcpy(in + o, ".example", 9);
	CHECK_INT(at_name_normalize(out, in, strlen(in)), ==, AT_E_BADNAME);
	CHECK_INT(at_name_normalize(out, NULL, 3), ==, AT_E_BADNAME);
	CHECK_INT(at_name_normalize(out, in, 5000), ==, AT_E_BADNAME);
}

static void test_punycode_rfc3492(void)
{
	/* RFC 3492 section 7.1 (A) Arabic (Egyptian) and (L) the Japanese sample, lowercased */
	static const uint32_t arabic[] = { 0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628, 0x062A, 0x0643, 0x0644,
					   0x0645, 0x0648, 0x0634, 0x0639, 0x0631, 0x0628, 0x064A, 0x061F };
	static const uint32_t l[] = { 0x0033, 0x5E74, 0x0062, 0x7D44, 0x91D1, 0x516B, 0x5148, 0x751F };
	char out[128];

	CHECK_OK(at_punycode_encode(out, sizeof out, arabic, sizeof arabic / sizeof arabic[0]));
	CHECK_STR(out, "egbpdaj6bu4bxfgehfvwxn");
	CHECK_OK(at_punycode_encode(out, sizeof out, l, sizeof l / sizeof l[0]));
	CHECK_STR(out, "3b-ww4c5e180e575a65lsy2b");
	CHECK_INT(at_punycode_encode(out, 4, arabic, sizeof arabic / sizeof arabic[0]), ==, AT_E_RANGE);
}

static void test_component(void)
{
	char out[AT_NAME_MAX + 1];

	CHECK_OK(at_name_to_component(out, "example.com"));
	CHECK_STR(out, "example.com");
	CHECK_OK(at_name_to_component(out, "*.example.com"));
	CHECK_STR(out, "_.example.com");
	CHECK_OK(at_name_to_component(out, "2001:db8::1"));
	CHECK_STR(out, "2001_db8__1");
	CHECK_OK(at_name_to_component(out, "::ffff:192.0.2.1"));
	CHECK_STR(out, "__ffff_192.0.2.1");
	CHECK_OK(at_name_to_component(out, "192.0.2.1"));
	CHECK_STR(out, "192.0.2.1");
	/* not normalised */
	CHECK_INT(at_name_to_component(out, "Example.com"), ==, AT_E_BADNAME);
	CHECK_INT(at_name_to_component(out, "example.com."), ==, AT_E_BADNAME);
	CHECK_INT(at_name_to_component(out, "2001:DB8::1"), ==, AT_E_BADNAME);
	CHECK_INT(at_name_to_component(out, ".."), ==, AT_E_BADNAME);
	CHECK_INT(at_name_to_component(out, "_.example.com"), ==, AT_E_BADNAME);
}

int main(void)
{
	RUN(test_table);
	RUN(test_lengths);
	RUN(test_punycode_rfc3492);
	RUN(test_component);
	return TEST_EXIT();
}
