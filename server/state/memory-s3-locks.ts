// The S3 key locks and the noted multipart uploads of MemoryStore (memory-store.ts): the same
// operations as the KEY_LOCK, KEY_RENEW, KEY_UNLOCK, UPLOAD_NOTE and UPLOADS_CLAIM scripts (scripts.ts).
import type { Impl } from "./memory-store.ts";
import * as S from "./scripts.ts";

const num = (s: string | undefined) => Number(s ?? 0);

export const S3_LOCK_IMPLS: Array<[string, Impl]> = [
  [
    S.KEY_LOCK,
    (db, [key, index], [token, ttl]) => {
      if (db.get(key!) !== undefined) return null;
      db.set(key!, token!, num(ttl));
      if (index) {
        db.hash(index).set(key!, token!);
        db.keep(index, num(ttl));
      }
      return "OK";
    },
  ],
  [
    S.KEY_RENEW,
    (db, [key, index], [token, ttl]) => {
      if (db.get(key!) !== token) return 0;
      db.expire(key!, num(ttl));
      if (index) db.keep(index, num(ttl));
      return 1;
    },
  ],
  [
    S.KEY_UNLOCK,
    (db, [key, index], [token]) => {
      if (index && db.hash(index).get(key!) === token) db.hash(index).delete(key!);
      if (db.get(key!) !== token) return 0;
      db.del(key!);
      return 1;
    },
  ],
  [
    S.UPLOAD_NOTE,
    (db, [index], [entry, live, keep]) => {
      if (live === "1") {
        db.hash(index!).set(entry!, "1");
        db.expire(index!, num(keep));
      } else db.hash(index!).delete(entry!);
      return 1;
    },
  ],
  [
    S.UPLOADS_CLAIM,
    (db, [index]) => {
      const all = [...db.hash(index!).keys()];
      db.del(index!);
      return all;
    },
  ],
];
