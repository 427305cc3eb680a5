// Why a local system call failed, in words: shared by the client, the CLI and the users-file code.

/**
 * Why a local system call failed, in words, for a line that names the path itself: Node's message
 * ("EACCES: permission denied, open '/sys/x.ftpkit-part'") names the system call and quotes the
 * path. `creating`: ENOENT then means the directory it goes in is missing. Other codes as they are.
 */
export function localCause(err: unknown, creating = false): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOENT":
      return creating ? "no such directory" : "no such file or directory";
    case "ENOTDIR":
      return "a file stands in its path";
    case "EISDIR":
      return "a directory stands there";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "disk full";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EIO":
      return "input/output error";
    case "ENAMETOOLONG":
      return "name too long";
    case "EFBIG":
      return "file too large (the file system's limit, or ulimit -f)";
    case "ELOOP":
      return "a loop of symbolic links";
  }
  return typeof code === "string" ? code : String((err as Error)?.message ?? err);
}
