"""Issue 13, part 2: every manifest of deploy/ is valid for what reads it, and all of them
agree with the image (deploy/Dockerfile.kserve) and the layout (torchserve_nlp/deploy).

Core kinds are checked with kubernetes-validate (strict: unknown fields fail) against the
oldest and newest Kubernetes it knows of that we support. KServe kinds are checked against
the KServe SDK's model classes: every key must be a field of the class at that place (the
SDK's own deserializer silently drops unknown keys, so the walk below is what makes it
strict), every value of its declared type; then the SDK's classes build the object through
their constructors, which enforce required fields, and serialize it back to a superset of
the manifest."""

import json
import re
import tomllib
from functools import cache
from pathlib import Path

import kserve
import kubernetes.client
import kubernetes_validate
import pytest
import yaml

from torchserve_nlp.deploy import container

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MANIFESTS = sorted(p for p in DEPLOY.rglob("*.yaml") if p.name != "kustomization.yaml")
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
KSERVE_KINDS = {  # kind -> (apiVersion, the SDK's model class)
    "InferenceService": ("serving.kserve.io/v1beta1", "V1beta1InferenceService"),
    "ServingRuntime": ("serving.kserve.io/v1alpha1", "V1alpha1ServingRuntime"),
    "ClusterServingRuntime": ("serving.kserve.io/v1alpha1", "V1alpha1ClusterServingRuntime"),
}
PRIMITIVES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float),
              "datetime": (str,), "date": (str,)}


@cache
def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def all_documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in MANIFESTS for doc in documents(path)]


def model_class(name: str) -> type | None:
    return getattr(kserve, name, None) or getattr(kubernetes.client, name, None)


def strict_errors(value: object, type_name: str, where: str) -> list[str]:
    """Every key of ``value`` that ``type_name`` (an SDK type string such as
    ``list[V1Container]``) has no field for, and every value of the wrong type."""
    if type_name in ("object", "Any"):
        return []
    if type_name.startswith(("list[", "List[")):
        if not isinstance(value, list):
            return [f"{where}: a list expected, got {value!r}"]
        return [e for i, item in enumerate(value)
                for e in strict_errors(item, type_name[5:-1], f"{where}[{i}]")]
    if type_name.startswith(("dict(", "Dict[")):  # kserve's and kubernetes' spellings
        if not isinstance(value, dict):
            return [f"{where}: a mapping expected, got {value!r}"]
        inner = type_name[5:-1].split(",", 1)[1].strip()
        return [e for key, item in value.items()
                for e in strict_errors(item, inner, f"{where}.{key}")]
    if type_name in PRIMITIVES:
        wrong_bool = isinstance(value, bool) and type_name != "bool"
        ok = isinstance(value, PRIMITIVES[type_name]) and not wrong_bool
        return [] if ok else [f"{where}: {type_name} expected, got {value!r}"]
    cls = model_class(type_name)
    assert cls is not None, f"{where}: the SDK has no model {type_name}"
    if not isinstance(value, dict):
        return [f"{where}: a {type_name} mapping expected, got {value!r}"]
    fields = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    errors = [f"{where}.{key}: no such field in {type_name}" for key in value
              if key not in fields]
    for key, item in value.items():
        if key in fields:
            errors += strict_errors(item, cls.openapi_types[fields[key]], f"{where}.{key}")
    return errors


def construct(value: object, type_name: str) -> object:
    """``value`` built through the SDK's constructors (ValueError for a missing required
    field); its ApiClient cannot: it looks V1ObjectMeta and the like up in kserve.models."""
    if type_name.startswith(("list[", "List[")):
        return [construct(item, type_name[5:-1]) for item in value]
    if type_name.startswith(("dict(", "Dict[")):
        inner = type_name[5:-1].split(",", 1)[1].strip()
        return {key: construct(item, inner) for key, item in value.items()}
    cls = model_class(type_name)
    if cls is None:  # a primitive, or "object"
        return value
    return cls(**{attr: construct(value[key], cls.openapi_types[attr])
                  for attr, key in cls.attribute_map.items() if key in value})


