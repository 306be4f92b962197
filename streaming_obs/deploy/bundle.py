"""Offline checks of the Databricks Asset Bundle (`databricks.yml` + `resources/*.yml`).

No workspace is reachable from a laptop or CI, so the bundle is checked against what it names:
the wheel it builds (package name, console-script entry point), the CLI it calls (subcommand and
options, parsed by the CLI's own parser without running it: the caller passes that parser in,
so this module never imports the CLI), the environment configs its targets
select (`conf/<target>.yaml`, real `system.*` sources in append/snapshot modes), and, when the
`databricks-bundles` package is installed, Databricks' own typed model of a job.
"""

from __future__ import annotations

import ast
import glob
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BUNDLE_FILE",
    "REQUIRED_TARGETS",
    "WheelTask",
    "find_bundle_root",
    "load_bundle",
    "target_jobs",
    "job_env_vars",
    "resolve",
    "wheel_tasks",
    "setup_metadata",
    "check_bundle",
]

BUNDLE_FILE = "databricks.yml"
REQUIRED_TARGETS = ("dev", "staging", "prod")
_REF = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


@dataclass(frozen=True)
class WheelTask:
    """One `python_wheel_task` of one job, with `${...}` resolved for one target."""

    target: str
    job: str
    task_key: str
    package_name: str
    entry_point: str
    parameters: tuple[str, ...]
    libraries: tuple[str, ...]
    source: Path


def find_bundle_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest directory at or above `start` (default: cwd) holding `databricks.yml`."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / BUNDLE_FILE).is_file():
            return d
    return None


