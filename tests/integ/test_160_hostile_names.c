/*
 * Hostile names end to end: every name a client could send in SNI or a configuration could hold is either refused
 * or normalised to something that stays inside the store. The folder around the store is compared before and
 * after: nothing appears outside it.
 */
#include "store/certs.h"
#include "store/name.h"
#include "store/store.h"
#include "util/err.h"
#include "tests/harness/certgen.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64];
static char rootp[128];

struct hostile {
	const char *in;
	size_t len; /* 0: strlen */
};

static const struct hostile inputs[] = {
	{ "../x", 0 }, { "..", 0 }, { ".", 0 }, { "", 0 }, { "a/b", 0 }, { "/etc/passwd", 0 }, { "a\\b", 0 },
	{ "..\\..\\x", 0 }, { "x/../../y", 0 }, { "%2e%2e/x", 0 }, { "a\0/../x", 7 }, { "\0", 1 },
	{ "a\nb", 0 }, { "a\rb", 0 }, { "\x1b]0;x\x07", 0 }, { "a\x7f", 0 }, { "*", 0 }, { "*.", 0 },
	{ "*.*.example.com", 0 }, { ".locks", 0 }, { ".tmp-1", 0 }, { "-", 0 }, { "a..b", 0 },
	{ "EXAMPLE.COM.", 0 }, { "Example.Com", 0 }, { "*.EXAMPLE.com", 0 }, { "b\xc3\xbc" "cher.example", 0 },
	{ "\xc0\xae\xc0\xae", 0 }, { "\xe2\x80\xae" "moc.example", 0 }, { "2001:DB8::1", 0 }, { "::1", 0 },
	{ "::ffff:127.0.0.1", 0 }, { "127.0.0.1", 0 }, { "[::1]", 0 }, { "fe80::1%lo", 0 }, { "~root", 0 },
	{ "$(id)", 0 }, { "a b", 0 }, { "xn--", 0 }, { "con", 0 }, { "nul.example", 0 },
};

static int snapshot(const char *dir, char *out, size_t size)
{
	/* the names directly in base, sorted by readdir order is fine for equality within one run */
	DIR *d = opendir(dir);
	size_t o = 0;
	if (d == NULL)
		return -1;
	out[0] = '\0';
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		int n = snprintf(out + o, size - o, "%s\n", de->d_name);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
	closedir(d);
	return 0;
}

/* Every entry below dir is a real folder or file (no links) and its path has no ".." component. */
static int tree_ok(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	int ok = 1;
	if (d == NULL)
		return 0;
	for (struct dirent *de; (de = readdir(d)) != NULL && ok;) {
		char p[2048];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (lstat(p, &st) != 0 || S_ISLNK(st.st_mode))
			ok = 0;
		else if (S_ISDIR(st.st_mode))
			ok = depth > 0 && tree_ok(p, depth - 1);
	}
	closedir(d);
	return ok;
}

static void test_hostile(void)
{
	struct at_store *s = NULL;
	char before[4096], after[4096];
	char *kp = NULL, *cp = NULL;
	size_t kl = 0, cl = 0;
	int refused = 0, accepted = 0;

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	REQUIRE(snapshot(base, before, sizeof before) == 0);
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		size_t len = inputs[i].len ? inputs[i].len : strlen(inputs[i].in);
		char norm[AT_NAME_MAX + 1], comp[AT_NAME_MAX + 1], key[1100];
		/* raw as a component: always refused by the store itself */
		char raw[64];
		snprintf(raw, sizeof raw, "%s", inputs[i].in);
		/* raw as a component: refused by the store itself unless it is harmless as a file name */
		if (at_store_key(key, sizeof key, "certificates", "ca", raw, "record", NULL) == 0)
			CHECK(strchr(raw, '/') == NULL && raw[0] != '.'); /* (an embedded NUL cut raw short) */
		CHECK(at_store_lock(s, raw, 5, 0) != 0 || at_store_unlock(s, raw) == 0);
		struct at_cert_record got;
		memset(&got, 0, sizeof got);
		int lrc = at_cert_record_load(s, "ca", raw, &got);
		CHECK(lrc == AT_E_BADNAME || lrc == AT_E_NOTFOUND);

		if (at_name_normalize(norm, inputs[i].in, len) != 0) {
			refused++;
			continue;
		}
		accepted++;
		REQUIRE(at_name_to_component(comp, norm) == 0);
		CHECK(strchr(comp, '/') == NULL && comp[0] != '.');
		CHECK_OK(at_store_key(key, sizeof key, "certificates", "ca", comp, "record", NULL));
		/* a real record for it, with a certificate for the normalised name */
		char san[300];
		snprintf(san, sizeof san, "%s:%s", strchr(norm, ':') || strspn(norm, "0123456789.") == strlen(norm)
							  ? "IP" : "DNS", norm);
		free(kp);
		free(cp);
		REQUIRE(harness_self_signed_pem(&kp, &kl, &cp, &cl, san) == 0);
		char *names[] = { norm };
		struct at_cert_record r;
		memset(&r, 0, sizeof r);
		r.key_pem = kp;
		r.key_len = kl;
		r.chain_pem = cp;
		r.chain_len = cl;
		r.names = names;
		r.nnames = 1;
		int src = at_cert_record_save(s, "ca", &r);
		if (src != 0)
			fprintf(stderr, "  save of %s: %s\n", norm, at_strerror(src));
		CHECK_OK(src);
		CHECK_OK(at_cert_record_load(s, "ca", norm, &got));
		at_cert_record_clear(&got);
	}
	free(kp);
	free(cp);
	REQUIRE(snapshot(base, after, sizeof after) == 0);
	CHECK_STR(after, before);
	CHECK(tree_ok(rootp, 16));
	printf("  %d hostile inputs refused, %d normalised and stored inside the store\n", refused, accepted);
	at_store_close(s);
}

int main(void)
{
	snprintf(base, sizeof base, "/tmp/at-hostile-XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(rootp, sizeof rootp, "%s/store", base);
	RUN(test_hostile);
	int rc = TEST_EXIT();
	if (rc == 0) {
		char cmd[160];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd) != 0)
			return 1;
	}
	return rc;
}
