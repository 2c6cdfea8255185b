// A small router over the History API: the UI has a handful of flat routes
// and needs no more than path matching and links.
import { createContext, useContext, useEffect, useState, type AnchorHTMLAttributes, type ReactNode } from "react";

export const BASE = "/ui";

const Loc = createContext<{ path: string; search: string }>({ path: "/", search: "" });

function current() {
  const p = window.location.pathname;
  return { path: p.startsWith(BASE) ? p.slice(BASE.length) || "/" : p, search: window.location.search };
}

export function navigate(to: string, replace = false) {
  const url = to.startsWith("/") ? BASE + to : to;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function Router({ children }: { children: ReactNode }) {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const on = () => setLoc(current());
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  return <Loc.Provider value={loc}>{children}</Loc.Provider>;
}

export function useLocation() {
  return useContext(Loc);
}

/** Matches "/inventory/:uid" against the path; the params or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split("/").filter(Boolean);
  const b = path.split("/").filter(Boolean);
  if (a.length !== b.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(":")) out[a[i].slice(1)] = decodeURIComponent(b[i]);
    else if (a[i] !== b[i]) return null;
  }
  return out;
}

export function Link({ to, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const { path } = useLocation();
  const active = to === "/" ? path === "/" : path === to || path.startsWith(to + "/");
  return (
    <a
      href={BASE + to}
      aria-current={active ? "page" : undefined}
      {...rest}
      onClick={(e) => {
        rest.onClick?.(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    />
  );
}
