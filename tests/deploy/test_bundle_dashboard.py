"""The Databricks AI/BI dashboard (resources/streaming_obs_cost.lvdash.json), checked offline: the
bundle ships it, its JSON has the Lakeview shape, and every dataset query names only gold tables
and columns of sql/ddl/tables.yaml."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from streaming_obs.deploy.bundle import REQUIRED_TARGETS, load_bundle

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_FILE = ROOT / "resources" / "streaming_obs_cost.lvdash.json"
DASHBOARD = json.loads(DASHBOARD_FILE.read_text())
GRID_COLUMNS = 6
WIDGET_TYPES = {"bar": 3, "line": 3, "counter": 2, "table": 1}
# SQL words and functions the queries may use besides table and column names.
SQL_WORDS = {
    "select", "from", "where", "group", "by", "and", "or", "not", "is", "null", "as", "case", "when",
    "then", "else", "end", "sum", "max", "min", "avg", "count", "least", "greatest", "trunc",
    "current_date", "date_sub", "nullif", "coalesce", "order", "desc", "asc", "limit", "mm",
}


def gold_tables() -> dict[str, set[str]]:
    """{gold table: its columns} from sql/ddl/tables.yaml."""
    gold = yaml.safe_load((ROOT / "sql" / "ddl" / "tables.yaml").read_text())["gold"]
    return {
        name: {col.strip().split()[0] for col in spec["columns"].split(",")} for name, spec in gold.items()
    }


def _sql(dataset: dict) -> str:
    return "".join(dataset["queryLines"])


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def output_columns(sql: str) -> set[str]:
    """Names a query's SELECT list yields (the alias, or the bare column)."""
    select = re.search(r"select\s+(.*?)\s+from\s", sql, re.I | re.S).group(1)
    out = set()
    for item in _split_top_level(select):
        item = item.strip()
        alias = re.search(r"\bas\s+(\w+)$", item, re.I)
        out.add(alias.group(1) if alias else item)
    return out


def query_problems(dataset: dict, tables: dict[str, set[str]]) -> list[str]:
    """Why a dataset's SQL is not a query over gold tables and columns only ([] when it is)."""
    sql = _sql(dataset)
    name = dataset["name"]
    used = re.findall(r"\b(?:from|join)\s+([\w.`]+)", sql, re.I)
    problems = [f"{name}: {t} is not a gold table" for t in used if t not in tables]
    if not used:
        problems.append(f"{name}: no FROM")
    columns = set().union(*(tables.get(t, set()) for t in used))
    aliases = set(re.findall(r"\bas\s+(\w+)", sql, re.I))
    without_strings = re.sub(r"'[^']*'", "''", sql)
    for word in re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", without_strings):
        if word.lower() in SQL_WORDS or word in used or word in aliases or word in columns:
            continue
        problems.append(f"{name}: {word} is not a column of {', '.join(used)}")
    return problems


def shape_problems(dash: dict) -> list[str]:
    """Why `dash` is not a well-formed Lakeview dashboard whose widgets read existing fields."""
    problems = []
    if set(dash) != {"datasets", "pages", "uiSettings"}:
        problems.append(f"top-level keys {sorted(dash)}")
    datasets = {}
    for ds in dash.get("datasets", []):
        if set(ds) != {"name", "displayName", "queryLines"} or not all(isinstance(x, str) for x in ds["queryLines"]):
            problems.append(f"dataset {ds.get('name')}: bad shape")
        datasets[ds["name"]] = output_columns(_sql(ds))
    if len(datasets) != len(dash.get("datasets", [])):
        problems.append("dataset names are not unique")
    widget_names = []
    for page in dash.get("pages", []):
        if not {"name", "displayName", "pageType", "layout"} <= set(page):
            problems.append(f"page {page.get('name')}: bad shape")
        for item in page.get("layout", []):
            pos, widget = item["position"], item["widget"]
            widget_names.append(widget["name"])
            if not all(isinstance(pos.get(k), int) for k in ("x", "y", "width", "height")):
                problems.append(f"{widget['name']}: bad position")
            elif pos["x"] < 0 or pos["x"] + pos["width"] > GRID_COLUMNS:
                problems.append(f"{widget['name']}: outside the {GRID_COLUMNS}-column grid")
            if "multilineTextboxSpec" in widget:
                continue
            spec = widget["spec"]
            if WIDGET_TYPES.get(spec["widgetType"]) != spec["version"]:
                problems.append(f"{widget['name']}: {spec['widgetType']} v{spec['version']}")
            fields = set()
            for q in widget["queries"]:
                cols = datasets.get(q["query"]["datasetName"])
                if cols is None:
                    problems.append(f"{widget['name']}: unknown dataset {q['query']['datasetName']}")
                    continue
                for f in q["query"]["fields"]:
                    fields.add(f["name"])
                    for col in re.findall(r"`(\w+)`", f["expression"]):
                        if col not in cols:
                            problems.append(f"{widget['name']}: {col} is not a column of {q['query']['datasetName']}")
            enc = spec["encodings"]
            named = [e["fieldName"] for e in enc.get("columns", [])] + [
                e["fieldName"] for k, e in enc.items() if k != "columns"
            ]
            problems += [f"{widget['name']}: encodes unknown field {n}" for n in named if n not in fields]
    if len(set(widget_names)) != len(widget_names):
        problems.append("widget names are not unique")
    return problems


