"""Who a client is, for per-client limits: the IPv4 address, or the /64 an IPv6 host holds (one
subscriber line gets a whole /64, so counting single IPv6 addresses would count nothing). The
address itself comes from ``mailer.web.clients.client_address``, which decides whose
``X-Forwarded-For`` counts."""

from __future__ import annotations

import ipaddress


def client_key(host: str) -> str:
    """What the per-client limit counts: the IPv4 address, or the /64 an IPv6 host holds."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
