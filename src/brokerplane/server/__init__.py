"""The server `brokerplane serve` runs: its listeners (HTTP, HTTPS for MT5 Web API clients,
the MT5 TCP protocol), their signals, and the workers of `serve --workers N`.

run.py      serve(settings, ...): bind, open the runtime, build the app, then serve in this
            process or supervise N forked workers
listeners.py   binding the sockets, each listener's configuration, running them in one loop
protocol.py    the HTTP protocol: connection identity and the request-head deadline
tls.py         checking the TLS listener's certificate; writing a self-signed one
supervisor.py  the workers of `serve --workers N` and their supervisor

It knows nothing of the command line: cli/serve.py reads the flags and shows what happens;
this package calls back into it (see run.serve) and says why it cannot start with a
StartupError. Nothing heavy is imported here, so `brokerplane tls` loads only tls.py.
"""

from __future__ import annotations


class StartupError(Exception):
    """Why the server cannot start, in one line (the CLI shows it as an error, exit 2)."""
