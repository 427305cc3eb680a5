// Failed logins and bans across nodes: the back-off counter per client address, and the failure
// list and ban record the BAN_FAIL script keeps. A ban taken is announced (pub/sub) to every node,
// each of which keeps a copy of the bans in force: loaded whole at start, after a missed
// announcement, and restated to a store that lost them.
import { BAN_FAIL, BANS_LOAD, BANS_RESTATE, FAIL } from "./scripts.ts";
import type { StateLog, StoreClient, StoreContext, StoreLink } from "./redis-link.ts";
import type { BanPolicy, BanVerdict, SharedBan } from "./types.ts";

export class RedisBans {
  /** The defender's listener for bans (watch); null: no ban traffic at all. */
  private listener: ((ban: SharedBan) => void) | null = null;
  private held: (() => SharedBan[]) | null = null;
  /** The connection hearing ban announcements (null: none yet, or lost: the heartbeat subscribes again). */
  private subscriber: StoreClient | null = null;
  /** The subscription being made (heartbeats overlap when a connect outlasts one: they share it). */
  private subscribing: Promise<void> | null = null;
  private closing = false;
  /** The store's ban count as last seen whole: the heartbeat reloads the bans when the store's differs. */
  private banSeq = -1;
  /** The highest announcement number heard. */
  private heardSeq = 0;
  /** Ban announcements waited for (banFailure), by their number. */
  private readonly hearing = new Map<number, () => void>();
  private failures = 0;
  /**
   * The store was lost: the bans this process took on its own count meanwhile (a failure the store
   * could not count) are known nowhere else, so they go to the store once it answers again.
   */
  private restateDue = false;

  constructor(
    private readonly store: StoreContext,
    private readonly link: StoreLink,
    private readonly log: StateLog,
  ) {}

  private get channel(): string {
    return `${this.store.prefix}bans${this.store.channelScope}`;
  }

  /** Someone listens for bans: the node subscribes, loads and checks them. */
  get watching(): boolean {
    return this.listener !== null;
  }

  watch(listener: (ban: SharedBan) => void, held?: () => SharedBan[]): void {
    this.listener = listener;
    this.held = held ?? null;
  }

  /** Start-up: hear announcements, then load the bans in force. */
  async start(): Promise<void> {
    // Without announcements (a store refusing SUBSCRIBE) the heartbeat still finds every new ban.
    await this.subscribe().catch((e: Error) => this.log("ban announcements unavailable", { reason: e.message }));
    await this.load();
  }

  async noteLoginFailure(ip: string, windowMs: number): Promise<number> {
    return Number(await this.store.eval(FAIL, [`${this.store.prefix}fail:${ip}`], [windowMs]));
  }

  async banFailure(key: string, policy: BanPolicy): Promise<BanVerdict> {
    const p = this.store.prefix;
    const reply = (await this.store.eval(
      BAN_FAIL,
      [`${p}banfails:${key}`, `${p}ban:${key}`, `${p}bans`, `${p}bans:seq`],
      [policy.banAfter, policy.windowMs, policy.banMs, policy.maxMs, `${this.store.node}:${++this.failures}`, this.channel, key],
    )) as unknown[];
    const [kind, ms, repeat, failures, seq] = reply.map(Number) as [number, number, number, number, number];
    // The 530 waits (at most 250 ms) until this node hears its own announcement: the store sent the
    // others theirs at the same moment. Without it, the reply was seen handled before the
    // announcement the store had sent ahead of it, and the guesser's next connection let in elsewhere.
    if (kind === 1) await this.announced(seq);
    return { key, ms, repeat, failures, outcome: kind === 1 ? "banned" : kind === 2 ? "already" : "counted" };
  }

  /** Listen for bans as other nodes take them (pub/sub: no round trip on the connect path). */
  private subscribe(): Promise<void> {
    if (this.subscriber || this.closing) return Promise.resolve();
    // One at a time: each overlapping heartbeat made its own, and all but the last stayed open, subscribed and unclosable.
    this.subscribing ??= this.subscribeOnce().finally(() => (this.subscribing = null));
    return this.subscribing;
  }

