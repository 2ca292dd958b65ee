/*
 * autotls, the operators' command: what its files share. main.c reads the command line and dispatches;
 * settings.c reads the same settings as the preload (shim/config.c's reader) and opens the store read-only in
 * spirit (it never writes); inventory.c walks the store's certificate records with their attempt records and
 * renewal plans; status.c and check.c print them. Nothing here runs inside a server: it is a short-lived command
 * that reads the store and, for `status`, asks the configured CA's ARI (RFC 9773) about its own certificates.
 */
#ifndef AUTOTLS_TOOLS_AUTOTLS_CLI_H
#define AUTOTLS_TOOLS_AUTOTLS_CLI_H

#include "engine/engine.h"
#include "shim/config.h"
#include "store/certs.h"
#include "store/store.h"
#include "util/err.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <time.h>

/* Exit codes of status (check has Nagios's own: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). */
#define CLI_OK 0
#define CLI_FAIL 1  /* the settings or the store cannot be read */
#define CLI_USAGE 2 /* the command line is wrong */
/* renew and revoke, which talk to the running manager (control.c): */
#define CLI_NO_MANAGER 3 /* no server under the preload runs on this store */
#define CLI_REFUSED 4    /* this user may not use the control channel */
#define CLI_TIMEOUT 5    /* no answer in time (the manager may still finish) */

struct cli_settings {
	struct shim_config cfg;  /* the preload's settings; domains only when AUTOTLS_DOMAINS is set */
	int domains_set;         /* AUTOTLS_DOMAINS was set: cfg.domains are the managed names */
	int ca_set;              /* AUTOTLS_CA was set: cfg.ca is the CA the server uses */
	char ca_comp[256];       /* the store component of cfg.ca */
};

/* Reads the settings from the environment, AUTOTLS_STORAGE replaced by storage_opt (may be NULL; made absolute).
 * 0, or AT_E_INVAL after one line on stderr naming the setting and what it accepts. Clear with
 * cli_settings_clear. */
int cli_settings_read(struct cli_settings *s, const char *storage_opt) AT_MUST_CHECK;
void cli_settings_clear(struct cli_settings *s);

/* Opens the store of s for reading: refuses (why gets one line naming the folder, the reason and the fix) a
 * folder that does not exist or that this user cannot enter and list, instead of creating one. */
int cli_store_open(struct at_store **out, const struct cli_settings *s, char *why, size_t size) AT_MUST_CHECK;

/* One certificate of the store, as status and check show it. */
struct cli_cert {
	char ca[256];                  /* the store's CA component */
	char name[256];                /* the record's name (its first name) */
	int load_rc;                   /* 0, or why the record could not be read (rec then empty) */
	struct at_cert_record rec;     /* the record, key and chain included (the key is never printed) */
	char key_type[16];             /* "p256", "rsa2048", ... or "?" */
	time_t renew_at;               /* the next renewal, 0 when unknown */
	int renew_from_ari;            /* 1: the CA's ARI window decided; 0: the lifetime rule */
	int renew_asked_ca;            /* 1: the CA was asked (its ARI); 0: the lifetime rule without asking */
	struct at_attempt_plan attempt;/* the attempt record: last problem, next try */
};

struct cli_inventory {
	struct cli_cert *certs;        /* owned */
	size_t n;
};

/* Every certificate record in store (all CAs; only s->ca_comp's when s->ca_set), sorted by CA and name. With
 * ask_ca, the renewal of the configured CA's certificates is planned through the engine (ARI when the CA offers
 * it); otherwise, and for other CAs, by the lifetime rule. 0 or an error (the store cannot be listed). */
int cli_inventory_read(struct cli_inventory *inv, struct at_store *store, const struct cli_settings *s, int ask_ca)
	AT_MUST_CHECK;
void cli_inventory_clear(struct cli_inventory *inv);

int cli_status(int argc, char **argv, const char *storage_opt);
int cli_renew(int argc, char **argv, const char *storage_opt);
int cli_revoke(int argc, char **argv, const char *storage_opt);

/* Sends line (one JSON request, newline-terminated) to the control channel of s's store and parses the one-line
 * answer into *reply (new; cJSON_Delete). CLI_OK, or CLI_NO_MANAGER, CLI_REFUSED, CLI_TIMEOUT, CLI_FAIL with
 * why (one line naming the fix). control.c. */
int cli_control_ask(cJSON **reply, const struct cli_settings *s, const char *line, long timeout_ms, char *why,
		    size_t size) AT_MUST_CHECK;
/* A request line's cap (shim/control_path.h's CTL_LINE_MAX); --timeout's value (0: not 1 to 3600 seconds); the
 * manager's answer to renew or revoke printed, with its exit code (renew.c). */
#define CTL_REQ_MAX 4096
long cli_timeout_arg(const char *v);
int cli_print_answer(const cJSON *r, const char *what);
/* renew and revoke: sends req (owned: deleted here; NULL is out of memory) to the running manager of the store
 * (--storage or the settings), waits up to timeout_s and prints its answer; when no manager runs and no_manager
 * is given, its exit code instead (renew orders itself). The command's exit code (control.c). */
typedef int (*cli_no_manager_fn)(const struct cli_settings *s, void *arg);
int cli_control_command(cJSON *req, const char *what, const char *storage_opt, long timeout_s,
			cli_no_manager_fn no_manager, void *arg);
/* renew when no server runs on the store (renew_local.c): orders through the engine with HTTP-01 or DNS-01 for
 * names (the arguments; AUTOTLS_DOMAINS' set when it is set), keeps a certificate not due unless force; prints
 * the result. The command's exit code. */
int cli_renew_local(const struct cli_settings *s, char **names, size_t nnames, int force);
/* status: the running server's processes (procs.c): adds "server" to root (JSON) or prints it (root NULL). */
void cli_status_server(const struct cli_settings *s, cJSON *root);
int cli_check(int argc, char **argv, const char *storage_opt);
/* enable.c: the systemd drop-in; doctor.c: can a server be covered; import.c: certificates from elsewhere. */
int cli_enable(int argc, char **argv, const char *storage_opt);
int cli_disable(int argc, char **argv, const char *storage_opt);
int cli_doctor(int argc, char **argv, const char *storage_opt);
int cli_import(int argc, char **argv, const char *storage_opt);

/* "2026-12-03T11:05:37Z" into out (at least 24 bytes); "-" for 0. */
void cli_time(char *out, size_t size, time_t t);

#endif
