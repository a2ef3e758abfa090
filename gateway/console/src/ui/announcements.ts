// Announcements and maintenance windows (系统公告 / 系统维护): read by every screen each minute.
// During a read-only window the console turns its write controls off (v-write) instead of
// letting a user fill a form the gateway will refuse with 503 system.maintenance.

import { type Directive, type VNode, computed, reactive, watchEffect } from "vue";
import { api } from "../api/client";

export interface Announcement {
  id: string;
  org_id: string;
  kind: "notice" | "maintenance";
  title: string;
  body: string;
  starts_at: string;
  ends_at: string;
  read_only: boolean;
}

export const announcements = reactive({
  items: [] as Announcement[],
  now: Date.now(),
});

function current(a: Announcement, now: number): boolean {
  return Date.parse(a.starts_at) <= now && now < Date.parse(a.ends_at);
}

/** The read-only window in force now, if any. */
export const readOnlyWindow = computed(
  () => announcements.items.find((a) => a.read_only && current(a, announcements.now)) ?? null,
);

export async function refreshAnnouncements(): Promise<void> {
  try {
    announcements.items = (await api<{ items: Announcement[] }>("GET", "/announcements/active")).items;
  } catch {
    // Announcements are a courtesy: a screen works on without them.
  }
  announcements.now = Date.now();
}

let timer: number | undefined;

/** Read now and each minute after (once for the whole console). */
export function followAnnouncements(): void {
  if (timer !== undefined) return;
  void refreshAnnouncements();
  timer = window.setInterval(() => void refreshAnnouncements(), 60_000);
}

/** v-write: a control that writes, off during a read-only maintenance window. */
type Writing = HTMLElement & { stopWriteWatch?: () => void; own?: boolean };

// `own`: whether the control is off for reasons of its own (an empty form, a call under way),
// from the component's props, so that the end of a window gives it back as it was.
function ownDisabled(vnode: VNode): boolean {
  const props = vnode.props ?? {};
  return [props.disabled, props.loading].some((v) => v !== undefined && v !== false);
}

function apply(el: Writing): void {
  const off = readOnlyWindow.value !== null;
  if (off) {
    (el as unknown as HTMLButtonElement).disabled = true;
    el.classList.add("is-disabled", "read-only");
    el.setAttribute("title", "系统维护中，当前仅可查看");
  } else if (el.classList.contains("read-only")) {
    (el as unknown as HTMLButtonElement).disabled = el.own ?? false;
    el.classList.remove("read-only");
    if (!el.own) el.classList.remove("is-disabled");
    el.removeAttribute("title");
  }
}

export const vWrite: Directive<Writing> = {
  mounted(el, _binding, vnode) {
    el.own = ownDisabled(vnode);
    el.stopWriteWatch = watchEffect(() => apply(el));
  },
  updated(el, _binding, vnode) {
    el.own = ownDisabled(vnode);
    apply(el);
  },
  unmounted(el) {
    el.stopWriteWatch?.();
  },
};
