"""Jobs and their runs: system.lakeflow.jobs (SCD2), job_run_timeline and job_task_run_timeline.

A job's runs on a day are a pure function of (seed, job, day), so history and continuous mode
see the same runs: history writes the slices that ended before its end, continuous mode writes
each slice when its `period_end_time` passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from streaming_obs.sources.simulator.catalog import Job, Universe, cluster_id
from streaming_obs.sources.simulator.rand import day_start, floor_hour, sub_rng

__all__ = [
    "Run",
    "TaskRun",
    "runs_for_day",
    "runs_between",
    "hourly_slices",
    "job_row",
    "job_rename_events",
    "run_timeline_rows",
    "task_timeline_rows",
]

_FAILURES = [  # result_state, termination_code, termination_type, weight
    ("FAILED", "RUN_EXECUTION_ERROR", "CLIENT_ERROR", 60),
    ("ERROR", "CLUSTER_ERROR", "INTERNAL_ERROR", 15),
    ("TIMED_OUT", "RUN_EXECUTION_ERROR", "CLIENT_ERROR", 15),
    ("CANCELLED", "CANCELED", "SUCCESS", 10),
]


@dataclass(frozen=True)
class TaskRun:
    task_key: str
    run_id: str
    start: datetime
    end: datetime
    result_state: str
    termination_code: str


@dataclass(frozen=True)
class Run:
    job: Job
    run_id: str
    start: datetime
    end: datetime
    result_state: str
    termination_code: str
    termination_type: str
    cluster_id: str | None  # job cluster or all-purpose cluster; None on serverless
    setup_s: int
    queue_s: int
    run_type: str
    tasks: tuple[TaskRun, ...]

    @property
    def new_cluster(self) -> bool:
        """True when the run created its own job cluster."""
        return self.job.compute == "job_cluster"


def hourly_slices(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at every clock hour."""
    out = []
    s = start
    while s < end:
        e = min(end, floor_hour(s) + timedelta(hours=1))
        out.append((s, e))
        s = e
    return out


def _increasing_id(at: datetime, rng) -> str:
    """A 16-digit id that grows with `at` (milliseconds, then three random digits)."""
    return str(int(at.timestamp() * 1000) * 1000 + rng.randrange(1000))


def _run(uni: Universe, job: Job, day: datetime, k: int) -> Run:
    rng = sub_rng(uni.seed, "run", job.workspace_id, job.job_id, day.date().isoformat(), k)
    every = 86400 / job.runs_per_day
    start = day + timedelta(seconds=k * every + rng.uniform(0, min(900, every / 4)), milliseconds=rng.randrange(1000))
    minutes = max(0.5, rng.lognormvariate(0, 0.35) * job.median_minutes)
    state, code, ttype = "SUCCEEDED", "SUCCESS", "SUCCESS"
    if rng.random() < job.p_fail:
        state, code, ttype, _ = rng.choices(_FAILURES, weights=[f[3] for f in _FAILURES])[0]
        minutes = minutes * (2.0 if state == "TIMED_OUT" else rng.uniform(0.1, 1.0))
    end = start + timedelta(seconds=round(minutes * 60, 3))
    cluster = None
    if job.compute == "job_cluster":
        cluster = cluster_id(rng, start)
    elif job.compute == "all_purpose":
        cluster = job.ap_cluster_id
    # run ids grow with time, as Databricks assigns them (an increasing counter): files of silver
    # usage then hold narrow run id ranges, which Delta's min/max statistics skip on
    run_id = _increasing_id(start, rng)
    weights = [rng.uniform(0.5, 1.5) for _ in job.tasks]
    tasks, t = [], start
    for i, key in enumerate(job.tasks):
        last = i == len(job.tasks) - 1
        t_end = end if last else t + (end - start) * (weights[i] / sum(weights))
        tasks.append(TaskRun(key, _increasing_id(t, rng), t, t_end,
                             state if last else "SUCCEEDED", code if last else "SUCCESS"))
        t = t_end
    return Run(job, run_id, start, end, state, code, ttype, cluster,
               setup_s=rng.randint(30, 300) if job.compute == "job_cluster" else rng.randint(2, 20),
               queue_s=rng.choice([0, 0, 0, rng.randint(1, 120)]),
               run_type=rng.choices(["JOB_RUN", "SUBMIT_RUN", "WORKFLOW_RUN"], weights=[90, 5, 5])[0],
               tasks=tuple(tasks))


@lru_cache(maxsize=512)
def _day_runs(key: tuple, day: datetime) -> tuple[Run, ...]:
    uni = _UNIVERSES[key]
    return tuple(_run(uni, job, day, k) for job in uni.jobs for k in range(job.runs_per_day))


_UNIVERSES: dict[tuple, Universe] = {}


def runs_for_day(uni: Universe, day: datetime) -> tuple[Run, ...]:
    """Every run that starts on `day` (midnight UTC), all jobs."""
    _UNIVERSES[uni.key] = uni
    return _day_runs(uni.key, day_start(day))


def runs_between(uni: Universe, start: datetime, end: datetime) -> list[Run]:
    """Runs that start in [start, end)."""
    out: list[Run] = []
    day = day_start(start)
    while day < end:
        out.extend(r for r in runs_for_day(uni, day) if start <= r.start < end)
        day += timedelta(days=1)
    return out


