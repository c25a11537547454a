/**
 * Runs `fn` and returns the error of class `type` it throws; fails the test when it throws nothing
 * (or rethrows anything else).
 */
export function thrownBy<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected a ${type.name}`);
}
