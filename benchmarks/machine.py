"""The machine and its processes, as the benchmarks report them: CPU, memory, software."""

from __future__ import annotations

import os
import platform
import subprocess

import numpy as np


def cpu_seconds(pid: int | None = None) -> float:
    """Return the user + system CPU time a process (default: this one) has used, all threads."""
    with open(f"/proc/{pid or os.getpid()}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_kib(pid: int) -> dict[str, int]:
    """Return VmHWM (peak RSS) and VmRSS of a process in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmHWM", "VmRSS")))
    return {name: int(value.split()[0]) for name, value in fields.items()}


def ram_gib() -> float:
    """Return the machine's total memory in GiB."""
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def os_name() -> str:
    """Return the distribution's name (os-release) and the kernel release."""
    try:
        release = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        release = ""
    kernel = f"{platform.system()} {platform.release()}"
    return f"{release}, {kernel}" if release else kernel


def revision() -> str:
    """Return the checked-out commit, marked when the working tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if changed else commit


def machine_rows() -> list[tuple[str, str]]:
    """Return label and text rows describing the machine and the software."""
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        ("cpu", f"{cpu_model()}, {os.cpu_count()} cores"),
        ("ram", f"{ram_gib():.1f} GiB"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("os", os_name()),
        ("revision", revision()),
        ("load average", f"{load} (1, 5, 15 min) at the start"),
    ]


def percentiles(values: list[float], points: tuple[float, ...]) -> str:
    """Return the given percentiles of values as `pN x.xx` pairs."""
    if not values:
        return "n/a"
    got = np.percentile(np.asarray(values), points)
    return "  ".join(f"p{p:g} {v:.2f}" for p, v in zip(points, got, strict=True))
