import { describe, expect, it } from "vitest";
import { ApiError, Client, readEvents, type TokenStore, type Tokens } from "./client";

function memStore(t: Tokens | null = null): TokenStore & { value: Tokens | null } {
  const s = {
    value: t,
    get: () => s.value,
    set: (v: Tokens | null) => {
      s.value = v;
    },
  };
  return s;
}

const user = { id: "u1", username: "ana", role: "operator" as const, lines: [] as string[], disabled: false, created_at: "", updated_at: "" };

function tokens(access: string, now: number, over: Partial<Tokens> = {}): Tokens {
  return { access, refresh: "r-" + access, accessExpiresAt: now + 900_000, refreshExpiresAt: now + 86_400_000, user: { ...user }, ...over };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json", ...headers },
  });
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    return e as ApiError;
  }
  throw new Error("the call succeeded");
}

type Call = { url: string; method: string; auth: string | null; body: string | null };

// A fake server: /auth/refresh gives "a2" for "r-a1"; /x needs a current token.
function server(opts: { valid: string[]; refreshOK?: boolean }) {
  const calls: Call[] = [];
  const f = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const h = new Headers(init?.headers);
    const c = { url, method: init?.method ?? "GET", auth: h.get("Authorization"), body: (init?.body as string) ?? null };
    calls.push(c);
    if (url.endsWith("/auth/refresh")) {
      if (opts.refreshOK === false) return json(401, { status: 401, title: "Unauthorized", detail: "refresh token expired", code: "unauthorized" });
      const next = "a" + (calls.filter((x) => x.url.endsWith("/auth/refresh")).length + 1);
      opts.valid.push(next);
      return json(200, { access_token: next, refresh_token: "r-" + next, expires_in: 900, refresh_expires_at: "2999-01-01T00:00:00Z", user });
    }
    if (url.endsWith("/auth/logout")) return new Response(null, { status: 204 });
    if (!opts.valid.includes((c.auth ?? "").replace("Bearer ", ""))) {
      return json(401, { status: 401, title: "Unauthorized", detail: "token expired", code: "unauthorized" });
    }
    return json(200, { ok: true, token: c.auth });
  };
  return { calls, fetch: f as typeof fetch };
}

describe("token refresh", () => {
  it("refreshes once on a 401 and retries the call with the new token", async () => {
    const now = 1_000_000;
    const store = memStore(tokens("a1", now));
    const srv = server({ valid: [] }); // a1 was revoked server-side
    const c = new Client({ store, fetch: srv.fetch, now: () => now });
    const r = await c.get<{ token: string }>("/x");
    expect(r.token).toBe("Bearer a2");
    expect(srv.calls.map((x) => x.url)).toEqual(["/x", "/auth/refresh", "/x"]);
    expect(JSON.parse(srv.calls[1].body!)).toEqual({ refresh_token: "r-a1" });
    expect(store.value?.access).toBe("a2");
  });

  it("refreshes before the call when the access token is about to expire", async () => {
    const now = 1_000_000;
    const store = memStore(tokens("a1", now, { accessExpiresAt: now + 10_000 }));
    const srv = server({ valid: ["a1"] });
    const c = new Client({ store, fetch: srv.fetch, now: () => now });
    await c.get("/x");
    expect(srv.calls.map((x) => x.url)).toEqual(["/auth/refresh", "/x"]);
    expect(srv.calls[1].auth).toBe("Bearer a2");
  });

  it("shares one refresh between concurrent calls", async () => {
    const now = 1_000_000;
    const store = memStore(tokens("a1", now));
    const srv = server({ valid: [] });
    const c = new Client({ store, fetch: srv.fetch, now: () => now });
    await Promise.all([c.get("/x"), c.get("/x"), c.get("/x")]);
    expect(srv.calls.filter((x) => x.url.endsWith("/auth/refresh"))).toHaveLength(1);
  });

  it("ends the session when the refresh is refused", async () => {
    const now = 1_000_000;
    const store = memStore(tokens("a1", now));
    const srv = server({ valid: [], refreshOK: false });
    let expired = 0;
    const c = new Client({ store, fetch: srv.fetch, now: () => now, onExpired: () => expired++ });
    await expect(c.get("/x")).rejects.toMatchObject({ status: 401 });
    expect(store.value).toBeNull();
    expect(expired).toBe(1);
  });

  it("ends the session without a call when the refresh token has expired", async () => {
    const now = 1_000_000;
    const store = memStore(tokens("a1", now, { accessExpiresAt: now - 1, refreshExpiresAt: now - 1 }));
    const srv = server({ valid: ["a1"] });
    let expired = 0;
    const c = new Client({ store, fetch: srv.fetch, now: () => now, onExpired: () => expired++ });
    await expect(c.get("/x")).rejects.toBeInstanceOf(ApiError);
    expect(srv.calls.map((x) => x.url)).toEqual(["/x"]); // sent without a token, answered 401
    expect(expired).toBe(1);
  });

  it("logout forgets the session and revokes the refresh token", async () => {
    const store = memStore(tokens("a1", 0));
    const srv = server({ valid: ["a1"] });
    const c = new Client({ store, fetch: srv.fetch });
    await c.logout();
    expect(store.value).toBeNull();
    expect(srv.calls[0].url).toBe("/auth/logout");
    expect(JSON.parse(srv.calls[0].body!)).toEqual({ refresh_token: "r-a1" });
  });

  it("login keeps the tokens with their expiry", async () => {
    const store = memStore();
    const f = (async () =>
      json(200, { access_token: "a", refresh_token: "r", expires_in: 900, refresh_expires_at: "2030-01-01T00:00:00Z", user })) as typeof fetch;
    const c = new Client({ store, fetch: f, now: () => 5000 });
    const t = await c.login("ana", "pw");
    expect(t.accessExpiresAt).toBe(5000 + 900_000);
    expect(t.refreshExpiresAt).toBe(Date.parse("2030-01-01T00:00:00Z"));
    expect(store.value?.user.username).toBe("ana");
  });
});

