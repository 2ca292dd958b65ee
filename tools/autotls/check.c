/*
 * autotls check: one line and a Nagios/Icinga plugin's exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), for
 * monitoring. It looks at the store only (never the network): every certificate of the store (of AUTOTLS_CA's
 * folder when that is set), the managed names' record when AUTOTLS_DOMAINS is set. The worst certificate decides:
 * CRITICAL when one ends within the critical threshold, is expired, cannot be read, or the managed names have
 * none; WARNING within the warning threshold; UNKNOWN when the settings or the store cannot be read.
 */
#include "tools/autotls/cli.h"
#include "store/name.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAGIOS_OK 0
#define NAGIOS_WARNING 1
#define NAGIOS_CRITICAL 2
#define NAGIOS_UNKNOWN 3
#define DAY_S 86400L

static const char *const state_name[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

static void duration(char *out, size_t size, long s)
{
	if (s < 0)
		snprintf(out, size, "%ld s ago", -s);
	else if (s >= DAY_S)
		snprintf(out, size, "%ld d %ld h", s / DAY_S, (s % DAY_S) / 3600);
	else if (s >= 3600)
		snprintf(out, size, "%ld h %ld min", s / 3600, (s % 3600) / 60);
	else
		snprintf(out, size, "%ld s", s);
}

static int take_count(long *out, const char *opt, const char *v, long unit)
{
	char *end;
	errno = 0;
	long n = v ? strtol(v, &end, 10) : -1;
	if (v == NULL || errno != 0 || end == v || *end != '\0' || n < 0 || n > 3650L * DAY_S / unit) {
		printf("AUTOTLS UNKNOWN: %s wants a whole number of %s (e.g. %s %s)\n", opt,
		       unit == DAY_S ? "days" : "seconds", opt, unit == DAY_S ? "14" : "600");
		return -1;
	}
	*out = n * unit;
	return 0;
}

static int unknown(const char *what)
{
	printf("AUTOTLS UNKNOWN: %s\n", what);
	return NAGIOS_UNKNOWN;
}

int cli_check(int argc, char **argv, const char *storage_opt)
{
	long warn_s = 14 * DAY_S, crit_s = 7 * DAY_S;
	/* Every option takes a value: they come in pairs. */
	for (int i = 0; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc;
		if (strcmp(argv[i], "--warn-days") == 0)
			rc = take_count(&warn_s, argv[i], v, DAY_S);
		else if (strcmp(argv[i], "--crit-days") == 0)
			rc = take_count(&crit_s, argv[i], v, DAY_S);
		else if (strcmp(argv[i], "--warn-seconds") == 0)
			rc = take_count(&warn_s, argv[i], v, 1);
		else if (strcmp(argv[i], "--crit-seconds") == 0)
			rc = take_count(&crit_s, argv[i], v, 1);
		else {
			printf("AUTOTLS UNKNOWN: unknown option %.40s; see autotls --help\n", argv[i]);
			return NAGIOS_UNKNOWN;
		}
		if (rc != 0)
			return NAGIOS_UNKNOWN;
	}
	if (crit_s > warn_s)
		return unknown("the critical threshold is longer than the warning one; give --crit-days below "
			       "--warn-days");

	struct cli_settings s;
	struct at_store *store = NULL;
	struct cli_inventory inv;
	char why[600];
	if (cli_settings_read(&s, storage_opt) != 0)
		return unknown("the settings cannot be read (the line above on stderr names the setting)");
	if (cli_store_open(&store, &s, why, sizeof(why)) != 0) {
		cli_settings_clear(&s);
		return unknown(why);
	}
	if (cli_inventory_read(&inv, store, &s, 0) != 0) {
		snprintf(why, sizeof(why), "cannot list the store %s; run as root or as the server's user",
			 s.cfg.storage);
		at_store_close(store);
		cli_settings_clear(&s);
		return unknown(why);
	}

	time_t now = time(NULL);
	int state = NAGIOS_OK, have_managed = !s.domains_set;
	const struct cli_cert *worst = NULL;
	char line[900] = "";
	for (size_t i = 0; i < inv.n; i++) {
		const struct cli_cert *c = &inv.certs[i];
		int st;
		if (s.domains_set && strcmp(c->ca, s.ca_comp) == 0 && strcmp(c->name, s.cfg.domains[0]) == 0)
			have_managed = 1;
		if (c->load_rc != 0)
			st = NAGIOS_CRITICAL;
		else if (c->rec.info.not_after - now <= crit_s)
			st = NAGIOS_CRITICAL;
		else if (c->rec.info.not_after - now <= warn_s)
			st = NAGIOS_WARNING;
		else
			st = NAGIOS_OK;
		/* The worst state; among equals, the certificate that ends first. */
		if (worst == NULL || st > state ||
		    (st == state && c->load_rc == 0 && worst->load_rc == 0 &&
		     c->rec.info.not_after < worst->rec.info.not_after)) {
			state = st > state ? st : state;
			worst = c;
		}
	}
	if (!have_managed) {
		printf("AUTOTLS CRITICAL: no certificate for %s in the store %s (CA %s); see `autotls status` and the "
		       "server's log\n", s.cfg.domains[0], s.cfg.storage, s.ca_comp);
		state = NAGIOS_CRITICAL;
	} else if (inv.n == 0) {
		printf("AUTOTLS UNKNOWN: no certificates in the store %s; set AUTOTLS_STORAGE (or --storage) to the "
		       "server's store\n", s.cfg.storage);
		state = NAGIOS_UNKNOWN;
	} else if (worst->load_rc != 0) {
		printf("AUTOTLS CRITICAL: the record of %s (CA %s) cannot be read: %s; see `autotls status`\n",
		       worst->name, worst->ca, at_strerror(worst->load_rc));
	} else {
		char left[48], end[32];
		duration(left, sizeof(left), (long)(worst->rec.info.not_after - now));
		cli_time(end, sizeof(end), worst->rec.info.not_after);
		snprintf(line, sizeof(line), "AUTOTLS %s: %s %s %s (%s); %zu certificate%s", state_name[state],
			 worst->name, worst->rec.info.not_after > now ? "ends in" : "ended", left, end, inv.n,
			 inv.n == 1 ? "" : "s");
		printf("%s%s%s\n", line, worst->attempt.last_problem[0] ? "; last error: " : "",
		       worst->attempt.last_problem);
	}
	cli_inventory_clear(&inv);
	at_store_close(store);
	cli_settings_clear(&s);
	return state;
}
