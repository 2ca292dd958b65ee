/*
 * A process's follower of the region (shim/manager/sync.c), in a private region: a certificate record is indexed
 * from the names the writer put beside it and parsed only on its first use (the same objects for every later
 * use and every later snapshot); a change parses nothing else again; an intermediate shared by many
 * certificates is one X509 in the process; a record replaced under an old snapshot is not served from it; a
 * record that does not parse is asked for once and then keeps the host's certificate.
 */
#include "shim/manager/publish.c" /* the writer's side, into its private region (no shared one here) */
#include "shim/manager/quiesce.c" /* mgr_host; the manager's own files: not in the core archive */
#include "shim/manager/refusal.c"
#include "shim/manager/sync.c"
#include "shim/manager/seen.c" /* what sync notes for `autotls status` */
#include "shim/preload/cache.c"
#include "shim/shm.c"
#include "shim/shm_dir.c"
#include "tests/harness/certgen.h"
#include "tests/test.h"

static struct shim_host host = { .version = SHIM_HOST_API_VERSION, .publish = cache_publish,
				 .current = cache_current, .refused_seen = cache_refused_seen };
/* publish.c writes through mgr_region_writable only where the tree shares a region (mgr_host->shm); this test
 * has none (the private region), so that path is never taken here and region_write.c (with its lead.c
 * dependencies) stays out. */
struct shm_region *mgr_region_writable(void)
{
	return NULL;
}

static X509 *inter;
static EVP_PKEY *inter_key;

/* name's certificate under the test intermediate, published (publish.c: names and expiry beside, the
 * intermediate into a blob). */
static int put_cert(const char *name)
{
	char *chain = NULL, *kp = NULL;
	size_t cl = 0, kl = 0;
	if (harness_leaf_chain_pem(&chain, &cl, &kp, &kl, name, inter, inter_key, 30) != 0)
		return -1;
	int rc = mgr_publish_extra(chain, cl, kp, kl, name);
	free(chain);
	at_secret_free(kp, kl);
	return rc;
}

static const struct cache_cert *find(const char *name)
{
	return cache_find_cert(cache_current(), name, time(NULL));
}

