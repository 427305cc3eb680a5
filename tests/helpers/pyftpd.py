"""Start a pyftpdlib server for ftpkit's interop tests.

Usage: /usr/bin/python3 pyftpd.py ROOT [--user U --password P] [--rate BYTES_PER_SEC] [--no-mlsd] [--no-rest]
Prints the chosen port on stdout (port 0 → the kernel picks one), then serves until killed.
Logs one line per finished transfer on stderr: "XFER <verb> <path> <bytes> <completed>".
"""
import argparse
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, DTPHandler, ThrottledDTPHandler
from pyftpdlib.servers import FTPServer

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("--user", default="user")
ap.add_argument("--password", default="secret")
ap.add_argument("--rate", type=int, default=0)
ap.add_argument("--no-mlsd", action="store_true")
ap.add_argument("--no-rest", action="store_true")
args = ap.parse_args()

logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

auth = DummyAuthorizer()
auth.add_user(args.user, args.password, args.root, perm="elradfmwMT")
auth.add_anonymous(args.root, perm="elr")


class Handler(FTPHandler):
    def log_transfer(self, cmd, filename, receive, completed, elapsed, bytes):
        sys.stderr.write("XFER %s %s %d %d\n" % (cmd, filename, bytes, 1 if completed else 0))
        sys.stderr.flush()


Handler.authorizer = auth
Handler.permit_foreign_addresses = False
Handler.passive_ports = None
dropped = (("MLSD", "MLST") if args.no_mlsd else ()) + (("REST",) if args.no_rest else ())
if dropped:
    # An unknown verb is answered "500 Command not understood", and FEAT stops offering it.
    Handler.proto_cmds = {k: v for k, v in FTPHandler.proto_cmds.items() if k not in dropped}
if args.rate:
    dtp = ThrottledDTPHandler
    dtp.read_limit = args.rate
    dtp.write_limit = args.rate
    Handler.dtp_handler = dtp
else:
    Handler.dtp_handler = DTPHandler

server = FTPServer(("127.0.0.1", 0), Handler)
sys.stdout.write("%d\n" % server.address[1])
sys.stdout.flush()
server.serve_forever(handle_exit=True)
