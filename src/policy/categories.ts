// Which category a save belongs to, from the reasons that triggered it: the
// one rule the policy's decisions and the merging of coalesced saves share.
import type { Category } from '../file/types.js';

export type Reason = 'improved' | 'steps' | 'minutes' | 'always' | 'forced' | 'final';

/** The order reasons are listed in, everywhere. */
export const REASON_ORDER: readonly Reason[] = ['improved', 'steps', 'minutes', 'always', 'forced', 'final'];

/**
 * An improvement makes a checkpoint "best" whatever else fired; then a final
 * save is "final"; an interval or `always` makes it "periodic"; a forced save
 * alone is "manual". No reason: no save.
 */
export function categoryOf(reasons: readonly Reason[]): Category | null {
  if (reasons.includes('improved')) return 'best';
  if (reasons.includes('final')) return 'final';
  if (reasons.some((r) => r === 'steps' || r === 'minutes' || r === 'always')) return 'periodic';
  return reasons.length > 0 ? 'manual' : null;
}

/** The reasons of two saves merged into one, in REASON_ORDER. */
export function mergeReasons(a: readonly Reason[], b: readonly Reason[]): Reason[] {
  return REASON_ORDER.filter((r) => a.includes(r) || b.includes(r));
}
