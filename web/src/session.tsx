// The signed-in session: the API client, who the caller is, and what the
// role may do (from /auth/me and /auth/permissions).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { browserStore, Client, type Schemas, type Tokens } from "./api/client";

interface SessionValue {
  client: Client;
  tokens: Tokens | null;
  me?: Schemas["MeResponse"];
  /** Whether the caller may run the operation (an OpenAPI operation id). */
  can: (operationId: string) => boolean;
  login: (u: string, p: string) => Promise<void>;
  logout: () => Promise<void>;
  expired: boolean;
}

const Ctx = createContext<SessionValue | null>(null);

export function SessionProvider({ children, client: given }: { children: ReactNode; client?: Client }) {
  const qc = useQueryClient();
  const [expired, setExpired] = useState(false);
  const client = useMemo(() => given ?? new Client({ store: browserStore() }), [given]);
  const [tokens, setTokens] = useState<Tokens | null>(() => client.session);
  client.onExpired = () => {
    setTokens(null);
    setExpired(true);
    qc.clear();
  };
  const me = useQuery({
    queryKey: ["me", tokens?.user.id],
    queryFn: () => client.get<Schemas["MeResponse"]>("/auth/me"),
    enabled: !!tokens,
    staleTime: 60_000,
  });
  const perms = useQuery({
    queryKey: ["permissions", tokens?.user.id],
    queryFn: () => client.get<Schemas["PermissionsOutputBody"]>("/auth/permissions"),
    enabled: !!tokens,
    staleTime: 300_000,
  });
  const can = useCallback(
    (op: string) => {
      const route = perms.data?.routes?.find((r) => r.operation_id === op);
      if (!route || !me.data) return false;
      return !route.operation || (me.data.permissions ?? []).includes(route.operation);
    },
    [perms.data, me.data],
  );
  const value: SessionValue = {
    client,
    tokens,
    me: me.data,
    can,
    expired,
    login: async (u, p) => {
      const t = await client.login(u, p);
      setExpired(false);
      setTokens(t);
    },
    logout: async () => {
      await client.logout();
      setTokens(null);
      qc.clear();
    },
  };
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionValue {
  const v = useContext(Ctx);
  if (!v) throw new Error("useSession outside SessionProvider");
  return v;
}

export function useApi(): Client {
  return useSession().client;
}
