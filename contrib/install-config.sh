#!/bin/sh
# SPDX-License-Identifier: MIT
# meson install script: the example config as SYSCONFDIR/vigil/vigil.yaml,
# unless there is one already (an administrator's config is never replaced).
set -eu
dest="${DESTDIR:-}$1/vigil"
if [ -e "$dest/vigil.yaml" ]; then
	echo "vigil: keeping the existing $dest/vigil.yaml (the example is not installed over it)"
	exit 0
fi
install -d -m 0755 "$dest"
install -m 0644 "$MESON_SOURCE_ROOT/contrib/vigil.yaml" "$dest/vigil.yaml"
echo "vigil: installed the example config as $dest/vigil.yaml"