def dropped(manifest: object, serialized: object, where: str = "") -> list[str]:
    """Where ``serialized`` lacks or changed a value of ``manifest``."""
    if isinstance(manifest, dict) and isinstance(serialized, dict):
        return [e for key, value in manifest.items()
                for e in (dropped(value, serialized[key], f"{where}.{key}")
                          if key in serialized else [f"{where}.{key}"])]
    if isinstance(manifest, list) and isinstance(serialized, list):
        if len(manifest) != len(serialized):
            return [where]
        return [e for i, pair in enumerate(zip(manifest, serialized, strict=True))
                for e in dropped(*pair, f"{where}[{i}]")]
    return [] if manifest == serialized and type(manifest) is type(serialized) else [where]


def containers(doc: dict) -> list[dict]:
    spec = doc["spec"]
    if doc["kind"] in ("ServingRuntime", "ClusterServingRuntime"):
        return spec["containers"]
    if doc["kind"] == "Deployment":
        return spec["template"]["spec"]["containers"]
    if doc["kind"] == "InferenceService":
        return [spec["predictor"]["model"]]
    return []


def torchserve_containers() -> list[tuple[str, dict]]:
    """The serving container of every runtime and workload (not InferenceServices')."""
    return [(f"{path.name} {doc['kind']}", c) for path, doc in all_documents()
            for c in containers(doc) if doc["kind"] != "InferenceService"]


# ----------------------------------------------------------------------------- validity


def test_every_manifest_is_a_known_kind():
    assert {doc["kind"] for _, doc in all_documents()} == {
        "ClusterServingRuntime", "ServingRuntime", "InferenceService", "Deployment", "Service",
        "HorizontalPodAutoscaler", "NetworkPolicy"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_core_kinds_pass_kubernetes_strict_schema(path, version):
    for doc in documents(path):
        if doc["kind"] not in KSERVE_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_kserve_kinds_are_the_sdks_models_field_for_field(path):
    for doc in documents(path):
        if doc["kind"] not in KSERVE_KINDS:
            continue
        api_version, class_name = KSERVE_KINDS[doc["kind"]]
        assert doc["apiVersion"] == api_version
        assert strict_errors(doc, class_name, doc["kind"]) == []
        parsed = construct(doc, class_name)
        assert type(parsed).__name__ == class_name
        # Nothing dropped or coerced on the way (the SDK may add defaults, such as the
        # model container's name "").
        assert dropped(doc, kserve.ApiClient().sanitize_for_serialization(parsed)) == []


def test_the_strict_walk_catches_what_the_sdk_drops():
    doc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
           "metadata": {"name": "x"},
           "spec": {"predictor": {"scaleMetrc": "concurrency", "minReplicas": "1",
                                  "model": {"modelFormat": {"name": "pytorch"},
                                            "readinessProbe": {"httpGet": {"pth": "/"}}}}}}
    assert sorted(strict_errors(doc, "V1beta1InferenceService", "isvc")) == [
        "isvc.spec.predictor.minReplicas: int expected, got '1'",
        "isvc.spec.predictor.model.readinessProbe.httpGet.pth: no such field in "
        "V1HTTPGetAction",
        "isvc.spec.predictor.scaleMetrc: no such field in V1beta1PredictorSpec",
    ]
    with pytest.raises(Exception, match="scaleMetrc"):
        kubernetes_validate.validate(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
             "spec": {"scaleMetrc": 1}}, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomizations_list_every_manifest_of_their_folder():
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        listed = set(documents(kustomization)[0]["resources"])
        folder = {p.name for p in kustomization.parent.glob("*.yaml")} - {kustomization.name}
        # The namespaced runtime is the alternative to the cluster-wide one, not an addition.
        assert listed == folder - {"servingruntime.yaml"}, kustomization
        images = documents(kustomization)[0]["images"]
        assert [f"{i['name']}:{i['newTag']}" for i in images] == [container.IMAGE]


# ------------------------------------------------------------- agreement with the layout


def test_both_runtimes_have_one_spec():
    cluster, = documents(DEPLOY / "kserve" / "clusterservingruntime.yaml")
    namespaced, = documents(DEPLOY / "kserve" / "servingruntime.yaml")
    assert cluster["spec"] == namespaced["spec"]
    assert cluster["metadata"]["name"] == namespaced["metadata"]["name"]


