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
  onMaintenance: () => void;
}

export const client: Client = {
  token: null,
  onExpired: () => undefined,
  onPasswordChangeRequired: () => undefined,
  onMaintenance: () => undefined,
};

export interface Page<T> {
  items: T[];
  next_cursor?: string | null; // absent or null: the last page
}

type Query = Record<string, string | number | boolean | undefined | null>;

function address(path: string, query: Query = {}): URL {
  const url = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

function authorized(headers: Record<string, string>): Record<string, string> {
  return client.token ? { ...headers, Authorization: `Bearer ${client.token}` } : headers;
}

/** The answer's problem as an ApiError, telling the session what it must know. */
function refusal(status: number, data: unknown): ApiError {
  const body = data as Problem | undefined;
  const problem: Problem = body && typeof body.code === "string" ? body : { status, code: `http.${status}` };
  if (status === 401 && client.token) client.onExpired();
  if (problem.code === "auth.password_change_required") client.onPasswordChangeRequired();
  if (problem.code === "system.maintenance") client.onMaintenance();
  return new ApiError(problem);
}

async function answer<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw refusal(response.status, data);
  return data as T;
}

export async function api<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; headers?: Record<string, string>; fetcher?: typeof fetch } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await (options.fetcher ?? fetch)(address(path, options.query), {
    method,
    headers: authorized(headers),
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return answer<T>(response);
}

/** A multipart form (a file upload), answered like `api`. */
export async function upload<T>(path: string, form: FormData, query: Query = {}): Promise<T> {
  const response = await fetch(address(path, query), {
    method: "POST",
    headers: authorized({ Accept: "application/json" }),
    body: form,
  });
  return answer<T>(response);
}

/** A file the API sends (a template, an export), saved under the name it gives. */
export async function download(path: string, fallbackName: string, query: Query = {}): Promise<void> {
  const response = await fetch(address(path, query), { headers: authorized({}) });
  if (!response.ok) throw refusal(response.status, await response.json().catch(() => undefined));
  const named = /filename\*=UTF-8''([^;]+)/.exec(response.headers.get("Content-Disposition") ?? "");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = named ? decodeURIComponent(named[1]) : fallbackName;
  link.click();
  URL.revokeObjectURL(link.href);
}

/** A file the API sends, as an address the page may show (an <img>) while it is open. */
export async function fileUrl(path: string): Promise<string> {
  const response = await fetch(address(path), { headers: authorized({}) });
  if (!response.ok) throw refusal(response.status, await response.json().catch(() => undefined));
  return URL.createObjectURL(await response.blob());
}

/** What to show for a failed call: the problem's Chinese message, or that the system is away. */
export function messageOf(error: unknown): string {
  return error instanceof ApiError ? error.message : "无法连接到系统，请稍后再试";
}

/** A month as the API writes it (YYYY-MM). */
// The league's days and months are Beijing's, whatever the clock of the browser showing them
// (a secretary travelling, a laptop left on UTC): dues months, payment times, deadlines.
const BEIJING = "Asia/Shanghai";

/** This month in Beijing, as the API names months (`2026-12`). */
export function thisMonth(now = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: BEIJING, year: "numeric", month: "2-digit" }).format(now);
}

/** A moment in Beijing time, date and time. */
export function beijingTime(iso: string): string {
  return new Date(iso).toLocaleString("zh-CN", { timeZone: BEIJING });
}

/** A moment's day in Beijing. */
export function beijingDate(iso: string): string {
  return new Date(iso).toLocaleDateString("zh-CN", { timeZone: BEIJING });
}

/** A moment as a Chinese reader scans a list: month/day hour:minute, Beijing time. */
export function shortTime(iso: string): string {
  return new Date(iso).toLocaleString("zh-CN", {
    timeZone: BEIJING,
    month: "numeric",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** Fen as yuan with two decimals: money is counted in fen everywhere. */
export function yuan(fen: number | null | undefined): string {
  return fen === null || fen === undefined ? "" : (fen / 100).toFixed(2);
}