static void parsed_on_first_use_and_only_what_changed(void)
{
	CHECK_OK(put_cert("a.example.test"));
	CHECK_OK(put_cert("b.example.test"));
	CHECK_OK(put_cert("c.example.test"));
	/* The region: three certificate records and one blob (their intermediate, stored once). */
	struct shm_changes all;
	REQUIRE(shm_read_changes(private_region, NULL, 0, 0, &all) == 0);
	int blobs_seen = 0, certs_seen = 0;
	for (size_t i = 0; i < all.n; i++) {
		struct shm_record rec;
		CHECK_OK(shm_parse_record(all.v[i].rec, all.v[i].len, &rec));
		blobs_seen += rec.kind == SHM_BLOB;
		certs_seen += rec.kind == SHM_CERT && rec.blob[0] != '\0';
	}
	shm_changes_free(&all);
	CHECK_INT(blobs_seen, ==, 1);
	CHECK_INT(certs_seen, ==, 3);
	const struct cache_snapshot *s1 = cache_current();
	REQUIRE(s1 != NULL && s1->ncerts == 3);
	const struct cache_cert *a = find("a.example.test"), *b = find("b.example.test");
	REQUIRE(a != NULL && b != NULL);
	/* Indexed, not parsed. */
	CHECK(a->leaf == NULL && a->lazy != NULL && cell_entry(a) != NULL && cell_entry(a)->not_after > time(NULL));
	struct cache_cert ta, tb, ta2;
	const struct cache_cert *pa = s1->resolve(a, &ta), *pb = s1->resolve(b, &tb);
	REQUIRE(pa != NULL && pb != NULL);
	CHECK(pa->leaf != NULL && pa->key != NULL && X509_check_private_key(pa->leaf, pa->key) == 1);
	/* The second use loads what the first parsed. */
	const struct cache_cert *pa2 = s1->resolve(a, &ta2);
	CHECK(pa2 != NULL && pa2->leaf == pa->leaf && pa2->key == pa->key);
	/* One intermediate for both, and it is the blob's. */
	REQUIRE(pa->chain != NULL && pb->chain != NULL);
	CHECK(sk_X509_value(pa->chain, 0) == sk_X509_value(pb->chain, 0));
	CHECK(mgr_cert_parsed(find("c.example.test"), &ta2) == NULL); /* c: never used, never parsed */

	/* b is renewed: swapped in place (same names: no new snapshot); a keeps its parsed objects; b's entry now
	 * leads to the new certificate, parsed at the sync already, since this process served b (warm). */
	CHECK_OK(put_cert("b.example.test"));
	const struct cache_snapshot *s2 = cache_current();
	CHECK(s2 == s1);
	struct cache_cert t;
	const struct cache_cert *a2 = mgr_cert_parsed(find("a.example.test"), &t);
	CHECK(a2 != NULL && a2->leaf == pa->leaf);
	const struct cache_cert *b_warm = mgr_cert_parsed(find("b.example.test"), &t);
	CHECK(b_warm != NULL && b_warm->leaf != pb->leaf);
	/* c, never served, is renewed: still lazy (nothing parsed for a name this process does not serve). */
	CHECK_OK(put_cert("c.example.test"));
	CHECK(mgr_cert_parsed(find("c.example.test"), &t) == NULL);
	/* A writer inside a write section (a manager preempted in one; the handshake's read of the region gives up
	 * at once): the renewed b is served all the same, from what the sync parsed; c, whose first use needs the
	 * region, is not (the handshake keeps the host's certificate, and the next one parses it). */
	atomic_fetch_add(&private_region->seq, 1);
	struct cache_cert tb_new, tc;
	const struct cache_cert *pb_new = s2->resolve(find("b.example.test"), &tb_new);
	CHECK(pb_new != NULL && pb_new->leaf != pb->leaf && X509_check_private_key(pb_new->leaf, pb_new->key) == 1);
	const struct cache_cert *c = find("c.example.test");
	CHECK(s2->resolve(c, &tc) == NULL);
	atomic_fetch_add(&private_region->seq, 1);
	CHECK(s2->resolve(c, &tc) != NULL);
	/* A new name: a new snapshot. */
	CHECK_OK(put_cert("d.example.test"));
	CHECK(cache_current() != s2 && find("d.example.test") != NULL && find("a.example.test") != NULL);
}

static void a_record_that_does_not_parse_keeps_the_hosts(void)
{
	char *names[] = { "bad.example.test" };
	struct shm_meta meta = { .not_after = time(NULL) + 86400, .nnames = 1, .names = names };
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
	CHECK_OK(shm_put(private_region, SHM_CERT, "bad.example.test", junk, sizeof(junk) - 1, "K", 1, &meta));
	CHECK_OK(mgr_sync_region(private_region));
	const struct cache_cert *c = find("bad.example.test");
	REQUIRE(c != NULL);
	struct cache_cert t;
	CHECK(cache_current()->resolve(c, &t) == NULL);
	/* Marked: the next handshake does not parse (nor allocate) again. */
	CHECK(atomic_load(&cell_entry(c)->objs) == &failed_objs);
	CHECK(cache_current()->resolve(c, &t) == NULL);
	/* Replaced by a good one, the marked entry is retired and, once its grace is over, freed without freeing
	 * the mark (a static: freeing it aborted the process a minute after such a replacement). */
	CHECK_OK(put_cert("bad.example.test"));
	CHECK(cache_current()->resolve(find("bad.example.test"), &t) != NULL);
	for (struct parsed *p = parsed_retired; p != NULL; p = p->retired_next)
		p->retired_at_ms -= 3L * CACHE_GRACE_S * 1000L;
	sweep_retired();
	CHECK(parsed_retired == NULL);
}

/* An expired certificate for a host, indexed lazily (its entry's own expiry is the far future: a renewal swaps
 * it in place), does not hide a valid wildcard that covers the host: the lookup skips it through the cell's
 * expiry and the handshake gets the wildcard, not the host's own certificate. */
