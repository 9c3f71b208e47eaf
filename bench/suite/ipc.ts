// The suite's parent/child protocol. A child gets its job as JSON in argv[2].
// A one-shot child (the pipeline) answers once with its figures; a serving
// child (a contender) answers "ready" once set up, then one request at a time
// until the parent ends it. Every answer is the result or the error that
// stopped it; a child that dies (out of memory, a signal) is reported with
// its last words.
import { fork, type ChildProcess } from 'node:child_process';

export type Outcome<F> = { figures: F } | { error: string };

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

async function attempt<F>(work: () => Promise<F> | F): Promise<Outcome<F>> {
  try {
    return { figures: await work() };
  } catch (err) {
    return { error: describe(err) };
  }
}

/** The child's side of a one-shot job: runs the work and sends the outcome. */
export async function answer<J, F>(work: (job: J) => Promise<F>): Promise<void> {
  const outcome = await attempt(() => work(JSON.parse(process.argv[2]) as J));
  process.send!(outcome, () => process.disconnect());
}

/** What a serving child does once set up: answers each request; `end` answers the last. */
export interface Server<Q, A, E> {
  request(query: Q): Promise<A> | A;
  end(): Promise<E> | E;
}

/** The child's side of a serving job: sets up, answers ready, then every request in turn. */
export async function serve<J, R, Q, A, E>(setUp: (job: J) => Promise<{ ready: R; server: Server<Q, A, E> }>): Promise<void> {
  const started = await attempt(() => setUp(JSON.parse(process.argv[2]) as J));
  if ('error' in started) return void process.send!(started, () => process.disconnect());
  const { ready, server } = started.figures;
  process.on('message', async (message: { query: Q } | { end: true }) => {
    if ('end' in message) process.send!(await attempt(() => server.end()), () => process.disconnect());
    else process.send!(await attempt(() => server.request(message.query)));
  });
  process.send!({ figures: ready });
}

/** Forks `file` (TypeScript, through tsx) on the job. */
function forkChild(file: string, job: unknown): { child: ChildProcess; died: Promise<string> } {
  const child = fork(file, [JSON.stringify(job)], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const died = new Promise<string>((resolve) => {
    child.on('error', (err) => resolve(describe(err)));
    child.on('exit', (code, signal) => {
      // V8 prints its reason ("FATAL ERROR: Reached heap limit ...") before a native stack.
      const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
      const reason = lines.findLast((l) => /^(FATAL ERROR|\w*Error)\b/.test(l)) ?? lines.at(-1);
      resolve(`${reason ? `${reason} ` : ''}(child died: ${signal ?? `exit code ${code}`})`);
    });
  });
  return { child, died };
}

/** The parent's side of a one-shot job. */
export async function runChild<F>(file: string, job: unknown): Promise<Outcome<F>> {
  const { child, died } = forkChild(file, job);
  let outcome: Outcome<F> | null = null;
  child.on('message', (message) => (outcome = message as Outcome<F>));
  const error = await died;
  return outcome ?? { error };
}

/** The parent's side of a serving child: one message awaited at a time. */
export class Served<R, Q, A, E> {
  private readonly child: ChildProcess;
  private readonly died: Promise<Outcome<never>>;
  /** Why the child can answer no more, once it cannot. */
  gone: string | null = null;
  readonly ready: Promise<Outcome<R>>;

  constructor(file: string, job: unknown) {
    const { child, died } = forkChild(file, job);
    this.child = child;
    this.died = died.then((error) => ({ error: (this.gone = error) }));
    this.ready = this.next<R>();
  }

  private next<T>(): Promise<Outcome<T>> {
    const answered = new Promise<Outcome<T>>((resolve) => this.child.once('message', (m) => resolve(m as Outcome<T>)));
    return Promise.race([answered, this.died]);
  }

  request(query: Q): Promise<Outcome<A>> {
    if (this.gone) return Promise.resolve({ error: this.gone });
    const answered = this.next<A>();
    this.child.send({ query });
    return answered;
  }

  /** The child's last answer; it exits after sending it. */
  async end(): Promise<Outcome<E>> {
    if (this.gone) return { error: this.gone };
    const answered = this.next<E>();
    this.child.send({ end: true });
    const outcome = await answered;
    await this.died;
    return outcome;
  }
}
