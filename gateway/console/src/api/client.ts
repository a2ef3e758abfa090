// The public API through the gateway (/api/v1), as the signed-in user. A problem+json answer
// becomes an ApiError carrying its Chinese message; a 401 tells the session it has expired.

import { type Problem, problemMessage } from "./problems";

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problemMessage(problem));
  }
  get status(): number {
    return this.problem.status;
  }
  get code(): string {
    return this.problem.code;
  }
}

export interface Client {
  token: string | null;
  onExpired: () => void;
  onPasswordChangeRequired: () => void;
}

export const client: Client = {
  token: null,
  onExpired: () => undefined,
  onPasswordChangeRequired: () => undefined,
};

type Query = Record<string, string | number | boolean | undefined | null>;

export async function api<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; fetcher?: typeof fetch } = {},
): Promise<T> {
  const url = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const headers: Record<string, string> = { Accept: "application/json" };
  if (client.token) headers.Authorization = `Bearer ${client.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await (options.fetcher ?? fetch)(url, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const problem: Problem =
      data && typeof data.code === "string" ? data : { status: response.status, code: `http.${response.status}` };
    if (response.status === 401 && client.token) client.onExpired();
    if (problem.code === "auth.password_change_required") client.onPasswordChangeRequired();
    throw new ApiError(problem);
  }
  return data as T;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** What to show for a failed call: the problem's Chinese message, or that the system is away. */
export function messageOf(error: unknown): string {
  return error instanceof ApiError ? error.message : "无法连接到系统，请稍后再试";
}
