import { useState } from "react";
import { useSession } from "../session";
import { ErrorBox, Field, useProblem } from "../ui";

export function Login() {
  const { login, expired } = useSession();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const problem = useProblem();
  return (
    <main id="main" className="login">
      <form
        aria-labelledby="login-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          problem.set(null);
          try {
            await login(username, password);
          } catch (err) {
            problem.set(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="login-title">
          <img src="/ui/favicon.svg" alt="" width="28" height="28" /> qrmfg
        </h1>
        {expired && (
          <p className="notice" role="status">
            Your session has ended. Sign in again.
          </p>
        )}
        <Field label="Username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} error={problem.fields.username} autoFocus />
        <Field label="Password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} error={problem.fields.password} />
        <ErrorBox error={problem.general} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
