// sync --delete up: a remote directory it would empty may be a symbolic link that the server's MLSD
// showed as the directory it names (pyftpdlib follows links there; RFC 3659 leaves it open). Emptied,
// its target lost its files, outside the destination. Each such directory's parent is asked by LIST,
// which shows links; one that is a link is deleted as the link itself (DELE), nothing under it.
import { joinRemote } from "../protocol/path.ts";
import type { FtpClient } from "./client.ts";
import { linksByList } from "./listing.ts";
import type { PlanItem } from "./tree-plan.ts";

export async function deleteLinksNotThrough(client: FtpClient, remoteRoot: string, items: PlanItem[]): Promise<PlanItem[]> {
  // Only where the listing said "directory" by MLSD: ftpkit's MLSD marks links, LIST (vsftpd) shows them.
  if (client.lacksMlsd || !client.features.has("MLST")) return items;
  const dirs = items.filter((i) => i.action === "delete" && i.type === "dir");
  if (dirs.length === 0) return items;
  const parentOf = (rel: string) => (rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "");
  const links = new Set<string>();
  for (const parent of new Set(dirs.map((d) => parentOf(d.rel)))) {
    const named = await linksByList(client, joinRemote(remoteRoot, parent)).catch(() => new Set<string>());
    for (const d of dirs) if (parentOf(d.rel) === parent && named.has(d.rel.slice(parent === "" ? 0 : parent.length + 1))) links.add(d.rel);
  }
  if (links.size === 0) return items;
  const under = (rel: string) => [...links].some((l) => rel.startsWith(`${l}/`));
  return items.flatMap((i) => {
    if (i.action !== "delete") return [i];
    if (under(i.rel)) return [];
    return links.has(i.rel) ? [{ ...i, type: "file" as const, reason: `${i.reason} (a symbolic link: removed itself)` }] : [i];
  });
}
