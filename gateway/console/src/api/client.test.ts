import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, beijingTime, client, thisMonth } from "./client";

function answering(status: number, body?: unknown, type = "application/json"): typeof fetch {
  return vi.fn(async () => new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": type },
  })) as unknown as typeof fetch;
}

afterEach(() => {
  client.token = null;
  client.onExpired = () => undefined;
});

describe("api", () => {
  it("sends the token and the query, and returns the JSON", async () => {
    client.token = "t-1";
    const fetcher = answering(200, { id: "o" });
    const found = await api<{ id: string }>("GET", "/orgs/o", { query: { q: "张", cursor: null }, fetcher });
    expect(found.id).toBe("o");
    const [url, init] = (fetcher as unknown as ReturnType<typeof vi.fn>).mock.calls[0];
    expect(String(url)).toContain("/api/v1/orgs/o?q=%E5%BC%A0");
    expect(String(url)).not.toContain("cursor");
    expect(init.headers.Authorization).toBe("Bearer t-1");
  });

  it("turns a problem answer into an error with its Chinese message and code", async () => {
    const fetcher = answering(409, { status: 409, code: "member.duplicate", detail: "dup" }, "application/problem+json");
    const failure = (await api("POST", "/orgs/b/members", { body: {}, fetcher }).catch((e: unknown) => e)) as ApiError;
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure.code).toBe("member.duplicate");
    expect(failure.message).toBe("该身份证号的团员已存在");
  });

  it("tells the session when a token stops working", async () => {
    client.token = "old";
    const expired = vi.fn();
    client.onExpired = expired;
    await api("GET", "/me", { fetcher: answering(401, { status: 401, code: "auth.not_authenticated" }) }).catch(() => undefined);
    expect(expired).toHaveBeenCalledOnce();
  });

  it("returns nothing for 204", async () => {
    await expect(api("POST", "/auth/password", { body: {}, fetcher: answering(204) })).resolves.toBeUndefined();
  });
});

describe("Beijing's calendar", () => {
  it("names the month by Beijing's clock, whatever the browser's", () => {
    // 16:30 UTC on 30 November is 00:30 on 1 December in Beijing.
    expect(thisMonth(new Date("2026-11-30T16:30:00Z"))).toBe("2026-12");
    expect(thisMonth(new Date("2026-11-30T15:30:00Z"))).toBe("2026-11");
  });

  it("shows a moment in Beijing time", () => {
    expect(beijingTime("2026-12-07T16:24:59Z")).toContain("2026/12/8");
    expect(beijingTime("2026-12-07T16:24:59Z")).toContain("00:24:59");
  });
});
