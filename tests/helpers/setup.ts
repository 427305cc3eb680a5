import { setDefaultTimeout } from "bun:test";

// Network tests start real servers and real clients; 5 s is too tight on a busy 2-core box.
setDefaultTimeout(30_000);