def test_inferenceservices_use_our_runtime_with_both_protocols():
    services = [doc for _, doc in all_documents() if doc["kind"] == "InferenceService"]
    runtime, = documents(DEPLOY / "kserve" / "clusterservingruntime.yaml")
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert sorted(s["spec"]["predictor"]["model"]["protocolVersion"] for s in services) == [
        "v1", "v2"]
    assert set(runtime["spec"]["protocolVersions"]) == {"v1", "v2"}
    for service in services:
        predictor = service["spec"]["predictor"]
        assert predictor["model"]["runtime"] == runtime["metadata"]["name"]
        assert predictor["model"]["modelFormat"]["name"] in formats
        assert predictor["scaleMetric"] == "concurrency"
        assert 0 < predictor["scaleTarget"] <= predictor["containerConcurrency"]
        assert predictor["minReplicas"] <= predictor["maxReplicas"]
        assert predictor["model"]["resources"]["limits"]
        probe = predictor["model"]["readinessProbe"]["httpGet"]
        assert (probe["path"], probe["port"]) == (container.READY_PATH, container.INFERENCE_PORT)


@pytest.mark.parametrize(("where", "spec"), torchserve_containers(), ids=lambda v: str(v)[:40])
def test_serving_containers_run_the_layouts_torchserve_with_the_tested_probes(where, spec):
    assert spec["image"] == container.IMAGE, where
    assert "command" not in spec  # the image's tini stays PID 1
    assert spec["args"] == container.torchserve_args()
    assert spec["ports"][0]["containerPort"] == container.INFERENCE_PORT
    assert spec["startupProbe"]["exec"]["command"] == container.startup_probe_command()
    ready, live = spec["readinessProbe"]["httpGet"], spec["livenessProbe"]["httpGet"]
    assert (ready["path"], ready["port"]) == (container.READY_PATH, container.INFERENCE_PORT)
    assert (live["path"], live["port"]) == (container.LIVE_PATH, container.INFERENCE_PORT)
    assert spec["resources"]["requests"] == spec["resources"]["limits"]  # Guaranteed QoS
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_deployment_mounts_what_the_storage_initializer_writes():
    deployment, = documents(DEPLOY / "kubernetes" / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    init, = pod["initContainers"]
    serving, = pod["containers"]
    assert init["args"][1] == str(container.MOUNT)
    assert {m["mountPath"] for m in init["volumeMounts"]} == {str(container.MOUNT)}
    assert serving["volumeMounts"] == [
        {"name": init["volumeMounts"][0]["name"], "mountPath": str(container.MOUNT),
         "readOnly": True}]
    assert pod["securityContext"]["runAsUser"] == container.RUN_AS_USER


def test_service_hpa_and_network_policy_point_at_the_deployment():
    deployment, = documents(DEPLOY / "kubernetes" / "deployment.yaml")
    service, = documents(DEPLOY / "kubernetes" / "service.yaml")
    hpa, = documents(DEPLOY / "kubernetes" / "hpa.yaml")
    policy, = documents(DEPLOY / "kubernetes" / "networkpolicy.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    port_names = {p["name"]: p["containerPort"]
                  for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert port_names[service["spec"]["ports"][0]["targetPort"]] == container.INFERENCE_PORT
    allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert allowed == {container.INFERENCE_PORT, container.METRICS_PORT}
    # The management port never leaves the pod.
    assert container.MANAGEMENT_PORT not in allowed | set(port_names.values())


# --------------------------------------------------------------- agreement with the image


def dockerfile() -> str:
    return (REPO / container.DOCKERFILE).read_text(encoding="utf-8")


def instruction(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in dockerfile().splitlines()
            if line.startswith(f"{name} ")]


def test_the_image_the_manifests_name_is_what_the_dockerfile_documents_and_builds():
    build = f"docker build -f {container.DOCKERFILE} -t {container.IMAGE} ."
    assert build in dockerfile()
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    if "kserve-image:" in makefile:  # the Make target, once it is there, builds the same
        assert build in makefile


def test_the_image_runs_the_runtimes_command_as_the_manifests_user():
    assert json.loads(instruction("CMD")[-1]) == container.torchserve_args()
    assert json.loads(instruction("ENTRYPOINT")[-1]) == ["/usr/bin/tini", "--"]
    assert instruction("USER") == [str(container.RUN_AS_USER)]
    assert str(container.INFERENCE_PORT) in instruction("EXPOSE")[-1].split()


def test_the_image_pins_torch_as_pyproject_and_copies_what_exists():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    torch_pin, = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch==")]
    assert re.search(rf"\b{re.escape(torch_pin)}\b", dockerfile())
    for copy in instruction("COPY"):
        *sources, _ = copy.split()
        for source in sources:
            assert (REPO / source).exists(), source
