"""The audit trail and the back office's reports: queries, chain verification, report runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brokerplane.application.base import LazySlice, ServiceBase
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.ports import UnitOfWork

if TYPE_CHECKING:
    from brokerplane.core.audit import service as audit
    from brokerplane.core.backoffice import reports as bo_reports
else:
    audit = LazySlice("brokerplane.core.audit.service")
    bo_reports = LazySlice("brokerplane.core.backoffice.reports")


class ReportServices(ServiceBase):
    """Audit queries and verification, and the back office's report catalogue."""

    def query_audit(self, query: AuditQuery, actor: Actor) -> list[AuditRecord]:
        return self._listing(audit.query_audit, query, actor)

    def verify_audit(self, pin: tuple[int, str] | None = None) -> audit.ChainReport:
        """Re-hash the chain under the audit keys; with `pin` (a checkpoint's record id and
        hash), the chain must still hold that record unchanged."""

        def verify(u: UnitOfWork) -> audit.ChainReport:
            head = u.audit.head()  # first: records committed after it are not judged
            return audit.verify_chain(u.audit.iter_all(), head, self.config.audit_keys, pin)

        return self._read(verify)

    def chain_statement(self) -> tuple[audit.ChainReport, dict[str, dict[str, int]]]:
        """The verified chain's head and the ledger's totals, read in one snapshot (what a
        checkpoint states)."""

        def read(u: UnitOfWork) -> tuple[audit.ChainReport, dict[str, dict[str, int]]]:
            head = u.audit.head()
            report = audit.verify_chain(u.audit.iter_all(), head, self.config.audit_keys)
            return report, u.ledger.totals()

        return self._read(read)

    def report_catalogue(self, actor: Actor) -> list[bo_reports.ReportSpec]:
        return bo_reports.catalogue(actor)

    def run_report(self, cmd: bo_reports.RunReport, actor: Actor) -> bo_reports.ReportTable:
        now = self.clock()
        return self._lagging_read(lambda u: bo_reports.run_report(u, cmd, actor, now), actor)
