import { readFileSync } from 'node:fs';

/**
 * This package's version, for `curfew --version`, the banner and the OpenAPI document.
 *
 * @example
 * ```ts
 * console.log(`curfew ${VERSION}`);
 * ```
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
