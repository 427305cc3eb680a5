// PORT — RFC 959 §4.1.2: active mode. Only to the client's own address and an unprivileged port (RFC 2577).
import type { CommandSpec } from "./types.ts";
import { parseHostPort, type HostPort } from "../../protocol/address.ts";
import { activeEndpoint } from "./active-shared.ts";

export const port: CommandSpec = {
  verbs: ["PORT"],
  auth: true,
  arg: "required",
  help: "PORT h1,h2,h3,h4,p1,p2: active mode",
  handle({ session, arg }) {
    let target: HostPort | null = null;
    try {
      target = parseHostPort(arg, true);
    } catch {}
    activeEndpoint(session, target, "PORT");
  },
};
