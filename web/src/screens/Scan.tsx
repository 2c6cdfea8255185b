import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { Schemas } from "../api/client";
import { Link, navigate } from "../router";
import { useApi, useSession } from "../session";
import { DownloadButton, Empty, ErrorBox, Field, Live, Loading, Page, Select, Status, useProblem, useStream } from "../ui";
import { grade } from "./Dashboard";
import { openDecoder, type FrameDecoder } from "../camera/decoder";

type Outcome = Schemas["Outcome"];

/** Each scanned code's verdict, newest first, with a beep or vibration for a new one. */
function useVerdicts() {
  const [list, setList] = useState<Outcome[]>([]);
  const add = (codes: Outcome[]) => {
    if (!codes.length) return;
    feedback(codes.every((c) => c.verdict === "valid"));
    setList((l) => [...codes, ...l].slice(0, 50));
  };
  return { list, add };
}

function feedback(ok: boolean) {
  navigator.vibrate?.(ok ? 60 : [80, 60, 80]);
  try {
    const ctx = new AudioContext();
    const o = ctx.createOscillator();
    o.frequency.value = ok ? 1200 : 300;
    o.connect(ctx.destination);
    o.start();
    o.stop(ctx.currentTime + 0.08);
    o.onended = () => void ctx.close();
  } catch {
    /* no audio: the verdict list still says it */
  }
}

function Verdicts({ list }: { list: Outcome[] }) {
  if (!list.length) return <Empty>Nothing scanned yet.</Empty>;
  return (
    <ul className="verdicts" aria-live="polite" aria-label="Scanned codes">
      {list.map((c) => (
        <li key={c.id} className={"v-" + c.verdict}>
          <Status s={c.verdict} /> {c.uid ? <Link to={`/inventory/${c.uid}`}>{c.uid}</Link> : <code>{c.payload.slice(0, 60)}</code>}
          {c.item && <span className="muted"> {c.item.status}</span>}
          {c.grade && <span className="muted"> grade {grade(c.grade)}</span>}
          {c.reason && <span> — {c.reason}</span>}
        </li>
      ))}
    </ul>
  );
}

/** Scanning inputs: camera, handheld scanner (keyboard wedge) and photo upload, optionally in a session. */
function Scanners({ sessionId, location, onScanned }: { sessionId?: string; location?: string; onScanned: (c: Outcome[]) => void }) {
  const api = useApi();
  const [code, setCode] = useState("");
  const [err, setErr] = useState<unknown>(null);
  const send = async (codes: string[]) => {
    setErr(null);
    try {
      const r = await api.post<Schemas["ScanResult"]>("/scanning/scans", { codes, session_id: sessionId, location, device: "web" });
      onScanned(r.codes ?? []);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <div className="grid">
      <div className="card">
        <h2>Handheld scanner</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const c = code.trim();
            setCode("");
            if (c) void send([c]);
          }}
        >
          <Field label="Scan or type a code, then Enter" name="wedge" autoComplete="off" value={code} onChange={(e) => setCode(e.target.value)} />
        </form>
        <PhotoUpload sessionId={sessionId} location={location} onScanned={onScanned} onError={setErr} />
        <ErrorBox error={err} />
      </div>
      <div className="card">
        <h2>Camera</h2>
        <Camera onCodes={(codes) => void send(codes)} />
      </div>
    </div>
  );
}

