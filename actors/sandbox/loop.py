"""Making and mounting a run's ext4 image without a process per step (used by disk.py).

mke2fs runs once per image size and process, into a template; each run copies only the template's
data extents into a new sparse file (a few MiB of metadata: milliseconds, no exec). The image is
attached to a free loop device with LOOP_CONFIGURE and LO_FLAGS_AUTOCLEAR, so the device detaches
by itself when the filesystem is released, and mounted with mount(2) directly.
"""
from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import os
import shutil
import struct
import subprocess
import threading
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_LOOP_CTL_GET_FREE, _LOOP_CONFIGURE, _LO_FLAGS_AUTOCLEAR = 0x4C82, 0x4C0A, 4
_MS_NOSUID, _MS_NODEV, _MS_NOATIME = 2, 4, 1024
# struct loop_config: u32 fd, u32 block_size, struct loop_info64 (232 bytes), u64 reserved[8].
_INFO_FLAGS_OFFSET = 8 + 5 * 8 + 3 * 4  # loop_info64.lo_flags
_CONFIG_SIZE = 8 + 232 + 64
_templates: dict[tuple[str, int], Path] = {}
_lock = threading.Lock()


def _template(mkfs: str, size: int, folder: Path) -> Path:
    """An empty ext4 of `size` bytes made once per process in folder; no journal (a crash loses
    nothing that matters), no reserved blocks, inode tables left for lazy init."""
    with _lock:
        path = _templates.get((mkfs, size))
        if path is None or not path.exists():
            if not folder.exists():
                folder.mkdir(mode=0o700)
                atexit.register(shutil.rmtree, folder, True)
            path = folder / f"template-{size}.img"
            with open(path, "wb") as handle:
                handle.truncate(size)
            subprocess.run([mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0",
                            "-E", "nodiscard,lazy_itable_init=1", str(path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=60,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
            _templates[(mkfs, size)] = path
        return path


def new_image(mkfs: str, size: int, template_dir: Path, dest: Path) -> None:
    """A fresh filesystem image at dest: the template's data extents in a sparse file."""
    template = _template(mkfs, size, template_dir)
    src = os.open(template, os.O_RDONLY | os.O_CLOEXEC)
    dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(dst, size)
        offset = 0
        while True:
            try:
                offset = os.lseek(src, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after offset
                    break
                raise
            end = os.lseek(src, offset, os.SEEK_HOLE)
            while offset < end:
                offset += os.copy_file_range(src, dst, end - offset, offset, offset)
    finally:
        os.close(src)
        os.close(dst)


def _attach(image: Path) -> tuple[str, int]:
    """Attach image to a free loop device (autoclear); the device path and an open fd of it,
    to close once mounted (autoclear detaches a device at its last close)."""
    backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        config = bytearray(_CONFIG_SIZE)
        struct.pack_into("=I", config, 0, backing)
        struct.pack_into("=I", config, _INFO_FLAGS_OFFSET, _LO_FLAGS_AUTOCLEAR)
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(20):  # another process may take the free device between the two calls
                device = f"/dev/loop{fcntl.ioctl(control, _LOOP_CTL_GET_FREE)}"
                loop = os.open(device, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.ioctl(loop, _LOOP_CONFIGURE, bytes(config))
                    return device, loop
                except OSError as exc:
                    os.close(loop)
                    if exc.errno != errno.EBUSY:
                        raise
            raise OSError(errno.EBUSY, "no free loop device")
        finally:
            os.close(control)
    finally:
        os.close(backing)  # the loop device holds its own reference


def mount_image(image: Path, target: Path) -> None:
    """Mount image (ext4) at target: nosuid, nodev, noatime, no background inode-table zeroing."""
    device, loop = _attach(image)
    try:
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOATIME
        if _libc.mount(device.encode(), str(target).encode(), b"ext4", flags, b"noinit_itable") != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {device} at {target}: {os.strerror(err)}")
    finally:
        os.close(loop)  # from now on the mount holds the device; unmounted, it detaches itself
