/* SPDX-License-Identifier: MIT
 *
 * After a bogus answer (iterate.c's retry_bogus): the validation budgets of
 * one client query, which retries spend and never renew; the servers a
 * request no longer asks for a zone; and forgetting what the validator
 * blamed, so that the question can be resolved again from other servers.
 */
#include <stdio.h>
#include <string.h>

#include "resolv/resolv.h"

/* The validation budgets of one client query (retries after a bogus answer
 * spend what is left: they must not multiply the per-query bound). */
void vg__budget_init(struct vg_request *req)
{
	const struct vg_dnssec_opts *dopts = req->env->dnssec;
	req->vbudget.sigs_left = dopts->max_per_query;
	req->vbudget.rrsigs_per_rrset = dopts->max_rrsigs_per_rrset;
	req->vbudget.keys_per_tag = dopts->max_keys_per_tag;
	req->vbudget.ds_digests = dopts->max_ds_digests;
	req->vbudget.skew = dopts->clock_skew;
	req->nsec3_hashes_left = dopts->nsec3_max_hashes;
	req->n_fetches = 0;
}

/* A new slice of validation work (validate.c, "Slices"): VG_VAL_SLICE
 * verifications, less what this run's reply cost already: about one per
 * SLICE_RRS records parsed, gathered and hashed (a KeyTrap reply of 500
 * records leaves nothing: its first verification waits for the next run). */
#define SLICE_RRS 64
void vg__budget_slice(struct vg_request *req)
{
	unsigned cost = req->slice_rrs / SLICE_RRS;
	req->slice_rrs = 0;
	req->vbudget.slice_left = cost < VG_VAL_SLICE ? VG_VAL_SLICE - cost : 0;
}

bool vg__shunned(const struct vg_request *req, const struct vg_sockaddr *sa, const uint8_t *zone)
{
	for (unsigned i = 0; i < req->n_shun; i++)
		if (vg_name_eq(req->shun[i].zone, zone) && vg_sockaddr_eq(&req->shun[i].addr, sa))
			return true;
	return false;
}

bool vg__bogus_forget(struct vg_request *req, unsigned *shunned_now)
{
	struct vg_cache *c = req->env->cache;
	bool progress = false;
	*shunned_now = 0;
	for (unsigned i = 0; i < req->n_blame; i++) {
		const struct vg_blame *b = &req->blame[i];
		if (b->name && vg_cache_drop(c, b->name, b->type) == 0 && !b->from.set)
			progress = true; /* from the cache: fetched again */
		if (!b->from.set || !b->zone || vg__shunned(req, &b->from.addr, b->zone) ||
		    req->n_shun >= VG_SHUN_MAX)
			continue;
		req->shun[req->n_shun].addr = b->from.addr;
		req->shun[req->n_shun++].zone = b->zone;
		(*shunned_now)++;
		progress = true;
	}
	if (!progress)
		return false;
	for (unsigned i = 0; i < req->n_answer; i++)
		if (req->answer_sec[i] == VG_SEC_BOGUS && !req->answer_synth[i])
			vg_cache_drop(c, req->answer[i]->owner, req->answer[i]->type);
	if (req->neg.name && req->neg.sec == VG_SEC_BOGUS) {
		uint16_t key = req->rcode == VG_RCODE_NXDOMAIN ? 0 : req->neg.type;
		vg_cache_drop(c, req->neg.name, key);
	}
	return true;
}

void vg__bogus_log(const struct vg_request *req, unsigned shunned_now)
{
	if (!vg_log_enabled(VG_LOG_INFO))
		return;
	char q[VG_NAME_MAX * 4 + 8], who[256] = "";
	size_t o = 0;
	vg_name_to_str(req->qname, q, sizeof(q));
	for (unsigned i = req->n_shun - shunned_now; i < req->n_shun && o < sizeof(who); i++) {
		char a[VG_ADDRSTRLEN], z[VG_NAME_MAX * 4 + 8];
		vg_sockaddr_str(&req->shun[i].addr, 0, a, sizeof(a));
		vg_name_to_str(req->shun[i].zone, z, sizeof(z));
		int n = snprintf(who + o, sizeof(who) - o, "%s%s (%s)", o ? ", " : "", a, z);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	vg_log(VG_LOG_INFO, "bogus answer for %s type %u (EDE %u): retry %u of %u%s%s", q,
	       req->qtype, req->ede, req->bogus_retries, VG_RESOLV_BOGUS_RETRIES,
	       shunned_now ? ", not asking again: " : ", data dropped from the cache", who);
}
