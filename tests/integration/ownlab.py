"""A vigil of a test's own on a small lab of the test's own
(tests/lab/minilab.py): for cases the shared lab cannot hold without changing
what every other test sees.  Used by test_servers.py and test_attacks.py.

    with mini_lab(tmp_path, "name", lab.prefix, servers=..., zones=...) as m, \
            own_vigil(tmp_path, m, validation=False) as v:
        ask(v, "www.example.")
"""
import contextlib
import os
import re

import pytest

import conftest
from lab import LabError
from minilab import MiniLab


class OwnRoot(conftest.Resolver):
    """A vigil resolving from MINI's root hints (one worker: one cache),
    validating with MINI's trust anchor unless VALIDATION is false."""

    def __init__(self, workdir, mini, validation=True, extra="", resolver=""):
        super().__init__("vigil", workdir, mini, conftest.free_port())
        self.validation = validation
        self.extra = extra  # more config (whole sections), appended
        self.resolver = resolver  # more resolver keys ("  key: value\n" lines)

    def write_config(self):
        self.config_path = os.path.join(self.dir, "vigil.yaml")
        dnssec = ("  trust-anchor-file: [ \"%s\" ]\n" % self.lab.trust_anchor
                  if self.validation else "  validation: no\n")
        with open(self.config_path, "w") as f:
            f.write(conftest.no_default_control(
                "server:\n  listen: [ \"127.0.0.1@%d\" ]\n  workers: 1\n  user: \"\"\n"
                "resolver:\n  root-hints: %s\n  query-localhost: yes\n"
                "  prime-root: yes\n  ipv6-upstream: no\n%s"
                "limits:\n  upstream-timeout: 200\n"
                "dnssec:\n%slog:\n  level: debug\n%s"
                % (self.port, self.lab.root_hints, self.resolver, dnssec, self.extra)))

    def ready(self):
        """Ready when it says so: asking a name of the lab would fill the cache
        the test means to watch."""
        return bool(re.search(r"vigil \S+ started", self.log_text())), "not started"


@contextlib.contextmanager
def mini_lab(tmp_path, name, prefix, **kw):
    m = MiniLab(os.path.join(str(tmp_path), name), prefix, **kw)
    try:
        m.start()
    except LabError as e:
        pytest.fail("the test's own lab did not start: %s" % e, pytrace=False)
    try:
        yield m
    finally:
        m.stop()


@contextlib.contextmanager
def own_vigil(tmp_path, mini, validation=True, extra="", resolver=""):
    d = os.path.join(str(tmp_path), "vigil-%s" % ("v" if validation else "nv"))
    os.makedirs(d, exist_ok=True)
    v = OwnRoot(d, mini, validation, extra, resolver)
    try:
        v.start()
        yield v
    finally:
        assert v.stop(), v.log_tail()


def ask(v, name, rdtype="A", do=False):
    return v.query(name, rdtype, use_edns=0, want_dnssec=do, timeout=8)
