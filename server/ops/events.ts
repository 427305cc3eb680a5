// The one interface between the FTP core and operations (metrics, hooks, defender, xferlog).
import type { Session } from "../session.ts";
import type { Resolved } from "../vfs/resolve.ts";

/** What happened, as the core reports it; user, address and real path are derived from `session`. */
export type OpsEvent =
  /** A control connection accepted (TCP), before any refusal, PROXY header or TLS handshake: what a load balancer counts. */
  | { type: "connection"; listener: "control" | "implicit-tls" }
  /** A control connection refused for its PROXY header (--proxy-protocol: none in time, an invalid one, a peer outside --proxy-from). */
  | { type: "connection-refused"; reason: "proxy" }
  /** A session greeted with 220 (on the implicit-TLS port, once its handshake succeeded). */
  | { type: "session-open"; session: Session; healthCheck?: boolean }
  | { type: "session-close"; session: Session }
  | { type: "login"; session: Session }
  /** `failures`: from this address within the back-off window, on every process sharing state (this one's own at least). */
  | { type: "login-failed"; session: Session; user: string; failures?: number }
  /** A transfer began (its 150 is sent); `transfer.bytes` grows while it runs, until its "transfer" event. */
  | { type: "transfer-start"; session: Session; transfer: { readonly verb: string; readonly bytes: number } }
  | {
      type: "transfer";
      session: Session;
      verb: string;
      vpath: string;
      /** Bytes moved on the data connection (metrics). */
      bytes: number;
      /** An upload: the bytes its storage took (the xferlog's count); below `bytes` when a write failed. */
      stored?: number;
      ms: number;
      result: "ok" | "aborted" | "quota" | "error";
      /** SHA-256 of the whole file, when it was computed while streaming. */
      sha256?: string;
    }
  | { type: "delete"; session: Session; vpath: string; bytes: number }
  | { type: "rename"; session: Session; from: string; vpath: string }
  | { type: "mkdir" | "rmdir"; session: Session; vpath: string }
  | { type: "tls-handshake"; channel: "control" | "data"; reused: boolean };

/** `server.events` on the ServerContext. */
export interface ServerEvents {
  /** Report an event; never blocks and never throws. */
  emit(event: OpsEvent): void;
  /** Ask before a STOR/APPE/STOU opens its target (the pre-upload hook); false = refuse with 550. */
  allowUpload(session: Session, target: Resolved): Promise<boolean>;
  /** Something acts on a finished upload (an upload hook): its outcome must not be a killed client's. */
  actsOnUploads(): boolean;
  /**
   * Count a failed login toward a ban (by the shared store when there is one). Resolves once a ban it
   * triggers is in force on every process sharing state: the 530 waits for it. Never rejects.
   */
  failedLogin(session: Session): Promise<void>;
  /**
   * A turn to check a password from the session's address: waits while the checks in flight from it
   * could use up the failures its ban allows. Resolves with the release, to call once the check
   * ended and its failure was counted (also when the session went).
   */
  guessTurn(session: Session): Promise<() => void>;
  /** The address is banned now (a password it sends is not tried). */
  banned(ip: string): boolean;
  /** Why this address must be refused at connect (--deny, a ban), or null to let it in. */
  refusal(ip: string): string | null;
}
