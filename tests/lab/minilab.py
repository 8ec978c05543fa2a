"""A small lab of a test's own: a few NSD servers (and addresses where
nothing listens) with zones the test writes, its own root hints and, when
some zones are signed, its own trust anchor.

For cases the shared lab cannot hold without changing what every other test
sees: a root zone of another shape, a parent and a child that disagree.  It
runs beside the session's lab, on the same prefix (one per test session) and
octets of its own, so two sessions never meet.  Every process is started with
a pidfile in the test's directory and stopped through it (lab.Lab.stop).

    m = MiniLab(dir, lab.prefix,
                servers=[("root", "220.1", "nsd", ["."]), ("gone", "220.9", "none", [])],
                zones=lambda m: {".": "...%s..." % m.addr("root")},
                signed={".": Signing()}, hints_ns="a.root.")
    m.start()
    try:
        ... m.root_hints, m.trust_anchor, m.query_counts(), m.stats("root")
    finally:
        m.stop()

ZONES is called once the keys exist, so a parent's text can hold its
children's DS (m.ds(zone)).
"""
import json
import os
import socket

import labdnssec
from lab import Lab, LabError, Server, listeners, DEFAULT_PORT


class MiniLab(Lab):
    def __init__(self, directory, prefix, servers, zones, signed=None, hints_ns=None,
                 hints_server="root", port=DEFAULT_PORT):
        super().__init__(directory, port=port, prefix=prefix)
        self.servers = {n: Server(self, n, o, k, z) for n, o, k, z in servers}
        self._zones_fn = zones
        self.signed = dict(signed or {})
        self.hints_ns = hints_ns or "a.root."
        self.hints_server = hints_server

    def zones(self):
        return self._zones_fn(self)

    def ds(self, zone):
        """The DS line of signed ZONE, for its parent's text."""
        return self.signer.ds_records(zone, self.signed[zone])

    def hints_text(self):
        return (".  3600000  NS  %s\n%s  3600000  A  %s\n"
                % (self.hints_ns, self.hints_ns, self.addr(self.hints_server)))

    def check_conflicts(self):
        """Our addresses must be free on our port (an NSD left over from a
        run killed by force would hold them)."""
        ours = {a for s in self.servers.values() for a in s.addrs}
        for proto, host, procs in listeners(self.port):
            if host in ours:
                raise LabError("mini lab: %s %s:%d is in use by %s" % (
                    proto, host, self.port, procs or "an unknown process"))
        for srv in self.servers.values():
            if srv.kind != "none":
                continue
            for a in srv.addrs:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    s.bind((a, self.port))
                except OSError as e:
                    raise LabError("mini lab: %s:%d must be free: %s" % (a, self.port, e))
                finally:
                    s.close()

    def build(self):
        os.makedirs(self.dir, exist_ok=True)
        self.signer = labdnssec.Signer(os.path.join(self.dir, "keys"))
        try:
            self.signer.make_keys(self.signed)
            zones = self.zones()
            jobs = []
            for srv in self.servers.values():
                os.makedirs(srv.dir, exist_ok=True)
                if srv.kind != "nsd":
                    continue
                for zone in srv.zones:
                    path = os.path.join(srv.dir, "root.zone" if zone == "."
                                        else zone.rstrip(".") + ".zone")
                    if zone in self.signed:
                        jobs.append((zone, self.signed[zone], zones[zone], srv.dir, path))
                    else:
                        with open(path, "w") as f:
                            f.write(zones[zone])
                with open(srv.conf, "w") as f:
                    f.write(self.nsd_conf(srv))
            self.signer.sign_all(jobs)
            if "." in self.signed:
                with open(self.trust_anchor, "w") as f:
                    f.write(self.signer.trust_anchor(self.signed["."]))
        except labdnssec.SigningError as e:
            raise LabError("mini lab: signing: %s" % e)
        with open(self.root_hints, "w") as f:
            f.write(self.hints_text())
        with open(os.path.join(self.dir, "lab.json"), "w") as f:
            json.dump({"port": self.port, "prefix": self.prefix,
                       "servers": self.address_map()}, f, indent=1)
