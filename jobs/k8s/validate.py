"""Offline validation of the k8s/ manifests, strict enough to catch what `kubectl apply` would
silently drop or reject.

- KubeRay kinds (RayCluster, RayJob, RayCronJob, RayService) are checked with jsonschema against the
  openAPIV3Schema of the matching CRD version, read from a CRD folder at run time. The API server
  prunes unknown fields of a structural schema without a word, so a typo (`replicass: 2`) would
  vanish; we turn pruning into an error: every object schema without `additionalProperties` and
  without `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`.
- Built-in kinds (ConfigMap, Secret, ...) are checked with kubernetes-validate's strict schemas.
- `metadata` (just `type: object` in CRDs) is checked by a small schema of our own.
- Product checks (sized containers, resolvable ConfigMap / Secret references, serveConfigV2) live
  in jobs/k8s/lint.py and run once every document is schema-valid (jobs/k8s/check.py).
- Not checked: CEL rules (`x-kubernetes-validations`), `format`, admission webhooks of the operator.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from jobs.k8s.manifests import yaml_loader

# kubernetes-validate ships schemas up to this version; our manifests use only stable APIs (v1).
K8S_VERSION = "1.37"
CRD_DIR_ENV = "LINGUACODUS_K8S_CRDS"

_DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS1123_SUBDOMAIN},
        "namespace": {"type": "string", "pattern": _DNS1123_SUBDOMAIN},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
_WITH_METADATA = {"type": "object", "required": ["metadata"], "properties": {"metadata": METADATA_SCHEMA}}
# The few Kustomization fields this project uses; kustomize has no published JSON schema.
KUSTOMIZATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "resources"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kustomize.config.k8s.io/v1beta1"},
        "kind": {"const": "Kustomization"},
        "namespace": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "labels": {"type": "array", "items": {"type": "object"}},
        "images": {"type": "array", "items": {"type": "object"}},
    },
}


def default_crd_dir(repo_root: Path) -> Path:
    """$LINGUACODUS_K8S_CRDS, else ../shared/k8s-crds next to the repository."""
    env = os.environ.get(CRD_DIR_ENV)
    return Path(env) if env else repo_root.parent / "shared" / "k8s-crds"


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a CRD openAPIV3Schema that rejects unknown fields (see module docstring)."""
    out = copy.deepcopy(schema)
    _make_strict(out)
    return out


def _make_strict(node: dict[str, Any]) -> None:
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-list-type") == "set":
        node["uniqueItems"] = True
    is_object = node.get("type") == "object" or "properties" in node
    if is_object and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        node["additionalProperties"] = False
    for child in (node.get("properties") or {}).values():
        _make_strict(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _make_strict(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        for child in node.get(key, []):
            _make_strict(child)


def _unique_list_map_keys(validator: Any, keys: list[str], instance: Any, schema: dict) -> Iterator[Any]:
    """x-kubernetes-list-type: map: the API server rejects two items with the same key tuple."""
    if not isinstance(instance, list):
        return
    seen: set[tuple] = set()
    for item in instance:
        if isinstance(item, dict):
            key = tuple(str(item.get(k)) for k in keys)
            if key in seen:
                yield jsonschema.ValidationError(f"duplicate item with {dict(zip(keys, key))}")
            seen.add(key)


_CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator, {"x-kubernetes-list-map-keys": _unique_list_map_keys}
)


def load_crd_schemas(crd_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema for every version of every CRD in crd_dir."""
    files = sorted(crd_dir.glob("*.yaml")) if crd_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"no KubeRay CRDs in {crd_dir}: point ${CRD_DIR_ENV} at a folder holding "
            "ray-operator/config/crd/bases/ray.io_*.yaml from ray-project/kuberay"
        )
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in files:
        crd = yaml.load(path.read_text(), Loader=yaml_loader())
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict_schema(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = METADATA_SCHEMA
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def _format(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "<root>"
    return f"{where}: {error.message}"


class ManifestValidator:
    """Schema validation of single documents; errors come back as 'path: message' strings."""

    def __init__(self, crd_schemas: dict[tuple[str, str], dict[str, Any]], k8s_version: str = K8S_VERSION):
        self.crd_schemas = crd_schemas
        self.k8s_version = k8s_version

    def errors(self, doc: Any) -> list[str]:
        if not isinstance(doc, dict):
            return [f"<root>: a manifest must be a mapping, got {type(doc).__name__}"]
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        if key in self.crd_schemas:
            return self._schema_errors(_CrdValidator(self.crd_schemas[key]), doc)
        if doc.get("kind") == "Kustomization":
            return self._schema_errors(jsonschema.Draft7Validator(KUSTOMIZATION_SCHEMA), doc)
        return self._builtin_errors(doc)

    @staticmethod
    def _schema_errors(validator: Any, doc: dict) -> list[str]:
        return sorted(_format(e) for e in validator.iter_errors(doc))

    def _builtin_errors(self, doc: dict) -> list[str]:
        import kubernetes_validate  # the schema files are read lazily per kind

        errors = self._schema_errors(jsonschema.Draft7Validator(_WITH_METADATA), doc)
        try:
            kubernetes_validate.validate(doc, self.k8s_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(_format(exc))
        except (kubernetes_validate.SchemaNotFoundError, KeyError):
            errors.append(f"<root>: no schema for apiVersion={doc.get('apiVersion')} kind={doc.get('kind')}")
        return sorted(set(errors))  # both schemas check metadata: one message per problem
