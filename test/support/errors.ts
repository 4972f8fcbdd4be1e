/** Assertions on the errors Tether throws, which tests check by their stable `code`. */
import { expect } from 'vitest';
import { TetherError } from '../../src/protocol/errors.js';

/** Calls `fn`, expects it to throw a `TetherError`, and returns that error's code. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TetherError);
    return (error as TetherError).code;
  }
  throw new Error('expected a TetherError');
}

/** Awaits `promise`, expects it to reject with a `TetherError`, and returns that error's code. */
export async function rejectionCodeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TetherError);
    return (error as TetherError).code;
  }
  throw new Error('expected a TetherError');
}
