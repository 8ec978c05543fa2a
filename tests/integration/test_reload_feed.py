"""SIGHUP with a config that does not load: the feeds are left alone.

A reload that fails keeps the running config, so nothing of the broken
file may be acted on -- the feeds' check (vg_feed_check_config, which warns
when the file's feed definitions differ from the running feeds) included,
as `vigilctl reload` already did.

The vigil has the two feed sources of test_feed.py, their primary an
address where nothing answers (the transfers fail and are retried; no
transfer is needed here).  First a good reload that changes a feed's TSIG
secret: the change is warned about, and that config is now the one in force.
Then a broken file and SIGHUP: the log shows the failure and, up to the
stats line of a later SIGUSR1 (the main loop handled both signals in
order), no feed warning -- before the fix the check compared the config in
force with the running feeds again and repeated the warning of the reload
before.

vigil only.
"""
import os
import signal

import pytest

from helpers import wait_log
from test_feed import WRONG_SECRET, FeedVigil

pytestmark = pytest.mark.vigil_only

FEED_WARNING = r"reload: the feeds .* changed"


@pytest.fixture
def feed_vigil(lab, tmp_path):
    v = FeedVigil(str(tmp_path / "vigil"), lab, "%s.201.2" % lab.prefix,
                  "%s.201.1" % lab.prefix, str(tmp_path / "feeds"))
    os.makedirs(v.dir)
    v.start()
    yield v
    v.stop()


def test_failed_sighup_reload_leaves_the_feeds_alone(feed_vigil):
    v = feed_vigil
    # a good reload that changes a feed's key: warned about (the check runs)
    start = len(v.log_text())
    v.secret = WRONG_SECRET
    v.write_config()
    v.signal(signal.SIGHUP)
    assert wait_log(v, r"reloaded ", start=start), v.log_tail()
    assert wait_log(v, FEED_WARNING, start=start), v.log_tail()

    # a file that does not parse: the reload fails, the old config stays
    start = len(v.log_text())
    with open(v.config_path, "a") as f:
        f.write("server: [ unclosed\n")
    v.signal(signal.SIGHUP)
    assert wait_log(v, r"reload of .* failed, keeping the running config", start=start), \
        v.log_tail()
    v.stats()  # SIGUSR1 after SIGHUP: its line comes after all the reload's
    log = v.log_text()[start:]
    stats_at = log.rindex("stats:")
    assert "the feeds" not in log[:stats_at], log
    assert v.alive()
