"""Redis Sentinel: relay finds the master through the sentinels
([storage.redis] sentinels, master_name) and follows a failover under load:
no request fails while the master is gone (relay passes through), and once
the sentinels name the new master relay stores there and hits again."""
import threading
import time

from harness import (HOST, Process, RedisServer, RelayTestCase, child_env, expected_body, free_port, get,
                     redis_server_bin, resp_command, wait_stored, wait_until)
from test_storage_redis import cached_target

MASTER_NAME = "relaytest"


class Sentinel(Process):
    """One redis-server in sentinel mode watching `master_port` (quorum 1)."""

    def __init__(self, workdir, master_port):
        super().__init__("sentinel", workdir)
        self.port = free_port()
        conf = self.workdir / "sentinel.conf"
        conf.write_text("\n".join([
            "port %d" % self.port, "bind %s" % HOST, "daemonize no", "dir %s" % self.workdir,
            "sentinel monitor %s %s %d 1" % (MASTER_NAME, HOST, master_port),
            "sentinel down-after-milliseconds %s 1000" % MASTER_NAME,
            "sentinel failover-timeout %s 4000" % MASTER_NAME, ""]))
        self.conf = conf

    def start(self):
        self.spawn([redis_server_bin(), str(self.conf), "--sentinel"], env=child_env())
        wait_until(lambda: self.master() is not None, 10, interval=0.1, what="sentinel up")
        return self

    def master(self):
        """(host, port) of the master as the sentinel sees it, or None."""
        try:
            reply = resp_command(self.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME, timeout=0.5)
        except OSError:
            return None
        if not isinstance(reply, list) or len(reply) != 2:
            return None
        host, port = (x.decode() if isinstance(x, bytes) else x for x in reply)
        return host, int(port)


class SentinelFailoverTest(RelayTestCase):
    START_RELAY = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.servers = []
        try:
            cls.master = RedisServer(cls.workdir, "master").start()
            cls.servers.append(cls.master)
            cls.replica = RedisServer(cls.workdir, "replica", extra=["--replicaof", HOST, str(cls.master.port)]).start()
            cls.servers.append(cls.replica)
            wait_until(lambda: b"master_link_status:up" in cls.info(cls.replica, "replication"), 10,
                       interval=0.1, what="replica in sync")
            cls.sentinel = Sentinel(cls.workdir, cls.master.port).start()
            cls.servers.append(cls.sentinel)
            # url names no live server: relay must find the master through the sentinel.
            cls.relay = cls.make_relay({"storage": {"backend": "redis", "redis": {
                "url": "redis://%s:%d/0" % (HOST, free_port()), "key_prefix": "st:",
                "sentinels": ["%s:%d" % (HOST, cls.sentinel.port)], "master_name": MASTER_NAME}}}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for server in reversed(getattr(cls, "servers", [])):
            server.stop()
        super().tearDownClass()

    @staticmethod
    def info(server, section):
        reply = resp_command(server.port, "INFO", section)
        return reply if isinstance(reply, bytes) else str(reply).encode()

    def diagnostics(self):
        return "\n".join([super().diagnostics()] + [s.logs() for s in self.servers])

    def test_failover_under_load(self):
        objects = {"/sentinel/%d" % i: 3000 + 211 * i for i in range(12)}
        for path, size in objects.items():
            self.assertEqual(get(self.relay.port, cached_target(path, size)).status, 200)
            wait_stored(self.relay.port, cached_target(path, size))
        self.assertTrue(resp_command(self.replica.port, "KEYS", "st:m:*"), "replicated to the replica")

        failures, answered = [], [0]
        stop = threading.Event()
        lock = threading.Lock()

        def load():
            deadline = time.monotonic() + 40  # bounded whatever happens
            i = 0
            while not stop.is_set() and time.monotonic() < deadline:
                path = "/sentinel/%d" % (i % len(objects))
                i += 1
                try:
                    r = get(self.relay.port, cached_target(path, objects[path]))
                    ok = r.status == 200 and r.body == expected_body(path, objects[path])
                    why = "status %d" % r.status
                except Exception as e:  # counted
                    ok, why = False, repr(e)
                with lock:
                    answered[0] += 1
                    if not ok:
                        failures.append((path, why))
                time.sleep(0.005)
        clients = [threading.Thread(target=load) for _ in range(4)]
        for t in clients:
            t.start()
        try:
            time.sleep(0.5)
            self.master.kill()  # SIGKILL: the sentinel promotes the replica
            wait_until(lambda: self.sentinel.master() == (HOST, self.replica.port), 30, interval=0.1,
                       what="the sentinel to promote the replica")
            wait_until(lambda: "moved to %s:%d" % (HOST, self.replica.port) in self.relay.logs(200), 5,
                       interval=0.05, what="relay to learn the new master")
            time.sleep(1.0)
        finally:
            stop.set()
            for t in clients:
                t.join(60)
        self.assertEqual(failures, [], "of %d requests" % answered[0])
        self.assertGreater(answered[0], 50)
        # Hits again, from what was replicated before the failover.
        wait_until(lambda: get(self.relay.port, cached_target("/sentinel/0", objects["/sentinel/0"]))
                   .header("X-Cache") == "HIT", 3, interval=0.1, what="a hit from the new master")
        # And new objects go to the new master.
        fresh = cached_target("/sentinel/after", 5000)
        self.assertEqual(get(self.relay.port, fresh).status, 200)
        wait_stored(self.relay.port, fresh)
        keys = resp_command(self.replica.port, "KEYS", "st:m:*after*")
        self.assertEqual(len(keys), 1, keys)
