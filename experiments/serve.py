"""Where `cloudmarket viz` serves: a host that is safe to bind and a port that is free, checked first.

The page runs models on request, so it is served on loopback unless asked otherwise: an
empty host (which would bind every interface) is refused, any host that is not loopback
gets a warning, and the port is tried before "serving on" is printed. URLs put IPv6
addresses in brackets.

Example
-------
>>> url("127.0.0.1", 8765), url("::1", 8765)
('http://127.0.0.1:8765/', 'http://[::1]:8765/')
>>> is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, False)
>>> check_host("")
Traceback (most recent call last):
...
cloudmarket.experiments.serve.AddressError: --host = '': empty; give an address such as 127.0.0.1 (an empty host would listen on every interface)
"""

from __future__ import annotations

import errno
import ipaddress
import socket


class AddressError(ValueError):
    """A host or port the page cannot be served on: names the flag, the value and why."""


def check_host(host: str) -> list[tuple]:
    """The socket addresses ``host`` resolves to; AddressError if it is empty or unknown."""
    if not host.strip():
        raise AddressError(f"--host = {host!r}: empty; give an address such as 127.0.0.1 "
                           "(an empty host would listen on every interface)")
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise AddressError(f"--host = {host!r}: not an address of this machine ({err}); "
                           "use 127.0.0.1 to serve this machine only") from None


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_local_address(host: str) -> None:
    """AddressError when ``host`` is not an address of this machine (checked before any warning about it)."""
    check_port(host, 0)  # port 0: any free port, so only the address itself can fail


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once and let go: AddressError if it is in use or not allowed."""
    family, _, _, _, address = check_host(host)[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            s.bind((address[0], port, *address[2:]))
        except OSError as err:
            raise AddressError(_bind_failure(host, port, err)) from None


def _bind_failure(host: str, port: int, err: OSError) -> str:
    """Why ``host:port`` cannot be listened on, blaming the flag that is wrong.

    >>> _bind_failure("8.8.8.8", 8765, OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"))
    "--host = '8.8.8.8': not an address of this machine (Cannot assign requested address); use 127.0.0.1, or an address this machine has"
    """
    why = err.strerror or str(err)
    if err.errno == errno.EADDRNOTAVAIL:
        return (f"--host = {host!r}: not an address of this machine ({why}); use 127.0.0.1, "
                "or an address this machine has")
    if err.errno == errno.EADDRINUSE:
        return f"--port = {port}: in use on {host} ({why}); is another server running there? choose another --port"
    if err.errno == errno.EACCES:
        return f"--port = {port}: not allowed on {host} ({why}; ports below 1024 need root); choose a port >= 1024"
    return f"--host = {host!r} --port = {port}: cannot listen there ({why})"


def url(host: str, port: int) -> str:
    """The page's URL, IPv6 addresses in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"
