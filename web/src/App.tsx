import { useEffect, useRef } from "react";
import { Link, match, navigate, useLocation } from "./router";
import { Audit } from "./screens/Audit";
import { Dashboard } from "./screens/Dashboard";
import { Engraving, JobPage } from "./screens/Engraving";
import { Generate } from "./screens/Generate";
import { Inventory, ItemPage } from "./screens/Inventory";
import { Login } from "./screens/Login";
import { Scan, SessionPage } from "./screens/Scan";
import { Settings } from "./screens/Settings";
import { useSession } from "./session";
import { Empty, Page } from "./ui";

// Each screen with the operation that reading it needs: the menu shows only
// the screens the role may open.
const screens = [
  { to: "/", label: "Dashboard", op: "inventory-analytics" },
  { to: "/inventory", label: "Inventory", op: "list-items" },
  { to: "/generate", label: "Generate", op: "generate" },
  { to: "/engraving", label: "Engraving", op: "list-engraving-jobs" },
  { to: "/scan", label: "Scan", op: "scan-texts" },
  { to: "/audit", label: "Audit", op: "list-audit-events" },
  { to: "/settings", label: "Settings", op: "me" },
];

function route(path: string) {
  let p: Record<string, string> | null;
  if (path === "/" || path === "") return <Dashboard />;
  if (path === "/inventory") return <Inventory />;
  if ((p = match("/inventory/:uid", path))) return <ItemPage uid={p.uid} />;
  if (path === "/generate") return <Generate />;
  if (path === "/engraving") return <Engraving />;
  if ((p = match("/engraving/jobs/:id", path))) return <JobPage id={p.id} />;
  if (path === "/scan") return <Scan />;
  if ((p = match("/scan/sessions/:id", path))) return <SessionPage id={p.id} />;
  if (path === "/audit") return <Audit />;
  if (path === "/settings") return <Settings />;
  return (
    <Page title="Not found">
      <Empty>
        There is no page at <code>{path}</code>. <Link to="/">Go to the dashboard</Link>.
      </Empty>
    </Page>
  );
}

export function App() {
  const { tokens, me, can, logout } = useSession();
  const { path } = useLocation();
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    // Move focus to the new page for keyboard and screen-reader users.
    main.current?.focus();
  }, [path]);
  if (!tokens) return <Login />;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand" aria-label="qrmfg home">
          <img src="/ui/favicon.svg" alt="" width="22" height="22" /> qrmfg
        </Link>
        <nav aria-label="Main">
          <ul>
            {/* A screen is listed once the role's permissions are known: listing
                all of them until then showed a viewer Generate after signing in. */}
            {screens
              .filter((s) => can(s.op))
              .map((s) => (
                <li key={s.to}>
                  <Link to={s.to}>{s.label}</Link>
                </li>
              ))}
          </ul>
        </nav>
        <div className="who">
          <span title={me?.role}>
            {tokens.user.username} <small className="muted">({tokens.user.role})</small>
          </span>
          <button
            type="button"
            className="link"
            onClick={async () => {
              await logout();
              navigate("/", true);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {route(path)}
      </main>
    </>
  );
}
