// Names of members and organisations a list carries only by id, each read once per screen.

import { reactive } from "vue";
import { api } from "../api/client";

export function useNames(): {
  names: Record<string, string>;
  learn: (kind: "members" | "orgs", id: string | null) => Promise<void>;
} {
  const names = reactive<Record<string, string>>({});

  async function learn(kind: "members" | "orgs", id: string | null): Promise<void> {
    if (!id || id in names) return;
    names[id] = "";
    try {
      names[id] = (await api<{ name: string }>("GET", `/${kind}/${id}`)).name;
    } catch {
      names[id] = "（无权查看）";
    }
  }

  return { names, learn };
}
