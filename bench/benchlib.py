"""Shared by the bench/*.py scripts: the `key value` output contract of `gan bench` (the xtask
runner parses these lines) and the process's peak resident memory."""
import resource


def report(**values):
    """Prints one `key value` line per item, `peak_rss_mb` (ru_maxrss, KiB on Linux) before the
    last one: the rate comes last, as from `gan bench`."""
    items = list(values.items())
    for key, value in items[:-1]:
        print(f"{key} {value}")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    for key, value in items[-1:]:
        print(f"{key} {value}")
