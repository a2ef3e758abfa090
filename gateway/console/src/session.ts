// Who is signed in: the token (kept for the tab, in sessionStorage) and the account from /me.
// An expired session sends the user back to sign-in, keeping the page they were on.

import { reactive } from "vue";
import { api, client } from "./api/client";
import type { Schema } from "./api/types";

export type Account = Schema<"AccountOut">;

export type LoginAnswer = Schema<"LoginOut">;

const KEY = "zhtj.token";

export const session = reactive({
  account: null as Account | null,
  mustChangePassword: false,
  expired: false,
});

export function restore(): void {
  client.token = sessionStorage.getItem(KEY);
}

export async function signIn(username: string, password: string): Promise<LoginAnswer> {
  const answer = await api<LoginAnswer>("POST", "/auth/login", { body: { username, password } });
  client.token = answer.access_token;
  sessionStorage.setItem(KEY, answer.access_token);
  session.account = answer.account;
  session.mustChangePassword = answer.must_change_password;
  session.expired = false;
  return answer;
}

export async function loadAccount(): Promise<Account | null> {
  if (!client.token) return null;
  session.account = await api<Account>("GET", "/me");
  return session.account;
}

export function signOut(): void {
  client.token = null;
  sessionStorage.removeItem(KEY);
  session.account = null;
  session.mustChangePassword = false;
}

/** Whether the signed-in admin works at an organisation above this one (not at it): who may
 * dissolve it or appoint its admins. */
export function adminAbove(org: { id: string; path: string[] }): boolean {
  const mine = session.account?.role === "admin" ? session.account.org_id : null;
  return !!mine && mine !== org.id && org.path.includes(mine);
}
