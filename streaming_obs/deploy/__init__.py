"""Deployment: the spark-submit driver, Databricks bundle checks, deploy plans, Unity Catalog
governance and PII masking in silver.

The CLI's `deploy` and `govern` commands are thin wrappers of `deploy_plan` and `govern`;
`mask_pii` is called by the silver flow when ``governance.mask_pii`` is on.
"""

from streaming_obs.deploy.bundle import check_bundle
from streaming_obs.deploy.governance import govern, governance_statements
from streaming_obs.deploy.masking import mask_pii
from streaming_obs.deploy.plan import Check, Plan, deploy_plan

__all__ = ["Check", "Plan", "check_bundle", "deploy_plan", "govern", "governance_statements", "mask_pii"]
