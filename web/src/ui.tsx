// Shared pieces of every screen: loading, empty and error states, form
// fields that show the problem's message next to the field at fault, live
// streams, downloads and images fetched with the token.
import { useEffect, useId, useRef, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";
import { ApiError } from "./api/client";
import { useApi } from "./session";

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · qrmfg`;
  }, [title]);
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-head">
        <h1 id="page-title">{title}</h1>
        {actions && <div className="actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError ? error.status : undefined;
  return (
    <div className="error" role="alert">
      <strong>{status === 403 ? "Not allowed" : status === 404 ? "Not found" : status === 409 ? "Conflict" : "Error"}</strong>{" "}
      {msg}
      {retry && (
        <button type="button" className="link" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** Field errors of a failed call; the message that belongs to no field goes to the form. */
export function useProblem() {
  const [error, setError] = useState<unknown>(null);
  const fields = error instanceof ApiError ? error.fields() : {};
  return {
    error,
    fields,
    set: setError,
    /** The form-level error: the problem when no field carries it. */
    general: Object.keys(fields).length ? null : error,
  };
}

type FieldProps = { label: string; error?: string; hint?: string } & InputHTMLAttributes<HTMLInputElement>;

export function Field({ label, error, hint, ...input }: FieldProps) {
  const id = useId();
  return (
    <div className={"field" + (error ? " invalid" : "")}>
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={!!error} aria-describedby={error ? id + "-err" : hint ? id + "-hint" : undefined} {...input} />
      {hint && !error && (
        <small id={id + "-hint"} className="muted">
          {hint}
        </small>
      )}
      {error && (
        <small id={id + "-err"} className="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

type SelectProps = { label: string; error?: string; options: (string | [string, string])[] } & SelectHTMLAttributes<HTMLSelectElement>;

export function Select({ label, error, options, ...sel }: SelectProps) {
  const id = useId();
  return (
    <div className={"field" + (error ? " invalid" : "")}>
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={!!error} aria-describedby={error ? id + "-err" : undefined} {...sel}>
        {options.map((o) => {
          const [v, l] = Array.isArray(o) ? o : [o, o];
          return (
            <option key={v} value={v}>
              {l}
            </option>
          );
        })}
      </select>
      {error && (
        <small id={id + "-err"} className="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

export function Status({ s }: { s: string }) {
  return <span className={"badge s-" + s.toLowerCase()}>{s.replaceAll("_", " ")}</span>;
}

export function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total > 0 ? Math.round((100 * done) / total) : 0;
  return (
    <div className="progress-row">
      <progress max={total || 1} value={done} aria-label={label} />
      <span>
        {done}/{total} ({pct}%)
      </span>
    </div>
  );
}

/** Follows an SSE stream while mounted; live tells whether it is connected. */
export function useStream(path: string | null, onEvent: (event: string, data: unknown) => void) {
  const api = useApi();
  const [live, setLive] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!path) return;
    const ac = new AbortController();
    api.stream(path, (e, d) => handler.current(e, d), ac.signal, setLive).catch(setError);
    return () => ac.abort();
  }, [api, path]);
  return { live, error };
}

export function Live({ live }: { live: boolean }) {
  return (
    <span className={"live" + (live ? " on" : "")} role="status">
      {live ? "live" : "reconnecting…"}
    </span>
  );
}

/** Saves a file answer under its name. */
export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function DownloadButton({ path, query, label, method = "GET", body }: { path: string; query?: Record<string, string>; label: string; method?: string; body?: unknown }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  return (
    <span>
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setErr(null);
          try {
            const f = await api.file(method, path, { query, body });
            saveBlob(f.blob, f.name);
          } catch (e) {
            setErr(e);
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? "Preparing…" : label}
      </button>
      <ErrorBox error={err} />
    </span>
  );
}

/** An image the API serves behind the token, shown from a blob: URL. */
export function AuthImage({ path, alt, className }: { path: string; alt: string; className?: string }) {
  const api = useApi();
  const [src, setSrc] = useState<string>();
  const [err, setErr] = useState<unknown>(null);
  useEffect(() => {
    let url = "";
    let gone = false;
    api
      .file("GET", path)
      .then((f) => {
        if (gone) return;
        url = URL.createObjectURL(f.blob);
        setSrc(url);
      })
      .catch(setErr);
    return () => {
      gone = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [api, path]);
  if (err) return <ErrorBox error={err} />;
  if (!src) return <Loading what="Loading image" />;
  return <img src={src} alt={alt} className={className} />;
}

export function fmtTime(s?: string) {
  if (!s) return "—";
  const d = new Date(s);
  return isNaN(d.getTime()) ? s : d.toLocaleString();
}

export function fmtSeconds(s?: number) {
  if (s === undefined || s === null) return "—";
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
