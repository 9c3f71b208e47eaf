// The suite's parent/child protocol: a child gets its job as JSON in argv[2]
// and answers once over IPC with its figures or the error that stopped it.
// A child that dies (out of memory, a signal) is reported with its last words.
import { fork } from 'node:child_process';

export type Outcome<F> = { figures: F } | { error: string };

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** The child's side: runs the work on the job it was given and sends the outcome. */
export async function answer<J, F>(work: (job: J) => Promise<F>): Promise<void> {
  let outcome: Outcome<F>;
  try {
    outcome = { figures: await work(JSON.parse(process.argv[2]) as J) };
  } catch (err) {
    outcome = { error: describe(err) };
  }
  process.send!(outcome, () => process.disconnect());
}

/** The parent's side: runs `file` (TypeScript, through tsx) on the job in a fresh process. */
export function runChild<F>(file: string, job: unknown): Promise<Outcome<F>> {
  return new Promise((resolve) => {
    const child = fork(file, [JSON.stringify(job)], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let outcome: Outcome<F> | null = null;
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    child.on('message', (message) => (outcome = message as Outcome<F>));
    child.on('error', (err) => resolve({ error: describe(err) }));
    child.on('exit', (code, signal) => {
      // V8 prints its reason ("FATAL ERROR: Reached heap limit ...") before a native stack.
      const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
      const reason = lines.findLast((l) => /^(FATAL ERROR|\w*Error)\b/.test(l)) ?? lines.at(-1);
      resolve(outcome ?? { error: `${reason ? `${reason} ` : ''}(child died: ${signal ?? `exit code ${code}`})` });
    });
  });
}
