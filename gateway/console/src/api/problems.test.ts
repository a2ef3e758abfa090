import { describe, expect, it } from "vitest";
import { fieldErrors, problemMessage } from "./problems";

describe("problemMessage", () => {
  it("says a known code in Chinese", () => {
    expect(problemMessage({ status: 401, code: "auth.invalid_credentials" })).toBe("用户名或密码错误");
  });

  it("falls back on the status for a code it does not know", () => {
    expect(problemMessage({ status: 503, code: "gateway.upstream_lost" })).toBe("系统繁忙，请稍后再试");
    expect(problemMessage({ status: 409, code: "something.new" })).toBe("当前状态不允许此操作");
  });

  it("never shows English to the user", () => {
    expect(problemMessage({ status: 599, code: "x.y" })).toMatch(/[\u4e00-\u9fff]/);
  });
});

describe("fieldErrors", () => {
  it("says what is wrong with a field when the code tells", () => {
    const problem = { status: 422, code: "fee.decided_in_future", errors: [{ field: "decided_on", message: "x" }] };
    expect(fieldErrors(problem)).toEqual({ decided_on: "决定日期不能晚于今天" });
  });

  it("falls back on the general sentence for a plain validation error", () => {
    const problem = { status: 422, code: "request.invalid", errors: [{ field: "purpose", message: "x" }] };
    expect(fieldErrors(problem)).toEqual({ purpose: "格式不正确或未填写" });
  });
});
