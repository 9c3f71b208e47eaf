// Stream and model names in the episode log follow the model-name rule of
// DESIGN.md §4: they become directory names (streams) or are compared as
// such, so no name can escape the store root or start with a dot.
import { badInput } from '../errors.js';

export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkModelName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) throw badInput(`Expected a model name matching ${NAME} for ${what} but received ${JSON.stringify(name)}`);
}

export function checkStreamName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) throw badInput(`Expected a stream name matching ${NAME} but received ${JSON.stringify(name)}`);
}
