"""The incident runbook's curl commands work against the real server."""

import glob
import json
import os
import subprocess
import tempfile
from pathlib import Path

from harness import ADMIN_PASSWORD, RotatorTestCase

RUNBOOK_SH = Path(__file__).resolve().parent / "runbook.sh"


class RunbookTest(RotatorTestCase):

    def test_runbook_commands_work_verbatim(self):
        """On-call staff can follow the runbook word for word (P2, P1, P0)."""
        p2_user = self.new_user()
        p1_users = [self.new_user() for _ in range(3)]
        bystander = self.new_user()

        with tempfile.TemporaryDirectory(prefix="rotator-runbook-") as work:
            Path(work, "compromised_users.txt").write_text(
                "".join(f"{u.id}\n" for u in p1_users))
            env = {**os.environ, "BASE_URL": self.server.base_url,
                   "ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_ID": p2_user.id}
            run = subprocess.run(["bash", str(RUNBOOK_SH)], cwd=work,
                                 env=env, capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(run.returncode, 0,
                             f"\n{run.stdout}\n{run.stderr}")

            reports = glob.glob(f"{work}/incident_*_global_rotation.json")
            self.assertEqual(len(reports), 1, "P0 saves its response")
            with open(reports[0]) as report:
                self.assertEqual(json.load(report)["rotation_type"],
                                 "GLOBAL")

        for user in [p2_user, *p1_users]:
            self.assertAccessRefused(user.access, "rotated by the runbook")
        # The P0 rotation had a 15-minute grace window: others still work.
        self.assertAccessWorks(bystander.access, "inside the P0 window")
