// Where a worker module is, in a checkout and in a `bun build --compile` executable. In the
// executable every imported module is bundled into one file at the bundle's root, so a URL relative
// to the importing module points nowhere; workers are extra entrypoints there and keep their path
// from the repository root (package.json's build script lists them).

/**
 * The URL of the worker module `repoPath` (from the repository root, e.g. "client/hash-thread.ts"),
 * asked from the module whose `import.meta.url` is `moduleUrl` and which reaches it as `relative`.
 */
export function workerUrl(moduleUrl: string, relative: string, repoPath: string): string {
  const bundleRoot = /^(.*\/(?:\$bunfs|~BUN)\/root\/)/.exec(moduleUrl);
  return bundleRoot ? bundleRoot[1] + repoPath : new URL(relative, moduleUrl).href;
}
