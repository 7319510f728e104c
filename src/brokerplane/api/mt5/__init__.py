"""The MT5 Web API dialect: a CRM written for MetaTrader 5 works against brokerplane."""
