import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import { defineComponent, nextTick } from "vue";
import { type Announcement, announcements, readOnlyWindow, vWrite } from "./announcements";

function windowOf(minutesFromNow: number, minutes: number, readOnly = true): Announcement {
  const start = Date.now() + minutesFromNow * 60_000;
  return {
    id: crypto.randomUUID(),
    org_id: "root",
    kind: "maintenance",
    title: "系统升级",
    body: "",
    starts_at: new Date(start).toISOString(),
    ends_at: new Date(start + minutes * 60_000).toISOString(),
    read_only: readOnly,
  };
}

const Form = defineComponent({
  directives: { write: vWrite },
  props: { empty: Boolean },
  template: `<div><button v-write class="save">保存</button><button v-write class="send" :disabled="empty">发送</button></div>`,
});

describe("read-only maintenance windows", () => {
  it("are in force only between their start and their end, and only when read-only", () => {
    announcements.now = Date.now();
    announcements.items = [windowOf(5, 30), windowOf(-1, 30, false)];
    expect(readOnlyWindow.value).toBeNull();
    announcements.items = [windowOf(-1, 30)];
    expect(readOnlyWindow.value?.title).toBe("系统升级");
    announcements.items = [windowOf(-31, 30)];
    expect(readOnlyWindow.value).toBeNull();
  });

  it("turn write controls off, and give them back as they were when the window ends", async () => {
    announcements.now = Date.now();
    announcements.items = [];
    const form = mount(Form, { props: { empty: true } });
    const save = form.find(".save").element as HTMLButtonElement;
    const send = form.find(".send").element as HTMLButtonElement;
    expect([save.disabled, send.disabled]).toEqual([false, true]);

    announcements.items = [windowOf(-1, 30)];
    await nextTick();
    expect([save.disabled, send.disabled]).toEqual([true, true]);
    expect(save.title).toContain("系统维护中");

    announcements.items = [];
    await nextTick();
    expect([save.disabled, send.disabled]).toEqual([false, true]); // still empty: still off
    await form.setProps({ empty: false });
    expect(send.disabled).toBe(false);
  });
});
