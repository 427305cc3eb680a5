// Which positive replies each command can get: RFC 959 §5.4 (command-reply sequences), RFC 3659
// (SIZE, MDTM), RFC 2428 (EPSV, EPRT), draft-bryan-ftp-hash (HASH), draft-somers-ftp-mfxx (MFMT).
// A client reads replies in command order; one sent unasked (a 226 twice, a late reply) shifts every
// reply after it onto the next command, which must then see a reply it cannot get, not take it.

/** Preliminary and final positive replies of a transfer: 110 restart marker, 125/150 opening, 226/250 done. */
const TRANSFER = [110, 125, 150, 226, 250] as const;

/**
 * The positive replies (1yz, 2yz, 3yz) each verb may get. A 4yz or 5yz may answer any command (a
 * server refuses in many ways: 421, 425, 450, 500–504, 530, 550…). Where servers we meet depart
 * from the RFC, their reply is listed too (200 to CWD, DELE and RMD, 250 to MKD and CDUP); verbs
 * not listed are not checked.
 */
export const POSITIVE_REPLIES: Readonly<Record<string, readonly number[]>> = {
  USER: [230, 331, 332],
  PASS: [230, 202, 332],
  CWD: [250, 200],
  CDUP: [200, 250],
  PWD: [257],
  MKD: [257, 250],
  RMD: [250, 200],
  DELE: [250, 200],
  RNFR: [350],
  RNTO: [250],
  REST: [350],
  TYPE: [200],
  MODE: [200],
  PORT: [200],
  EPRT: [200],
  PASV: [227],
  EPSV: [229],
  SIZE: [213],
  MDTM: [213],
  MFMT: [213],
  HASH: [213],
  RETR: TRANSFER,
  STOR: TRANSFER,
  APPE: TRANSFER,
  STOU: TRANSFER,
  LIST: TRANSFER,
  NLST: TRANSFER,
  MLSD: TRANSFER,
};

/** Can `code` answer `verb`? Any refusal can; a positive reply only if the verb may get it (or the verb is not listed). */
export function canAnswer(verb: string, code: number): boolean {
  if (code >= 400) return true;
  const allowed = POSITIVE_REPLIES[verb.toUpperCase()];
  return allowed === undefined || allowed.includes(code);
}
