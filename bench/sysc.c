/*
 * sysc.c - count the system calls a running process makes while a command
 * runs; used by bench/run.sh for "system calls per answer".
 *
 * Usage: sysc PID OUTFILE EVENT... -- CMD [ARG...]
 *   EVENT is a tracepoint "group:name", e.g. raw_syscalls:sys_enter (every
 *   system call) or syscalls:sys_enter_recvmmsg. For each EVENT and each
 *   thread of PID (those in /proc/PID/task when sysc starts) one counting
 *   perf event is opened; then CMD runs (stdin/stdout/stderr inherited), and
 *   when it has exited one line "EVENT COUNT" per event goes to OUTFILE
 *   ("EVENT n/a" if the kernel has no such tracepoint). The exit status is
 *   CMD's, or 3 if nothing could be counted (then CMD does not run).
 *   "sysc PID OUTFILE raw_syscalls:sys_enter -- true" tests that it works.
 *
 * Why not perf stat -p PID: on the dev VM (perf 6.1, kernel 6.18) it
 * reports "<not counted>" for any other process, while perf_event_open()
 * on the same PID counts fine. Counting (not sampling) costs the traced
 * process little, but an enabled syscall tracepoint sends every system call
 * on the machine through the kernel's slower tracing entry path: bench/run.sh
 * therefore counts in a run of its own, not in the CPU and latency runs.
 *
 * Build: cc -O2 -o sysc sysc.c (Linux only; root or perf_event_paranoid <= 1).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EVENTS 32
#define MAX_THREADS 256

static const char *const tracefs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* The tracepoint id of "group:name", or -1. */
static long tp_id(const char *ev)
{
	char path[512];
	const char *colon = strchr(ev, ':');
	if (!colon || strchr(ev, '/') || strstr(ev, ".."))
		return -1;
	for (size_t i = 0; i < sizeof(tracefs) / sizeof(tracefs[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/%.*s/%s/id", tracefs[i],
			 (int)(colon - ev), ev, colon + 1);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		long id = -1;
		if (fscanf(f, "%ld", &id) != 1)
			id = -1;
		fclose(f);
		return id;
	}
	return -1;
}

static int open_counter(long id, pid_t tid)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = (uint64_t)id;
	a.sample_period = 0; /* counting only */
	return (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

int main(int argc, char **argv)
{
	static int fd[MAX_EVENTS][MAX_THREADS];
	static pid_t tids[MAX_THREADS];
	const char *events[MAX_EVENTS];
	int n_ev = 0, n_tid = 0, opened = 0, dash = 0;

	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dash = i;
			break;
		}
	}
	if (argc < 6 || !dash || dash == 3 || dash + 1 >= argc || dash - 3 > MAX_EVENTS) {
		fprintf(stderr, "usage: sysc PID OUTFILE EVENT... -- CMD [ARG...]\n");
		return 2;
	}
	for (int i = 3; i < dash; i++)
		events[n_ev++] = argv[i];

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", atoi(argv[1]));
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "sysc: %s: %s\n", path, strerror(errno));
		return 3;
	}
	struct dirent *de;
	while ((de = readdir(d)) && n_tid < MAX_THREADS) {
		if (de->d_name[0] != '.')
			tids[n_tid++] = (pid_t)atoi(de->d_name);
	}
	closedir(d);

	for (int e = 0; e < n_ev; e++) {
		long id = tp_id(events[e]);
		for (int t = 0; t < n_tid; t++) {
			fd[e][t] = id < 0 ? -1 : open_counter(id, tids[t]);
			if (fd[e][t] >= 0)
				opened++;
		}
	}
	if (!opened) {
		fprintf(stderr, "sysc: no counter could be opened (%s)\n", strerror(errno));
		return 3;
	}

	pid_t child = fork();
	if (child < 0) {
		perror("sysc: fork");
		return 3;
	}
	if (child == 0) {
		execvp(argv[dash + 1], argv + dash + 1);
		perror("sysc: exec");
		_exit(127);
	}
	int st = 0;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	for (int e = 0; e < n_ev; e++) { /* stop all counters, then read them */
		for (int t = 0; t < n_tid; t++) {
			if (fd[e][t] >= 0)
				ioctl(fd[e][t], PERF_EVENT_IOC_DISABLE, 0);
		}
	}

	FILE *out = fopen(argv[2], "w");
	if (!out) {
		perror("sysc: output file");
		return 3;
	}
	for (int e = 0; e < n_ev; e++) {
		uint64_t sum = 0;
		int any = 0;
		for (int t = 0; t < n_tid; t++) {
			uint64_t v;
			if (fd[e][t] < 0)
				continue;
			if (read(fd[e][t], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
				sum += v;
				any = 1;
			}
			close(fd[e][t]);
		}
		if (any)
			fprintf(out, "%s %llu\n", events[e], (unsigned long long)sum);
		else
			fprintf(out, "%s n/a\n", events[e]);
	}
	fclose(out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
