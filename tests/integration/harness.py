"""Shared by the integration tests: real eddy node processes started by
scripts/cluster.sh on loopback, each cluster in its own run directory and port
range. Every wait is on a condition with a deadline.

A test module calls harness.setup(sys.argv) first: argv is EDDY_BINARY SOURCE_DIR
BASE_PORT [unittest args].
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

EDDY = SRC = PRODUCER = CLUSTER = None
BASE_PORT = 0


def setup(argv):
    """Takes the harness arguments off argv (the rest is for unittest)."""
    global EDDY, SRC, BASE_PORT, PRODUCER, CLUSTER
    EDDY, SRC, BASE_PORT = argv[1], argv[2], int(argv[3])
    PRODUCER = os.path.join(SRC, "scripts", "producer.py")
    CLUSTER = os.path.join(SRC, "scripts", "cluster.sh")
    return [argv[0]] + argv[4:]


def run(cmd, env=None, check=True, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def wait_until(pred, deadline_s=60, what="condition"):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


class Cluster:
    """A local cluster in its own run directory and port range."""

    def __init__(self, nodes, base_port):
        self.dir = tempfile.mkdtemp(prefix=f"eddy-it-{nodes}n-")
        self.base = base_port
        self.env = dict(os.environ, EDDY_RUN_DIR=self.dir, EDDY_BASE_PORT=str(base_port),
                        EDDY_BIN=EDDY, EDDY_CONFIG_DIR=os.path.join(SRC, "configs"))
        self.nodes = nodes
        run([CLUSTER, "start", str(nodes)], env=self.env)

    def endpoint(self, i=0):
        return f"tcp://127.0.0.1:{self.base + i}"

    def count(self, item=None, node=0):
        cmd = [EDDY, "count", "--json", "--connect", self.endpoint(node)]
        if item is not None:
            cmd += ["--item", item]
        return json.loads(run(cmd, env=self.env).stdout)

    def total(self):
        c = self.count()
        assert c["complete"], c
        return c["total_events"]

    def stop(self):
        run([CLUSTER, "stop"], env=self.env, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def produce(cluster, *args, node=0):
    r = run([sys.executable, PRODUCER, "--connect", cluster.endpoint(node), "--summary", "json",
             *args], env=cluster.env)
    return json.loads(r.stdout)