describe("problems", () => {
  it("gives each field at fault its message", async () => {
    const f = (async () =>
      json(422, {
        type: "about:blank",
        title: "Unprocessable Entity",
        status: 422,
        code: "invalid",
        detail: "validation failed",
        errors: [
          { location: "body.count", message: "expected number <= 100000" },
          { location: "body.style.ec_level", message: "must be L, M, Q or H" },
        ],
      })) as typeof fetch;
    const c = new Client({ store: memStore(), fetch: f });
    const err = await failure(c.post("/qr/generate", {}));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.message).toBe("validation failed");
    expect(err.fields()).toEqual({ count: "expected number <= 100000", "style.ec_level": "must be L, M, Q or H" });
  });

  it("says when to retry after a 429", async () => {
    const f = (async () => json(429, { status: 429, title: "Too Many Requests", detail: "rate limited", code: "rate_limited" }, { "Retry-After": "7" })) as typeof fetch;
    const err = await failure(new Client({ store: memStore(), fetch: f }).get("/x"));
    expect(err.message).toBe("rate limited Try again in 7 s.");
  });

  it("turns a non-JSON failure into a problem", async () => {
    const f = (async () => new Response("bad gateway", { status: 502, statusText: "Bad Gateway" })) as typeof fetch;
    const err = await failure(new Client({ store: memStore(), fetch: f }).get("/x"));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(502);
  });

  it("sends query parameters, leaving empty ones out", async () => {
    let seen = "";
    const f = (async (u: RequestInfo | URL) => {
      seen = String(u);
      return json(200, {});
    }) as typeof fetch;
    await new Client({ store: memStore(), fetch: f }).get("/inventory/items", { status: "IN_STOCK", lot_number: "", limit: 50, cursor: undefined });
    expect(seen).toBe("/inventory/items?status=IN_STOCK&limit=50");
  });
});

describe("server-sent events", () => {
  it("parses events split across chunks", async () => {
    const chunks = ['event: progress\ndata: {"done":', '1}\n\n: keep-alive\n\nevent: progress\r\ndata: {"done":2}\r\n\r\n'];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const s of chunks) c.enqueue(new TextEncoder().encode(s));
        c.close();
      },
    });
    const got: unknown[] = [];
    await readEvents(body, (e, d) => got.push([e, d]));
    expect(got).toEqual([
      ["progress", { done: 1 }],
      ["progress", { done: 2 }],
    ]);
  });
});