  private async subscribeOnce(): Promise<void> {
    // Redis: a second connection (one in subscriber mode runs no other command); the primary's store: the same line.
    const sub = this.link.newClient();
    if (!sub.subscribe) return; // only the heartbeat's check, then
    sub.onclose = () => {
      if (this.subscriber === sub) this.subscriber = null;
    };
    try {
      await this.link.withTimeout(sub.connect());
      await this.link.withTimeout(sub.subscribe(this.channel, (message) => this.heard(message)));
    } catch (err) {
      sub.onclose = null;
      sub.close();
      throw err;
    }
    if (this.closing) {
      // close() ran meanwhile: nothing would ever end this one.
      sub.onclose = null;
      sub.close();
      return;
    }
    this.subscriber = sub;
  }

  /** Resolves once the announcement numbered `seq` was heard here, or after 250 ms (no subscription, or lost). */
  private announced(seq: number): Promise<void> {
    if (!this.subscriber || !(seq > this.heardSeq)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, 250);
      const hearing = this.hearing;
      function done() {
        clearTimeout(timer);
        hearing.delete(seq);
        resolve();
      }
      this.hearing.set(seq, done);
    });
  }

  private heard(message: string): void {
    const [key, ms, repeat, seq] = message.split(" ");
    if (!key || !Number.isFinite(Number(ms))) return;
    this.heardSeq = Math.max(this.heardSeq, Number(seq));
    this.hearing.get(Number(seq))?.();
    // Announcements in a row keep the count current; a gap (missed while away) makes the heartbeat reload.
    if (Number(seq) === this.banSeq + 1) this.banSeq = Number(seq);
    this.listener?.({ key, ms: Number(ms), repeat: Number(repeat) });
  }

  /** Every ban in force, from the store. */
  private async load(): Promise<void> {
    const reply = (await this.store.eval(BANS_LOAD, [`${this.store.prefix}bans`, `${this.store.prefix}bans:seq`], [this.store.prefix])) as unknown[];
    this.banSeq = Number(reply[0]);
    this.heardSeq = Math.min(this.heardSeq, this.banSeq); // a store restarted empty counts from 1 again
    for (let i = 1; i + 2 < reply.length; i += 3) this.listener?.({ key: String(reply[i]), ms: Number(reply[i + 1]), repeat: Number(reply[i + 2]) });
  }

  /** Put the bans in force here into the store (those it holds already stay as they are); true if any. */
  private async restate(): Promise<boolean> {
    const bans = this.held?.() ?? [];
    if (bans.length === 0) return false;
    const p = this.store.prefix;
    await this.store.eval(BANS_RESTATE, [`${p}bans`, `${p}bans:seq`], [p, ...bans.flatMap((b) => [b.key, Math.ceil(b.ms), b.repeat])]);
    return true;
  }

  /** The store became unreachable (the heartbeat that reaches it again restates the bans in force here). */
  storeLost(): void {
    this.restateDue = true;
  }

  /** Heartbeat: subscribe again if the subscription was lost, and reload the bans if any was missed meanwhile. */
  async check(): Promise<void> {
    if (!this.listener) return;
    await this.subscribe().catch(() => {});
    const seq = Number((await this.store.send("GET", [`${this.store.prefix}bans:seq`])) ?? 0);
    // The count went back: the store restarted empty (or evicted it) and no longer knows the bans in
    // force. Without them a node started since let a banned address in (and its guesses counted
    // from 0 there) while the nodes that kept their copy refused it. Ours go back in.
    // Likewise after an outage: a ban taken here meanwhile, on this process's own count, was refused
    // nowhere else, even once the store was back (the others let the guesser in, its count from 0).
    let restated = false;
    if (seq < this.banSeq || this.restateDue) {
      restated = await this.restate();
      this.restateDue = false;
    }
    if (restated || seq !== this.banSeq) await this.load();
  }

  /** Stop hearing announcements (a subscription being made ends itself: see subscribeOnce). */
  close(): void {
    this.closing = true;
    if (this.subscriber) {
      this.subscriber.onclose = null;
      this.subscriber.close();
      this.subscriber = null;
    }
  }
}
