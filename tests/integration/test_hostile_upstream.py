"""Authoritative servers that are slow, or that something hostile talks over
(issue 11 section 2; ATTACKS.md 6, 9 and 13).

All three use the lab's slow server (tests/lab/slowauth.py), whose zone
slow.lab. has one name server, so a query that fails there has nowhere else
to go:

* j<ms>-* names (TuDoor): junk that matches the query's ID, address and port
  (garbage, a bare header, the right question with an unparseable body, QR
  clear, another opcode, another question) arrives at once; the genuine
  answer <ms> later must still be the one used.
* d500-* names: the server always answers after 500 ms, more than vigil's
  retry timer for a server it has not measured (upstream-timeout, 400 ms).
  The late answer to an earlier try must be accepted and the retry timer must
  back off, so every name resolves.
* s<ms>-* names: forged answers (a poisoned address) with every wrong ID, and
  with the right ID to other ports, arrive while the genuine answer takes
  <ms>; every genuine answer is used, none of the forged ones.

Each asks for names it has never asked, on a vigil of its own (a fresh infra
table), a few at a time; the counts of what the server received and sent are
its own (lab.slow_counts), not vigil's word.
"""
import random
from concurrent.futures import ThreadPoolExecutor

import dns.message
import dns.rcode
import pytest

import lab as labmod
import slowauth
from helpers import own_resolver, rdatas, replace_once, settle

pytestmark = pytest.mark.vigil_only

MAX_TRIES = 4  # src/resolv/iterate.c: tries per address and task


def fresh_vigil(lab, tmp_path, resolver_keys=""):
    def edit(kind, text):
        return replace_once(text, "  prime-root: yes\n", "  prime-root: yes\n" + resolver_keys)
    return own_resolver(lab, tmp_path, edit)


def names(prefix, n):
    tag = "%x" % random.getrandbits(32)
    return ["%s-%s-%d.slow.lab." % (prefix, tag, i) for i in range(n)]


def ask_many(r, qnames, parallel):
    """{qname: reply or the exception} for QNAMES, PARALLEL at a time."""
    def one(name):
        q = dns.message.make_query(name, "A", use_edns=0, payload=1232)
        try:
            return name, r.send(q, timeout=8)
        except Exception as e:  # a timeout counts as not answered
            return name, e
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return dict(pool.map(one, qnames))


def tally(replies):
    """(names answered with the genuine address, names given a poisoned
    address, {what went wrong: count} for the others)."""
    good, poisoned, bad = 0, 0, {}
    for name, a in replies.items():
        if isinstance(a, Exception):
            what = type(a).__name__
        else:
            addrs = rdatas(a.answer, name, "A")
            if addrs == [labmod.SLOW_ADDR] and a.rcode() == dns.rcode.NOERROR:
                good += 1
                continue
            if slowauth.POISON_ADDR in addrs:
                poisoned += 1
            what = "%s %s" % (dns.rcode.to_text(a.rcode()), addrs)
        bad[what] = bad.get(what, 0) + 1
    return good, poisoned, bad


def slow_counts(lab):
    return lab._slow_counts(lab.servers["slow"])


def queries_for(counts, qnames):
    return {n: counts["names"].get("%s A" % n.lower(), 0) for n in qnames}


def test_junk_with_the_right_id_is_ignored(lab, tmp_path):
    """TuDoor: 100 of 100 names answered with the genuine address.  (Over UDP:
    the switch to TCP for a server that sends junk is off here.)"""
    r = fresh_vigil(lab, tmp_path, "  upstream-spoof-tcp: 0\n")
    try:
        s0, c0 = r.stats(), slow_counts(lab)
        qnames = names("j50", 100)
        replies = ask_many(r, qnames, 10)
        good, poisoned, bad = tally(replies)
        settle(lab)
        c1 = slow_counts(lab)
        junk = c1["junk"] - c0["junk"]
        assert junk >= len(slowauth.JUNK_KINDS) * len(qnames), "the server sent no junk"
        assert poisoned == 0, "%d names answered with junk's address" % poisoned
        assert good == len(qnames), ("answered %d of %d names despite junk with the right "
                                     "ID (%s)" % (good, len(qnames), bad))
        # the try that was answered got its junk first (one socket, in order);
        # a retry's junk may come after the answer (its socket closed)
        unwanted = r.stats()["upstream_unwanted"] - s0["upstream_unwanted"]
        want = len(slowauth.JUNK_KINDS) * len(qnames)
        assert unwanted >= want, "%d junk packets sent, %d counted as unwanted (%d at least)" % (
            junk, unwanted, want)
    finally:
        r.stop()


