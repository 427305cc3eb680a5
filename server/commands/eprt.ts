// EPRT — RFC 2428 §2: extended active mode (IPv4 and IPv6), same bounce protection as PORT.
import type { CommandSpec } from "./types.ts";
import { parseEprt, type HostPort } from "../../protocol/address.ts";
import { activeEndpoint } from "./active-shared.ts";

export const eprt: CommandSpec = {
  verbs: ["EPRT"],
  auth: true,
  arg: "required",
  help: "EPRT |af|addr|port|: extended active mode",
  feat: "EPRT",
  handle({ session, arg }) {
    let target: HostPort | null = null;
    try {
      target = parseEprt(arg.trim());
    } catch {}
    activeEndpoint(session, target, "EPRT");
  },
};
