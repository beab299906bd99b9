// Decides, once per test file, whether a real database server can be used.
// Locally an unreachable server skips its suites with a loud message, so `npm test` passes on a
// laptop without PostgreSQL; in CI (CI=true) it fails instead, so a suite can never pass by
// silently not running.

/**
 * Runs `probe` (which should connect, run a trivial query and disconnect) with a time bound.
 * Resolves `true` when it worked; `false` locally when it did not; rejects in CI.
 */
export async function serviceAvailable(
  name: string,
  probe: () => Promise<unknown>,
  timeoutMs = 5_000,
): Promise<boolean> {
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
    return true;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (process.env.CI) {
      throw new Error(`${name} is required in CI but cannot be reached: ${why}`);
    }
    console.warn(
      `\n!!! ${name} cannot be reached (${why}): its suites are SKIPPED on this machine.\n` +
        '!!! Start it (see DEVELOPERS.md) to run them; CI fails instead of skipping.\n',
    );
    return false;
  }
}