def test_rate_limited_name_resolved_over_tcp(lab, tmp_path):
    """A server that answers other queries but never a name's UDP queries
    (what response rate limiting does to a name for as long as the rate
    stays high): each such name resolves, over TCP (counted at the server and
    by vigil), with at most MAX_TRIES queries; a background stream of other
    names keeps the server answering meanwhile."""
    import threading
    r = fresh_vigil(lab, tmp_path)
    stop = threading.Event()

    def others():
        while not stop.is_set():
            q = dns.message.make_query(names("d0", 1)[0], "A")
            try:
                r.send(q, timeout=2)
            except Exception:  # only keeps the server busy: not asserted
                pass
            stop.wait(0.02)
    bg = threading.Thread(target=others)
    try:
        c0 = slow_counts(lab)
        s0 = r.stats()
        bg.start()
        qnames = names("u0", 10)
        replies = ask_many(r, qnames, 10)
        stop.set()
        bg.join()
        good, poisoned, bad = tally(replies)
        settle(lab)
        c1 = slow_counts(lab)
        assert good == len(qnames), ("answered %d of %d names whose UDP queries the server "
                                     "drops (%s)" % (good, len(qnames), bad))
        tcp = c1["tcp"] - c0["tcp"]
        assert tcp >= len(qnames), "the server got %d TCP queries for %d names" % (
            tcp, len(qnames))
        sent = queries_for(c1, qnames)
        before = queries_for(c0, qnames)
        over = {n: sent[n] - before[n] for n in qnames if sent[n] - before[n] > MAX_TRIES}
        assert not over, "more than %d queries for a name: %s" % (MAX_TRIES, over)
        moved = r.stats()["upstream_ignored_tcp"] - s0.get("upstream_ignored_tcp", 0)
        assert moved >= len(qnames)
    finally:
        stop.set()
        if bg.is_alive():
            bg.join()
        r.stop()


def test_consistently_slow_server_works(lab, tmp_path):
    """A server that always answers after 500 ms (vigil's first retry timer
    for it: 400 ms): 50 of 50 names answered, at most MAX_TRIES queries each."""
    r = fresh_vigil(lab, tmp_path)
    try:
        qnames = names("d500", 50)
        replies = ask_many(r, qnames, 25)
        good, poisoned, bad = tally(replies)
        settle(lab)
        sent = queries_for(slow_counts(lab), qnames)
        assert good == len(qnames), ("answered %d of %d names on a server that answers "
                                     "after 500 ms (%s)" % (good, len(qnames), bad))
        over = {n: c for n, c in sent.items() if c > MAX_TRIES}
        assert not over, "more than %d queries for a name: %s" % (MAX_TRIES, over)
        assert min(sent.values()) >= 1
    finally:
        r.stop()


def test_spoofed_answer_flood(lab, tmp_path):
    """Forged answers with wrong IDs while the genuine one takes 200 ms:
    every genuine answer used, nothing poisoned (asked again: from the cache),
    and the server, visibly under attack, is asked over TCP (counted at the
    server)."""
    r = fresh_vigil(lab, tmp_path)
    try:
        s0, c0 = r.stats(), slow_counts(lab)
        qnames = names("s200", 50)
        replies = ask_many(r, qnames, 10)
        good, poisoned, bad = tally(replies)
        settle(lab)
        c1 = slow_counts(lab)
        assert c1["forged"] > c0["forged"], "the server forged nothing"
        assert poisoned == 0, "%d names poisoned" % poisoned
        assert good == len(qnames), ("answered %d of %d names under a spoofed-answer "
                                     "flood (%s)" % (good, len(qnames), bad))
        again = ask_many(r, qnames, 10)
        good2, poisoned2, bad2 = tally(again)
        assert poisoned2 == 0 and good2 == len(qnames), (good2, poisoned2, bad2)
        s1 = r.stats()
        assert s1["upstream_unwanted"] > s0["upstream_unwanted"]
        tcp = c1["tcp"] - c0["tcp"]
        assert tcp > 0, ("the server sent %d forged answers; vigil asked it %d times over "
                         "UDP and never over TCP" % (c1["forged"] - c0["forged"],
                                                      c1["udp"] - c0["udp"]))
        assert s1["upstream_spoof_tcp"] - s0.get("upstream_spoof_tcp", 0) > 0
    finally:
        r.stop()
