#!/usr/bin/env python3
"""Checks the Helm chart helm/alter without a cluster (`make helm-check`).

Helm itself does the work, through helm-sdkpy (Helm's Go library): `helm lint` of the chart,
and rendering by Helm's install action. helm-sdkpy has no `helm template` or dry run, so the
install runs against a small stand-in for the Kubernetes API server started here: it answers
discovery for a pinned Kubernetes version, accepts what Helm creates and reports hook Jobs as
complete, so that Helm goes through the whole install (values schema, rendering, mapping every
kind to an API resource, hooks) and returns the release with its manifests. Those are then
validated against the Kubernetes schemas of that version (kubernetes-validate, strict: unknown
fields fail) and checked for this chart's own rules: labels, no hard-coded namespace, security
context, probes, resources, selectors, the rendered alter.toml, the hook Job.

Values files checked: the chart's defaults and helm/alter/ci/*-values.yaml. Negative cases:
a typo in values and sign-in without its URL must fail. ServiceMonitor and PrometheusRule are
CRDs kubernetes-validate has no schema for: they are skipped there (and said so), and checked
here by hand. Exit code 0 only when everything passed.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "alter"
ALERTS_CANONICAL = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERTS_CHART = CHART / "files" / "prometheus-alerts.yaml"

# The Kubernetes version the manifests are validated for, and the one the stand-in API
# server reports (Capabilities.KubeVersion).
KUBE_VERSION = "1.30"
RELEASE = "alter"
NAMESPACE = "alter"
# Custom resources of the Prometheus Operator: kubernetes-validate has no schema for them.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The documented (docs/configuration.md) main and admin port of each service.
SERVICES = {
    "config-api": (50051, 9091),
    "jwt-verifier": (50052, 9092),
    "directory-sync": (50053, 9093),
    "webhook-ingest": (8080, 9094),
    "grant-revoker": (50055, 9095),
    "audit-writer": (50056, 9096),
    "signin": (8081, 9097),
}

# Helm writes its cache and configuration under these; keep them out of $HOME. Set before
# helm_sdkpy loads the Go library.
_HELM_HOME = tempfile.mkdtemp(prefix="alter-helm-check-")
for _var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
    os.environ[_var] = _HELM_HOME

import helm_sdkpy  # noqa: E402
import kubernetes_validate  # noqa: E402
import kubernetes_validate.utils  # noqa: E402

# kubernetes-validate reads its (large) schema files on every call; read each once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)


# --- the stand-in Kubernetes API server -------------------------------------------------

# group/version -> [(resource, kind)]: what discovery announces, so Helm can map every kind
# the chart renders. A kind missing here fails the install ("no matches for kind").
API_RESOURCES = {
    "v1": [("configmaps", "ConfigMap"), ("services", "Service"), ("secrets", "Secret"),
           ("serviceaccounts", "ServiceAccount"), ("pods", "Pod")],
    "apps/v1": [("deployments", "Deployment")],
    "batch/v1": [("jobs", "Job")],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget")],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler")],
    "networking.k8s.io/v1": [("ingresses", "Ingress"), ("networkpolicies", "NetworkPolicy")],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor"),
                                 ("prometheusrules", "PrometheusRule")],
}
_OBJECT_PATH = re.compile(
    r"/apis?/(?:[^/]+/)?v[0-9a-z]+/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)(?:/(?P<name>[^/]+))?"
)


class FakeApiServer:
    """Just enough of the Kubernetes API for Helm's install action: discovery, create, get
    (nothing exists beforehand), list and watch (hook Jobs are complete), delete."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.get(self)

            def do_POST(self):
                server.create(self)

            def do_PUT(self):
                server.update(self)

            do_PATCH = do_PUT

            def do_DELETE(self):
                server.delete(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that hung up on a watch

        self.httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def kubeconfig(self) -> str:
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "check", "cluster": {"server": self.url}}],
            "users": [{"name": "check", "user": {}}],
            "contexts": [{"name": "check",
                          "context": {"cluster": "check", "user": "check", "namespace": NAMESPACE}}],
            "current-context": "check",
        })

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()

    @staticmethod
    def send(h, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def not_found(self, h) -> None:
        self.send(h, 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "reason": "NotFound", "code": 404, "message": "not found"})

    def get(self, h) -> None:
        path, _, query = h.path.partition("?")
        major, minor = KUBE_VERSION.split(".")
        if path == "/version":
            return self.send(h, 200, {"major": major, "minor": minor,
                                      "gitVersion": f"v{KUBE_VERSION}.0", "platform": "linux/amd64"})
        if path == "/openapi/v2":
            # An empty OpenAPI document (an empty protobuf message): Helm's client-side
            # validation of hooks then finds no schema and leaves the checking to
            # kubernetes-validate below.
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if path == "/api":
            return self.send(h, 200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            groups = []
            for gv in API_RESOURCES:
                if "/" in gv:
                    group, version = gv.split("/")
                    v = {"groupVersion": gv, "version": version}
                    groups.append({"name": group, "versions": [v], "preferredVersion": v})
            return self.send(h, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        gv = "v1" if path == "/api/v1" else path.removeprefix("/apis/")
        if gv in API_RESOURCES:
            return self.send(h, 200, {
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": [{"name": r, "singularName": k.lower(), "namespaced": True, "kind": k,
                               "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                              for r, k in API_RESOURCES[gv]]})
        m = _OBJECT_PATH.fullmatch(path)
        if not m:
            return self.not_found(h)
        if m["name"]:
            # Nothing Helm is about to create exists already.
            return self.not_found(h)
        if "watch=true" in query:
            # An empty event stream: the watcher lists again, and the list says "complete".
            return self.send(h, 200, {})
        with self.lock:
            items = [o for (ns, res, _), o in self.objects.items() if (ns, res) == (m["ns"], m["res"])]
        return self.send(h, 200, {"kind": "List", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": "1"}, "items": items})

    def _body(self, h) -> bytes:
        return h.rfile.read(int(h.headers.get("Content-Length") or 0))

    def create(self, h) -> None:
        raw = self._body(h)
        m = _OBJECT_PATH.fullmatch(h.path.partition("?")[0])
        if "json" not in (h.headers.get("Content-Type") or ""):
            # Helm's release record (a Secret, sent as protobuf): accept it.
            return self.send(h, 201, {"kind": "Secret", "apiVersion": "v1",
                                      "metadata": {"name": "release", "resourceVersion": "1"}})
        obj = json.loads(raw)
        meta = obj.setdefault("metadata", {})
        meta.update({"resourceVersion": "1", "uid": "00000000-0000-0000-0000-000000000000",
                     "generation": 1, "namespace": m["ns"] if m else NAMESPACE})
        if obj.get("kind") == "Job":
            obj["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        with self.lock:
            self.objects[(meta["namespace"], m["res"] if m else "", meta.get("name", ""))] = obj
        self.send(h, 201, obj)

    def update(self, h) -> None:
        self._body(h)
        self.send(h, 200, {"kind": "Secret", "apiVersion": "v1",
                           "metadata": {"name": "release", "resourceVersion": "2"}})

    def delete(self, h) -> None:
        m = _OBJECT_PATH.fullmatch(h.path.partition("?")[0])
        with self.lock:
            gone = self.objects.pop((m["ns"], m["res"], m["name"]), None) if m and m["name"] else None
        if gone is None:
            return self.not_found(h)
        self.send(h, 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


# --- Helm -------------------------------------------------------------------------------

class Helm:
    def __init__(self) -> None:
        self.api = FakeApiServer()
        self.config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=self.api.kubeconfig())

    def render(self, values: dict | None) -> list[dict]:
        """Every object of an install with these values (hooks included), as Helm renders it;
        raises helm_sdkpy.HelmError when Helm refuses (schema, a template's `fail`…)."""
        self.api.reset()
        release = asyncio.run(helm_sdkpy.Install(self.config).run(
            RELEASE, str(CHART), values=values or None, wait=False, timeout=60))
        docs = list(yaml.safe_load_all(release.get("manifest") or ""))
        for hook in release.get("hooks") or []:
            docs.extend(yaml.safe_load_all(hook.get("manifest") or ""))
        return [d for d in docs if d]

    def lint(self, values: dict | None) -> list[dict]:
        """Helm's lint messages of warning or error severity (`helm lint --strict`), for the
        chart with these values over its defaults."""
        if values is None:
            chart = CHART
        else:
            chart = Path(tempfile.mkdtemp(prefix="lint-", dir=_HELM_HOME)) / "alter"
            shutil.copytree(CHART, chart)
            defaults = yaml.safe_load((CHART / "values.yaml").read_text())
            (chart / "values.yaml").write_text(yaml.safe_dump(merge(defaults, values)))
        result = asyncio.run(helm_sdkpy.Lint(self.config).run(str(chart)))
        return [m for m in result.get("Messages") or [] if m.get("Severity", 0) >= 2]


def merge(base: dict, over: dict) -> dict:
    """Helm's merge of a values file over the defaults: maps merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# --- checks -----------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {what}" + (f"\n        {detail}" if detail else ""))
        return ok


def labels_of(obj: dict) -> dict:
    return obj.get("metadata", {}).get("labels") or {}


def pod_problems(pod: dict) -> list[str]:
    """What a pod of this chart must have: the restricted security context and resources."""
    problems = []
    for c in pod["containers"]:
        sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
        if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                and sc.get("capabilities", {}).get("drop") == ["ALL"]
                and (sc.get("runAsNonRoot") or psc.get("runAsNonRoot"))
                and (sc.get("seccompProfile") or psc.get("seccompProfile", {})).get("type") == "RuntimeDefault"):
            problems.append(f"securityContext {sc} / pod {psc}")
        res = c.get("resources", {})
        if not (res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
                and res.get("limits", {}).get("memory")):
            problems.append(f"resources {res}")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("the Kubernetes API token is mounted (the services never call the API)")
    return problems


def check_objects(r: Report, docs: list[dict], values: dict) -> None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())

    # Kubernetes schemas.
    skipped = []
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] in CRD_KINDS:
            skipped.append(name)
            continue
        try:
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            r.check(False, f"{name} is a valid Kubernetes {KUBE_VERSION} object", f"{path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            r.check(False, f"{name} has a Kubernetes {KUBE_VERSION} schema", e.message)
    validated = len(docs) - len(skipped)
    r.check(validated > 0, f"{validated} objects valid against the Kubernetes {KUBE_VERSION} schemas (strict)")
    if skipped:
        print(f"  skip  no Kubernetes schema for CRDs, checked below instead: {', '.join(skipped)}")

    # Names, labels, namespaces.
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    r.check(len(names) == len(set(names)), "every object's kind/name is unique")
    r.check(all("namespace" not in d["metadata"] for d in docs),
            "no object hard-codes a namespace (the release namespace applies)")
    need = {"app.kubernetes.io/part-of": "alter-identity", "app.kubernetes.io/instance": RELEASE,
            "app.kubernetes.io/managed-by": "Helm"}
    bad = [f"{k}/{n}" for (k, n), d in zip(names, docs)
           if any(labels_of(d).get(key) != v for key, v in need.items())]
    r.check(not bad, "every object has the app.kubernetes.io part-of/instance/managed-by labels",
            ", ".join(bad))

    # Deployments: which, and how each runs.
    enabled = {n for n, s in values["services"].items() if s["enabled"]}
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in by_kind.get("Deployment", [])}
    r.check(set(deployments) == enabled, f"one Deployment per enabled service: {sorted(enabled)}",
            f"rendered {sorted(deployments)}")
    tag = values["image"]["tag"] or chart_meta["appVersion"]
    for name, dep in sorted(deployments.items()):
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        problems = []
        if c["image"] != f"{values['image']['repository']}:{tag}":
            problems.append(f"image {c['image']}")
        if c["command"] != [f"/usr/local/bin/{name}"]:
            problems.append(f"command {c['command']}")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        if ports.get("admin") != values["services"][name]["adminPort"] or \
                values["services"][name]["port"] not in ports.values():
            problems.append(f"ports {ports}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            got = c.get(probe, {}).get("httpGet", {})
            if got.get("path") != path or got.get("port") != "admin":
                problems.append(f"{probe} {got}")
        problems += pod_problems(pod)
        if not pod.get("terminationGracePeriodSeconds"):
            problems.append("no terminationGracePeriodSeconds")
        env = {e["name"]: e for e in c.get("env", [])}
        if env.get("ALTER_CONFIG", {}).get("value") != "/etc/alter/alter.toml":
            problems.append("ALTER_CONFIG")
        if "secretKeyRef" not in env.get("ALTER_DATABASE__URL", {}).get("valueFrom", {}):
            problems.append("ALTER_DATABASE__URL not from the Secret")
        if values["migrations"]["enabled"] and env.get("ALTER_DATABASE__MIGRATE", {}).get("value") != "false":
            problems.append("ALTER_DATABASE__MIGRATE=false missing while the migrations hook runs")
        wants_key = name in ("config-api", "webhook-ingest", "directory-sync", "signin")
        if ("ALTER_SECRETS__MASTER_KEY" in env) != wants_key:
            problems.append("ALTER_SECRETS__MASTER_KEY " + ("missing" if wants_key else "given needlessly"))
        if (name == "config-api") != ("ALTER_CONFIG_API__ADMIN_TOKEN_HASHES" in env):
            problems.append("ALTER_CONFIG_API__ADMIN_TOKEN_HASHES")
        auto = values["services"][name]["autoscaling"]["enabled"]
        if auto == ("replicas" in dep["spec"]):
            problems.append("replicas must be left out exactly when the HPA is on")
        r.check(not problems, f"Deployment {name}: image, command, ports, probes, security, resources, env",
                "; ".join(problems))

    # Services and what points at them.
    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}

    def selects(sel: dict) -> bool:
        return any(all(lbl.get(k) == v for k, v in sel.items()) for lbl in pod_labels.values())

    r.check(all(selects(s["spec"]["selector"]) for s in services.values()) and len(services) == len(deployments),
            "every Service selects a Deployment's pods, one per Deployment")
    bad = [d["metadata"]["name"] for d in by_kind.get("PodDisruptionBudget", []) + by_kind.get("NetworkPolicy", [])
           if d["metadata"]["name"] != f"{RELEASE}-migrate"
           and not selects((d["spec"].get("selector") or d["spec"].get("podSelector"))["matchLabels"])]
    r.check(not bad, "every PodDisruptionBudget and NetworkPolicy selects a Deployment's pods", ", ".join(bad))
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in by_kind.get("HorizontalPodAutoscaler", [])}
    want_hpa = {f"{RELEASE}-{n}" for n in enabled if values["services"][n]["autoscaling"]["enabled"]}
    r.check(hpas == want_hpa, f"HPAs target exactly the autoscaled Deployments {sorted(want_hpa)}", str(sorted(hpas)))
    for ing in by_kind.get("Ingress", []):
        backends = [(p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
                    for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]]
        ok = all(svc in services and port in {pp["name"] for pp in services[svc]["spec"]["ports"]}
                 for _, svc, port in backends)
        r.check(ok, f"Ingress {ing['metadata']['name']} routes {[b[0] for b in backends]} to existing Service ports",
                str(backends))
    if values["ingress"]["enabled"]:
        paths = {p["path"]: p["backend"]["service"]["name"] for ing in by_kind.get("Ingress", [])
                 for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]}
        want = {"/v1/webhooks/": f"{RELEASE}-webhook-ingest"}
        if "signin" in enabled:
            want["/v1/signin/"] = f"{RELEASE}-signin"
        r.check(paths == want, f"the ingress paths are {want}", str(paths))
    for sm in by_kind.get("ServiceMonitor", []):
        ok = any(all(labels_of(s).get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
                 and "admin" in {p["name"] for p in s["spec"]["ports"]} for s in services.values())
        r.check(ok and sm["spec"]["endpoints"][0]["path"] == "/metrics",
                f"ServiceMonitor {sm['metadata']['name']} scrapes a Service's admin port /metrics")
    if values["serviceMonitor"]["enabled"]:
        r.check(len(by_kind.get("ServiceMonitor", [])) == len(deployments), "one ServiceMonitor per service")
    if values["networkPolicy"]["enabled"]:
        r.check(len(by_kind.get("NetworkPolicy", [])) == len(deployments) + (1 if values["migrations"]["enabled"] else 0),
                "one NetworkPolicy per service (and the migrations Job)")
        for np in by_kind.get("NetworkPolicy", []):
            egress_ports = {p["port"] for rule in np["spec"]["egress"] for p in rule.get("ports", [])}
            name = np["metadata"]["labels"]["app.kubernetes.io/name"]
            want = {53, values["networkPolicy"]["postgres"]["port"]}
            if name != "migrate":
                want.add(values["networkPolicy"]["nats"]["port"])
            if name in ("jwt-verifier", "directory-sync", "config-api", "signin"):
                want.add(values["networkPolicy"]["identityProviders"]["port"])
            extra = {p["port"] for rule in values["networkPolicy"]["extraEgress"] for p in rule.get("ports", [])}
            r.check(egress_ports - extra == want and set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"},
                    f"NetworkPolicy {name}: egress only to ports {sorted(want)}", str(sorted(egress_ports)))

    # alter.toml.
    (cm,) = [d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == f"{RELEASE}-config"]
    try:
        toml = tomllib.loads(cm["data"]["alter.toml"])
    except tomllib.TOMLDecodeError as e:
        r.check(False, "alter.toml is valid TOML", str(e))
    else:
        problems = []
        for name in enabled:
            section = toml.get(name.replace("-", "_"), {})
            want = values["services"][name]
            if section.get("listen") != f"0.0.0.0:{want['port']}" or section.get("admin_listen") != f"0.0.0.0:{want['adminPort']}":
                problems.append(f"[{name}] listen addresses {section}")
        for section, keys in values["config"].items():
            for key, value in keys.items():
                if value not in ("", None) and toml.get(section, {}).get(key) != value:
                    problems.append(f"{section}.{key} = {toml.get(section, {}).get(key)!r}, values say {value!r}")
        if "url" in toml.get("database", {}):
            problems.append("database.url in the ConfigMap (it is a secret)")
        r.check(not problems, "alter.toml is valid TOML with every configured key and each service's listen addresses",
                "; ".join(problems))

    # The migrations hook.
    jobs = by_kind.get("Job", [])
    if values["migrations"]["enabled"]:
        ok = len(jobs) == 1
        if ok:
            job = jobs[0]
            ann = job["metadata"].get("annotations", {})
            c = job["spec"]["template"]["spec"]["containers"][0]
            ok = (ann.get("helm.sh/hook") == "pre-install,pre-upgrade"
                  and c["command"] == ["/usr/local/bin/alter", "migrate"]
                  and job["spec"]["template"]["spec"]["restartPolicy"] == "Never")
            cm_name = job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            hook_cms = [d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == cm_name]
            ok = ok and len(hook_cms) == 1 and "pre-install" in hook_cms[0]["metadata"]["annotations"]["helm.sh/hook"]
        r.check(ok, "the migrations Job is a pre-install,pre-upgrade hook running `alter migrate` with a hook ConfigMap")
        if jobs:
            problems = pod_problems(jobs[0]["spec"]["template"]["spec"])
            r.check(not problems, "the migrations Job's pod: security context, resources", "; ".join(problems))
    else:
        r.check(not jobs, "no migrations Job when migrations are disabled")

    # Alerts.
    rules = by_kind.get("PrometheusRule", [])
    if values["alerts"]["enabled"]:
        want = yaml.safe_load(ALERTS_CHART.read_text())["groups"]
        r.check(len(rules) == 1 and rules[0]["spec"]["groups"] == want,
                "the PrometheusRule's groups are files/prometheus-alerts.yaml's")


def check_dockerfile(r: Report) -> None:
    """deploy/Dockerfile builds and copies every binary the chart runs (read, not built:
    there is no Docker here)."""
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    packages = {}
    for manifest in (ROOT / "crates").glob("*/Cargo.toml"):
        cargo = tomllib.loads(manifest.read_text())
        for b in cargo.get("bin", []):
            packages[b["name"]] = cargo["package"]["name"]
    missing = []
    for binary in ["alter", *SERVICES]:
        package = packages.get(binary)
        if package is None:
            missing.append(f"{binary}: no crate has this binary")
        elif not re.search(rf"-p {re.escape(package)}(\s|$)", text):
            missing.append(f"{binary}: `-p {package}` not built")
        elif not re.search(rf"cp [^\n]*\b{re.escape(binary)}\b", text):
            missing.append(f"{binary}: not copied")
    r.check(not missing, f"deploy/Dockerfile builds and copies {', '.join(['alter', *SERVICES])}", "; ".join(missing))
    r.check(re.search(r"^USER 65532", text, re.M) is not None and "distroless" in text,
            "deploy/Dockerfile: distroless runtime, numeric non-root user")


def dump(path: str) -> None:
    """Writes what Helm renders for the chart's defaults and each ci/ values file to `path`
    (`scripts/helm-check.py --dump out.yaml`), to read it."""
    helm = Helm()
    with open(path, "w") as out:
        for f in [None, *sorted((CHART / "ci").glob("*-values.yaml"))]:
            out.write(f"# ---- {f.relative_to(ROOT) if f else 'default values'}\n")
            yaml.safe_dump_all(helm.render(yaml.safe_load(f.read_text()) if f else None), out, sort_keys=False)


def main() -> int:
    started = time.monotonic()
    r = Report()
    helm = Helm()
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    print("alerts")
    if ALERTS_CANONICAL.exists():
        r.check(ALERTS_CANONICAL.read_bytes() == ALERTS_CHART.read_bytes(),
                f"{ALERTS_CHART.relative_to(ROOT)} is byte-identical to {ALERTS_CANONICAL.relative_to(ROOT)}",
                f"copy it: cp {ALERTS_CANONICAL.relative_to(ROOT)} {ALERTS_CHART.relative_to(ROOT)}")
    else:
        print(f"  skip  {ALERTS_CANONICAL.relative_to(ROOT)} does not exist yet: nothing to compare")
    alerts = yaml.safe_load(ALERTS_CHART.read_text())
    r.check(isinstance(alerts, dict) and list(alerts) == ["groups"] and all(
        g.get("name") and g.get("rules") for g in alerts["groups"]),
        f"{ALERTS_CHART.relative_to(ROOT)} is a Prometheus rules file (groups with names and rules)")

    print("values")
    ports = {n: (s["port"], s["adminPort"]) for n, s in defaults["services"].items()}
    r.check(ports == SERVICES, "the default ports are those of docs/configuration.md", str(ports))

    print("image and NATS")
    check_dockerfile(r)
    nats = yaml.safe_load((ROOT / "deploy" / "nats-values.yaml").read_text())
    c = nats.get("config", {})
    r.check(c.get("cluster", {}).get("enabled") is True and c.get("cluster", {}).get("replicas") == 3
            and c.get("jetstream", {}).get("enabled") is True
            and c.get("jetstream", {}).get("fileStore", {}).get("enabled") is True,
            "deploy/nats-values.yaml: a three-node cluster with JetStream file storage")

    cases: list[tuple[str, dict | None]] = [("default values", None)]
    for f in sorted((CHART / "ci").glob("*-values.yaml")):
        cases.append((str(f.relative_to(ROOT)), yaml.safe_load(f.read_text())))
    for title, over in cases:
        print(title)
        lint = helm.lint(over)
        r.check(not lint, "helm lint (strict): no warnings or errors",
                "; ".join(f"severity {m['Severity']} in {m['Path']}" for m in lint))
        try:
            docs = helm.render(over)
        except helm_sdkpy.HelmError as e:
            r.check(False, "Helm renders and installs the chart", str(e))
            continue
        kinds = sorted({d["kind"] for d in docs})
        r.check(bool(docs), f"Helm renders and installs the chart: {len(docs)} objects ({', '.join(kinds)})")
        check_objects(r, docs, merge(defaults, over or {}))

    print("must fail")
    negatives = [
        ("a typo in values (services.jwt-verifier.replica)", {"services": {"jwt-verifier": {"replica": 5}}},
         "replica"),
        ("an unknown top-level key (ingres)", {"ingres": {"enabled": True}}, "ingres"),
        ("an unknown alter.toml key (config.jwt_verifier.leeway)", {"config": {"jwt_verifier": {"leeway": 30}}},
         "leeway"),
        ("sign-in enabled without config.public.signin_url", {"services": {"signin": {"enabled": True}}},
         "signin_url"),
    ]
    for what, over, needle in negatives:
        try:
            helm.render(over)
        except helm_sdkpy.HelmError as e:
            msg = str(e)
            r.check(needle in msg, f"{what} fails the install", f"failed, but without naming {needle!r}: {msg}")
            for line in msg.splitlines()[:4]:
                print(f"        helm: {line[:300]}")
        else:
            r.check(False, f"{what} fails the install", "Helm installed it")
        if needle != "signin_url":
            r.check(bool(helm.lint(over)), f"{what} fails helm lint")

    print(f"helm-check: {time.monotonic() - started:.1f} s")
    print(f"{r.passed} passed, {r.failed} failed")
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--dump":
            dump(sys.argv[2])
            sys.exit(0)
        sys.exit(main())
    finally:
        shutil.rmtree(_HELM_HOME, ignore_errors=True)
