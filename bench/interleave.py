"""Pages of every data size timed in turns, so a ratio between sizes is measured in one run.

Each size's app lives in its own child process (neither warms the other). A child that has set
up its data and logged in its clients calls :func:`serve`: it then times batches of requests
when the parent asks. The parent (:class:`Sizes`) asks each child in turn for a short batch of
the same page, round after round, switching which size goes first every round. Whatever else
the machine does during the run (another process, a burst of I/O) then falls on every size
alike, instead of on whichever size happened to be running at that moment; the p95 of one size
over another's is the pages' own.

The protocol is one JSON object per line: the parent writes commands to the child's stdin, the
child answers on stdout with lines that start with :data:`MARK` (any other line the child
prints, such as its log, is passed through to the parent's stdout).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MARK = "@@bench "


def _answer(payload):
    sys.stdout.write(MARK + json.dumps(payload) + "\n")
    sys.stdout.flush()


def timed(client, url, count):
    """``count`` requests of ``url``: (wall ms, CPU ms of this process) lists."""
    wall, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return wall, cpu


def serve(pages):
    """In the child, once set up: time the batches the parent asks for, until it says done.

    ``pages`` maps a page key to (client, url). Returns {key: (wall ms list, CPU ms list)}.
    """
    samples = {key: ([], []) for key in pages}
    _answer({"ready": list(pages)})
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "done":
            break
        client, url = pages[command["key"]]
        if command["op"] == "warm":
            timed(client, url, command["n"])
        else:
            wall, cpu = timed(client, url, command["n"])
            samples[command["key"]][0].extend(wall)
            samples[command["key"]][1].extend(cpu)
        _answer({"ok": command["key"]})
    return samples


class Sizes:
    """The parent's side: one child per size, started with ``commands`` {size: argv}."""

    def __init__(self, commands, env=None, **popen):
        # Each child its own var directory: the embedded Redis lives there, and one child's
        # exit must not stop the Redis another is still using.
        self.var = tempfile.mkdtemp(prefix="dingkao-bench-var-")
        self.children = {
            size: subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                env={**(env or os.environ), "DINGKAO_VAR_DIR": os.path.join(self.var, str(size))},
                **popen)
            for size, argv in commands.items()}
        self.keys = None
        for size in self.children:
            keys = self._read(size)["ready"]
            assert self.keys in (None, keys), ("the sizes time different pages", keys)
            self.keys = keys

    def _read(self, size):
        child = self.children[size]
        for line in child.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
            sys.stdout.write(line)
            sys.stdout.flush()
        raise RuntimeError(f"the {size:,} child ended (exit {child.wait()})")

    def _ask(self, size, **command):
        self.children[size].stdin.write(json.dumps(command) + "\n")
        self.children[size].stdin.flush()
        self._read(size)

    def run(self, keys, warmup, repeat, batch=5):
        """Each page in turn: ``warmup`` requests per size, then ``repeat`` timed requests per
        size in batches of ``batch``, the sizes taking turns and the first size alternating."""
        order = list(self.children)
        for key in keys:
            for size in order:
                self._ask(size, op="warm", key=key, n=warmup)
            done = 0
            while done < repeat:
                n = min(batch, repeat - done)
                for size in order:
                    self._ask(size, op="time", key=key, n=n)
                order.reverse()
                done += n

    def finish(self):
        """Tell every child the timing is over; wait for them to write their results."""
        for size, child in self.children.items():
            child.stdin.write(json.dumps({"op": "done"}) + "\n")
            child.stdin.close()
        for size, child in self.children.items():
            for line in child.stdout:
                sys.stdout.write(line)
            if child.wait() != 0:
                raise RuntimeError(f"the {size:,} child failed (exit {child.returncode})")
        shutil.rmtree(self.var, ignore_errors=True)