function PhotoUpload({ sessionId, location, onScanned, onError }: { sessionId?: string; location?: string; onScanned: (c: Outcome[]) => void; onError: (e: unknown) => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [last, setLast] = useState<string>();
  return (
    <div className="field">
      <label htmlFor="photo">Photo of codes</label>
      <input
        id="photo"
        type="file"
        accept="image/*"
        capture="environment"
        disabled={busy}
        onChange={async (e) => {
          const file = e.target.files?.[0];
          e.target.value = "";
          if (!file) return;
          setBusy(true);
          onError(null);
          const fd = new FormData();
          fd.set("image", file);
          if (sessionId) fd.set("session_id", sessionId);
          if (location) fd.set("location", location);
          fd.set("device", "web");
          try {
            const r = await api.call<Schemas["ScanResult"]>("POST", "/scanning/scan", { body: fd });
            setLast(`${file.name}: ${(r.codes ?? []).length} code(s) found${r.image ? ` in ${r.image.decode_ms} ms` : ""}`);
            onScanned(r.codes ?? []);
          } catch (err) {
            onError(err);
          } finally {
            setBusy(false);
          }
        }}
      />
      <small className="muted" role="status">
        {busy ? "Reading…" : last}
      </small>
    </div>
  );
}

/** The back camera decoded continuously on the device (BarcodeDetector or our WebAssembly decoder); each new code is sent once. */
function Camera({ onCodes }: { onCodes: (codes: string[]) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [on, setOn] = useState(false);
  const [state, setState] = useState<string>("");
  const [stats, setStats] = useState({ decoder: "", fps: 0, frames: 0, reads: 0 });
  const [torch, setTorch] = useState<MediaStreamTrack | null>(null);
  // Where the browser has its own detector, the operator may still pick ours (to compare, or for codes it misses).
  const [wasm, setWasm] = useState(false);
  const seen = useRef(new Map<string, number>());
  const cb = useRef(onCodes);
  cb.current = onCodes;
  useEffect(() => {
    if (!on) return;
    let stream: MediaStream | null = null;
    let decoder: FrameDecoder | null = null;
    let stop = false;
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } }, audio: false });
      } catch (e) {
        setState(`No camera: ${(e as Error).message}`);
        return;
      }
      if (stop) return;
      const v = video.current!;
      v.srcObject = stream;
      await v.play().catch(() => undefined);
      const track = stream.getVideoTracks()[0];
      const caps = (track.getCapabilities?.() ?? {}) as { torch?: boolean };
      setTorch(caps.torch ? track : null);
      setState("Loading the decoder…");
      try {
        decoder = await openDecoder(wasm ? "wasm" : "auto");
      } catch (e) {
        setState(`${(e as Error).message}: use the handheld scanner field or a photo.`);
        return;
      }
      if (stop) return decoder.close();
      setState("Point the camera at the codes.");
      let frames = 0;
      let total = 0;
      let reads = 0;
      let since = performance.now();
      while (!stop) {
        if (v.readyState >= 2 && v.videoWidth > 0) {
          const found = await decoder.decode(v).catch(() => [] as string[]);
          if (stop) break;
          frames++;
          total++;
          reads += found.length;
          const now = performance.now();
          const fresh = found.filter((c) => c && now - (seen.current.get(c) ?? -1e9) > 5000);
          for (const c of found) seen.current.set(c, now);
          if (fresh.length) cb.current([...new Set(fresh)]);
          if (now - since > 1000) {
            setStats({ decoder: decoder.kind, fps: Math.round((frames * 10000) / (now - since)) / 10, frames: total, reads });
            frames = 0;
            since = now;
          }
        }
        await new Promise((r) => requestAnimationFrame(r));
      }
    })();
    return () => {
      stop = true;
      decoder?.close();
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, [on, wasm]);
  return (
    <div>
      <div className="actions">
        <button type="button" className={on ? "" : "primary"} onClick={() => setOn(!on)}>
          {on ? "Stop camera" : "Start camera"}
        </button>
        {on && torch && (
          <button type="button" onClick={() => void torch.applyConstraints({ advanced: [{ torch: true } as MediaTrackConstraintSet] })}>
            Torch
          </button>
        )}
      </div>
      {"BarcodeDetector" in window && (
        <label className="check">
          <input type="checkbox" checked={wasm} onChange={(e) => setWasm(e.target.checked)} /> Decode with qrmfg's decoder (WebAssembly) instead of the browser's
        </label>
      )}
      {on && <video ref={video} className="camera" muted playsInline aria-label="Camera view" />}
      <p className="muted" role="status" data-decoder={stats.decoder} data-fps={stats.fps} data-frames={stats.frames} data-reads={stats.reads}>
        {state} {on && stats.fps > 0 && `${stats.fps} frames/s (${stats.decoder})`}
      </p>
    </div>
  );
}

export function Scan() {
  const { can } = useSession();
  const v = useVerdicts();
  return (
    <Page title="Scan">
      <Scanners onScanned={v.add} />
      <div className="card">
        <h2>Verdicts</h2>
        <Verdicts list={v.list} />
      </div>
      {can("open-session") && <OpenSession />}
    </Page>
  );
}

