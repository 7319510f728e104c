"""The ports the core needs from storage: a unit of work and its repositories, one module per
slice (imports */model.py only). Every port is importable from here."""

from brokerplane.core.ports.access import (
    ApiKeyRepository,
    CredentialWatch,
    LockoutRepository,
    ManagerRepository,
    ManagerTokenRepository,
    SecondFactorRepository,
)
from brokerplane.core.ports.accounts import AccountRepository, ExportRepository
from brokerplane.core.ports.audit import AuditLog
from brokerplane.core.ports.catalog import AttributeRepository, GroupRepository, SymbolRepository
from brokerplane.core.ports.events import EventRepository
from brokerplane.core.ports.ledger import ApprovalRepository, LedgerRepository, ThresholdRepository
from brokerplane.core.ports.trading import TradingRepository
from brokerplane.core.ports.uow import LaggingReads, UnitOfWork, UnitOfWorkFactory
from brokerplane.core.ports.users import BackofficeRepository, UserRepository

__all__ = [
    "AccountRepository",
    "ApiKeyRepository",
    "ApprovalRepository",
    "AttributeRepository",
    "AuditLog",
    "BackofficeRepository",
    "CredentialWatch",
    "EventRepository",
    "ExportRepository",
    "GroupRepository",
    "LaggingReads",
    "LedgerRepository",
    "LockoutRepository",
    "ManagerRepository",
    "ManagerTokenRepository",
    "SecondFactorRepository",
    "SymbolRepository",
    "ThresholdRepository",
    "TradingRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
]
