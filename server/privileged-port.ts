// Why a listen on a low port failed, and what to do about it: ftpkit runs as the user that starts
// it and never as root (vsftpd starts as root and drops its privileges; ftpkit has no such step).

/** Linux's first port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start, default 1024). */
const UNPRIVILEGED_PORT_START = 1024;

/**
 * What follows "no permission to listen on port N" for EACCES: below 1024, the capability and how
 * to grant it to a service, so an admin moving from vsftpd on port 21 knows the fix without a search.
 */
export function listenPermissionHint(port: number): string {
  if (port <= 0 || port >= UNPRIVILEGED_PORT_START) return "";
  return ": ports below 1024 need root or the CAP_NET_BIND_SERVICE capability " +
    "(systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE; see the README, \"Running as a service\")";
}
