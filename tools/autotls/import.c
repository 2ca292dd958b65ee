/*
 * `autotls import CERT KEY [--chain FILE]`, `autotls import --certbot [DIR]` and `autotls import --lego [DIR]`:
 * brings certificates obtained elsewhere into the store as certificate records, the same records the engine
 * writes after an order (store/certs.c: staged, read back, checked, promoted; the key 0600), so that a manager on
 * this store serves them without ordering and renews them through ACME at their renewal point (the lifetime rule
 * of engine/engine.c: renew_after is left unset).
 * Checked before anything is written: the key matches the leaf, the chain hangs together (each certificate
 * signed by the next), the leaf has not expired, and the names are covered. The record goes into the folder of
 * the CA the server uses (AUTOTLS_CA), under the server's first name when AUTOTLS_DOMAINS is set and the
 * certificate covers all its names (a record must name exactly the server's set to be served), else under the
 * leaf's own names. It takes the issue lock of that name (the engine's "issue-<name>") so that it never writes
 * while a manager orders the same names; a newer certificate in the store is not replaced without --force.
 * Key material is never printed; read buffers holding a key are cleansed.
 */
#include "tools/autotls/cli.h"
#include "store/name.h"

#include <dirent.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMPORT_LOCK_LEASE_S 60
#define IMPORT_LOCK_WAIT_MS 10000

