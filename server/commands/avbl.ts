// AVBL — draft-peterson-streamlined-ftp-command-extensions: bytes available for upload here.
import type { CommandSpec } from "./types.ts";


export const avbl: CommandSpec = {
  verbs: ["AVBL"],
  auth: true,
  arg: "optional",
  help: "AVBL [dir]: bytes available for upload (quota or free disk space)",
  feat: "AVBL",
  async handle({ session, arg }) {
    const r = session.fs.resolve(arg || ".");
    await r.mount.ledger.measured();
    const left = r.mount.ledger.available();
    const free = (await r.mount.storage.freeBytes?.().catch(() => undefined)) ?? Infinity;
    const value = Math.min(left, free);
    session.reply(213, Number.isFinite(value) ? String(value) : String(Number.MAX_SAFE_INTEGER));
  },
};
