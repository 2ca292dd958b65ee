/* On-demand issuance, the handshake side (see ondemand.h). */
#include "shim/preload/ondemand.h"

#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* "*.example.com" covers exactly one label below example.com; anything else must be equal. */
static int pattern_matches(const char *pat, const char *name)
{
	if (pat[0] == '*' && pat[1] == '.') {
		const char *dot = strchr(name, '.');
		return dot != NULL && dot != name && strcmp(dot, pat + 1) == 0;
	}
	return strcmp(pat, name) == 0;
}

bool ondemand_qualifies(const struct shim_config *cfg, const char *name)
{
	size_t n = strnlen(name, 254);
	int dots = 0;
	if (!cfg->on_demand || n == 0 || n > 253 || name[0] == '.' || name[n - 1] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '.') {
			if (name[i + 1] == '.' || name[i + 1] == '-' || (i > 0 && name[i - 1] == '-'))
				return false;
			dots++;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
	/* No dot (an intranet name), localhost, and an all-digit last label (an address in disguise) never
	 * qualify: no CA would issue, and they must never reach the CA or the ask URL. */
	const char *last = strrchr(name, '.');
	if (dots == 0 || strcmp(name, "localhost") == 0 || (n > 10 && strcmp(name + n - 10, ".localhost") == 0) ||
	    strspn(last + 1, "0123456789") == strlen(last + 1))
		return false;
	if (cfg->nallow == 0)
		return true; /* the ask URL decides, in the manager */
	for (size_t i = 0; i < cfg->nallow; i++)
		if (pattern_matches(cfg->allow[i], name))
			return true;
	return false;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

void ondemand_post(struct shm_region *r, const char *name)
{
	if (r == NULL)
		return;
	uint32_t h = fnv1a(name);
	size_t n = strnlen(name, 255);
	for (int k = 0; k < SHM_REQ_PROBE; k++) {
		struct shm_request *slot = &r->req[(h + (uint32_t)k) % SHM_REQ_SLOTS];
		uint32_t st = atomic_load_explicit(&slot->state, memory_order_acquire);
		if (st == 2 && strncmp(slot->name, name, 255) == 0)
			return; /* already asked */
		uint32_t free_state = 0;
		if (st != 0 || !atomic_compare_exchange_strong(&slot->state, &free_state, 1))
			continue;
		memcpy(slot->name, name, n);
		slot->name[n] = '\0';
		atomic_store_explicit(&slot->state, 2, memory_order_release);
		atomic_fetch_add_explicit(&r->req_futex, 1, memory_order_release);
		syscall(SYS_futex, (uint32_t *)&r->req_futex, FUTEX_WAKE, 1, NULL, NULL, 0);
		return;
	}
}
