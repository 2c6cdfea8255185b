import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError, problemOf, type Schemas } from "../api/client";
import { Link } from "../router";
import { useApi } from "../session";
import { AuthImage, DownloadButton, ErrorBox, Field, Live, Loading, Page, Progress, Select, Status, useProblem, useStream } from "../ui";

export interface GenerateForm {
  component_type: string;
  vendor_code: string;
  lot_number: string;
  manufacturing_date: string;
  count: string;
  warranty_years: string;
  payload: string;
  ec_level: string;
  module_px: string;
  foreground: string;
  background: string;
  invert: boolean;
  sheet: string;
}

export const emptyForm: GenerateForm = {
  component_type: "",
  vendor_code: "",
  lot_number: "",
  manufacturing_date: new Date().toISOString().slice(0, 10),
  count: "10",
  warranty_years: "1",
  payload: "uid",
  ec_level: "M",
  module_px: "10",
  foreground: "#000000",
  background: "#FFFFFF",
  invert: false,
  sheet: "a4-24",
};

/** The request body of POST /qr/generate for the form (format json: the items). */
export function generateRequest(f: GenerateForm): Schemas["Request"] {
  const num = (s: string) => (s.trim() === "" ? undefined : Number(s));
  return {
    component_type: f.component_type.trim().toUpperCase(),
    vendor_code: f.vendor_code.trim().toUpperCase(),
    lot_number: f.lot_number.trim(),
    manufacturing_date: f.manufacturing_date || undefined,
    count: num(f.count) as number,
    warranty_years: num(f.warranty_years),
    payload: f.payload,
    format: "json",
    style: {
      ec_level: f.ec_level,
      module_px: num(f.module_px),
      foreground: f.foreground.trim() || undefined,
      background: f.background.trim() || undefined,
      invert: f.invert || undefined,
      sheet: f.sheet,
    },
  };
}

/** The sample lot the preview draws until the lot is typed in. */
export const sampleLot = { component_type: "PAD", vendor_code: "V0100", lot_number: "L2025-09" };

/** The body of POST /qr/preview: the generate request, with the sample lot's parts for those not typed yet. */
export function previewRequest(f: GenerateForm): Schemas["Request"] {
  const r = generateRequest(f);
  return {
    ...r,
    component_type: r.component_type || sampleLot.component_type,
    vendor_code: r.vendor_code || sampleLot.vendor_code,
    lot_number: r.lot_number || sampleLot.lot_number,
    count: Number.isFinite(r.count) && r.count > 0 ? r.count : 1,
  };
}

type Preview = { url: string; payload: string };

/** The code the batch's first item would carry, redrawn (debounced) as the form changes; nothing is allocated. */
function usePreview(f: GenerateForm, delayMs = 300) {
  const api = useApi();
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<unknown>(null);
  const body = JSON.stringify(previewRequest(f));
  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(async () => {
      try {
        const res = await api.raw("POST", "/qr/preview", { body, headers: { "Content-Type": "application/json", Accept: "image/png" }, signal: ctl.signal });
        if (!res.ok) throw await problemOf(res);
        const next = { url: URL.createObjectURL(await res.blob()), payload: res.headers.get("X-QR-Payload") ?? "" };
        if (ctl.signal.aborted) return URL.revokeObjectURL(next.url);
        setPreview(next);
        setError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setError(e);
      }
    }, delayMs);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [api, body, delayMs]);
  const url = preview?.url;
  useEffect(
    () => () => {
      if (url) URL.revokeObjectURL(url);
    },
    [url],
  );
  return { preview: error ? null : preview, error };
}

type Created = { batch: { id: string; count: number }; items: { uid: string; payload: string }[] };

