import { describe, expect, it } from "vitest";
import { eachOf } from "./batch";

describe("eachOf", () => {
  it("does every item a few at a time and says which failed and why", async () => {
    let inFlight = 0;
    let most = 0;
    const outcome = await eachOf(
      [1, 2, 3, 4, 5, 6, 7],
      async (n) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight -= 1;
        if (n === 3) throw new Error("已缴纳");
      },
      (e) => (e as Error).message,
      3,
    );
    expect(outcome.done.sort()).toEqual([1, 2, 4, 5, 6, 7]);
    expect(outcome.failed).toEqual([{ item: 3, message: "已缴纳" }]);
    expect(most).toBe(3);
  });

  it("does nothing for no items", async () => {
    expect(await eachOf([], async () => undefined, String)).toEqual({ done: [], failed: [] });
  });
});
