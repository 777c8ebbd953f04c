"""The k8s/ manifests validate against the KubeRay CRDs (unknown fields rejected) and Kubernetes'
own strict schemas, and they wire the product together: entrypoints, ConfigMap, Secrets, GPUs.

The CRDs are read at test time from ../shared/k8s-crds (or $LINGUACODUS_K8S_CRDS), never copied here.
"""
from __future__ import annotations

import copy
import importlib.util
import re
import shlex
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs.k8s import check, manifests
from jobs.k8s import lint
from jobs.k8s import validate as kv
from tests.helpers.paths import REPO

K8S = REPO / "k8s"
RAY_KINDS = ("RayCluster", "RayJob", "RayCronJob", "RayService")
MANIFESTS = manifests.load_manifests(K8S)


@pytest.fixture(scope="module")
def validator() -> kv.ManifestValidator:
    crd_dir = kv.default_crd_dir(REPO)
    if not crd_dir.is_dir():
        pytest.fail(
            f"KubeRay CRD folder {crd_dir} is missing: the k8s/ manifests cannot be validated. "
            f"Set ${kv.CRD_DIR_ENV} to a folder with ray.io_*.yaml from ray-project/kuberay "
            "(ray-operator/config/crd/bases/)."
        )
    return kv.ManifestValidator(kv.load_crd_schemas(crd_dir))


def doc_of(kind: str, name: str | None = None) -> dict[str, Any]:
    """A private copy of the one manifest of that kind (and name), free to mutate."""
    found = [m.doc for m in MANIFESTS if m.kind == kind and name in (None, m.doc.get("metadata", {}).get("name"))]
    assert len(found) == 1, f"expected one {kind} {name or ''} in k8s/, found {len(found)}"
    return copy.deepcopy(found[0])


def job_spec(kind: str) -> dict[str, Any]:
    spec = doc_of(kind)["spec"]
    return spec["jobTemplate"] if kind == "RayCronJob" else spec


def cluster_spec(kind: str) -> dict[str, Any]:
    """The RayCluster spec inside any of the four Ray kinds."""
    if kind == "RayCluster":
        return doc_of(kind)["spec"]
    if kind == "RayService":
        return doc_of(kind)["spec"]["rayClusterConfig"]
    return job_spec(kind)["rayClusterSpec"]


def test_the_folder_holds_every_manifest_the_product_ships() -> None:
    kinds = {m.kind for m in MANIFESTS}
    assert {*RAY_KINDS, "ConfigMap", "Secret", "Kustomization"} <= kinds
    names = {p.name for p in K8S.glob("*.yaml")}
    assert {"raycluster.yaml", "rayjob.yaml", "raycronjob.yaml", "rayservice.yaml",
            "configmap.yaml", "secrets.example.yaml", "kustomization.yaml"} <= names


@pytest.mark.parametrize("manifest", MANIFESTS, ids=[m.label for m in MANIFESTS])
def test_every_manifest_validates_against_its_schema(validator: kv.ManifestValidator, manifest: manifests.Manifest) -> None:
    assert validator.errors(manifest.doc) == []


def test_every_kuberay_kind_is_checked_against_its_crd_not_skipped(validator: kv.ManifestValidator) -> None:
    for kind in RAY_KINDS:
        assert ("ray.io/v1", kind) in validator.crd_schemas, f"no CRD schema for {kind}"


def test_raycluster_worker_group_with_an_unknown_field_is_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("RayCluster")
    doc["spec"]["workerGroupSpecs"][0]["replicass"] = 2
    assert any("'replicass' was unexpected" in e for e in validator.errors(doc))


def test_rayjob_with_entrypoint_as_a_list_is_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("RayJob")
    doc["spec"]["entrypoint"] = ["linguacodus", "run"]
    assert any(e.startswith("spec.entrypoint:") and "not of type 'string'" in e for e in validator.errors(doc))


def test_configmap_with_data_as_a_list_is_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("ConfigMap")
    doc["data"] = [{"LINGUACODUS_MAX_FIX": "3"}]
    assert any(e.startswith("data:") for e in validator.errors(doc))


