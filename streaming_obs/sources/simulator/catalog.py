"""The entity universe of the simulated account: workspaces, people, SKUs and prices, jobs,
clusters, warehouses, DLT pipelines, serving endpoints and serverless notebooks.

Everything is drawn from `sub_rng(seed, ...)` keyed by the entity, so the universe depends only
on the seed and the sizes in `settings.simulator` — never on the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from streaming_obs.sources.simulator.rand import UTC, py_uuid, sub_rng

__all__ = [
    "CLOUD",
    "CURRENCY",
    "PRICE_ORIGIN",
    "Sku",
    "SKUS",
    "UNPRICED_SKU",
    "NODE_TYPES",
    "WAREHOUSE_DBU",
    "Job",
    "Cluster",
    "Warehouse",
    "Pipeline",
    "Endpoint",
    "Notebook",
    "Universe",
    "build_universe",
    "cluster_id",
]

CLOUD = "AWS"
CURRENCY = "USD"
#: Every SKU's first list price starts here (long before any simulated window).
PRICE_ORIGIN = datetime(2023, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sku:
    """A billable SKU and how usage of it looks."""

    name: str
    product: str  # billing_origin_product
    price: Decimal | None  # list price per unit; None: the SKU has no row in list_prices
    promo: Decimal | None = None  # promotional price, if any
    unit: str = "DBU"
    usage_type: str = "COMPUTE_TIME"
    serverless: bool = False


_SKU_LIST = [
    Sku("PREMIUM_JOBS_COMPUTE", "JOBS", Decimal("0.15")),
    Sku("PREMIUM_JOBS_COMPUTE_(PHOTON)", "JOBS", Decimal("0.15")),
    Sku("PREMIUM_ALL_PURPOSE_COMPUTE", "ALL_PURPOSE", Decimal("0.55")),
    Sku("PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)", "ALL_PURPOSE", Decimal("0.55")),
    Sku("PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST", "JOBS", Decimal("0.39"), Decimal("0.35"), serverless=True),
    Sku("PREMIUM_ALL_PURPOSE_SERVERLESS_COMPUTE_US_EAST", "INTERACTIVE", Decimal("0.75"), serverless=True),
    Sku("PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST", "SQL", Decimal("0.70"), serverless=True),
    Sku("PREMIUM_SQL_PRO_COMPUTE", "SQL", Decimal("0.55")),
    Sku("PREMIUM_SQL_COMPUTE", "SQL", Decimal("0.22")),
    Sku("PREMIUM_DLT_CORE_COMPUTE", "DLT", Decimal("0.20")),
    Sku("PREMIUM_DLT_PRO_COMPUTE", "DLT", Decimal("0.25")),
    Sku("PREMIUM_DLT_ADVANCED_COMPUTE", "DLT", Decimal("0.36")),
    Sku("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST", "MODEL_SERVING", Decimal("0.07"), serverless=True),
    # A newer product not (yet) in the price list: its usage has no price at all.
    Sku("PREMIUM_SERVERLESS_GPU_COMPUTE_US_EAST", "AI_RUNTIME", None, usage_type="GPU_TIME", serverless=True),
    # Listed but unused SKUs, as in a real price list.
    Sku("STANDARD_ALL_PURPOSE_COMPUTE", "ALL_PURPOSE", Decimal("0.40")),
    Sku("STANDARD_JOBS_COMPUTE", "JOBS", Decimal("0.10")),
    Sku("ENTERPRISE_ALL_PURPOSE_COMPUTE", "ALL_PURPOSE", Decimal("0.65")),
]
SKUS: dict[str, Sku] = {s.name: s for s in _SKU_LIST}
UNPRICED_SKU = "PREMIUM_SERVERLESS_GPU_COMPUTE_US_EAST"

#: AWS node types and their DBU rate per hour.
NODE_TYPES: dict[str, float] = {
    "m5d.large": 0.34,
    "m5d.xlarge": 0.69,
    "m5d.2xlarge": 1.37,
    "i3.xlarge": 1.0,
    "i3.2xlarge": 2.0,
    "r5d.2xlarge": 1.8,
    "c5d.4xlarge": 2.43,
}
WAREHOUSE_DBU: dict[str, float] = {"2X_SMALL": 4, "X_SMALL": 6, "SMALL": 12, "MEDIUM": 24, "LARGE": 40}

TEAMS = ["data-eng", "analytics", "ml", "platform", "finance-bi", "marketing"]
COST_CENTERS = ["CC-1001", "CC-1002", "CC-2040", "CC-3100", "CC-4200"]
PROJECTS = ["churn", "forecast", "ingest", "lakehouse", "reporting", "recsys", "fraud"]
_VERBS = ["load", "refresh", "score", "export", "build", "sync", "train", "compact", "audit"]
_NOUNS = ["orders", "customers", "events", "invoices", "clicks", "inventory", "features", "ledger"]


@dataclass
class Job:
    """A job and how it runs."""

    workspace_id: str
    job_id: str
    name: str
    creator: str
    run_as: str
    tags: dict[str, str]
    compute: str  # job_cluster | serverless | all_purpose
    ap_cluster_id: str | None
    node_type: str
    workers: int
    photon: bool
    runs_per_day: int
    median_minutes: float
    p_fail: float
    tasks: tuple[str, ...]
    create_time: datetime
    trigger_type: str

    @property
    def dbu_per_hour(self) -> float:
        return NODE_TYPES[self.node_type] * (1 + self.workers)


@dataclass
class Cluster:
    """An all-purpose (interactive) cluster."""

    workspace_id: str
    cluster_id: str
    name: str
    owner: str
    node_type: str
    workers: int
    autoscale: bool
    photon: bool
    tags: dict[str, str]
    create_time: datetime
    dbr: str
    source: str
    active_days: float  # share of days it is started
    day_hours: int  # typical hours per session

    @property
    def dbu_per_hour(self) -> float:
        return NODE_TYPES[self.node_type] * (1 + self.workers)


@dataclass
class Warehouse:
    """A SQL warehouse."""

    workspace_id: str
    warehouse_id: str
    name: str
    type: str  # CLASSIC | PRO | SERVERLESS
    size: str
    min_clusters: int
    max_clusters: int
    auto_stop: int
    tags: dict[str, str]
    create_time: datetime
    open_hour: int
    close_hour: int
    queries_per_hour: int

    @property
    def sku(self) -> str:
        return {
            "SERVERLESS": "PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST",
            "PRO": "PREMIUM_SQL_PRO_COMPUTE",
            "CLASSIC": "PREMIUM_SQL_COMPUTE",
        }[self.type]


@dataclass
class Pipeline:
    """A DLT pipeline (classic compute, billed by its DLT tier SKU)."""

    workspace_id: str
    pipeline_id: str
    name: str
    sku: str
    dbu_per_hour: float
    continuous: bool
    start_hour: int
    hours: int
    tags: dict[str, str]
    run_as: str


@dataclass
class Endpoint:
    """A model serving endpoint (serverless real-time inference)."""

    workspace_id: str
    endpoint_id: str
    name: str
    dbu_per_hour: float
    tags: dict[str, str]
    owner: str


@dataclass
class Notebook:
    """A notebook run on serverless interactive compute."""

    workspace_id: str
    notebook_id: str
    path: str
    owner: str


@dataclass
class Universe:
    """Everything that exists in the simulated account."""

    seed: int
    account_id: str
    metastore_id: str
    workspaces: list[str]
    users: list[str]
    service_principals: list[str]
    jobs: list[Job]
    clusters: list[Cluster]
    warehouses: list[Warehouse]
    pipelines: list[Pipeline]
    endpoints: list[Endpoint]
    notebooks: list[Notebook]
    tag_keys: tuple[str, ...] = ("team", "cost_center", "project")
    gpu_workspace: str = ""
    key: tuple = ()
    by_key: dict[tuple[str, str], object] = field(default_factory=dict)

    def job(self, workspace_id: str, job_id: str) -> Job:
        return self.by_key[("job", workspace_id + "/" + job_id)]  # type: ignore[return-value]


def _digits(rng, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


def cluster_id(rng, created: datetime) -> str:  # noqa: ANN001 - a random.Random
    """A cluster id shaped like Databricks' (``0312-104500-abcdefgh``), from its creation time."""
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    return f"{created:%m%d}-{created:%H%M%S}-{letters}"


