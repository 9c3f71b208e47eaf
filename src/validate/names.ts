// Model and stream names become directory names under the store root, so
// they follow one rule: no separator, no leading dot, nothing that could
// escape the root or collide with the store's own entries (.episodes).
import { badInput } from '../errors.js';

export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A model name; `what` says where it was given when that is not a model() call. */
export function checkModelName(name: unknown, what?: string): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name))
    throw badInput(`Expected a model name matching ${NAME}${what ? ` for ${what}` : ''} but received ${JSON.stringify(name)}`);
}

export function checkStreamName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) throw badInput(`Expected a stream name matching ${NAME} but received ${JSON.stringify(name)}`);
}
