/* SPDX-License-Identifier: MIT
 *
 * Unit tests for the control socket's protocol (src/ctl/ctlproto.c): the
 * request line split into format, command and arguments, every way a line
 * is refused, and JSON string escaping.  (The cache's flush and peek are in
 * test_cache.c; the commands end to end in tests/integration/test_control.py.)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "ctl/ctlproto.h"
#include "daemon/control_impl.h"
#include "daemon/daemon.h"
#include "pipeline/pipeline.h"
#include "vigil/err.h"

static int parse(const char *text, struct vg_ctl_req *req, char *line, char *why)
{
	snprintf(line, VG_CTL_LINE_MAX + 16, "%s", text);
	return vg_ctl_parse(line, req, why, 256);
}

/* A pause is published per group index with the group's name in it: a worker
 * still on a policy whose groups were in another order (before a reload) must
 * not apply the pause of group "lan" to group "other" that had its index. */
START_TEST(pause_entry_names_its_group)
{
	uint64_t w = vg_pause_word("lan", 5000);
	ck_assert(vg_pause_active(w, "lan", 4000));
	ck_assert(!vg_pause_active(w, "lan", 5000)); /* ran out */
	ck_assert(!vg_pause_active(w, "other", 4000));
	ck_assert(!vg_pause_active(w, "lan2", 4000));
	ck_assert(!vg_pause_active(0, "lan", 0));
	/* a large monotonic clock (days of uptime) still compares */
	uint64_t now = UINT64_C(900) * 24 * 3600 * 1000;
	ck_assert(vg_pause_active(vg_pause_word("kids", now + 60000), "kids", now));
	ck_assert(!vg_pause_active(vg_pause_word("kids", now + 60000), "kids", now + 60000));
}
END_TEST

START_TEST(request_split)
{
	char line[VG_CTL_LINE_MAX + 16], why[256];
	struct vg_ctl_req r;
	ck_assert_int_eq(parse("VIGILCTL/1 text flush --subtree example.com\n", &r, line, why), 0);
	ck_assert(!r.json);
	ck_assert_int_eq(r.argc, 3);
	ck_assert_str_eq(r.argv[0], "flush");
	ck_assert_str_eq(r.argv[1], "--subtree");
	ck_assert_str_eq(r.argv[2], "example.com");
	ck_assert_ptr_null(r.argv[3]);
	/* extra spaces; no LF; json */
	ck_assert_int_eq(parse("VIGILCTL/1  json   status  ", &r, line, why), 0);
	ck_assert(r.json);
	ck_assert_int_eq(r.argc, 1);
	ck_assert_str_eq(r.argv[0], "status");
}
END_TEST

START_TEST(request_refused)
{
	char line[VG_CTL_LINE_MAX + 16], why[256];
	struct vg_ctl_req r;
	ck_assert_int_eq(parse("", &r, line, why), VG_EPARSE);
	ck_assert_int_eq(parse("GET / HTTP/1.0\n", &r, line, why), VG_EPARSE);
	ck_assert_ptr_nonnull(strstr(why, "not a vigilctl request"));
	ck_assert_int_eq(parse("VIGILCTL/2 text status\n", &r, line, why), VG_EPARSE);
	ck_assert_int_eq(parse("VIGILCTL/1 xml status\n", &r, line, why), VG_EPARSE);
	ck_assert_ptr_nonnull(strstr(why, "'text' or 'json'"));
	ck_assert_int_eq(parse("VIGILCTL/1 text\n", &r, line, why), VG_EPARSE);
	ck_assert_str_eq(why, "no command");
	ck_assert_int_eq(parse("VIGILCTL/1 text cache a\tb\n", &r, line, why), VG_EPARSE);
	ck_assert_ptr_nonnull(strstr(why, "not printable ASCII"));
	ck_assert_int_eq(parse("VIGILCTL/1 text cache \xc3\xa9.com\n", &r, line, why), VG_EPARSE);
	/* at most VG_CTL_MAX_ARGS words after the format */
	char many[VG_CTL_LINE_MAX] = "VIGILCTL/1 text c";
	for (int i = 1; i < VG_CTL_MAX_ARGS; i++)
		strcat(many, " x");
	ck_assert_int_eq(parse(many, &r, line, why), 0);
	ck_assert_int_eq(r.argc, VG_CTL_MAX_ARGS);
	strcat(many, " y");
	ck_assert_int_eq(parse(many, &r, line, why), VG_EPARSE);
	/* too long */
	char *big = malloc(VG_CTL_LINE_MAX + 8);
	memset(big, 'a', VG_CTL_LINE_MAX + 4);
	memcpy(big, "VIGILCTL/1 text c ", 18);
	big[VG_CTL_LINE_MAX + 4] = '\0';
	ck_assert_int_eq(parse(big, &r, line, why), VG_EPARSE);
	free(big);
}
END_TEST

START_TEST(json_strings)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	vg_ctl_json_str(f, "a\"b\\c\nd\te\x01");
	fclose(f);
	ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
	free(buf);
}
END_TEST

/* main.c's, which the control commands call (reload) */
int vg_daemon_reload(struct daemon *d)
{
	(void)d;
	return VG_EINVAL;
}

/* upstreams: a worker whose job slot is taken (vg_worker_post fails) is not
 * waited for.  Here no worker can be asked: the command answers on the next
 * turn of the main loop, not when its CTL_UP_WAIT_MS timer fires (the loop
 * runs once, without waiting: a timer could not fire in it). */
START_TEST(upstreams_waits_only_for_workers_asked)
{
	struct vg_worker_job other = { 0 };
	struct vg_worker w[2];
	struct vg_config *cfg = calloc(1, sizeof(*cfg));
	struct daemon *d = calloc(1, sizeof(*d));
	struct vg_control *ctl = calloc(1, sizeof(*ctl));
	ck_assert(cfg && d && ctl);
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < 2; i++)
		atomic_store(&w[i].job, &other); /* another job holds each slot */
	ck_assert_int_eq(uv_loop_init(&d->loop), 0);
	d->workers = w;
	d->n_workers = 2;
	d->cur.cfg = cfg;
	ctl->d = d;
	uv_timer_init(&d->loop, &ctl->up_timer);
	ctl->up_timer.data = ctl;
	uv_async_init(&d->loop, &ctl->up_async, vg__ctl_on_up_async);
	ctl->up_async.data = ctl;

	struct ctx x = { .ctl = ctl, .d = d, .c = NULL }; /* no client: nothing is written */
	char argv0[] = "upstreams";
	char *argv[] = { argv0, NULL };
	ck_assert_int_eq(vg__ctl_command("upstreams")->fn(&x, 1, argv), CTL_PENDING);
	ck_assert(ctl->up_busy);
	uv_run(&d->loop, UV_RUN_NOWAIT);
	ck_assert_msg(!ctl->up_busy, "still waiting for workers that were never asked");
	ck_assert(!uv_is_active((uv_handle_t *)&ctl->up_timer));

	uv_close((uv_handle_t *)&ctl->up_timer, NULL);
	uv_close((uv_handle_t *)&ctl->up_async, NULL);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&d->loop), 0);
	for (unsigned i = 0; i < 2; i++)
		free(ctl->up[i].info);
	free(ctl->up);
	free(ctl);
	free(d);
	free(cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("protocol");
	tcase_add_test(tc, request_split);
	tcase_add_test(tc, pause_entry_names_its_group);
	tcase_add_test(tc, request_refused);
	tcase_add_test(tc, json_strings);
	tcase_add_test(tc, upstreams_waits_only_for_workers_asked);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