def _tags(rng, tag_keys: tuple[str, ...], p_tagged: float = 0.65) -> dict[str, str]:
    """Entity tags: some untagged, some with part of the cost keys, plus unrelated keys."""
    tags: dict[str, str] = {}
    if rng.random() < p_tagged:
        pools = {"team": TEAMS, "cost_center": COST_CENTERS, "project": PROJECTS}
        for i, key in enumerate(tag_keys):
            if i == 0 or rng.random() < 0.7:
                tags[key] = rng.choice(pools.get(key, PROJECTS))
    if rng.random() < 0.5:
        tags["env"] = rng.choice(["prod", "prod", "staging", "dev"])
    return tags


def _created(rng, span_days: int = 400) -> datetime:
    return PRICE_ORIGIN + timedelta(days=rng.randrange(30, span_days), seconds=rng.randrange(86400))


def _jobs(seed: int, workspaces: list[str], n: int, people: list[str], clusters: list[Cluster], keys) -> list[Job]:
    out = []
    ap_by_ws: dict[str, list[Cluster]] = {}
    for c in clusters:
        ap_by_ws.setdefault(c.workspace_id, []).append(c)
    for i in range(n):
        rng = sub_rng(seed, "job", i)
        ws = workspaces[i % len(workspaces)] if i < len(workspaces) else rng.choice(workspaces)
        roll = rng.random()
        compute = "job_cluster" if roll < 0.6 else ("serverless" if roll < 0.85 else "all_purpose")
        ap = ap_by_ws.get(ws) or []
        if compute == "all_purpose" and not ap:
            compute = "job_cluster"
        if i == 0:
            compute = "all_purpose" if ap else compute  # every account has one job on interactive compute
        if i == 1:
            compute = "serverless"
        rpd = rng.choices([1, 2, 4, 6, 12, 24], weights=[40, 15, 15, 10, 10, 10])[0]
        median = rng.choices([3, 8, 15, 25, 45, 80, 150], weights=[15, 20, 20, 15, 12, 10, 8])[0]
        if rpd >= 12:
            median = min(median, 20)
        if i == 2:
            rpd, median = 2, 150  # at least one long (multi-slice) job in every account
        ap_cluster = rng.choice(ap) if compute == "all_purpose" else None
        creator = rng.choice(people)
        out.append(
            Job(
                workspace_id=ws,
                job_id=_digits(rng, 15),
                name=f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}_{i:03d}",
                creator=creator,
                run_as=creator if rng.random() < 0.6 else rng.choice(people),
                tags=_tags(rng, keys),
                compute=compute,
                ap_cluster_id=ap_cluster.cluster_id if ap_cluster else None,
                node_type=ap_cluster.node_type if ap_cluster else rng.choice(list(NODE_TYPES)),
                workers=ap_cluster.workers if ap_cluster else rng.randint(1, 4),
                photon=rng.random() < 0.3,
                runs_per_day=rpd,
                median_minutes=float(median),
                p_fail=rng.choice([0.02, 0.05, 0.1, 0.25]),
                tasks=tuple(f"task_{k}" for k in range(rng.randint(1, 3))),
                create_time=_created(rng),
                trigger_type=rng.choices(["CRON", "PERIODIC", "FILE_ARRIVAL", "ONETIME"], weights=[70, 15, 10, 5])[0],
            )
        )
    return out


