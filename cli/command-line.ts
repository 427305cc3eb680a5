// What the command line says before citty parses it, for the code that must decide earlier: the first
// signal handler (early-interrupt.ts, loaded before anything else) and main.ts. Loads nothing.

/** The words after `ftpkit`. */
export const rawArgs = process.argv.slice(2);
/** The words before "--": after it every word is an operand (`get URL -- --json` saves to a file named --json). */
export const flagArgs = rawArgs.includes("--") ? rawArgs.slice(0, rawArgs.indexOf("--")) : rawArgs;
/** `get URL -` writes the file to stdout: no report goes there (--json is refused with it). */
export const stdoutCarriesFile = rawArgs[0] === "get" && rawArgs.includes("-");
/** get, put, sync and resume (but `resume --list`) end with a report, and write stdout only through it (client/report.ts). */
export const reportsJson = ["get", "put", "sync"].includes(rawArgs[0] ?? "") || (rawArgs[0] === "resume" && !flagArgs.includes("--list"));
/** The report is one JSON object on stdout. */
export const jsonReport = reportsJson && flagArgs.includes("--json") && !stdoutCarriesFile;
