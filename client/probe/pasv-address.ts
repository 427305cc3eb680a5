// What the address in a 227 reply means for clients other than ours. The probe (as curl does by
// default) connects to the control connection's address and ignores the 227's; a client that trusts
// it (Python's ftplib before 3.9.3 and with trust_server_pasv_ipv4_address, lftp and FileZilla
// except where they fix up a private address from a public server) connects where the 227 says.
import { canonicalIp, isIPv4 } from "../../protocol/address.ts";
import type { ProbeStatus } from "./types.ts";

/** 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16: no client across the Internet reaches them. */
export function isUnroutableIPv4(ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const [a, b] = ip.split(".").map(Number) as [number, number];
  return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168);
}

/**
 * The PASV item's verdict on the 227's address, given the control connection's peer: null when it
 * names that address. A private address from a server reached at a public one is the NAT
 * misconfiguration (the server announces its inside address): FAIL. Any other difference is a
 * passive address set on purpose (vsftpd's pasv_address, --pasv-address) seen from where the probe
 * runs, which may be right for other clients: PASS, with the difference said.
 */
export function judgePasvAddress(control: string, announced: string | null): { status: ProbeStatus; note: string } | null {
  const peer = canonicalIp(control);
  if (announced === null || announced === peer) return null;
  const trusting = "a client that trusts the 227 address connects there (this probe, like curl, connects to the control address)";
  if (isUnroutableIPv4(announced) && !isUnroutableIPv4(peer)) {
    return { status: "fail", note: `227 names ${announced}, a private address, while the server is reached at ${peer}: ${trusting} and fails (NAT: set the server's passive address to its public one)` };
  }
  return { status: "pass", note: `but 227 names ${announced}, not ${peer} where the probe is connected: ${trusting}` };
}
