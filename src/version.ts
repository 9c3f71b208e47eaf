// The package version, written into every checkpoint as its writer.
import { createRequire } from 'node:module';

export const VERSION: string = createRequire(import.meta.url)('../package.json').version;
