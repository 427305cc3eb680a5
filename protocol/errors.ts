/** An error that maps straight to an FTP reply; its message is safe to send to a client. */
export class FtpError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "FtpError";
    this.code = code;
  }
}

/** A malformed size, URL, address or other user/peer input detected in protocol/. */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ParseError";
  }
}
