/* On-demand issuance, the handshake side (see ondemand.h). */
#include "shim/preload/ondemand.h"
#include "shim/ondemand_idle.h"
#include "util/fnv.h"

#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void ondemand_post(struct shm_channel *r, const char *name)
{
	if (r == NULL)
		return;
	uint32_t h = at_fnv1a32(AT_FNV32_BASIS, name);
	size_t n = strnlen(name, 255);
	for (int k = 0; k < CHAN_REQ_PROBE; k++) {
		struct chan_request *slot = &r->req[(h + (uint32_t)k) % CHAN_REQ_SLOTS];
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

void ondemand_touch(struct shm_channel *r, const char *name)
{
	char marked[256];
	size_t n = strnlen(name, 253);
	marked[0] = ONDEMAND_TOUCH_MARK;
	memcpy(marked + 1, name, n);
	marked[n + 1] = '\0';
	ondemand_post(r, marked);
}
