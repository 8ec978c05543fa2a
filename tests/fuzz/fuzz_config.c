/* SPDX-License-Identifier: MIT
 *
 * Fuzz harness: the YAML configuration (src/daemon/config*.c): the input is
 * written to a temporary file and loaded with vg_config_load as the daemon
 * does at start-up and on reload; a configuration it accepts is then dumped
 * (vg_config_dump, what `vigil --check-config -v` prints) to /dev/null.
 *
 * A config names files (policy sources, keys, certificates): loading only
 * records the paths, so the harness reads nothing it is not given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_config cfg;

static int to_file(const uint8_t *data, size_t size, char *path)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return -1;
	}
	fwrite(data, 1, size, f);
	if (fclose(f)) {
		unlink(path);
		return -1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	static bool ready;
	if (!ready) {
		vg_log_setup(VG_LOG_ERR - 1, false);
		devnull = fopen("/dev/null", "w");
		ready = true;
	}
	char path[] = "/tmp/vg-fuzz-cfg-XXXXXX";
	if (to_file(data, size, path) < 0)
		return 0;
	int ret = vg_config_load(&cfg, path, devnull);
	unlink(path);
	if (ret < 0)
		return 0;
	vg_config_dump(&cfg, devnull);
	return 0;
}
