"""Shared by the bench/*.py scripts: the `key value` output contract of `gan bench` (the xtask
runner parses these lines) and the process's peak resident memory."""
import resource


def report(**values):
    """Prints one `key value` line per item, then `peak_rss_mb` (ru_maxrss, KiB on Linux)."""
    for key, value in values.items():
        print(f"{key} {value}")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
