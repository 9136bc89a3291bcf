"""The settings reference stays true: docs/settings.md is the generated text, and the deployment
files (docker compose, Kubernetes) only set variables some service actually reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pantau.cli import build_parser, cmd_settings
from pantau.settingsdoc import (
    collect_rows,
    load_settings_classes,
    render_markdown,
    service_modules,
    setting_names,
    unloadable_services,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "settings.md"
DEPLOY_FILES = sorted((ROOT / "deploy" / "compose").glob("*.yml")) + sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def test_docs_settings_md_is_the_generated_text() -> None:
    assert DOC.read_text() == render_markdown(), "docs/settings.md is stale: run `pantau settings > docs/settings.md`"


def test_every_service_and_setting_is_listed() -> None:
    rows = collect_rows()
    envs = [row.env for row in rows]
    assert len(envs) == len(set(envs))
    assert {"PANTAU_KAFKA_BOOTSTRAP", "PANTAU_EVIDENCE_DIR", "PANTAU_INGEST_PORT", "PANTAU_ARCHIVE_GROUP"} <= set(envs)
    evidence = next(row for row in rows if row.env == "PANTAU_EVIDENCE_DIR")
    assert evidence.services == ["camera-detectors", "console"]
    kafka = next(row for row in rows if row.env == "PANTAU_KAFKA_BOOTSTRAP")
    assert kafka.services == list(load_settings_classes())
    # The classes are the services' own, not the shared base.
    assert load_settings_classes()["console"].__module__ == "console.settings"
    assert load_settings_classes()["archiver"].__module__ == "archive.service"
    assert all(row.env.startswith("PANTAU_") and row.description for row in rows)


def test_every_deployable_has_a_settings_class() -> None:
    """Each service of `pantau run` (pantau.cli.SERVICE_MAINS) is in the table: its main module holds
    a ``Settings`` class."""
    assert set(load_settings_classes()) | set(unloadable_services()) == set(service_modules())
    assert not unloadable_services(), unloadable_services()


def test_cli_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["settings"])
    assert args.func is cmd_settings
    assert cmd_settings(args) == 0
    assert capsys.readouterr().out == render_markdown()


def _env_names_compose(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    blocks: list[tuple[str, Any]] = [(key, value) for key, value in doc.items() if key.startswith("x-")]
    blocks += [(f"services.{name}", svc.get("environment")) for name, svc in (doc.get("services") or {}).items()]
    for where, block in blocks:
        if isinstance(block, dict):
            names: list[str] = [str(k) for k in block]
        elif isinstance(block, list):
            names = [str(item).split("=", 1)[0] for item in block]
        else:
            continue
        for name in names:
            yield where, name


def _env_names_k8s(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    kind = doc.get("kind")
    name = (doc.get("metadata") or {}).get("name", "?")
    if kind in ("ConfigMap", "Secret") and (doc.get("metadata") or {}).get("labels", {}).get("pantau/env") == "true":
        for key in list(doc.get("data") or {}) + list(doc.get("stringData") or {}):
            yield f"{kind}/{name}", str(key)
    spec = doc.get("spec") or {}
    template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
    pod = template.get("spec") or {}
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for env in container.get("env") or []:
            yield f"{kind}/{name}", str(env["name"])


def test_deployment_files_set_only_real_settings() -> None:
    assert DEPLOY_FILES, "no deployment files found"
    known = setting_names()
    unknown: list[str] = []
    seen = 0
    for path in DEPLOY_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            names = _env_names_compose(doc) if "services" in doc or path.suffix == ".yml" else _env_names_k8s(doc)
            for where, name in names:
                if not name.startswith("PANTAU_"):
                    continue  # the broker's and the database's own variables
                seen += 1
                if name not in known:
                    unknown.append(f"{path.relative_to(ROOT)} {where}: {name}")
    assert seen > 0
    assert not unknown, "not a setting of any service:\n" + "\n".join(unknown)


def test_the_checker_catches_a_misspelt_variable() -> None:
    compose = {"services": {"x": {"environment": {"PANTAU_KAFKA_BOOTSTRAPS": "kafka:9092"}}}}
    names = [name for _, name in _env_names_compose(compose)]
    assert names == ["PANTAU_KAFKA_BOOTSTRAPS"] and names[0] not in setting_names()
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": [{"env": [{"name": "PANTAU_NOPE", "value": "1"}]}]}}},
    }
    assert [name for _, name in _env_names_k8s(deployment)] == ["PANTAU_NOPE"]
