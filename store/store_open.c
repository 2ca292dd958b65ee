/* The one place that picks a backend from AUTOTLS_STORAGE's form (store/store.h, at_store_open). */
#include "store/etcd_url.h"
#include "store/store.h"
#include "store/store_etcd.h"

int at_store_open(struct at_store **out, const char *spec, gid_t share_gid)
{
	if (at_etcd_url_is(spec))
		return at_store_open_etcd(out, spec);
	return at_store_open_file_shared(out, spec, share_gid);
}

int at_store_is_remote(const char *spec)
{
	return at_etcd_url_is(spec);
}
