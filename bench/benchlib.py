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