static void an_expired_host_falls_through_to_the_wildcard(void)
{
	char *names[] = { "old.wild.example.test" };
	struct shm_meta meta = { .not_after = time(NULL) - 60, .nnames = 1, .names = names };
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
	CHECK_OK(put_cert("*.wild.example.test"));
	CHECK_OK(shm_put(private_region, SHM_CERT, "old.wild.example.test", junk, sizeof(junk) - 1, "K", 1, &meta));
	CHECK_OK(mgr_sync_region(private_region));
	const struct cache_cert *c = find("old.wild.example.test");
	REQUIRE(c != NULL);
	CHECK_STR(c->name, "*.wild.example.test");
	struct cache_cert t;
	const struct cache_cert *pc = cache_current()->resolve(c, &t);
	CHECK(pc != NULL && pc->leaf != NULL);
	/* Withdrawn or expired alike: a name with neither its own certificate nor a wildcard finds nothing. */
	CHECK(find("old.other.example.test") == NULL);
}

static int put_junk(const char *name)
{
	char *names[] = { (char *)name };
	struct shm_meta meta = { .not_after = time(NULL) + 86400, .nnames = 1, .names = names };
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
	return shm_put(private_region, SHM_CERT, name, junk, sizeof(junk) - 1, "K", 1, &meta);
}

/* A bulk load of new names does not make a snapshot of every name at each sync: a new name in a free slot
 * waits 50 us a name since the last build (4,000 names: 200 ms), unless a handshake asks (sync_now) or the
 * change cannot wait (a withdrawal). */
static void new_names_wait_for_the_next_build_in_a_bulk_load(void)
{
	char name[64];
	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "bulk%d.example.test", i);
		REQUIRE(put_junk(name) == 0);
	}
	CHECK_OK(mgr_sync_region(private_region)); /* the last build was a moment ago: deferred */
	CHECK(find("bulk3999.example.test") == NULL && find("a.example.test") != NULL);
	usleep(250 * 1000);
	CHECK_OK(mgr_sync_region(private_region)); /* due */
	const struct cache_snapshot *s1 = cache_current();
	CHECK(find("bulk3999.example.test") != NULL);
	CHECK_OK(put_junk("late1.example.test"));
	CHECK_OK(mgr_sync_region(private_region));
	CHECK(cache_current() == s1 && find("late1.example.test") == NULL); /* deferred */
	host.shm = private_region; /* sync_now reads the tree's region: this test's private one, for this call */
	CHECK_OK(mgr_sync_now());  /* a handshake asks */
	host.shm = NULL;
	CHECK(find("late1.example.test") != NULL);
	CHECK_OK(put_junk("late2.example.test"));
	CHECK_OK(mgr_sync_region(private_region));
	CHECK(find("late2.example.test") == NULL);
	usleep(250 * 1000);
	CHECK_OK(mgr_sync_region(private_region)); /* nothing new in the region: the deferred build, now due */
	CHECK(find("late2.example.test") != NULL);
	CHECK_OK(put_junk("late3.example.test"));
	CHECK_OK(shm_drop(private_region, SHM_CERT, "bulk7.example.test"));
	CHECK_OK(mgr_sync_region(private_region)); /* a withdrawal builds at once, with the new name */
	CHECK(find("bulk7.example.test") == NULL && find("late3.example.test") != NULL);
}

int main(void)
{
	mgr_host = &host;
	X509 *root = NULL;
	EVP_PKEY *root_key = NULL;
	if (harness_cert_make(&root, &root_key, "sync root", NULL, NULL, 1, NULL, NULL, 30) != 0 ||
	    harness_cert_make(&inter, &inter_key, "sync intermediate", NULL, NULL, 1, root, root_key, 30) != 0)
		return 1;
	RUN(parsed_on_first_use_and_only_what_changed);
	RUN(a_record_that_does_not_parse_keeps_the_hosts);
	RUN(an_expired_host_falls_through_to_the_wildcard);
	RUN(new_names_wait_for_the_next_build_in_a_bulk_load);
	X509_free(root);
	EVP_PKEY_free(root_key);
	return TEST_EXIT();
}