def _clusters(seed: int, workspaces: list[str], n: int, people: list[str], keys) -> list[Cluster]:
    out = []
    for i in range(n):
        rng = sub_rng(seed, "cluster", i)
        created = _created(rng)
        owner = rng.choice(people)
        autoscale = rng.random() < 0.4
        out.append(
            Cluster(
                workspace_id=workspaces[i % len(workspaces)],
                cluster_id=cluster_id(rng, created),
                name=f"{owner.split('@')[0]}'s cluster" if rng.random() < 0.4 else f"shared-{rng.choice(TEAMS)}-{i:03d}",
                owner=owner,
                node_type=rng.choice(list(NODE_TYPES)),
                workers=rng.randint(1, 4),
                autoscale=autoscale,
                photon=rng.random() < 0.3,
                tags=_tags(rng, keys, 0.55),
                create_time=created,
                dbr=rng.choice(["14.3.x-scala2.12", "15.4.x-scala2.12", "16.4.x-scala2.13", "17.3.x-scala2.13"]),
                source=rng.choice(["UI", "UI", "API"]),
                active_days=1.0 if i == 0 else rng.choice([0.2, 0.5, 0.8, 1.0]),
                day_hours=rng.randint(1, 6),
            )
        )
    return out


def _warehouses(seed: int, workspaces: list[str], n: int, keys) -> list[Warehouse]:
    out = []
    for i in range(n):
        rng = sub_rng(seed, "warehouse", i)
        wtype = ["SERVERLESS", "PRO", "CLASSIC"][i % 3] if i < 3 else rng.choice(["SERVERLESS", "SERVERLESS", "PRO", "CLASSIC"])
        always = rng.random() < 0.2
        open_hour = 0 if always else rng.randint(6, 10)
        out.append(
            Warehouse(
                workspace_id=workspaces[i % len(workspaces)],
                warehouse_id=f"{rng.getrandbits(64):016x}",
                name=f"{rng.choice(['BI', 'Analysts', 'Dashboards', 'ETL', 'Adhoc'])} warehouse {i}",
                type=wtype,
                size=rng.choice(list(WAREHOUSE_DBU)[:4]),
                min_clusters=1,
                max_clusters=rng.choice([1, 2, 4]),
                auto_stop=rng.choice([5, 10, 30, 45]) if wtype != "CLASSIC" else 45,
                tags=_tags(rng, keys, 0.6),
                create_time=_created(rng),
                open_hour=open_hour,
                close_hour=24 if always else min(24, open_hour + rng.randint(6, 12)),
                queries_per_hour=rng.choice([2, 4, 8, 15]),
            )
        )
    return out