def job_rename_events(uni: Universe, start: datetime, end: datetime, share: float = 0.1) -> dict[str, tuple[datetime, str]]:
    """Jobs renamed inside [start, end): {workspace/job_id: (change_time, new name)}; at least one."""
    if not uni.jobs or end <= start:
        return {}
    rng = sub_rng(uni.seed, "job-renames", start.isoformat(), end.isoformat())
    count = max(1, int(len(uni.jobs) * share))
    chosen = rng.sample(uni.jobs, min(count, len(uni.jobs)))
    span = (end - start).total_seconds()
    out = {}
    for job in chosen:
        t = start + timedelta(seconds=rng.uniform(0.05, 0.95) * span)
        out[job.workspace_id + "/" + job.job_id] = (t, f"{job.name}_v{rng.randint(2, 9)}")
    return out


def _trigger(job: Job) -> dict:
    if job.trigger_type == "CRON":
        return {"schedule": {"quartz_cron_expression": f"0 0 */{max(1, 24 // job.runs_per_day)} * * ?", "timezone_id": "UTC"}}
    if job.trigger_type == "PERIODIC":
        return {"periodic": {"interval": max(1, 24 // job.runs_per_day), "units": "HOURS"}}
    if job.trigger_type == "FILE_ARRIVAL":
        return {"file_arrival": {"url": f"s3://landing/{job.name}/", "min_time_between_triggers_seconds": 60,
                                 "wait_after_last_change_seconds": 60}}
    return {}


def job_row(uni: Universe, job: Job, change_time: datetime, name: str | None = None) -> dict:
    """One SCD2 row of system.lakeflow.jobs for `job` as of `change_time`."""
    return {
        "account_id": uni.account_id,
        "workspace_id": job.workspace_id,
        "job_id": job.job_id,
        "name": name or job.name,
        "description": f"Scheduled {job.name.split('_')[0]} pipeline" if len(job.tasks) > 1 else None,
        "creator_id": job.creator,
        "tags": dict(job.tags),
        "change_time": change_time,
        "delete_time": None,
        "run_as": job.run_as,
        "trigger": _trigger(job) or None,
        "trigger_type": job.trigger_type,
        "run_as_user_name": job.run_as,
        "creator_user_name": job.creator,
        "paused": False,
        "timeout_seconds": int(job.median_minutes * 60 * 4),
        "health_rules": [{"metric": "RUN_DURATION_SECONDS", "operator": "GREATER_THAN",
                          "value": int(job.median_minutes * 60 * 3)}] if job.median_minutes >= 45 else [],
        "deployment": {"kind": "BUNDLE", "metadata_file_path": f"/Workspace/bundles/{job.name}/metadata.json"}
        if job.tags.get("env") == "prod" else None,
        "create_time": job.create_time,
    }


def _compute(run: Run) -> list[dict]:
    if run.cluster_id:
        return [{"type": "CLUSTER", "cluster_id": run.cluster_id, "warehouse_id": None}]
    return [{"type": "SERVERLESS", "cluster_id": None, "warehouse_id": None}]


def run_timeline_rows(uni: Universe, runs: list[Run], lo: datetime | None, hi: datetime,
                      names: dict[str, tuple[datetime, str]] | None = None) -> list[dict]:
    """Hourly slices of the runs whose period_end_time is in (lo, hi] (lo None: no lower bound).

    result_state, termination_code and the durations are on the last slice only.
    """
    out = []
    for run in runs:
        slices = hourly_slices(run.start, run.end)
        job = run.job
        name = job.name
        renamed = (names or {}).get(job.workspace_id + "/" + job.job_id)
        if renamed and run.start >= renamed[0]:
            name = renamed[1]
        for i, (s, e) in enumerate(slices):
            if e > hi or (lo is not None and e <= lo):
                continue
            last = i == len(slices) - 1
            total = int((run.end - run.start).total_seconds())
            cleanup = min(30, total // 10)
            out.append({
                "account_id": uni.account_id,
                "workspace_id": job.workspace_id,
                "job_id": job.job_id,
                "run_id": run.run_id,
                "period_start_time": s,
                "period_end_time": e,
                "trigger_type": job.trigger_type,
                "run_type": run.run_type,
                "run_name": name,
                "compute_ids": [run.cluster_id] if run.cluster_id else [],
                "result_state": run.result_state if last else None,
                "termination_code": run.termination_code if last else None,
                "job_parameters": {"env": job.tags.get("env", "prod")} if job.tags else {},
                "source_task_run_id": None,
                "root_task_run_id": None,
                "compute": _compute(run),
                "termination_type": run.termination_type if last else None,
                "setup_duration_seconds": min(run.setup_s, total) if last else None,
                "queue_duration_seconds": run.queue_s if last else None,
                "run_duration_seconds": total if last else None,
                "cleanup_duration_seconds": cleanup if last else None,
                "execution_duration_seconds": max(0, total - min(run.setup_s, total) - cleanup) if last else None,
            })
    return out


def task_timeline_rows(uni: Universe, runs: list[Run], lo: datetime | None, hi: datetime) -> list[dict]:
    """Hourly slices of every task run, with period_end_time in (lo, hi]."""
    out = []
    for run in runs:
        for task in run.tasks:
            slices = hourly_slices(task.start, task.end)
            for i, (s, e) in enumerate(slices):
                if e > hi or (lo is not None and e <= lo):
                    continue
                last = i == len(slices) - 1
                out.append({
                    "account_id": uni.account_id,
                    "workspace_id": run.job.workspace_id,
                    "job_id": run.job.job_id,
                    "run_id": task.run_id,
                    "job_run_id": run.run_id,
                    "parent_run_id": run.run_id,
                    "period_start_time": s,
                    "period_end_time": e,
                    "task_key": task.task_key,
                    "compute_ids": [run.cluster_id] if run.cluster_id else [],
                    "result_state": task.result_state if last else None,
                    "termination_code": task.termination_code if last else None,
                })
    return out
