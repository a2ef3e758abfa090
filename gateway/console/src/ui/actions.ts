// An action a user takes from a list (approve, receive, record): its outcome as a message,
// a refusal as the problem's Chinese sentence; a reason asked for before a step that needs one.

import { ElMessage, ElMessageBox } from "element-plus";
import { messageOf } from "../api/client";

/** Runs the action; true when it was done (said as `done`, unless that is empty). */
export async function attempt(action: () => Promise<unknown>, done: string): Promise<boolean> {
  try {
    await action();
    if (done) ElMessage.success(done);
    return true;
  } catch (e) {
    ElMessage.error(messageOf(e));
    return false;
  }
}

/** The reason for a step (a rejection, a delay note), or null when the user thinks better of it. */
export async function askReason(title: string): Promise<string | null> {
  try {
    const { value } = await ElMessageBox.prompt(`请填写${title}`, title, {
      confirmButtonText: "提交",
      cancelButtonText: "取消",
      inputValidator: (v: string) => (v.trim() ? true : `${title}不能为空`),
    });
    return value.trim();
  } catch {
    return null;
  }
}

/** Yes or no before a step that cannot be taken back. */
export async function confirmed(text: string, title: string, yes = "确定"): Promise<boolean> {
  try {
    await ElMessageBox.confirm(text, title, { confirmButtonText: yes, cancelButtonText: "取消", type: "warning" });
    return true;
  } catch {
    return false;
  }
}
