// Types of readme-examples.mjs, for the tests that import it.
/** The body of every ```ts block of the README, in order. */
export function readmeExamples(): string[];
/** Writes each example to `dir`/example-<n>.ts; returns the file names in README order. */
export function writeReadmeExamples(dir: string): string[];
