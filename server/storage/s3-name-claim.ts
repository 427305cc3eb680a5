// A new name reserved on an object store from an upload's plan to its end (Storage.claimWrite), as
// local-claims.ts reserves one on disk. S3 has no exclusive create that holds before the commit: two
// STOUs whose uploads overlapped both chose STOU.1 (neither object existed yet), both got their 150,
// and the later one failed at its commit ("550 File exists") after sending all its bytes. Reserved,
// the second finds the name busy before its 150 and STOU moves on to the next.
//
// Within this process the reservation is a set; processes sharing state (--workers, --state) also
// hold a lease in the shared store (s3-key-lock.ts), renewed while the upload runs, so a worker that
// dies lets its names go when the lease runs out. One timer per store renews all its live claims
// (a timer per claim was a timer per running upload).
import { StorageError, type WriteClaim } from "./backend.ts";
import { LEASE_MS, RENEW_MS, type SharedKeyLock } from "./s3-key-lock.ts";

const BUSY = ["transient", "file busy", "the file is being uploaded by another session"] as const;

const reserved = new Set<string>();

/** How long a claim's lease lasts unless renewed, and how often the live ones are renewed. */
export interface ClaimTiming {
  leaseMs: number;
  renewMs: number;
}
const TIMING: ClaimTiming = { leaseMs: LEASE_MS, renewMs: RENEW_MS };

/** The live claims' leases in one store (lease → token), renewed by one timer: started with the first, stopped with the last. */
class Renewals {
  private readonly leases = new Map<string, string>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly store: SharedKeyLock,
    private readonly timing: ClaimTiming,
  ) {
    this.timer = setInterval(() => {
      for (const [lease, token] of this.leases) void this.store.renew(lease, token, this.timing.leaseMs).catch(() => false);
    }, timing.renewMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  static add(store: SharedKeyLock, timing: ClaimTiming, lease: string, token: string): void {
    let r = renewals.get(store);
    if (!r) renewals.set(store, (r = new Renewals(store, timing)));
    r.leases.set(lease, token);
  }

  static delete(store: SharedKeyLock, lease: string): void {
    const r = renewals.get(store);
    if (!r) return;
    r.leases.delete(lease);
    if (r.leases.size > 0) return;
    clearInterval(r.timer);
    renewals.delete(store);
  }
}
const renewals = new Map<SharedKeyLock, Renewals>();

export class S3NameClaim implements WriteClaim {
  private state: "held" | "started" | "ended" = "held";
  private readonly token = crypto.randomUUID();

  private constructor(
    private readonly name: string,
    private readonly store: SharedKeyLock | null,
  ) {}

  /** Reserve `name` (an object's lock name) or throw "file busy"; "transient" when the shared store cannot be asked. `timing`: tests. */
  static async take(name: string, store: SharedKeyLock | null, timing: ClaimTiming = TIMING): Promise<S3NameClaim> {
    if (reserved.has(name)) throw new StorageError(...BUSY);
    reserved.add(name);
    const claim = new S3NameClaim(name, store);
    if (!store) return claim;
    let ok: boolean;
    try {
      ok = await store.tryLock(claim.lease, claim.token, timing.leaseMs);
    } catch {
      reserved.delete(name);
      throw new StorageError("transient", "shared key lock unavailable", "shared state unreachable");
    }
    if (!ok) {
      reserved.delete(name);
      throw new StorageError(...BUSY);
    }
    Renewals.add(store, timing, claim.lease, claim.token);
    return claim;
  }

  /** Not the key's own lock name: a commit takes that one (withKeys) while this is still held. */
  private get lease(): string {
    return `new-name\n${this.name}`;
  }

  /** For the upload that takes the name over: returns what lets it go when the upload ends. */
  start(): () => void {
    if (this.state !== "held") throw new StorageError("transient", "claim already used");
    this.state = "started";
    return () => this.end();
  }

  release(): number {
    if (this.state === "held") this.end();
    return 0;
  }

  private end(): void {
    if (this.state === "ended") return;
    this.state = "ended";
    reserved.delete(this.name);
    if (!this.store) return;
    Renewals.delete(this.store, this.lease);
    void this.store.unlock(this.lease, this.token).catch(() => {});
  }
}

/**
 * A rename's move onto the name `name` (an object's lock name), run under that key's lock already,
 * holding the name's reservation as a second STOR would take it: held now, it is an upload's (a new
 * name, STOU, an APPE or REST+STOR composing it; a rename's is let go before its key lock), and the
 * rename gets "file busy" (450) until that upload ends. Moved onto it, the upload ended "451 File
 * exists" at its commit, its data dropped. Held, a STOR of the name meanwhile gets 450 too.
 */
export async function whileReserved<T>(name: string, store: SharedKeyLock | null, move: () => Promise<T>): Promise<T> {
  const claim = await S3NameClaim.take(name, store);
  try {
    return await move();
  } finally {
    claim.release();
  }
}

/** Objects (lock names) this process is uploading, each with how many uploads: an overwrite holds no claim. */
const uploading = new Map<string, number>();

/** Note an upload of `name` (an object's lock name) as running; returns what notes its end (once). */
export function noteUpload(name: string): () => void {
  uploading.set(name, (uploading.get(name) ?? 0) + 1);
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    const n = uploading.get(name)! - 1;
    if (n > 0) uploading.set(name, n);
    else uploading.delete(name);
  };
}

/**
 * Does an upload of this process hold a name below `prefix` (a directory's lock name, ending in "/"),
 * running or about to (its name reserved)? Then the directory is not removed or renamed: RMD answered
 * 250 and RNTO moved the tree, and the upload then failed (451) after all its bytes, an overwrite's
 * new data lost. Within this process only: the shared store holds leases by exact name, none by prefix.
 * A scan of the running uploads: at most one per session.
 */
export function uploadsBelow(prefix: string): boolean {
  for (const name of uploading.keys()) if (name.startsWith(prefix)) return true;
  for (const name of reserved) if (name.startsWith(prefix)) return true;
  return false;
}

/** Names reserved or being uploaded in this process (tests: nothing may stay behind). */
export function reservedNames(): number {
  return reserved.size + uploading.size;
}

/** Stores whose renewal timer runs (tests: none once the last claim ended). */
export function renewingStores(): number {
  return renewals.size;
}
