import { describe, expect, it } from "vitest";
import { usePages } from "./pages";

interface Row {
  id: number;
}

describe("usePages", () => {
  it("shows nothing of the last query when the first page of a new one fails", async () => {
    let fail = false;
    const pages = usePages<Row>(async () => {
      if (fail) throw new Error("down");
      return { items: [{ id: 1 }], next_cursor: "c" };
    });
    await pages.reload();
    expect(pages.items.value).toHaveLength(1);
    fail = true;
    await pages.reload();
    expect(pages.items.value).toEqual([]);
    expect(pages.last.value).toBeNull();
    expect(pages.cursor.value).toBeNull();
    expect(pages.error.value).not.toBe("");
  });

  it("keeps what was loaded when loading more fails", async () => {
    let calls = 0;
    const pages = usePages<Row>(async () => {
      calls += 1;
      if (calls > 1) throw new Error("down");
      return { items: [{ id: 1 }], next_cursor: "c" };
    });
    await pages.reload();
    await pages.more();
    expect(pages.items.value).toEqual([{ id: 1 }]);
    expect(pages.cursor.value).toBe("c");
  });
});