def test_secret_with_a_misspelt_top_level_field_is_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("Secret", "linguacodus-s3")
    doc["stringDate"] = doc.pop("stringData")
    assert any("'stringDate' was unexpected" in e for e in validator.errors(doc))


def test_raycronjob_without_a_schedule_is_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("RayCronJob")
    del doc["spec"]["schedule"]
    assert any("'schedule' is a required property" in e for e in validator.errors(doc))


def test_rayservice_container_with_a_duplicate_env_name_is_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("RayService")
    env = doc["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": env[0]["name"], "value": "again"})
    assert any("duplicate item" in e for e in validator.errors(doc))


def test_quantities_accept_int_or_string_but_not_garbage(validator: kv.ManifestValidator) -> None:
    doc = doc_of("RayCluster")
    limits = doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
    limits["cpu"] = 8
    assert validator.errors(doc) == []
    limits["cpu"] = "8 cores"
    assert any("limits.cpu" in e for e in validator.errors(doc))


def test_misspelt_metadata_and_unknown_crd_versions_are_rejected(validator: kv.ManifestValidator) -> None:
    doc = doc_of("RayJob")
    doc["metadata"]["lables"] = doc["metadata"].pop("labels")
    assert any("'lables' was unexpected" in e for e in validator.errors(doc))
    doc = doc_of("RayJob")
    doc["apiVersion"] = "ray.io/v9"
    assert any("no schema" in e for e in validator.errors(doc))


def test_strict_schema_keeps_preserve_unknown_fields_open_and_honours_nullable() -> None:
    schema = kv.strict_schema({
        "type": "object",
        "properties": {
            "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            "closed": {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}},
        },
    })
    check = kv.jsonschema.Draft7Validator(schema)
    assert check.is_valid({"open": {"anything": 1}, "closed": {"a": None}})
    assert not check.is_valid({"closed": {"b": 1}})
    assert not check.is_valid({"extra": 1})


def test_a_missing_crd_folder_fails_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=kv.CRD_DIR_ENV):
        kv.load_crd_schemas(tmp_path / "nowhere")


def test_every_container_has_cpu_and_memory_requests_and_limits() -> None:
    assert lint.resource_problems(MANIFESTS) == []
    counted = sum(1 for m in MANIFESTS for _ in lint.containers(m.doc))
    assert counted >= 11  # heads, workers and submitters of all four Ray kinds: the check is not vacuous
    broken = copy.deepcopy(MANIFESTS)
    rayjob = next(m.doc for m in broken if m.kind == "RayJob")
    _, submitter = next(lint.containers(rayjob["spec"]["submitterPodTemplate"]))
    del submitter["resources"]["limits"]
    assert any("submitterPodTemplate" in p and "limits lacks" in p for p in lint.resource_problems(broken))


