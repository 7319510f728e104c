"""Services: the front door of the application layer, composed of one part per core slice.

Each call runs one command or read of the core in one unit of work (application.base). The
parts live beside this module, one per slice: accounts, catalog (groups and symbols), money
(ledger and approvals), trading, access (managers, keys, tokens, console sign-in), users,
backoffice (TraderEvolution), events, reports (audit and reports); the sign-in lockout they
share is application.lockout. Bootstrap builds one Services; dialects, the CLI and the server
call it.
"""

from __future__ import annotations

from brokerplane.application.access import AccessServices
from brokerplane.application.accounts import AccountServices
from brokerplane.application.backoffice import BackofficeServices
from brokerplane.application.base import caller_of
from brokerplane.application.catalog import CatalogServices
from brokerplane.application.events import EventServices
from brokerplane.application.money import MoneyServices
from brokerplane.application.reports import ReportServices
from brokerplane.application.trading import TradingServices
from brokerplane.application.users import UserServices

__all__ = ["Services", "caller_of"]


class Services(
    AccountServices,
    CatalogServices,
    MoneyServices,
    TradingServices,
    AccessServices,
    UserServices,
    BackofficeServices,
    EventServices,
    ReportServices,
):
    """Every command and read of the core, each in one unit of work (see the module's
    docstring); built once by bootstrap with the storage's unit-of-work factory."""
