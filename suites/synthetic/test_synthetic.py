"""The runbook's validation steps as synthetic checks.

Against the stack by default; against an existing deployment with
`make synthetic url=http://HOST:8080 [prometheus=URL] [alertmanager=URL]`.
"""

from __future__ import annotations

import allure
import pytest

from gameday import checks

pytestmark = pytest.mark.synthetic


@pytest.mark.parametrize("check", checks.CHECKS, ids=[c.name for c in checks.CHECKS])
def test_synthetic_check(endpoints, check: checks.Check) -> None:
    if not getattr(endpoints, check.needs):
        pytest.skip(f"no {check.needs} address given (--{check.needs}-url)")
    allure.dynamic.epic("Synthetic checks")
    allure.dynamic.story(check.name)
    saw = check.run(endpoints)
    allure.attach(saw, name="what the check saw", attachment_type=allure.attachment_type.TEXT)
