"""How much memory this process may still use, as the host reports it.

The one place that probes the system: ``/proc/meminfo`` (MemAvailable), the cgroup v2 or
v1 memory limit and usage, and the address-space rlimit. ``model/run.py`` compares its
estimate of a run's memory with this before running.

Example
-------
>>> from cloudmarket.model.host_memory import available_memory
>>> have = available_memory()
>>> have is None or have > 0
True
"""

from __future__ import annotations


def available_memory() -> int | None:
    """Bytes this process may still use: the least of MemAvailable, a cgroup limit and RLIMIT_AS (None if unknown)."""
    import resource  # Unix only: imported here, so this module imports everywhere

    limits = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit) as a, open(used) as b:
                text = a.read().strip()
                if text != "max" and int(text) < 2**60:
                    limits.append(int(text) - int(b.read().strip()))
        except (OSError, ValueError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits) if limits else None
