"""The seccomp filter of the sandbox, compiled once to classic BPF and handed to bwrap (--seccomp FD).

The network namespace already leaves generated code without a route to anything; the filter is the
second wall: socket() and socketpair() work for AF_UNIX only (multiprocessing, joblib and loky need
it) and fail with EACCES for every other family, known or future (IP, packet, netlink, vsock, alg,
bluetooth, ...); io_uring (which can open sockets without the socket() syscall) is refused, and no
new user namespace can be made (a user namespace would give the code capabilities over its own
namespaces). EACCES, not the kernel's own EAFNOSUPPORT or EPERM, so a refusal is known to be ours.
Default action ALLOW for other syscalls: an allow-list of socket families, not a full profile.
Foreign syscall ABIs (i386 int 0x80, x32) are killed by libseccomp's default bad-arch action.
"""
from __future__ import annotations

import errno
import os
import socket

from actors.errors import ConfigError

# The only address family generated code may open sockets of: local, within the sandbox.
ALLOWED_SOCKET_FAMILIES = (socket.AF_UNIX,)
_CLONE_NEWUSER = 0x10000000


def build_bpf() -> bytes:
    """Compile the filter with libseccomp (via pyseccomp) and return the BPF program bytes."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 missing
        raise ConfigError(f"sandbox needs pyseccomp and libseccomp.so.2: {exc}") from exc

    filt = sc.SyscallFilter(sc.ALLOW)
    (allowed,) = ALLOWED_SOCKET_FAMILIES  # one NE rule per call; more families would need a range
    for name in ("socket", "socketpair"):
        filt.add_rule(sc.ERRNO(errno.EACCES), name, sc.Arg(0, sc.NE, allowed))
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        filt.add_rule(sc.ERRNO(errno.EPERM), name)
    for name in ("unshare", "clone"):
        filt.add_rule(sc.ERRNO(errno.EPERM), name, sc.Arg(0, sc.MASKED_EQ, _CLONE_NEWUSER, _CLONE_NEWUSER))
    # clone3 passes its flags in memory that seccomp cannot inspect; ENOSYS makes glibc fall back
    # to clone(), whose flags the rule above does check.
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    fd = os.memfd_create("lc-seccomp")
    try:
        with os.fdopen(os.dup(fd), "wb") as handle:
            filt.export_bpf(handle)
        return os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)
