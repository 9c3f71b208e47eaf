import { createRequire } from 'node:module';

// The writer field of every checkpoint names the package version.
export const VERSION: string = createRequire(import.meta.url)('../package.json').version;
