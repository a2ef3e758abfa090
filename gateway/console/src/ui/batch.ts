// Many of the same action at once (cash a meeting's worth of members handed over): a few
// requests at a time, so that the page does not send a hundred at once, and every outcome kept,
// so that the secretary learns which were not done and why.

export interface Outcome<T> {
  done: T[];
  failed: { item: T; message: string }[];
}

/** `action` for each item, at most `atOnce` at a time; failures are described, not thrown. */
export async function eachOf<T>(
  items: readonly T[],
  action: (item: T) => Promise<unknown>,
  describe: (error: unknown) => string,
  atOnce = 4,
): Promise<Outcome<T>> {
  const outcome: Outcome<T> = { done: [], failed: [] };
  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length) {
      const item = items[next++];
      try {
        await action(item);
        outcome.done.push(item);
      } catch (e) {
        outcome.failed.push({ item, message: describe(e) });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(atOnce, items.length) }, lane));
  return outcome;
}