def build_universe(
    seed: int,
    *,
    workspaces: int,
    jobs: int,
    clusters: int,
    warehouses: int,
    tag_keys: tuple[str, ...] = ("team", "cost_center", "project"),
) -> Universe:
    """Build the universe for a seed and sizes (cached: it is pure)."""
    return _build(int(seed), int(workspaces), int(jobs), int(clusters), int(warehouses), tuple(tag_keys))


@lru_cache(maxsize=8)
def _build(seed: int, n_ws: int, n_jobs: int, n_clusters: int, n_wh: int, keys: tuple[str, ...]) -> Universe:
    rng = sub_rng(seed, "account")
    account_id = py_uuid(rng)
    ws_ids = sorted({_digits(sub_rng(seed, "ws", i), 16) for i in range(n_ws)})
    domain = "example.com"
    first = ["ana", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena", "mo", "nia"]
    n_users = max(8, min(200, n_jobs // 4 + n_ws * 3))
    users = [f"{first[i % len(first)]}.{i:03d}@{domain}" for i in range(n_users)]
    sps = [py_uuid(sub_rng(seed, "sp", i)) for i in range(max(2, n_ws))]
    people = users + sps
    aps = _clusters(seed, ws_ids, n_clusters, users, keys)
    job_list = _jobs(seed, ws_ids, n_jobs, people, aps, keys)
    whs = _warehouses(seed, ws_ids, n_wh, keys)
    pipes = []
    for i in range(max(1, n_jobs // 25)):
        r = sub_rng(seed, "pipeline", i)
        cont = r.random() < 0.25
        pipes.append(
            Pipeline(
                workspace_id=ws_ids[i % n_ws],
                pipeline_id=py_uuid(r),
                name=f"dlt_{r.choice(_NOUNS)}_{i:02d}",
                sku=r.choice(["PREMIUM_DLT_CORE_COMPUTE", "PREMIUM_DLT_PRO_COMPUTE", "PREMIUM_DLT_ADVANCED_COMPUTE"]),
                dbu_per_hour=round(r.uniform(2, 12), 2),
                continuous=cont,
                start_hour=0 if cont else r.randint(0, 20),
                hours=24 if cont else r.randint(1, 3),
                tags=_tags(r, keys),
                run_as=r.choice(people),
            )
        )
    endpoints = []
    for i in range(max(1, n_ws // 2)):
        r = sub_rng(seed, "endpoint", i)
        endpoints.append(
            Endpoint(ws_ids[i % n_ws], f"{r.getrandbits(128):032x}", f"{r.choice(_NOUNS)}-model-{i}",
                     round(r.uniform(1, 6), 2), _tags(r, keys), r.choice(users))
        )
    notebooks = []
    for i in range(n_ws * 2):
        r = sub_rng(seed, "notebook", i)
        owner = r.choice(users)
        notebooks.append(Notebook(ws_ids[i % n_ws], _digits(r, 16), f"/Users/{owner}/explore_{i}", owner))
    uni = Universe(
        seed=seed,
        account_id=account_id,
        metastore_id=py_uuid(sub_rng(seed, "metastore")),
        workspaces=ws_ids,
        users=users,
        service_principals=sps,
        jobs=job_list,
        clusters=aps,
        warehouses=whs,
        pipelines=pipes,
        endpoints=endpoints,
        notebooks=notebooks,
        tag_keys=keys,
        gpu_workspace=ws_ids[0],
        key=(seed, n_ws, n_jobs, n_clusters, n_wh, keys),
    )
    for j in job_list:
        uni.by_key[("job", j.workspace_id + "/" + j.job_id)] = j
    for c in aps:
        uni.by_key[("cluster", c.cluster_id)] = c
    return uni
