/* See dns01.h. Runs on the caller's solver thread; the waits are the mode's and dns01_wait.c's. */
#include "challenge/dns01.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/log.h"

#include <stddef.h>

int at_dns01_present(at_dns01_set_fn set, const void *cfg, const struct at_dns01_wait_config *wait,
		     const struct at_challenge *ch)
{
	if (ch->type != AT_CHALLENGE_DNS_01 || ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return AT_E_INVAL;
	int rc = set(cfg, 1, ch);
	if (rc != 0)
		return rc;
	rc = at_dns01_wait(wait, ch);
	if (rc != 0 && set(cfg, 0, ch) != 0)
		at_log_warn("dns-01: the TXT record of %s may be left behind", ch->dns_txt_name);
	return rc;
}

void at_dns01_cleanup(at_dns01_set_fn set, const void *cfg, const struct at_challenge *ch)
{
	if (ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return;
	if (set(cfg, 0, ch) != 0)
		at_log_warn("dns-01: the TXT record of %s may be left behind", ch->dns_txt_name);
}
