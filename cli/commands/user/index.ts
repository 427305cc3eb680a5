// `ftpkit user …`: manage the users file the server reads (lazy, so each subcommand loads only itself).
import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "user", description: "Manage the users file (add, passwd, quota, mount, tls, list, del)" },
  subCommands: {
    add: () => import("./add.ts").then((m) => m.default),
    passwd: () => import("./passwd.ts").then((m) => m.default),
    quota: () => import("./quota.ts").then((m) => m.default),
    mount: () => import("./mount.ts").then((m) => m.default),
    tls: () => import("./tls.ts").then((m) => m.default),
    list: () => import("./list.ts").then((m) => m.default),
    del: () => import("./del.ts").then((m) => m.default),
  },
});
