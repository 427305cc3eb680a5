// A request with a large body (a multipart part, a PUT of up to 8 MiB) as a raw HTTP/1.1 exchange
// over Bun.connect, answered as a Response so S3Api.send's retries and error mapping stay the same.
// Why: fetch re-copied the rest of the body after each partial socket write, so a part sent to a
// store that reads slowly cost O(size²) memmove (measured: a 256 MiB STOR into bluestore radosgw
// used 6.6 s of server CPU, 26 s per GiB, ~40 % in memmove). Here each write hands the kernel
// `body.subarray(sent)`: what it does not take is offered again on `drain`, never copied.
// Plain http:// only (s3-get.ts decides the same way); https and proxies keep fetch.
import type { Socket } from "bun";
import { connectTarget, dechunk, parseHead, requestHead } from "./s3-http1.ts";

/** Longest response head and body kept (S3 answers to a PUT are a few hundred bytes). */
const MAX_ANSWER = 1024 * 1024;
/** ...and for a GET (a key fetch cannot name, S3Api.sendOnce): at most the head of an object below one part. */
const MAX_GET_ANSWER = 16 * 1024 * 1024;

/** One request as a raw HTTP/1.1 exchange; `target` is the path and query as signed (requestHead). */
export function rawSend(url: URL, target: string, method: string, headers: Record<string, string>, body: Uint8Array, deadlineMs: number, signal?: AbortSignal): Promise<Response> {
  return new Promise((resolve, reject) => {
    const maxAnswer = method === "GET" ? MAX_GET_ANSWER : MAX_ANSWER;
    const head = requestHead(method, target, headers, [`content-length: ${body.length}`]);
    let socket: Socket<undefined> | null = null;
    let headSent = 0;
    let bodySent = 0;
    let done = false;
    const answer: Buffer[] = [];
    let answerBytes = 0;

    const finish = (err: unknown, res?: Response) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", cancelled);
      socket?.terminate();
      if (res) resolve(res);
      else reject(err);
    };
    const timer = setTimeout(() => finish(new DOMException("timed out", "TimeoutError")), deadlineMs);
    const cancelled = () => finish(new DOMException("cancelled", "AbortError"));
    if (signal?.aborted) return cancelled();
    signal?.addEventListener("abort", cancelled, { once: true });

    const pump = (s: Socket<undefined>) => {
      while (headSent < head.length) {
        const n = s.write(head.subarray(headSent));
        if (n <= 0) return;
        headSent += n;
      }
      while (bodySent < body.length) {
        const n = s.write(body.subarray(bodySent));
        if (n <= 0) return; // the rest on drain
        bodySent += n;
      }
    };

    /** A complete answer in `answer`? Then resolve with it. */
    const tryAnswer = (closed: boolean) => {
      const all = Buffer.concat(answer);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return closed ? finish(new Error("the connection closed mid-answer")) : undefined;
      const { status, headers: h } = parseHead(all.subarray(0, end));
      if (status === 100) {
        answer.splice(0, answer.length, all.subarray(end + 4));
        answerBytes = all.length - end - 4;
        return tryAnswer(closed);
      }
      let rest: Buffer = all.subarray(end + 4);
      // A HEAD's content-length is the object's: no body follows.
      const length = method === "HEAD" ? "0" : h.get("content-length");
      if (length !== null) {
        if (rest.length < Number(length)) return closed ? finish(new Error("the connection closed mid-answer")) : undefined;
        rest = rest.subarray(0, Number(length));
      } else if (/chunked/i.test(h.get("transfer-encoding") ?? "")) {
        if (rest.indexOf("\r\n0\r\n") < 0 && !rest.subarray(0, 3).equals(Buffer.from("0\r\n"))) return closed ? finish(new Error("the connection closed mid-answer")) : undefined;
        rest = dechunk(rest);
        h.delete("transfer-encoding");
      } else if (!closed) return; // until the connection closes
      finish(null, new Response(status === 204 || status === 304 ? null : rest, { status, headers: h }));
    };

    Bun.connect({
      ...connectTarget(url),
      socket: {
        open(s) {
          socket = s;
          if (done) return void s.terminate();
          pump(s);
        },
        drain(s) {
          if (!done) pump(s);
        },
        data(_s, data) {
          if (done) return;
          answer.push(data);
          answerBytes += data.length;
          if (answerBytes > maxAnswer) return finish(new Error("answer too long"));
          tryAnswer(false);
        },
        close() {
          if (!done) tryAnswer(true);
          finish(new Error("the connection closed mid-answer"));
        },
        error(_s, err) {
          finish(err);
        },
        connectError(_s, err) {
          finish(err);
        },
      },
    }).catch((err) => finish(err));
  });
}
