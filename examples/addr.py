"""One address per thread, chosen in ``setup`` (wrk's scripts/addr.lua): spread the load over
several servers, or the addresses of one name, without a balancer in front.

    pyload -t4 -s examples/addr.py http://app.internal:8080/ 10.0.0.11 10.0.0.12:8081

The arguments after the URL are hosts, ``host`` or ``host:port`` (IPv4 or names; the port
defaults to the URL's); without any, every address the URL's host resolves to. Addresses that
do not accept a connection are left out (as wrk's ``wrk.connect``), and the threads take the
others in turn. The requests keep the URL's ``Host`` header.
"""

from pyload.hooks import Address, Thread, connect, lookup

addresses: list[Address] = []


def setup(thread: Thread) -> None:
    if not addresses:
        port = thread.addr.port  # before setup changes it: the URL's
        for arg in thread.args or [""]:  # "": the URL's host
            host, _, port_text = arg.partition(":")
            for address in lookup(host or None, int(port_text) if port_text else port):
                if address not in addresses and connect(address):
                    addresses.append(address)
        if not addresses:
            raise RuntimeError(f"no address accepts a connection: {thread.args}")
    thread.addr = addresses[thread.index % len(addresses)]
