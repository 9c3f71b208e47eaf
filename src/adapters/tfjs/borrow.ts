// The arrays this adapter hands to tensorkeep are tfjs's own and are never
// written again (tfjs tensors are immutable; a variable's assign() swaps in a
// new array), so the save needs no staging copy: `snapshot: 'borrow'`.
//
// SWITCH ON once report()/save() declare the per-call `snapshot` option
// (issue 4, "Non-blocking save pipeline"); until then every call here copies:
//   return { ...options, snapshot: 'borrow' };
export function borrowed<T extends object>(options: T): T {
  return options;
}
