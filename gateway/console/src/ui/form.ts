// A form that sends to the API: what is missing said next to its field before anything is sent,
// the API's field errors next to theirs, any other refusal as one Chinese sentence.

import { reactive, ref } from "vue";
import { ApiError, messageOf } from "../api/client";
import { fieldErrors } from "../api/problems";

export function useForm() {
  const fields = reactive<Record<string, string>>({});
  const error = ref("");
  const busy = ref(false);

  function clear(): void {
    error.value = "";
    for (const key of Object.keys(fields)) delete fields[key];
  }

  /** Clears the last errors, then marks each empty field with its message; true if none is. */
  function filled(required: Record<string, [unknown, string]>): boolean {
    clear();
    for (const [field, [value, message]] of Object.entries(required)) {
      if (value === null || value === undefined || String(value).trim() === "" || value === 0) fields[field] = message;
    }
    return Object.keys(fields).length === 0;
  }

  /** Sends; true when the API took it. */
  async function send(action: () => Promise<unknown>): Promise<boolean> {
    busy.value = true;
    try {
      await action();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.problem.errors?.length) Object.assign(fields, fieldErrors(e.problem));
      error.value = messageOf(e);
      return false;
    } finally {
      busy.value = false;
    }
  }

  return { fields, error, busy, clear, filled, send };
}