def test_gpu_worker_groups_request_gpus_scale_from_zero_and_land_on_gpu_nodes() -> None:
    groups = {g["groupName"]: g for g in cluster_spec("RayCluster")["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    assert groups["cpu"]["minReplicas"] == groups["gpu"]["minReplicas"] == 0
    pod = groups["gpu"]["template"]["spec"]
    res = pod["containers"][0]["resources"]
    assert int(res["requests"]["nvidia.com/gpu"]) >= 1 and res["limits"]["nvidia.com/gpu"] == res["requests"]["nvidia.com/gpu"]
    assert pod["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert cluster_spec("RayCluster")["enableInTreeAutoscaling"] is True


@pytest.mark.parametrize("kind", ["RayCluster", "RayJob", "RayCronJob"])
def test_cpu_workers_that_run_sandboxes_allow_nested_namespaces_as_non_root(kind: str) -> None:
    (cpu,) = [g for g in cluster_spec(kind)["workerGroupSpecs"] if g["groupName"] == "cpu"]
    pod = cpu["template"]["spec"]
    ctx = pod["containers"][0]["securityContext"]
    assert pod["hostUsers"] is False and ctx["procMount"] == "Unmasked"
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0  # bwrap's --unshare-user path
    assert ctx["seccompProfile"]["type"] == ctx["appArmorProfile"]["type"] == "Unconfined"


@pytest.mark.parametrize("kind", RAY_KINDS)
def test_every_ray_cluster_requires_a_ray_auth_token(kind: str) -> None:
    assert cluster_spec(kind)["authOptions"]["mode"] == "token"


def test_rayjob_runs_one_catalog_and_cleans_up_after_itself() -> None:
    spec = job_spec("RayJob")
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["linguacodus", "run"]
    assert {"--catalog", "--out", "--run-id"} <= set(argv)
    assert argv[argv.index("--catalog") + 1].startswith("s3://") and argv[argv.index("--out") + 1].startswith("s3://")
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    assert spec["activeDeadlineSeconds"] > 0


def test_raycronjob_runs_the_inbox_worker_once_per_tick() -> None:
    doc = doc_of("RayCronJob")
    argv = shlex.split(doc["spec"]["jobTemplate"]["entrypoint"])
    assert argv[:2] == ["linguacodus", "worker"] and "--once" in argv
    assert argv[argv.index("--inbox") + 1].startswith("s3://")
    assert len(doc["spec"]["schedule"].split()) == 5  # standard five-field cron


def test_raycronjob_ticks_never_overlap_and_finished_rayjobs_are_deleted() -> None:
    job = doc_of("RayCronJob")["spec"]["jobTemplate"]
    assert "--exclusive" in shlex.split(job["entrypoint"])  # a tick exits while another holds a live claim
    rules = job["deletionStrategy"]["deletionRules"]
    deleted_on = {(r["condition"].get("jobStatus") or r["condition"].get("jobDeploymentStatus"))
                  for r in rules if r["policy"] == "DeleteSelf"}
    assert deleted_on == {"SUCCEEDED", "FAILED", "Failed"}
    # KubeRay refuses deletionRules together with shutdownAfterJobFinishes or a global TTL
    assert not job.get("shutdownAfterJobFinishes") and not job.get("ttlSecondsAfterFinished")


def expanded_entrypoint(kind: str) -> list[str]:
    """argv of the entrypoint after the submitter's shell expanded $VARs from the ConfigMap."""
    settings = doc_of("ConfigMap")["data"]
    words = shlex.split(job_spec(kind)["entrypoint"])
    for word in words:
        for var in re.findall(r"\$\{?(\w+)", word):
            assert var in settings, f"{kind} entrypoint uses ${var}, which configmap.yaml does not define"
    return [string.Template(word).substitute(settings) for word in words]


@pytest.mark.parametrize("kind,module", [("RayJob", "jobs.run"), ("RayCronJob", "jobs.worker")])
def test_entrypoints_parse_with_the_real_cli(kind: str, module: str) -> None:
    argv = expanded_entrypoint(kind)[1:]
    if importlib.util.find_spec(module) is None:  # once it exists, an import error fails the test
        pytest.skip(f"{module} is not written yet")
    from jobs.cli import build_parser

    args = build_parser(argv).parse_args(argv)  # argparse exits (SystemExit) on an unknown flag
    if kind == "RayJob":  # the pipeline must talk to the RayService, not load the embedded model
        assert args.llm_url and args.model == doc_of("ConfigMap")["data"]["LINGUACODUS_LLM_MODEL"]


def test_every_linguacodus_setting_in_the_configmap_is_used() -> None:
    used = " ".join(job_spec(kind)["entrypoint"] for kind in ("RayJob", "RayCronJob"))
    sources = [p for d in ("actors", "jobs", "storage", "train") for p in (REPO / d).rglob("*.py")]
    used += " ".join(p.read_text() for p in sources if not p.name.startswith("k8s_"))
    settings = [k for k in doc_of("ConfigMap")["data"] if k.startswith("LINGUACODUS_")]
    assert settings and [k for k in settings if k not in used] == []


def test_rayservice_serves_build_app_with_vllm_on_gpus() -> None:
    doc = doc_of("RayService")
    (app,) = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"]
    assert app["import_path"] == "jobs.serve.app:build_app"
    assert app["args"]["backend"] == "vllm" and app["args"]["model"]
    assert app["args"]["autoscaling_config"]["max_replicas"] >= app["args"]["autoscaling_config"]["min_replicas"]
    worker = doc["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert int(worker["resources"]["limits"]["nvidia.com/gpu"]) >= app["args"]["tensor_parallel_size"]


def test_rayservice_autoscales_below_what_one_replica_accepts_and_checks_the_key_on_the_head() -> None:
    from jobs.serve.args import ServeArgs

    doc = doc_of("RayService")
    (app,) = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"]
    accepted = app["args"].get("max_ongoing_requests", ServeArgs.model_fields["max_ongoing_requests"].default)
    assert app["args"]["autoscaling_config"]["target_ongoing_requests"] <= accepted
    head = doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "OPENAI_API_KEY" in {e["name"] for e in head.get("env", [])}  # the ingress may run on the head


def test_the_configmap_points_the_pipeline_at_the_rayservice_model() -> None:
    settings = doc_of("ConfigMap")["data"]
    service = doc_of("RayService")
    (app,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    # KubeRay's Serve service: <RayService name>-serve-svc, port 8000
    url = f"http://{service['metadata']['name']}-serve-svc:8000{app['route_prefix'].rstrip('/')}/v1"
    assert settings["LINGUACODUS_LLM_URL"] == settings["OPENAI_BASE_URL"] == url
    served = {app["args"]["served_model_name"], *(a["name"] for a in app["args"]["lora_adapters"])}
    assert settings["LINGUACODUS_LLM_MODEL"] in served


def test_serve_config_is_checked_with_ray_serves_own_schema() -> None:
    assert lint.serve_config_problems(MANIFESTS) == []
    broken = [m for m in copy.deepcopy(MANIFESTS) if m.kind == "RayService"]
    broken[0].doc["spec"]["serveConfigV2"] = "applications:\n  - name: instruct\n    args: {}\n"
    assert any("import_path" in p for p in lint.serve_config_problems(broken))


def test_referenced_configmap_and_secrets_exist_with_the_keys_asked_for() -> None:
    assert lint.reference_problems(MANIFESTS) == []
    for kind in RAY_KINDS:
        text = yaml.safe_dump(doc_of(kind))
        assert "linguacodus-config" in text and "linguacodus-s3" in text, f"{kind} lacks settings or S3 keys"
    broken = copy.deepcopy(MANIFESTS)
    rayjob = next(m.doc for m in broken if m.kind == "RayJob")
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "OPENAI_KEY"
    head["envFrom"][0]["configMapRef"]["name"] = "linguacodus-settings"
    problems = lint.reference_problems(broken)
    assert any("'OPENAI_KEY'" in p for p in problems) and any("'linguacodus-settings'" in p for p in problems)


def test_pods_use_the_linguacodus_image_and_the_installed_ray_version() -> None:
    import ray

    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for m in MANIFESTS:
        for path, container in lint.containers(m.doc):
            # pinned to the package version the Dockerfile builds (README: container image), never :latest
            assert container["image"] in (f"linguacodus:{version}", f"linguacodus:{version}-gpu"), f"{m.label} {path}"
    for kind in RAY_KINDS:
        assert cluster_spec(kind)["rayVersion"].split(".")[:2] == ray.__version__.split(".")[:2]


def test_kustomization_lists_existing_files_but_not_the_placeholder_secrets() -> None:
    assert lint.kustomization_problems(MANIFESTS) == []
    resources = doc_of("Kustomization")["resources"]
    assert "secrets.example.yaml" not in resources and "configmap.yaml" in resources


def test_the_cli_reports_nothing_for_the_repository_and_fails_on_a_broken_copy(tmp_path: Path) -> None:
    assert check.main([str(K8S)]) == 0
    for path in K8S.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text().replace("minReplicas: 0", "minReplicas: none"))
    assert check.main([str(tmp_path)]) == 1