function OpenSession() {
  const api = useApi();
  const [f, setF] = useState({ kind: "stocktake", name: "", location: "", component_type: "", vendor_code: "", lot_number: "", uids: "" });
  const problem = useProblem();
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const fe = problem.fields;
  return (
    <details className="card">
      <summary>Start a session (stocktake, receiving, shipping…)</summary>
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          problem.set(null);
          const uids = f.uids.split(/[\s,]+/).filter(Boolean);
          const expected = uids.length ? { uids } : { lot: { component_type: f.component_type.trim(), vendor_code: f.vendor_code.trim(), lot_number: f.lot_number.trim() } };
          try {
            const s = await api.post<Schemas["Session"]>("/scanning/sessions", { kind: f.kind, name: f.name || undefined, location: f.location, expected });
            navigate(`/scan/sessions/${s.id}`);
          } catch (err) {
            problem.set(err);
          }
        }}
      >
        <div className="row">
          <Select label="Kind" value={f.kind} onChange={set("kind")} error={fe.kind} options={["stocktake", "count", "receive", "move", "qc", "ship"]} />
          <Field label="Name" value={f.name} onChange={set("name")} error={fe.name} />
          <Field label="Location" value={f.location} onChange={set("location")} error={fe.location} />
        </div>
        <p className="muted">Expected: a lot, or a list of UIDs.</p>
        <div className="row">
          <Field label="Type" value={f.component_type} onChange={set("component_type")} error={fe["expected.lot.component_type"]} />
          <Field label="Vendor" value={f.vendor_code} onChange={set("vendor_code")} error={fe["expected.lot.vendor_code"]} />
          <Field label="Lot" value={f.lot_number} onChange={set("lot_number")} error={fe["expected.lot.lot_number"]} />
        </div>
        <Field label="or UIDs (space or comma separated)" value={f.uids} onChange={set("uids")} error={fe["expected.uids"]} />
        <ErrorBox error={problem.general ?? (fe.expected ? fe.expected : null)} />
        <button type="submit" className="primary">
          Start session
        </button>
      </form>
    </details>
  );
}

export function SessionPage({ id }: { id: string }) {
  const api = useApi();
  const { can } = useSession();
  const qc = useQueryClient();
  const v = useVerdicts();
  const session = useQuery({ queryKey: ["session", id], queryFn: () => api.get<Schemas["SessionView"]>(`/scanning/sessions/${id}`) });
  const [err, setErr] = useState<unknown>(null);
  const [apply, setApply] = useState(true);
  const open = session.data?.status === "open";
  const { live } = useStream(open ? `/scanning/sessions/${id}/events` : null, (e, d) => {
    const u = d as { counts?: Schemas["Counts"]; session?: Schemas["Session"] };
    if (u.counts) qc.setQueryData<Schemas["SessionView"]>(["session", id], (s) => (s ? { ...s, counts: u.counts! } : s));
    if (e === "closed") void qc.invalidateQueries({ queryKey: ["session", id] });
  });
  if (session.isLoading) return <Loading what="Loading the session" />;
  if (session.error)
    return (
      <Page title="Session">
        <ErrorBox error={session.error} retry={session.refetch} />
      </Page>
    );
  const s = session.data!;
  const c = s.counts;
  const rec = s.reconciliation;
  return (
    <Page title={`${s.kind} ${s.name ?? ""} · ${s.location || "no location"}`} actions={<Status s={s.status} />}>
      <div className="card">
        <h2>Counts {open && <Live live={live} />}</h2>
        <dl className="counts">
          {(["expected", "found", "missing", "unexpected", "duplicates", "invalid", "scans"] as const).map((k) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd data-count={k}>{c[k]}</dd>
            </div>
          ))}
        </dl>
      </div>
      {open && can("scan-texts") && <Scanners sessionId={id} location={s.location} onScanned={v.add} />}
      {open && (
        <div className="card">
          <h2>Verdicts</h2>
          <Verdicts list={v.list} />
        </div>
      )}
      {open && can("close-session") && (
        <div className="card">
          <h2>Close</h2>
          <label className="check">
            <input type="checkbox" checked={apply} onChange={(e) => setApply(e.target.checked)} /> Apply the result to the inventory (move, ship, mark missing)
          </label>
          <button
            type="button"
            className="primary"
            onClick={async () => {
              setErr(null);
              try {
                await api.post(`/scanning/sessions/${id}/close`, { apply });
                await qc.invalidateQueries({ queryKey: ["session", id] });
              } catch (e) {
                setErr(e);
              }
            }}
          >
            Close and reconcile
          </button>
          <ErrorBox error={err} />
        </div>
      )}
      {rec && (
        <div className="card" aria-labelledby="rec-h">
          <h2 id="rec-h">Reconciliation</h2>
          <div className="grid">
            {(["found", "missing", "unexpected"] as const).map((k) => (
              <div key={k}>
                <h3>
                  {k} ({rec[k]?.length ?? 0})
                </h3>
                {rec[k]?.length ? (
                  <ul className="uids">
                    {rec[k]!.slice(0, 200).map((u) => (
                      <li key={u}>
                        <Link to={`/inventory/${u}`}>{u}</Link>
                      </li>
                    ))}
                  </ul>
                ) : (
                  <Empty>none</Empty>
                )}
              </div>
            ))}
          </div>
          {rec.applied && <p>Applied to the inventory.</p>}
          <div className="actions">
            <DownloadButton path={`/scanning/sessions/${id}/report.csv`} label="Report CSV" />
            <DownloadButton path={`/scanning/sessions/${id}/report.pdf`} label="Report PDF" />
          </div>
        </div>
      )}
    </Page>
  );
}
