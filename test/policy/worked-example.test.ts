// docs/POLICIES.md walks through this run row by row; if this test changes,
// the page must change with it.
import { expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { tempDir } from '../helpers.js';

const dir = tempDir();

it('reproduces the worked example of docs/POLICIES.md', async () => {
  const store = await open(dir, { monitor: { loss: 'min' }, every: { steps: 100 }, keep: { best: 2, periodic: 2 } });
  const model = store.model('m');
  const tensors = { w: new Float32Array(4) };
  const losses: Record<number, number> = { 0: 1.0, 100: 1.01, 200: 1.02, 300: 0.9, 400: 0.95, 450: 0.85, 500: 0.96, 600: 0.97 };
  const rows: string[] = [];
  for (let step = 0; step <= 600; step += 10) {
    const ticket = model.report({ step, metrics: { loss: losses[step] ?? 1.5 }, tensors });
    if (!ticket.saved) continue;
    await ticket.durable; // the retention of its commit is already in list()
    rows.push(`${step} #${ticket.seq} ${ticket.reasons.join('+')} | ${model.list().map((i) => `${i.seq}:${i.category}`).join(' ')}`);
  }
  await store.close();
  expect(rows).toEqual([
    '0 #1 improved | 1:best',
    '100 #2 steps | 1:best 2:periodic',
    '200 #3 steps | 1:best 2:periodic 3:periodic',
    '300 #4 improved+steps | 1:best 2:periodic 3:periodic 4:best',
    '400 #5 steps | 1:best 3:periodic 4:best 5:periodic',
    '450 #6 improved | 3:periodic 4:best 5:periodic 6:best',
    '550 #7 steps | 4:best 5:periodic 6:best 7:periodic',
  ]);
});
