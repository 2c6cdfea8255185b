// The API client: bearer tokens with transparent refresh, RFC 9457 problems
// turned into ApiError (with the message of each field at fault), and
// server-sent event streams over fetch (EventSource cannot send a token).
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type User = Schemas["UserView"];

export interface Tokens {
  access: string;
  refresh: string;
  accessExpiresAt: number; // ms since the epoch
  refreshExpiresAt: number;
  user: User;
}

export interface TokenStore {
  get(): Tokens | null;
  set(t: Tokens | null): void;
}

/** localStorage keeps the session across reloads and tabs. */
export function browserStore(key = "qrmfg.session"): TokenStore {
  return {
    get() {
      try {
        const raw = localStorage.getItem(key);
        return raw ? (JSON.parse(raw) as Tokens) : null;
      } catch {
        return null;
      }
    },
    set(t) {
      if (t) localStorage.setItem(key, JSON.stringify(t));
      else localStorage.removeItem(key);
    },
  };
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.status = problem.status;
    this.problem = problem;
  }
  /** The message of each field at fault, keyed by field name ("body.count" → "count"). */
  fields(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem.errors ?? []) {
      const name = fieldName(e.location ?? "");
      if (name && !(name in out)) out[name] = e.message ?? "invalid";
    }
    return out;
  }
}

/** "body.style.ec_level" → "style.ec_level"; "query.limit" → "limit"; "body[0]" → "". */
export function fieldName(location: string): string {
  return location.replace(/^(body|query|path|header)\.?/, "");
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown; // JSON unless FormData, Blob or string
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ClientOptions {
  store: TokenStore;
  fetch?: typeof fetch;
  baseUrl?: string;
  now?: () => number;
  /** Called when the session is over (refresh refused or expired): show the login. */
  onExpired?: () => void;
  /** Refresh this long before the access token expires. */
  refreshMarginMs?: number;
}

interface TokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_expires_at: string;
  user: User;
}

export class Client {
  private readonly store: TokenStore;
  private readonly fetchFn: typeof fetch;
  private readonly base: string;
  private readonly now: () => number;
  private readonly margin: number;
  onExpired?: () => void;
  private refreshing: Promise<boolean> | null = null;

  constructor(o: ClientOptions) {
    this.store = o.store;
    this.fetchFn = o.fetch ?? ((...a) => fetch(...a));
    this.base = o.baseUrl ?? "";
    this.now = o.now ?? Date.now;
    this.margin = o.refreshMarginMs ?? 30_000;
    this.onExpired = o.onExpired;
  }

  get session(): Tokens | null {
    return this.store.get();
  }