/* Reads a whole file (at most AT_CHAIN_MAX_PEM bytes) into a new NUL-terminated buffer. */
static int slurp(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "autotls: import: cannot read %s: %m; give a readable PEM file\n", path);
		return AT_E_IO;
	}
	char *buf = malloc(AT_CHAIN_MAX_PEM + 1);
	size_t n = buf ? fread(buf, 1, AT_CHAIN_MAX_PEM + 1, f) : 0;
	fclose(f);
	if (buf == NULL)
		return AT_E_NOMEM;
	if (n > AT_CHAIN_MAX_PEM) {
		OPENSSL_cleanse(buf, n);
		free(buf);
		fprintf(stderr, "autotls: import: %s is larger than %d bytes; not a certificate or key file\n", path,
			AT_CHAIN_MAX_PEM);
		return AT_E_TOOBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static void free_secret(char *p, size_t n)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

/* The names the record is stored under (see the top of this file); n of them into names (owned strings). */
static int pick_names(const struct cli_settings *s, const struct at_cert_info *info, char **names, size_t *n)
{
	size_t k = 0;
	*n = 0;
	if (s->domains_set) {
		/* the server's set, if the leaf covers it: at_chain_check below says whether it does */
		for (size_t i = 0; i < s->cfg.ndomains; i++)
			if ((names[k++] = strdup(s->cfg.domains[i])) == NULL)
				goto nomem;
	} else {
		for (size_t i = 0; i < info->nnames && k < SHIM_MAX_DOMAINS; i++) {
			char norm[AT_NAME_MAX + 1];
			if (at_name_normalize(norm, info->names[i], strlen(info->names[i])) != 0)
				continue;
			if ((names[k++] = strdup(norm)) == NULL)
				goto nomem;
		}
		if (k == 0) {
			fprintf(stderr, "autotls: import: the certificate names no DNS name or IP address in its "
					"subjectAltName; nothing to serve it for\n");
			return AT_E_NAMES;
		}
	}
	*n = k;
	return 0;
nomem:
	while (k > 0)
		free(names[--k]);
	return AT_E_NOMEM;
}

static const char *check_fix(int rc)
{
	switch (rc) {
	case AT_E_KEY_MISMATCH: return "the key does not belong to the certificate; give the certificate's own key";
	case AT_E_CHAIN: return "the chain does not hang together (each certificate must be signed by the next); "
				"give the intermediates in order with --chain";
	case AT_E_EXPIRED: return "the certificate has expired; nothing to import (the server will order one)";
	case AT_E_NAMES: return "it does not cover every name of AUTOTLS_DOMAINS; set AUTOTLS_DOMAINS to the names "
				"it covers, or let the server order";
	case AT_E_PARSE: return "not a PEM certificate chain and key";
	default: return at_strerror(rc);
	}
}

/* Imports one pair: chain (leaf first) and key, both PEM. what names the source for messages. */
static int import_one(struct at_store *store, const struct cli_settings *s, const char *what, const char *chain,
		      size_t chain_len, const char *key, size_t key_len, int force)
{
	STACK_OF(X509) *sk = NULL;
	struct at_cert_info leaf, info;
	struct at_cert_record rec, old;
	char *names[SHIM_MAX_DOMAINS];
	char comp[AT_NAME_MAX + 1], lock[AT_NAME_MAX + 16], na[32];
	size_t nnames = 0;
	int rc, locked = 0;

	memset(&leaf, 0, sizeof(leaf));
	memset(&info, 0, sizeof(info));
	memset(&old, 0, sizeof(old));
	rc = at_chain_parse(&sk, chain, chain_len);
	if (rc == 0)
		rc = at_cert_info_get(&leaf, sk_X509_value(sk, 0));
	if (sk != NULL)
		sk_X509_pop_free(sk, X509_free);
	if (rc != 0) {
		fprintf(stderr, "autotls: import: %s: %s\n", what, check_fix(AT_E_PARSE));
		return rc;
	}
	rc = pick_names(s, &leaf, names, &nnames);
	if (rc != 0)
		goto out;
	rc = at_chain_check(chain, chain_len, key, key_len, (const char *const *)names, nnames, NULL,
			    AT_CHECK_NOT_EXPIRED | AT_CHECK_CHAIN_LINKED, &info);
	if (rc != 0) {
		fprintf(stderr, "autotls: import: %s: %s\n", what, check_fix(rc));
		goto out;
	}
	rc = at_name_to_component(comp, names[0]);
	if (rc != 0)
		goto out;
	snprintf(lock, sizeof(lock), "issue-%s", comp);
	rc = at_store_lock(store, lock, IMPORT_LOCK_LEASE_S, IMPORT_LOCK_WAIT_MS);
	if (rc != 0) {
		fprintf(stderr, "autotls: import: %s: a manager is ordering %s now (its lock is held: %s); try again "
				"in a minute\n", what, names[0], at_strerror(rc));
		goto out;
	}
	locked = 1;
	if (!force && at_cert_record_load(store, s->ca_comp, names[0], &old) == 0 &&
	    old.info.not_after > info.not_after) {
		cli_time(na, sizeof(na), old.info.not_after);
		fprintf(stderr, "autotls: import: %s: the store holds a newer certificate for %s (serial %s, not after "
				"%s); --force replaces it\n", what, names[0], old.info.serial, na);
		rc = AT_E_STATE;
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	rec.key_pem = (char *)key;
	rec.key_len = key_len;
	rec.chain_pem = (char *)chain;
	rec.chain_len = chain_len;
	rec.names = names;
	rec.nnames = nnames;
	rc = at_cert_record_save(store, s->ca_comp, &rec);
	if (rc != 0) {
		fprintf(stderr, "autotls: import: %s: cannot write the record: %s; run as the store's owner (root or "
				"the server's user)\n", what, at_strerror(rc));
		goto out;
	}
	cli_time(na, sizeof(na), info.not_after);
	printf("imported %s: %s%s, serial %s, not after %s, into %s/certificates/%s/%s\n", what, names[0],
	       nnames > 1 ? " and more" : "", info.serial, na, s->cfg.storage, s->ca_comp, comp);
out:
	if (locked && at_store_unlock(store, lock) != 0)
		fprintf(stderr, "autotls: import: could not release the lock %s (its lease ends it)\n", lock);
	at_cert_record_clear(&old);
	at_cert_info_clear(&leaf);
	at_cert_info_clear(&info);
	while (nnames > 0)
		free(names[--nnames]);
	return rc;
}

/* Imports the files cert (leaf first, maybe with its chain), key and chain (NULL, or the intermediates). */
static int import_files(struct at_store *store, const struct cli_settings *s, const char *cert_path,
			const char *key_path, const char *chain_path, int force)
{
	char *cert = NULL, *key = NULL, *extra = NULL, *all = NULL;
	size_t cert_len = 0, key_len = 0, extra_len = 0;
	int rc = slurp(cert_path, &cert, &cert_len);
	if (rc == 0)
		rc = slurp(key_path, &key, &key_len);
	if (rc == 0 && chain_path != NULL)
		rc = slurp(chain_path, &extra, &extra_len);
	if (rc != 0)
		goto out;
	/* cert and chain as one PEM, leaf first */
	all = malloc(cert_len + extra_len + 2);
	if (all == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	memcpy(all, cert, cert_len);
	size_t n = cert_len;
	if (n > 0 && all[n - 1] != '\n' && extra_len > 0)
		all[n++] = '\n';
	if (extra_len > 0)
		memcpy(all + n, extra, extra_len);
	n += extra_len;
	all[n] = '\0';
	rc = import_one(store, s, cert_path, all, n, key, key_len, force);
out:
	free(cert);
	free(extra);
	free(all);
	free_secret(key, key_len);
	return rc;
}

/* certbot: DIR/live/NAME/{fullchain,privkey}.pem. lego: DIR/certificates/NAME.{crt,key}, the .crt a bundle (its
 * default) or the leaf alone with NAME.issuer.crt beside it. */
static int import_tree(struct at_store *store, const struct cli_settings *s, const char *dir, int lego, int force,
		       int *count)
{
	char sub[PATH_MAX], cert[PATH_MAX + 300], key[PATH_MAX + 300], issuer[PATH_MAX + 300];
	int rc = 0, failed = 0;
	snprintf(sub, sizeof(sub), "%s/%s", dir, lego ? "certificates" : "live");
	DIR *d = opendir(sub);
	if (d == NULL) {
		fprintf(stderr, "autotls: import: cannot read %s: %m; give %s's folder (%s)\n", sub,
			lego ? "lego" : "certbot", lego ? "--path, default ./.lego" : "default /etc/letsencrypt");
		return AT_E_NOTFOUND;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *nm = e->d_name;
		size_t n = strlen(nm);
		if (nm[0] == '.')
			continue;
		if (lego) {
			/* NAME.crt, but not NAME.issuer.crt */
			if (n <= 4 || strcmp(nm + n - 4, ".crt") != 0 ||
			    (n > 11 && strcmp(nm + n - 11, ".issuer.crt") == 0))
				continue;
			snprintf(cert, sizeof(cert), "%s/%s", sub, nm);
			snprintf(key, sizeof(key), "%s/%.*s.key", sub, (int)(n - 4), nm);
			snprintf(issuer, sizeof(issuer), "%s/%.*s.issuer.crt", sub, (int)(n - 4), nm);
		} else {
			snprintf(cert, sizeof(cert), "%s/%s/fullchain.pem", sub, nm);
			snprintf(key, sizeof(key), "%s/%s/privkey.pem", sub, nm);
			if (access(cert, F_OK) != 0)
				continue; /* live/README */
		}
		const char *chain = NULL;
		if (lego && access(issuer, R_OK) == 0) {
			/* a bundle already holds the issuer; only a lone leaf needs it */
			char *pem = NULL;
			size_t len = 0;
			STACK_OF(X509) *sk = NULL;
			if (slurp(cert, &pem, &len) == 0 && at_chain_parse(&sk, pem, len) == 0 && sk_X509_num(sk) == 1)
				chain = issuer;
			if (sk != NULL)
				sk_X509_pop_free(sk, X509_free);
			free(pem);
		}
		if (import_files(store, s, cert, key, chain, force) != 0)
			failed++;
		else
			(*count)++;
	}
	closedir(d);
	if (failed > 0)
		rc = AT_E_INVAL;
	return rc;
}

static int import_usage(void)
{
	fprintf(stderr, "usage: autotls [--storage DIR] import CERT KEY [--chain FILE] [--force]\n"
			"       autotls [--storage DIR] import --certbot [DIR] [--force]   (default /etc/letsencrypt)\n"
			"       autotls [--storage DIR] import --lego [DIR] [--force]      (default ./.lego)\n");
	return CLI_USAGE;
}

int cli_import(int argc, char **argv, const char *storage_opt)
{
	const char *files[2] = { NULL, NULL }, *chain = NULL, *tree = NULL;
	int lego = 0, certbot = 0, force = 0, nfiles = 0, ret = CLI_FAIL, rc;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--chain") == 0 && i + 1 < argc)
			chain = argv[++i];
		else if (strcmp(a, "--force") == 0)
			force = 1;
		else if (strcmp(a, "--certbot") == 0 || strcmp(a, "--lego") == 0) {
			certbot = a[2] == 'c';
			lego = !certbot;
			if (i + 1 < argc && argv[i + 1][0] != '-')
				tree = argv[++i];
		} else if (a[0] != '-' && nfiles < 2)
			files[nfiles++] = a;
		else
			return import_usage();
	}
	if ((certbot || lego) ? (nfiles != 0 || chain != NULL) : nfiles != 2)
		return import_usage();
	if (tree == NULL)
		tree = certbot ? "/etc/letsencrypt" : "./.lego";

	struct cli_settings s;
	struct at_store *store = NULL;
	if (cli_settings_read(&s, storage_opt) != 0)
		return CLI_FAIL;
	/* The import writes: a missing store is created (0700), shared with AUTOTLS_STORAGE_GROUP as the
	 * server's own would be. */
	if (s.cfg.storage_gid >= 0)
		rc = at_store_open_file_shared(&store, s.cfg.storage, (gid_t)s.cfg.storage_gid);
	else
		rc = at_store_open_file(&store, s.cfg.storage);
	if (rc != 0) {
		fprintf(stderr, "autotls: import: cannot open the store %s: %s; set AUTOTLS_STORAGE (or --storage) "
				"to the server's store and run as its owner\n", s.cfg.storage, at_strerror(rc));
		goto out;
	}
	if (!s.ca_set)
		fprintf(stderr, "autotls: import: AUTOTLS_CA is not set: the records go to the default CA's folder "
				"(%s), which renews them; set AUTOTLS_CA as the server has it\n", s.ca_comp);
	if (certbot || lego) {
		int count = 0;
		rc = import_tree(store, &s, tree, lego, force, &count);
		if (rc == 0 && count == 0) {
			fprintf(stderr, "autotls: import: no certificate found under %s\n", tree);
			rc = AT_E_NOTFOUND;
		}
	} else {
		rc = import_files(store, &s, files[0], files[1], chain, force);
	}
	ret = rc == 0 ? CLI_OK : CLI_FAIL;
out:
	if (store != NULL)
		at_store_close(store);
	cli_settings_clear(&s);
	return ret;
}
