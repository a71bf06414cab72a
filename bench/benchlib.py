"""Shared by the bench/*.py scripts: the `key value` output contract of `gan bench` (the xtask
runner parses these lines) and the process's peak resident memory."""
import resource
import time


def report(**values):
    """Prints one `key value` line per item, `peak_rss_mb` (ru_maxrss, KiB on Linux) before the
    last one: the rate comes last, as from `gan bench`."""
    items = list(values.items())
    for key, value in items[:-1]:
        print(f"{key} {value}")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    for key, value in items[-1:]:
        print(f"{key} {value}")


def calls_per_s(call, calls, warmup, device):
    """Runs `call(i)` `warmup` times untimed, then `calls` times timed; returns calls per second.
    On CUDA the device is synchronised before the clock starts and before it stops."""
    def sync():
        if device.type == "cuda":
            import torch
            torch.cuda.synchronize()
    for i in range(warmup):
        call(i)
    sync()
    start = time.perf_counter()
    for i in range(calls):
        call(i)
    sync()
    return calls / (time.perf_counter() - start)


class PhaseClock:
    """Where a training step's time goes, as `gan bench train-step --phases` measures it:
    wall-clock time per phase with the device synchronised at every boundary, summed over the
    steps timed; `lines()` gives the same `ms_<phase>` keys (milliseconds per step)."""

    def __init__(self, device):
        self.device, self.totals, self.steps, self.last = device, {}, 0, time.perf_counter()

    def _sync(self):
        if self.device.type == "cuda":
            import torch
            torch.cuda.synchronize()

    def start(self):
        self._sync()
        self.steps += 1
        self.last = time.perf_counter()

    def lap(self, name):
        self._sync()
        now = time.perf_counter()
        self.totals[name] = self.totals.get(name, 0.0) + now - self.last
        self.last = now

    def lines(self):
        return {f"ms_{name}": f"{t * 1e3 / max(self.steps, 1):.3f}" for name, t in self.totals.items()}


def no_lap(_name):
    """The lap of a step run without a clock."""
