// The README's TypeScript examples, each a whole program, written out as
// files so that tests can compile and run them exactly as a user would
// copy them: test/examples/readme-examples.test.ts runs them against the sources,
// scripts/package/consumer-test.sh against the installed package.
//   node scripts/package/readme-examples.mjs OUTDIR   writes OUTDIR/example-<n>.ts, prints their names
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const readme = join(dirname(fileURLToPath(import.meta.url)), '../../README.md');

/** The body of every ```ts block of the README, in order. */
export function readmeExamples() {
  return [...readFileSync(readme, 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** Writes each example to `dir`/example-<n>.ts; returns the file names in README order. */
export function writeReadmeExamples(dir) {
  mkdirSync(dir, { recursive: true });
  return readmeExamples().map((code, i) => {
    const name = `example-${i + 1}.ts`;
    writeFileSync(join(dir, name), code);
    return name;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv[2]) {
    console.error('usage: node scripts/package/readme-examples.mjs OUTDIR');
    process.exit(2);
  }
  console.log(writeReadmeExamples(process.argv[2]).join('\n'));
}
