"""Trust anchors end to end: RFC 5011 maintenance -- vigil keeps its anchor
state in dnssec.auto-trust-anchor-file, seeds it from the configured DS anchor
by fetching the lab root's DNSKEY set, and uses the saved state on the next
start (the state machine itself, hold-down and revocation, is unit-tested in
tests/unit/test_autota.c with a simulated clock) -- and the validation switch.
vigil only."""
import os
import re
import subprocess
import time

import dns.flags
import dns.message
import pytest

import conftest
from test_daemon import Custom

pytestmark = pytest.mark.vigil_only


def lab_root_tag(lab):
    with open(lab.trust_anchor) as f:
        return int(f.read().split()[3])


class AutoTrust(Custom):
    def __init__(self, workdir, lab, state, anchor_file=None):
        super().__init__(workdir, lab, "")
        self.state = state
        self.anchor_file = anchor_file or lab.trust_anchor

    def text(self, extra=None):
        t = super().text(extra)
        return t.replace('  trust-anchor-file: [ "%s" ]\n' % self.lab.trust_anchor,
                         '  trust-anchor-file: [ "%s" ]\n  auto-trust-anchor-file: "%s"\n'
                         % (self.anchor_file, self.state))


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def valid_tags(path):
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {int(m.group(1)) for m in re.finditer(r"^dnskey valid .*; tag (\d+)", f.read(),
                                                     re.M)}


def ask_ad(v, name):
    q = dns.message.make_query(name, "A", want_dnssec=True)
    return v.send(q)


def test_state_seeded_from_ds_anchor_and_used_after_restart(lab, tmp_path):
    state = str(tmp_path / "autota.state")
    tag = lab_root_tag(lab)
    v = AutoTrust(str(tmp_path), lab, state)
    v.start()
    try:
        # the DS anchor is matched by the root's KSK, which becomes Valid
        assert wait_for(lambda: tag in valid_tags(state)), open(state).read()
        r = ask_ad(v, "www.alg13.sec.")
        assert r.flags & dns.flags.AD, r.to_text()
    finally:
        v.stop()
    # Restart with a configured anchor that matches nothing: the saved state,
    # not the config, decides which keys are trusted, so validation still works.
    bogus_anchor = tmp_path / "wrong.key"
    bogus_anchor.write_text(". IN DS %d 13 2 %s\n" % (tag, "00" * 32))
    v2 = AutoTrust(str(tmp_path / "second"), lab, state, anchor_file=str(bogus_anchor))
    os.makedirs(v2.dir, exist_ok=True)
    v2.start()
    try:
        r = ask_ad(v2, "www.alg8.sec.")
        assert r.flags & dns.flags.AD, r.to_text()
    finally:
        v2.stop()


def test_corrupt_state_file_refuses_start_with_file_and_line(lab, tmp_path):
    state = tmp_path / "autota.state"
    state.write_text("vigil-autota 1\nzone . 1 1 0 3600 2\ndnskey bogus-state 1 0 257 3 13 AA==\n")
    v = AutoTrust(str(tmp_path), lab, str(state))
    v.write_config()
    r = subprocess.run([conftest.VIGIL_BIN, "-c", v.config_path], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    conftest.assert_no_sanitizer_report(r.stdout + r.stderr)  # refused, but without a leak
    assert "%s:3:" % state in r.stderr, r.stderr


def test_validation_off(lab, tmp_path):
    """dnssec.validation: no -- nothing is validated: a bogus zone is answered,
    a secure one has no AD, and no EDE is attached."""
    v = Custom(str(tmp_path), lab, "")
    v.write_config()
    with open(v.config_path) as f:
        text = f.read().replace("dnssec:\n", "dnssec:\n  validation: no\n")
    v.write_config = lambda: open(v.config_path, "w").write(text)
    v.start()
    try:
        r = ask_ad(v, "www.expired.sec.")
        assert r.rcode() == 0 and r.answer, r.to_text()
        assert not r.flags & dns.flags.AD
        assert not [o for o in r.options if o.otype == 15], r.to_text()
        r = ask_ad(v, "www.alg13.sec.")
        assert r.rcode() == 0 and r.answer and not r.flags & dns.flags.AD, r.to_text()
    finally:
        v.stop()