def _merge(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def load_bundle(root: str | os.PathLike[str]) -> dict[str, Any]:
    """`databricks.yml` with its `include`d files merged in.

    Each job remembers the file it came from under the key ``__file__`` (library paths are
    relative to it).

    Raises:
        FileNotFoundError: no `databricks.yml` in `root`.
        ValueError: a file is not a YAML mapping, or an include pattern matches nothing.
    """
    root = Path(root)
    main = _read(root / BUNDLE_FILE)
    merged = dict(main)
    for pattern in main.get("include", []) or []:
        matches = sorted(glob.glob(str(root / pattern)))
        if not matches:
            raise ValueError(f"{BUNDLE_FILE}: include {pattern!r} matches no file")
        for path in matches:
            part = _read(Path(path))
            for job in ((part.get("resources") or {}).get("jobs") or {}).values():
                if isinstance(job, dict):
                    job["__file__"] = str(Path(path).resolve())
            merged = _merge(merged, part)
    for job in ((main.get("resources") or {}).get("jobs") or {}).values():
        if isinstance(job, dict):
            job.setdefault("__file__", str((root / BUNDLE_FILE).resolve()))
    return merged


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


#: Sequences Databricks merges by key when a target overrides a job (not replaced wholesale).
_KEYED_LISTS = {"job_clusters": "job_cluster_key", "tasks": "task_key"}


def _merge_job(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        key = _KEYED_LISTS.get(k)
        if key and isinstance(v, list) and isinstance(out.get(k), list):
            merged = {item.get(key): dict(item) for item in out[k]}
            for item in v:
                merged[item.get(key)] = _merge(merged.get(item.get(key), {}), item)
            out[k] = list(merged.values())
        elif isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge_job(out[k], v)
        else:
            out[k] = v
    return out


def target_jobs(bundle: Mapping[str, Any], target: str) -> dict[str, dict[str, Any]]:
    """The jobs of `target`: top-level jobs with `targets.<target>.resources.jobs` merged in.

    Job clusters and tasks merge by their key, as the Databricks CLI does, so a target can add
    one environment variable to one cluster without repeating the whole job.
    """
    jobs = {k: dict(v) for k, v in ((bundle.get("resources") or {}).get("jobs") or {}).items()}
    overrides = ((((bundle.get("targets") or {}).get(target) or {}).get("resources") or {}).get("jobs")) or {}
    for key, job in overrides.items():
        jobs[key] = _merge_job(jobs.get(key, {}), job or {})
    return jobs


def job_env_vars(bundle: Mapping[str, Any], target: str) -> set[str]:
    """Names of the `spark_env_vars` the job clusters of `target` set."""
    names: set[str] = set()
    for job in target_jobs(bundle, target).values():
        for jc in job.get("job_clusters") or []:
            names |= set(((jc.get("new_cluster") or {}).get("spark_env_vars") or {}))
    return names


def _variables(bundle: Mapping[str, Any], target: str) -> dict[str, Any]:
    values = {name: (spec or {}).get("default") for name, spec in (bundle.get("variables") or {}).items()}
    values.update(((bundle.get("targets") or {}).get(target) or {}).get("variables") or {})
    return values


def resolve(value: Any, bundle: Mapping[str, Any], target: str) -> Any:
    """`value` with ``${bundle.target}``, ``${bundle.name}`` and ``${var.<name>}`` substituted.

    Raises:
        KeyError: a reference names an undeclared variable or an unknown `bundle.` key.
    """
    if isinstance(value, dict):
        return {k: resolve(v, bundle, target) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, bundle, target) for v in value]
    if not isinstance(value, str):
        return value
    known = {"bundle.target": target, "bundle.name": (bundle.get("bundle") or {}).get("name")}
    known.update({f"var.{k}": v for k, v in _variables(bundle, target).items()})

    def _sub(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref in known:
            return str(known[ref])
        if ref.startswith(("var.", "bundle.")):
            raise KeyError(f"unknown reference ${{{ref}}}")
        return m.group(0)  # workspace.* and resources.* are the CLI's to resolve

    whole = _REF.fullmatch(value)
    if whole and whole.group(1) in known:
        return known[whole.group(1)]
    return _REF.sub(_sub, value)


def wheel_tasks(bundle: Mapping[str, Any], target: str) -> list[WheelTask]:
    """Every python_wheel_task of every job, resolved for `target`."""
    found = []
    for job_key, job in ((bundle.get("resources") or {}).get("jobs") or {}).items():
        for task in job.get("tasks") or []:
            wt = task.get("python_wheel_task")
            if not wt:
                continue
            wt = resolve(wt, bundle, target)
            libs = tuple(resolve(lib.get("whl", ""), bundle, target) for lib in task.get("libraries") or [] if "whl" in lib)
            found.append(
                WheelTask(
                    target=target,
                    job=job_key,
                    task_key=task.get("task_key", ""),
                    package_name=str(wt.get("package_name", "")),
                    entry_point=str(wt.get("entry_point", "")),
                    parameters=tuple(str(p) for p in wt.get("parameters") or []),
                    libraries=libs,
                    source=Path(job.get("__file__", BUNDLE_FILE)),
                )
            )
    return found


def setup_metadata(root: str | os.PathLike[str]) -> tuple[str, dict[str, str]]:
    """(distribution name, console scripts name → ``module:function``) read from `setup.py`.

    The file is parsed, not run.
    """
    tree = ast.parse(Path(root, "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "setup":
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            name = ast.literal_eval(kw["name"])
            scripts: dict[str, str] = {}
            if "entry_points" in kw:
                eps = ast.literal_eval(kw["entry_points"])
                for line in eps.get("console_scripts", []):
                    left, right = line.split("=", 1)
                    scripts[left.strip()] = right.strip()
            return name, scripts
    raise ValueError("setup.py has no setup(...) call")


def _env_problems(env: str, where: str) -> list[str]:
    from streaming_obs.config import load_settings
    from streaming_obs.errors import ConfigError

    try:
        settings = load_settings(env, environ={})
    except ConfigError as exc:
        return [f"{where}: --env {env}: {exc}"]
    problems = []
    if settings.source_kind != "system_tables":
        problems.append(f"{where}: conf/{env}.yaml reads source_kind {settings.source_kind!r}, not system_tables")
    for name, src in settings.sources.items():
        if not (src.table or "").startswith("system."):
            problems.append(f"{where}: conf/{env}.yaml source {name} is not a system.* table")
        if src.mode not in ("append", "snapshot"):
            problems.append(f"{where}: conf/{env}.yaml source {name} mode {src.mode!r} (system tables: append/snapshot)")
    if not settings.catalog or not settings.storage.use_metastore:
        problems.append(f"{where}: conf/{env}.yaml must use Unity Catalog (catalog + storage.use_metastore)")
    return problems


def _typed_job_problem(job: Mapping[str, Any]) -> str | None:
    try:
        from databricks.bundles.jobs import Job
    except ImportError:
        return None
    try:
        Job.from_dict({k: v for k, v in job.items() if k != "__file__"})  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError) as exc:
        return str(exc)
    return None


def check_bundle(
    root: str | os.PathLike[str],
    *,
    package_name: str | None = None,
    console_scripts: Mapping[str, str] | None = None,
    cli_check: Callable[[list[str]], str | None] | None = None,
) -> list[str]:
    """Every problem found in the bundle at `root`; an empty list means it is consistent.

    Args:
        root: the directory holding `databricks.yml` (and `setup.py`).
        package_name: the wheel's distribution name (default: from `setup.py`).
        console_scripts: the wheel's console scripts (default: from `setup.py`); pass the
            `entry_points.txt` of a built wheel to check the artifact itself.
        cli_check: parses a CLI argument list and returns a problem or None (the CLI's
            `deploy` passes one built from itself); None skips the CLI check.
    """
    root = Path(root)
    problems: list[str] = []
    try:
        bundle = load_bundle(root)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [str(exc)]
    setup_name, setup_scripts = setup_metadata(root)
    package_name = package_name or setup_name
    scripts = dict(setup_scripts if console_scripts is None else console_scripts)

    if not (bundle.get("bundle") or {}).get("name"):
        problems.append(f"{BUNDLE_FILE}: bundle.name is missing")
    artifacts = [a for a in (bundle.get("artifacts") or {}).values() if (a or {}).get("type") == "whl"]
    if not artifacts:
        problems.append(f"{BUNDLE_FILE}: no artifact of type whl")
    for art in artifacts:
        if not (root / art.get("path", ".") / "setup.py").is_file():
            problems.append(f"{BUNDLE_FILE}: whl artifact path {art.get('path')!r} has no setup.py")

    targets = bundle.get("targets") or {}
    for t in REQUIRED_TARGETS:
        if t not in targets:
            problems.append(f"{BUNDLE_FILE}: target {t!r} is missing")
    if sum(1 for t in targets.values() if (t or {}).get("default")) != 1:
        problems.append(f"{BUNDLE_FILE}: exactly one target must be the default")
    if (targets.get("prod") or {}).get("mode") != "production":
        problems.append(f"{BUNDLE_FILE}: target prod must use mode: production")

    jobs = (bundle.get("resources") or {}).get("jobs") or {}
    if not jobs:
        problems.append("no job in resources")
    for key, job in jobs.items():
        where = f"{Path(job.get('__file__', BUNDLE_FILE)).name}: job {key}"
        if (job.get("continuous") or {}).get("pause_status") != "UNPAUSED":
            problems.append(f"{where}: must be continuous with pause_status UNPAUSED")
        if job.get("schedule") or job.get("trigger"):
            problems.append(f"{where}: a continuous job takes no schedule or trigger")
        if job.get("max_concurrent_runs", 1) != 1:
            problems.append(f"{where}: max_concurrent_runs must be 1 (one writer per checkpoint)")
        problems.extend(_operations_problems(job, where))
        for target in targets:
            problems.extend(_salt_problems(bundle, target, f"{where} (target {target})"))
            try:
                resolved = resolve(target_jobs(bundle, target)[key], bundle, target)
            except KeyError as exc:
                problems.append(f"{where} (target {target}): {exc.args[0]}")
                continue
            typed = _typed_job_problem(resolved)
            if typed:
                problems.append(f"{where} (target {target}): not a valid Databricks job: {typed}")

    tasks_seen = 0
    for target in targets:
        try:
            tasks = wheel_tasks(bundle, target)
        except KeyError as exc:
            problems.append(f"target {target}: {exc.args[0]}")
            continue
        for task in tasks:
            tasks_seen += 1
            where = f"{task.source.name}: job {task.job} task {task.task_key} (target {target})"
            if task.package_name.replace("-", "_").lower() != package_name.replace("-", "_").lower():
                problems.append(f"{where}: package_name {task.package_name!r} is not the wheel {package_name!r}")
            if task.entry_point not in scripts:
                problems.append(f"{where}: entry_point {task.entry_point!r} is not a console script of the wheel {sorted(scripts)}")
            params = list(task.parameters)
            env = _option(params, "--env")
            if env is None:
                problems.append(f"{where}: parameters do not pass --env")
            elif env != target:
                problems.append(f"{where}: --env {env!r} but target {target!r} (targets map to conf/<target>.yaml)")
            else:
                problems.extend(_env_problems(env, where))
            if "--available-now" in params:
                problems.append(f"{where}: a continuous job must not pass --available-now")
            if cli_check is not None:
                msg = cli_check(params)
                if msg:
                    problems.append(f"{where}: the CLI rejects {params}: {msg}")
            if not task.libraries:
                problems.append(f"{where}: no whl library")
            for lib in task.libraries:
                lib_dir = (task.source.parent / lib).resolve().parent
                if lib_dir != (root / "dist").resolve():
                    problems.append(f"{where}: library {lib!r} is not the wheel built into dist/")
    if not tasks_seen:
        problems.append("no python_wheel_task in any job")
    return problems


#: Health rules every job carries (docs/deployment.md, "Health and notifications").
HEALTH_METRICS = ("STREAMING_BACKLOG_SECONDS", "RUN_DURATION_SECONDS")


def _operations_problems(job: Mapping[str, Any], where: str) -> list[str]:
    """A production job says when it is unhealthy, tells someone when it fails, and has owners."""
    problems = []
    metrics = {r.get("metric") for r in ((job.get("health") or {}).get("rules") or [])}
    for metric in HEALTH_METRICS:
        if metric not in metrics:
            problems.append(f"{where}: no health rule on {metric}")
    if "on_failure" not in (job.get("email_notifications") or {}) and "on_failure" not in (job.get("webhook_notifications") or {}):
        problems.append(f"{where}: no on_failure email or webhook notification")
    levels = {p.get("level") for p in job.get("permissions") or []}
    if "CAN_MANAGE" not in levels:
        problems.append(f"{where}: permissions grant nobody CAN_MANAGE")
    return problems


def _salt_problems(bundle: Mapping[str, Any], target: str, where: str) -> list[str]:
    """The salt secret is wired exactly where conf/<target>.yaml masks PII."""
    from streaming_obs.config import load_settings
    from streaming_obs.errors import ConfigError

    try:
        gov = load_settings(target, environ={}).governance
    except ConfigError:
        return []  # reported by the task checks (_env_problems)
    wired = gov.pii_salt_env in job_env_vars(bundle, target)
    if gov.mask_pii and not wired:
        return [f"{where}: conf/{target}.yaml masks PII but the job does not set ${gov.pii_salt_env} from a secret"]
    if wired and not gov.mask_pii:
        return [f"{where}: sets ${gov.pii_salt_env} although conf/{target}.yaml does not mask PII "
                "(a missing secret would keep the cluster from starting)"]
    return []


def _option(params: list[str], name: str) -> str | None:
    for i, p in enumerate(params):
        if p == name and i + 1 < len(params):
            return params[i + 1]
        if p.startswith(name + "="):
            return p.split("=", 1)[1]
    return None