  url(path: string, query?: Query): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    }
    const s = q.toString();
    return this.base + path + (s ? "?" + s : "");
  }

  async login(username: string, password: string): Promise<Tokens> {
    const res = await this.fetchFn(this.url("/auth/login"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) throw await problemOf(res);
    return this.keep((await res.json()) as TokenResponse);
  }

  async logout(): Promise<void> {
    const t = this.store.get();
    this.store.set(null);
    if (t) {
      // Revoke the refresh token; the session is over here either way.
      await this.fetchFn(this.url("/auth/logout"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: t.refresh }),
      }).catch(() => undefined);
    }
  }

  private keep(r: TokenResponse): Tokens {
    const t: Tokens = {
      access: r.access_token,
      refresh: r.refresh_token,
      accessExpiresAt: this.now() + r.expires_in * 1000,
      refreshExpiresAt: Date.parse(r.refresh_expires_at),
      user: r.user,
    };
    this.store.set(t);
    return t;
  }

  /** One refresh at a time: concurrent callers share it. False: the session is over. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const t = this.store.get();
    if (!t || t.refreshExpiresAt <= this.now()) return this.expire();
    let res: Response;
    try {
      res = await this.fetchFn(this.url("/auth/refresh"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: t.refresh }),
      });
    } catch {
      return false; // network down: keep the session, the call fails
    }
    if (res.status === 401 || res.status === 400 || res.status === 422) return this.expire();
    if (!res.ok) return false;
    this.keep((await res.json()) as TokenResponse);
    return true;
  }

  private expire(): false {
    if (this.store.get()) {
      this.store.set(null);
    }
    this.onExpired?.();
    return false;
  }

  /** A fetch with the access token, refreshed first when about to expire and once more on a 401. */
  async raw(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const send = async () => {
      const t = this.store.get();
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (t) headers.Authorization = "Bearer " + t.access;
      let body: BodyInit | undefined;
      if (o.body instanceof FormData || o.body instanceof Blob || typeof o.body === "string") {
        body = o.body;
      } else if (o.body !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(o.body);
      }
      return this.fetchFn(this.url(path, o.query), { method, headers, body, signal: o.signal });
    };
    const t = this.store.get();
    if (t && t.accessExpiresAt - this.margin <= this.now()) await this.refresh();
    let res = await send();
    if (res.status === 401 && this.store.get()) {
      if (await this.refresh()) res = await send();
    }
    return res;
  }

  async call<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, { ...o, headers: { Accept: "application/json", ...(o.headers ?? {}) } });
    if (!res.ok) throw await problemOf(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.call<T>("GET", path, { query, signal });
  }
  post<T>(path: string, body?: unknown, o: RequestOptions = {}): Promise<T> {
    return this.call<T>("POST", path, { ...o, body });
  }
  patch<T>(path: string, body?: unknown, o: RequestOptions = {}): Promise<T> {
    return this.call<T>("PATCH", path, { ...o, body });
  }

  /** A file answer (image, ZIP, PDF, CSV) as a Blob and its file name. */
  async file(method: string, path: string, o: RequestOptions = {}): Promise<{ blob: Blob; name: string; type: string }> {
    const res = await this.raw(method, path, o);
    if (!res.ok) throw await problemOf(res);
    const cd = res.headers.get("Content-Disposition") ?? "";
    const name = /filename="?([^";]+)"?/.exec(cd)?.[1] ?? path.split("/").pop() ?? "download";
    return { blob: await res.blob(), name, type: res.headers.get("Content-Type") ?? "" };
  }

  /**
   * Follows a server-sent event stream until signal aborts, reconnecting
   * after a dropped connection (1 s, then doubling up to 15 s). onState
   * reports whether the stream is live.
   */
  async stream(
    path: string,
    onEvent: (event: string, data: unknown) => void,
    signal: AbortSignal,
    onState?: (live: boolean) => void,
  ): Promise<void> {
    let delay = 1000;
    while (!signal.aborted) {
      try {
        const res = await this.raw("GET", path, { signal, headers: { Accept: "text/event-stream" } });
        if (res.status === 404 || res.status === 403 || res.status === 401) {
          onState?.(false);
          throw await problemOf(res);
        }
        if (!res.ok || !res.body) throw new Error(`stream ${path}: HTTP ${res.status}`);
        onState?.(true);
        delay = 1000;
        await readEvents(res.body, onEvent);
        onState?.(false);
      } catch (e) {
        if (signal.aborted || e instanceof ApiError) {
          if (e instanceof ApiError) throw e;
          return;
        }
        onState?.(false);
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 15_000);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Parses a text/event-stream body, calling onEvent for each event with JSON data. */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: unknown) => void) {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const [k, ...rest] = line.split(":");
        const v = rest.join(":").replace(/^ /, "");
        if (k === "event") event = v;
        else if (k === "data") data.push(v);
      }
      if (data.length === 0) continue;
      const text = data.join("\n");
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON: the text */
      }
      onEvent(event, parsed);
    }
  }
}

/** The problem of a failed response; a body that is not a problem still gives one. */
export async function problemOf(res: Response): Promise<ApiError> {
  let p: Partial<Problem> = {};
  try {
    const text = await res.text();
    p = JSON.parse(text) as Problem;
  } catch {
    /* not JSON */
  }
  const retry = res.headers.get("Retry-After");
  let detail = p.detail ?? p.title ?? res.statusText ?? `HTTP ${res.status}`;
  if (res.status === 429 && retry) detail += ` Try again in ${retry} s.`;
  return new ApiError({
    type: p.type ?? "about:blank",
    title: p.title ?? res.statusText ?? "Error",
    status: p.status ?? res.status,
    code: (p.code ?? "internal") as Problem["code"],
    detail,
    errors: p.errors,
    instance: p.instance,
  });
}
