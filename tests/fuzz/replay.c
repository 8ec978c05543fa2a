/* SPDX-License-Identifier: MIT
 *
 * The regression driver of the fuzz harnesses in the ordinary (gcc) builds:
 * main() feeds every file of the directories (or the files) named on the
 * command line to the harness's LLVMFuzzerTestOneInput() once, in name
 * order, and says how many it ran.  Linked with each tests/fuzz/fuzz_*.c in
 * place of libFuzzer, so the test command replays the seed corpora and the
 * saved crashers under the plain, ASan+UBSan and TSan builds in seconds;
 * tests/fuzz/run.sh builds the same harnesses with libFuzzer to search.
 *
 * A harness's crash (sanitizer report, abort, trap) is the test's failure;
 * the driver itself fails when an input cannot be read or a directory is
 * empty (a corpus that silently vanished would test nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	int ret = -1;

	if (!f)
		goto out;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	/* a copy of exactly the input's size: ASan sees a read past its end */
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || (n && fread(buf, 1, (size_t)n, f) != (size_t)n))
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
	free(buf);
	if (f)
		fclose(f);
	return ret;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	unsigned total = 0;
	int ret = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			ret = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			ret |= run_file(argv[i]) ? 1 : 0;
			total++;
			continue;
		}
		struct dirent **ents;
		int n = scandir(argv[i], &ents, skip_dots, by_name);
		if (n <= 0) {
			fprintf(stderr, "replay: %s: no inputs\n", argv[i]);
			ret = 1;
			if (n == 0)
				free(ents);
			continue;
		}
		for (int j = 0; j < n; j++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], ents[j]->d_name);
			ret |= run_file(path) ? 1 : 0;
			total++;
			free(ents[j]);
		}
		free(ents);
	}
	printf("replay: %u inputs run\n", total);
	return ret;
}
