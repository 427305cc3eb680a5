// `get`, `put` and `sync` that find an interrupted job for the same target: on a terminal they ask
// whether to resume it; otherwise they resume and say so. An answer that is neither yes nor no asks
// again, so a typo never discards a partial file; Ctrl-C ends the run as the signal would.
import { ClientError } from "./errors.ts";
import type { TransferRecord } from "./journal.ts";
import { endAsInterrupted, sayInterrupted } from "./on-interrupt.ts";
import { confirm, MAX_UNKNOWN_ANSWERS, NoAnswer } from "./prompt.ts";
import type { TransferOptions } from "./options.ts";
import type { Notifier } from "./messages.ts";
import { CLI_WORDS } from "./option-words.ts";

/** "resume" the pending job, start over because the user answered no ("declined"), or because of --restart. */
export type ResumeDecision = "resume" | "declined" | "restart";

export async function decideResume(rec: TransferRecord, opts: TransferOptions, note: Notifier): Promise<ResumeDecision> {
  if (opts.restart) return "restart";
  // A program (the package API: prompt false) is never asked: a test run in a terminal waited for an answer.
  if (opts.prompt !== false && process.stdin.isTTY && process.stderr.isTTY) {
    if (!(await ask(`An interrupted transfer of ${rec.local} is pending (started ${rec.startedAt}). Resume?`, rec))) return "declined";
  } else note.info(`resuming the interrupted transfer of ${rec.local} (use ${(opts.words ?? CLI_WORDS).restart} to start over)`);
  if (opts.alwaysDigest && opts.hash !== rec.hash) note.info(`it began with ${rec.hash} and is verified with it; --hash ${opts.hash} applies to a new transfer (--restart)`);
  return "resume";
}

async function ask(question: string, rec: TransferRecord): Promise<boolean> {
  try {
    return await confirm(question, true);
  } catch (err) {
    if (!(err instanceof NoAnswer)) throw err;
    const kept = `the interrupted transfer of ${rec.local} stays pending`;
    if (err.why === "interrupted") {
      // Saying first that nothing changed.
      sayInterrupted(`cancelled: ${kept}; \`ftpkit resume\` continues it`);
      return endAsInterrupted();
    }
    if (err.why === "ended") throw new ClientError(`no answer (end of input): ${kept}; run the command again to answer, \`ftpkit resume\` to continue it, or add --restart to start over`);
    throw new ClientError(`no answer understood after ${MAX_UNKNOWN_ANSWERS} tries (the last: "${err.lastAnswer}"): ${kept}; answer y or n, or use \`ftpkit resume\` or --restart`, { kind: "usage" });
  }
}
