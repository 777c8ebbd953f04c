"""`build_llm`: the LLM a config asks for. The backends are imported here, inside the function, so
importing the interface (actors/llm/base.py) never loads xllamacpp or the openai client."""
from __future__ import annotations

from actors.errors import ConfigError
from actors.llm.base import LLM, LLMConfig, llm_name
from actors.llm.cache import CachedLLM


def build_llm(cfg: LLMConfig) -> LLM:
    """The LLM the config asks for, wrapped in a read-write CachedLLM when cache_dir is set."""
    if cfg.backend == "replay":
        if not cfg.cache_dir:
            raise ConfigError("backend 'replay' needs cache_dir (the folder of recorded replies)")
        return CachedLLM(None, cfg.cache_dir, mode="replay", model_name=llm_name(cfg))
    inner: LLM
    if cfg.backend == "embedded":
        from actors.llm.embedded import EmbeddedLLM

        inner = EmbeddedLLM(cfg)
    else:
        from actors.llm.openai_client import OpenAILLM

        inner = OpenAILLM(cfg)
    return CachedLLM(inner, cfg.cache_dir) if cfg.cache_dir else inner
