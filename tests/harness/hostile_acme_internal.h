/*
 * Between the scripted CA's server (hostile_ca.c) and its ACME extensions (hostile_acme.c): the few places where
 * the server asks the extensions. Not for tests: they use hostile_acme.h.
 */
#ifndef AUTOTLS_TESTS_HARNESS_HOSTILE_ACME_INTERNAL_H
#define AUTOTLS_TESTS_HARNESS_HOSTILE_ACME_INTERNAL_H

#include <openssl/x509.h>
#include <stddef.h>

struct hostile_ca;
struct hostile_acme;

/* One HTTP answer the extensions made: status, content type, extra header lines ("Name: v\r\n"...), body. */
struct hostile_acme_reply {
	int status;
	const char *ctype;
	char extra[128];
	char body[1024];
};

struct hostile_acme *hostile_acme_new(void);
void hostile_acme_free(struct hostile_acme *a);

/* The CA's extensions (hostile_ca.c). Borrowed. */
struct hostile_acme *hostile_ca_acme(struct hostile_ca *h);

/* The directory document for the CA at base (https://127.0.0.1:<port>), into out. */
void hostile_acme_directory(struct hostile_acme *a, const char *base, char *out, size_t size);

/* A new order's JWS body: 0, go on as usual; 1, answered in r (a fault, a refused "replaces" or profile). */
int hostile_acme_new_order(struct hostile_acme *a, const char *jws, size_t len, struct hostile_acme_reply *r);

/* GET /renewalInfo/<certID> (id is what follows the slash): the answer in r. */
void hostile_acme_renewal_info(struct hostile_acme *a, const char *id, struct hostile_acme_reply *r);

/* The notBefore offset from now and the lifetime, both seconds, of the next leaf. */
void hostile_acme_leaf_times(struct hostile_acme *a, long *nb_s, long *life_s);

/* A leaf signed for a finalize: remembered with its certID. */
void hostile_acme_issued(struct hostile_acme *a, X509 *leaf);

#endif
