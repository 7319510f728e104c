"""A Python client for brokerplane's native API, sync and async, on httpx.

    from brokerplane.client import Client

    with Client("http://127.0.0.1:8080", api_key) as bp:
        account = bp.accounts.open(group="demo-usd", leverage=100, name="Ada Lovelace")
        bp.money.deposit(account.login, "250.00", reference="crm-88213")
        for entry in bp.money.history(login=account.login):
            print(entry.kind, entry.amount, entry.balance)

It needs httpx and pydantic only (`pip install 'brokerplane[client]'`): nothing of the
server (tests and `lint-imports` keep it that way). Errors are exceptions carrying the
server's problem document (brokerplane.client.errors); writes carry an idempotency key and are
retried with it, so a retry after a lost answer never applies twice.
"""

from brokerplane.client._async import AsyncClient
from brokerplane.client._async_base import AsyncCsvExport
from brokerplane.client._http import Limits, Retry
from brokerplane.client._sync import Client
from brokerplane.client._sync_base import CsvExport
from brokerplane.client.errors import (
    AlreadyApplied,
    APIError,
    BrokerplaneError,
    Conflict,
    InvalidResponse,
    NotFound,
    PayloadTooLarge,
    PendingApproval,
    PermissionDenied,
    RateLimited,
    RequestInFlight,
    ResponseTooLarge,
    SecretNotReturned,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    ValidationError,
)
from brokerplane.client.models import (
    Account,
    ApiKey,
    Approval,
    AuditRecord,
    Event,
    EventPage,
    IssuedKey,
    LedgerEntry,
    Operation,
    Page,
    Problem,
    Profile,
    Threshold,
    Transfer,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)
from brokerplane.client.webhooks import WebhookBatch, parse_webhook, verify_signature

__all__ = [
    "APIError",
    "Account",
    "AlreadyApplied",
    "ApiKey",
    "Approval",
    "AsyncClient",
    "AsyncCsvExport",
    "AuditRecord",
    "BrokerplaneError",
    "Client",
    "Conflict",
    "CsvExport",
    "Event",
    "EventPage",
    "InvalidResponse",
    "IssuedKey",
    "LedgerEntry",
    "Limits",
    "NotFound",
    "Operation",
    "Page",
    "PayloadTooLarge",
    "PendingApproval",
    "PermissionDenied",
    "Problem",
    "Profile",
    "RateLimited",
    "RequestInFlight",
    "ResponseTooLarge",
    "Retry",
    "SecretNotReturned",
    "ServerError",
    "ServiceUnavailable",
    "Threshold",
    "Transfer",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "Webhook",
    "WebhookBatch",
    "WebhookDelivery",
    "WebhookTest",
    "parse_webhook",
    "verify_signature",
]
