// Prints, at the end of a run, every test skipped because the machine lacked
// something (test/fixtures/capabilities.ts): a local run says what it did
// not test instead of a skip count alone.
import type { Reporter, TestModule } from 'vitest/node';

export default class NotTestedReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const reason = test.meta().notTested;
        if (reason) lines.push(`  ${module.moduleId.replace(`${process.cwd()}/`, '')} > ${test.fullName}: ${reason}`);
      }
    }
    if (lines.length === 0) return;
    console.log(`\nNOT TESTED in this run (${lines.length}; CI sets TK_REQUIRE_ALL=1, which fails them instead):\n${lines.join('\n')}\n`);
  }
}
