"""Start a pyftpdlib server for ftpkit's interop tests.

Usage: /usr/bin/python3 pyftpd.py ROOT [--user U --password P] [--rate BYTES_PER_SEC] [--no-mlsd] [--no-rest] [--no-size]
                                   [--tls CERT [--tls-key KEY] [--break-data-tls N] [--cut-data-tls BYTES]]
Prints the chosen port on stdout (port 0 → the kernel picks one), then serves until killed.
Logs one line per finished transfer on stderr: "XFER <verb> <path> <bytes> <completed>".
--tls: explicit FTPS (TLS_FTPHandler, needs python3-openssl), TLS required on control and data.
--break-data-tls N: the first N data connections fail their TLS handshake (the server offers them
only TLS 1.0, which the client refuses); pyftpdlib then answers 522, as it does for any such failure.
--cut-data-tls BYTES: a RETR sends at most BYTES bytes of the file, then ends its data connection with
a bare TCP FIN, no TLS close_notify (what a FIN forged on the path looks like to the client), and 226.
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
ap.add_argument("--no-size", action="store_true")
ap.add_argument("--tls", metavar="PEM", help="certificate and key (one file, or --tls-key)")
ap.add_argument("--tls-key", metavar="PEM")
ap.add_argument("--break-data-tls", type=int, default=0, metavar="N")
ap.add_argument("--cut-data-tls", type=int, default=None, metavar="BYTES")
args = ap.parse_args()
if args.tls and args.rate:
    ap.error("--rate and --tls together are not supported (the throttled DTP handler is plain)")
if args.break_data_tls and not args.tls:
    ap.error("--break-data-tls needs --tls")
if args.cut_data_tls is not None and not args.tls:
    ap.error("--cut-data-tls needs --tls")

logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

auth = DummyAuthorizer()
auth.add_user(args.user, args.password, args.root, perm="elradfmwMT")
auth.add_anonymous(args.root, perm="elr")


if args.tls:
    # Imported only here: TLS_FTPHandler exists only when pyOpenSSL (python3-openssl) is installed.
    from pyftpdlib.handlers import TLS_FTPHandler, TLS_DTPHandler

    Base, BaseDTP = TLS_FTPHandler, TLS_DTPHandler
else:
    Base, BaseDTP = FTPHandler, DTPHandler


class Handler(Base):
    def log_transfer(self, cmd, filename, receive, completed, elapsed, bytes):
        sys.stderr.write("XFER %s %s %d %d\n" % (cmd, filename, bytes, 1 if completed else 0))
        sys.stderr.flush()


Handler.authorizer = auth
Handler.permit_foreign_addresses = False
Handler.passive_ports = None
dropped = (("MLSD", "MLST") if args.no_mlsd else ()) + (("REST",) if args.no_rest else ()) + (("SIZE",) if args.no_size else ())
if dropped:
    # An unknown verb is answered "500 Command not understood", and FEAT stops offering it.
    Handler.proto_cmds = {k: v for k, v in Base.proto_cmds.items() if k not in dropped}
if args.break_data_tls:
    from OpenSSL import SSL

    class BrokenTLS_DTPHandler(BaseDTP):
        broken_left = args.break_data_tls

        def secure_connection(self, ssl_context):
            cls = BrokenTLS_DTPHandler
            if cls.broken_left > 0:
                cls.broken_left -= 1
                old = SSL.Context(SSL.TLS_METHOD)
                old.use_certificate_chain_file(args.tls)
                old.use_privatekey_file(args.tls_key or args.tls)
                old.set_max_proto_version(SSL.TLS1_VERSION)
                ssl_context = old
            super().secure_connection(ssl_context)

    BaseDTP = BrokenTLS_DTPHandler
if args.cut_data_tls is not None:
    import io
    from pyftpdlib.filesystems import AbstractedFS

    class CutFS(AbstractedFS):
        def open(self, filename, mode):
            f = super().open(filename, mode)
            if "r" not in mode:
                return f
            with f:
                cut = io.BytesIO(f.read(args.cut_data_tls))
            cut.name = filename
            return cut

    class CutTLS_DTPHandler(BaseDTP):
        def close(self):
            # A download ends without SSL_shutdown: no close_notify, only the socket's FIN.
            if not self.receive:
                self._ssl_established = False
            super().close()

    Handler.abstracted_fs = CutFS
    Handler.use_sendfile = False
    BaseDTP = CutTLS_DTPHandler
if args.tls:
    Handler.certfile = args.tls
    Handler.keyfile = args.tls_key
    Handler.tls_control_required = True
    Handler.tls_data_required = True
if args.rate:
    dtp = ThrottledDTPHandler
    dtp.read_limit = args.rate
    dtp.write_limit = args.rate
    Handler.dtp_handler = dtp
else:
    Handler.dtp_handler = BaseDTP

server = FTPServer(("127.0.0.1", 0), Handler)
sys.stdout.write("%d\n" % server.address[1])
sys.stdout.flush()
server.serve_forever(handle_exit=True)
