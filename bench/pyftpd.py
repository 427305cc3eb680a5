"""pyftpdlib for the benchmark, run by bench/run.ts with /usr/bin/python3.

usage: pyftpd.py HOST PORT USER PASSWORD HOME PASV_LO PASV_HI [CERTFILE KEYFILE]

With a certificate it serves TLS_FTPHandler (explicit AUTH TLS, optional); otherwise the default
FTPHandler (sendfile for downloads). Logging is reduced to warnings, like the other servers.
"""
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer


def main():
    host, port, user, password, home, lo, hi = sys.argv[1:8]
    tls = sys.argv[8:10]
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, home, perm="elradfmwMT")
    if tls:
        from pyftpdlib.handlers import TLS_FTPHandler
        handler = TLS_FTPHandler
        handler.certfile = tls[0]
        handler.keyfile = tls[1]
    else:
        handler = FTPHandler
    handler.authorizer = authorizer
    handler.passive_ports = range(int(lo), int(hi) + 1)
    handler.permit_foreign_addresses = False
    handler.timeout = 600
    config_logging(level=logging.WARNING)
    server = FTPServer((host, int(port)), handler)
    server.max_cons = 5000
    server.max_cons_per_ip = 5000
    print("pyftpdlib %s on %s:%s" % ("TLS" if tls else "plain", host, port), flush=True)
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
