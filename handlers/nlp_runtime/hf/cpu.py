"""What the CPU offers a worker: its share of the physical cores, and native bf16 or not.

Both are read from the machine, never assumed: the cores from the Linux CPU topology of the
CPUs this process may run on (its affinity, which ``taskset`` and pinned containers narrow),
capped by the container's CPU quota (a Kubernetes CPU limit throttles a process to its quota
without narrowing its affinity); the bf16 support from the CPU flags in ``/proc/cpuinfo``.
"""

import logging
import math
import os
from pathlib import Path

logger = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
SYS_CPU = Path("/sys/devices/system/cpu")
CGROUP = Path("/sys/fs/cgroup")  # a container sees its own cgroup here
# x86: AVX-512 BF16 (Cooper Lake, Zen 4 and later) or AMX; Arm: the BF16 extension.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def usable_cpus() -> list[int]:
    """The logical CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int] | None = None, sys_cpu: Path = SYS_CPU) -> int:
    """Distinct physical cores among ``cpus`` (default: the usable ones): hyper-threads of
    one core count once. Without the topology files, psutil's physical count (capped by the
    usable CPUs), else the logical count."""
    cpus = usable_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        topology = sys_cpu / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return _fallback_cores(len(cpus))
        cores.add((package, core))
    return max(1, len(cores))


def _fallback_cores(logical: int) -> int:
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:  # TorchServe depends on psutil; this is belt and braces
        physical = None
    return max(1, min(physical or logical, logical))


def quota_cpus(cgroup: Path = CGROUP) -> int | None:
    """The CPUs the cgroup's quota allows, rounded up (cgroup v2 ``cpu.max``, or v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); None without a quota."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        allowed = int(quota) / int(period)
    except ValueError:  # "max": no quota
        return None
    return max(1, math.ceil(allowed)) if allowed > 0 else None  # v1 says -1 for none


def omp_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it names a positive count (PyTorch's own threads follow it
    too); None otherwise."""
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return threads if threads > 0 else None


def worker_threads(configured: int | None, workers: int) -> int:
    """Intra-op threads for one worker: ``configured`` if set, else the physical cores
    (at most the CPU quota) divided among the model's ``workers`` (at least one each), and
    no more than ``OMP_NUM_THREADS`` says when it is set (a parallel build sets it)."""
    if configured is not None:
        return configured
    cores = physical_cores()
    quota = quota_cpus()
    share = max(1, min(cores, quota or cores) // max(1, workers))
    return min(share, omp_threads() or share)


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The first processor's flags (x86 ``flags``, Arm ``Features``); empty if unreadable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def native_bf16(cpuinfo: Path | None = None) -> bool:
    """Whether the CPU computes bf16 natively (else PyTorch emulates it, slower than fp32)."""
    return bool(NATIVE_BF16_FLAGS & cpu_flags(cpuinfo or CPUINFO))