def test_the_bundle_ships_the_dashboard():
    bundle = load_bundle(ROOT)
    dash = bundle["resources"]["dashboards"]["streaming_obs_cost"]
    assert (ROOT / "resources" / dash["file_path"]).resolve() == DASHBOARD_FILE
    assert dash["warehouse_id"] == "${var.warehouse_id}" and "warehouse_id" in bundle["variables"]
    assert dash["embed_credentials"] is False
    base = yaml.safe_load((ROOT / "conf" / "base.yaml").read_text())
    assert dash["dataset_schema"] == base["schemas"]["gold"]
    for target in REQUIRED_TARGETS:
        conf = yaml.safe_load((ROOT / "conf" / f"{target}.yaml").read_text())
        assert dash["dataset_catalog"].replace("${bundle.target}", target) == conf["catalog"]


def test_the_dashboard_has_the_lakeview_shape():
    assert shape_problems(DASHBOARD) == []


def test_every_query_names_only_gold_tables_and_columns():
    tables = gold_tables()
    for ds in DASHBOARD["datasets"]:
        assert query_problems(ds, tables) == []
        # unqualified names: dataset_catalog / dataset_schema of the bundle choose the target's gold
        assert "." not in " ".join(re.findall(r"\bfrom\s+(\S+)", _sql(ds), re.I))


def test_the_dashboard_covers_cost_runs_and_queries():
    by_name = {ds["name"]: _sql(ds) for ds in DASHBOARD["datasets"]}
    for name, table in (
        ("cost_by_workspace", "cost_daily"),
        ("cost_by_team", "cost_by_tag_daily"),
        ("cost_by_job", "cost_by_job_daily"),
        ("cost_by_compute", "cost_by_compute_daily"),
    ):
        sql = by_name[name]
        assert f"FROM {table}" in sql
        assert {"mtd_list_cost", "last_30d_list_cost", "currency_code"} <= output_columns(sql)
        assert "trunc(current_date(), 'MM')" in sql and "date_sub(current_date(), 29)" in sql
        # money is never added across currencies
        assert re.search(r"GROUP BY .*currency_code", sql) and "currency_code IS NOT NULL" in sql
    assert "tag_key = 'team'" in by_name["cost_by_team"]
    assert "FROM job_run_daily" in by_name["run_health"] and "FROM query_daily" in by_name["query_health"]
    pages = {p["name"] for p in DASHBOARD["pages"]}
    assert pages == {"cost", "health"}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["datasets"][0]["queryLines"].__setitem__(0, "SELECT workspace_id, price_usd,\n"), "price_usd"),
        (lambda d: d["datasets"][0]["queryLines"].__setitem__(3, "FROM system.billing.usage\n"), "not a gold table"),
    ],
)
def test_the_query_check_catches_non_gold_sql(mutate, needle):
    dash = copy.deepcopy(DASHBOARD)
    mutate(dash)
    problems = query_problems(dash["datasets"][0], gold_tables())
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["pages"][0]["layout"][1]["position"].update(x=5), "outside"),
        (lambda d: d["pages"][0]["layout"][1]["widget"]["queries"][0]["query"].update(datasetName="x"), "unknown dataset"),
        (lambda d: d["pages"][0]["layout"][1]["widget"]["spec"]["encodings"]["x"].update(fieldName="nope"), "unknown field"),
        (lambda d: d["pages"][0]["layout"][1]["widget"]["spec"].update(version=9), "bar v9"),
    ],
)
def test_the_shape_check_catches_broken_widgets(mutate, needle):
    dash = copy.deepcopy(DASHBOARD)
    mutate(dash)
    assert any(needle in p for p in shape_problems(dash))
