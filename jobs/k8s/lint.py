"""Product checks on the k8s/ manifests that no schema can express: every container sized, every
ConfigMap / Secret a pod names defined (with its keys), kustomization entries present, and the
RayService's serveConfigV2 (an opaque string to the API server) valid for Ray Serve. Run them after
schema validation (jobs/k8s/validate.py); they assume well-formed documents."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from jobs.k8s.manifests import Manifest


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping inside a document with its dotted path, depth first."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container of every pod template in a document (head, workers, submitter, ...)."""
    for path, node in walk(doc):
        for key in ("containers", "initContainers"):
            for i, container in enumerate(node.get(key) or []):
                if isinstance(container, dict) and "image" in container:
                    yield f"{path}.{key}[{i}]", container


def resource_problems(manifests: list[Manifest]) -> list[str]:
    """Containers (and the autoscaler sidecar) without requests and limits get evicted first and
    starve their neighbours; GPUs, like every extended resource, need requests == limits."""
    problems: list[str] = []
    for m in manifests:
        sized = list(containers(m.doc))
        sized += [(p, n) for p, n in walk(m.doc) if p.endswith("autoscalerOptions")]
        for path, node in sized:
            res = node.get("resources") or {}
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(res.get(part) or {})
                if missing:
                    problems.append(f"{m.label}: {path}.resources.{part} lacks {sorted(missing)}")
            gpu_req = (res.get("requests") or {}).get("nvidia.com/gpu")
            gpu_lim = (res.get("limits") or {}).get("nvidia.com/gpu")
            if str(gpu_req) != str(gpu_lim):
                problems.append(f"{m.label}: {path} nvidia.com/gpu requests {gpu_req} != limits {gpu_lim}")
    return problems


def _keys(doc: dict[str, Any]) -> set[str]:
    return set(doc.get("data") or {}) | set(doc.get("stringData") or {}) | set(doc.get("binaryData") or {})


def reference_problems(manifests: list[Manifest]) -> list[str]:
    """ConfigMaps and Secrets that pods name (envFrom, secretKeyRef, volumes, authOptions) must be
    defined in the folder, with the keys asked for; otherwise the pods hang in CreateContainerConfigError."""
    defined: dict[str, dict[str, set[str]]] = {"ConfigMap": {}, "Secret": {}}
    for m in manifests:
        if m.kind in defined:
            defined[m.kind][m.doc["metadata"]["name"]] = _keys(m.doc)
    wanted: list[tuple[str, str, str, str | None]] = []  # (where, kind, name, key)
    for m in manifests:
        for path, node in walk(m.doc):
            where = f"{m.label}: {path}"
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if isinstance(node.get(field), dict):
                    wanted.append((where, kind, node[field].get("name"), None))
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if isinstance(node.get(field), dict):
                    ref = node[field]
                    wanted.append((where, kind, ref.get("name"), ref.get("key")))
            if isinstance(node.get("configMap"), dict) and "name" in node["configMap"]:
                wanted.append((where, "ConfigMap", node["configMap"]["name"], None))
            if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
                wanted.append((where, "Secret", node["secret"]["secretName"], None))
            if path.endswith("authOptions") and node.get("secretName"):
                wanted.append((where, "Secret", node["secretName"], "auth_token"))  # KubeRay's key
    problems = []
    for where, kind, name, key in wanted:
        if name not in defined[kind]:
            problems.append(f"{where} names {kind} {name!r}, which no manifest defines")
        elif key is not None and key not in defined[kind][name]:
            problems.append(f"{where} wants key {key!r} of {kind} {name!r}, which it does not have")
    return problems


def kustomization_problems(manifests: list[Manifest]) -> list[str]:
    problems = []
    for m in manifests:
        if m.kind == "Kustomization":
            for resource in m.doc.get("resources") or []:
                if not (m.path.parent / resource).is_file():
                    problems.append(f"{m.label}: resource {resource!r} does not exist")
    return problems


def serve_config_problems(manifests: list[Manifest]) -> list[str]:
    """serveConfigV2 is an opaque string to the API server: parse it with Ray Serve's own schema."""
    import warnings

    with warnings.catch_warnings():  # Ray's pydantic-v1-style models warn on import; not our business
        warnings.simplefilter("ignore", DeprecationWarning)
        from ray.serve.schema import ServeDeploySchema  # heavy: imported only here

    problems = []
    for m in manifests:
        if m.kind != "RayService" or not isinstance(m.doc.get("spec"), dict):
            continue
        text = m.doc["spec"].get("serveConfigV2")
        try:
            ServeDeploySchema.model_validate(yaml.safe_load(text or ""))
        except Exception as exc:  # noqa: BLE001 - yaml and pydantic errors both mean "invalid config"
            problems.append(f"{m.label}: spec.serveConfigV2: {exc}")
    return problems


def all_problems(manifests: list[Manifest]) -> list[str]:
    return (
        resource_problems(manifests)
        + reference_problems(manifests)
        + kustomization_problems(manifests)
        + serve_config_problems(manifests)
    )