export function Generate() {
  const api = useApi();
  const qc = useQueryClient();
  const [f, setF] = useState<GenerateForm>(emptyForm);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const [background, setBackground] = useState<Schemas["BatchStatus"] | null>(null);
  const problem = useProblem();
  const set = (k: keyof GenerateForm) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const pv = usePreview(f);
  const previewFields = pv.error instanceof ApiError ? pv.error.fields() : {};
  // A field error of the preview shows next to its field; the last submit's wins.
  const fe: Record<string, string> = { ...previewFields, ...problem.fields };
  return (
    <Page title="Generate codes">
      <form
        className="card form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          problem.set(null);
          setCreated(null);
          setBackground(null);
          try {
            const res = await api.raw("POST", "/qr/generate", { body: generateRequest(f), headers: { Accept: "application/json" } });
            if (!res.ok) throw await problemOf(res);
            const body = await res.json();
            if (res.status === 202) setBackground(body as Schemas["BatchStatus"]);
            else setCreated(body as Created);
            qc.invalidateQueries({ queryKey: ["items"] });
            qc.invalidateQueries({ queryKey: ["analytics"] });
          } catch (err) {
            problem.set(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <div className="row">
          <Field label="Component type" required value={f.component_type} onChange={set("component_type")} placeholder="PAD" error={fe.component_type} />
          <Field label="Vendor code" required value={f.vendor_code} onChange={set("vendor_code")} placeholder="V0100" error={fe.vendor_code} />
          <Field label="Lot" required value={f.lot_number} onChange={set("lot_number")} placeholder="L2025-09" error={fe.lot_number} />
        </div>
        <div className="row">
          <Field label="Manufacturing date" type="date" value={f.manufacturing_date} onChange={set("manufacturing_date")} error={fe.manufacturing_date} />
          <Field label="Count" type="number" inputMode="numeric" min={1} required value={f.count} onChange={set("count")} error={fe.count} />
          <Field label="Warranty (years)" type="number" inputMode="numeric" min={0} value={f.warranty_years} onChange={set("warranty_years")} error={fe.warranty_years} />
        </div>
        <div className="row">
          <Select
            label="Payload"
            value={f.payload}
            onChange={set("payload")}
            error={fe.payload}
            options={[
              ["uid", "UID only"],
              ["url", "URL"],
              ["gs1", "GS1 Digital Link"],
              ["signed", "Signed (HMAC)"],
              ["ed25519", "Signed (Ed25519)"],
            ]}
          />
          <Select
            label="Error correction"
            value={f.ec_level}
            onChange={set("ec_level")}
            error={fe["style.ec_level"]}
            options={[
              ["L", "L (7%)"],
              ["M", "M (15%)"],
              ["Q", "Q (25%)"],
              ["H", "H (30%)"],
            ]}
          />
          <Field label="Module (px)" type="number" min={1} value={f.module_px} onChange={set("module_px")} error={fe["style.module_px"]} />
          <Select label="Label sheet (PDF)" value={f.sheet} onChange={set("sheet")} error={fe["style.sheet"]} options={["a4-24", "a4-4x4", "avery-l7651", "avery-5160", "letter-4x4"]} />
        </div>
        <div className="row">
          <Field label="Ink colour" value={f.foreground} onChange={set("foreground")} placeholder="#000000" error={fe["style.foreground"]} />
          <Field label="Background colour" value={f.background} onChange={set("background")} placeholder="#FFFFFF" error={fe["style.background"]} />
          <label className="check">
            <input type="checkbox" checked={f.invert} onChange={(e) => setF({ ...f, invert: e.target.checked })} /> Light on dark (invert)
          </label>
        </div>
        <section className="code-preview" aria-labelledby="preview-h" aria-live="polite">
          <h2 id="preview-h">Preview</h2>
          {pv.preview ? (
            <div className="preview">
              <img src={pv.preview.url} alt={`Preview of the first code: ${pv.preview.payload}`} className="qr-preview" />
              <div>
                <code className="payload">{pv.preview.payload}</code>
                <p className="muted">
                  The code of serial 1 of {f.lot_number.trim() ? "the lot" : "a sample lot"}, drawn with this payload and style. Nothing is allocated until you
                  press Generate.
                </p>
              </div>
            </div>
          ) : pv.error ? (
            Object.keys(previewFields).length ? (
              <p className="warn">No preview: correct the field marked above.</p>
            ) : (
              <ErrorBox error={pv.error} />
            )
          ) : (
            <Loading what="Drawing the preview" />
          )}
        </section>
        <ErrorBox error={problem.general} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Generating…" : "Generate"}
        </button>
      </form>
      {background && <BatchProgress initial={background} />}
      {created && <CreatedBatch created={created} style={f} />}
    </Page>
  );
}

function Downloads({ id }: { id: string }) {
  return (
    <div className="actions">
      <DownloadButton path={`/qr/batches/${id}/download`} query={{ format: "zip" }} label="Download ZIP" />
      <DownloadButton path={`/qr/batches/${id}/download`} query={{ format: "pdf" }} label="Download PDF labels" />
      <DownloadButton path={`/qr/batches/${id}/download`} query={{ format: "csv" }} label="Manifest CSV" />
    </div>
  );
}

/** The item image query that previews the form's style on an existing code. */
export function styleQuery(f: GenerateForm): string {
  const q = new URLSearchParams();
  if (f.ec_level) q.set("ec_level", f.ec_level);
  if (/^\d+$/.test(f.module_px.trim())) q.set("module_px", f.module_px.trim());
  return q.toString();
}

function CreatedBatch({ created, style }: { created: Created; style: GenerateForm }) {
  const first = created.items[0];
  const q = styleQuery(style);
  return (
    <div className="card" role="status">
      <h2>Batch {created.batch.id}</h2>
      <p>
        {created.items.length} codes, from <Link to={`/inventory/${first.uid}`}>{first.uid}</Link> to{" "}
        <Link to={`/inventory/${created.items[created.items.length - 1].uid}`}>{created.items[created.items.length - 1].uid}</Link>.
      </p>
      <div className="preview">
        <AuthImage path={`/qr/items/${encodeURIComponent(first.uid)}.png${q ? "?" + q : ""}`} alt={`QR code of ${first.uid}`} className="qr" />
        <code className="payload">{first.payload}</code>
      </div>
      <Downloads id={created.batch.id} />
    </div>
  );
}

function BatchProgress({ initial }: { initial: Schemas["BatchStatus"] }) {
  const [b, setB] = useState(initial);
  const { live } = useStream(b.status === "completed" || b.status === "failed" ? null : `/qr/batches/${initial.batch_id}/events`, (_e, d) =>
    setB((cur) => ({ ...cur, ...(d as Schemas["BatchStatus"]) })),
  );
  return (
    <div className="card" role="status" aria-live="polite">
      <h2>
        Batch {b.batch_id} <Status s={b.status} /> {b.status !== "completed" && b.status !== "failed" && <Live live={live} />}
      </h2>
      <p className="muted">Large batches render in the background; you can leave this page and download them later.</p>
      <Progress done={b.done} total={b.total} label="Codes rendered" />
      {b.error && <ErrorBox error={b.error} />}
      {b.status === "completed" && <Downloads id={b.batch_id} />}
    </div>
  );
}
