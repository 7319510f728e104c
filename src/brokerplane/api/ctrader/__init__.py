"""cTrader Web Services (`/v2/webserv/...`) served over the core."""
